import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from analytics.flexibility import FlexConfig, flexibility_kw, flexibility_quantiles

loads = st.lists(st.floats(0, 15, allow_nan=False), min_size=1, max_size=50)


@given(loads, st.floats(0, 20), st.floats(0, 10), st.floats(0, 4))
def test_flexibility_respects_load_and_connection_limits(load, e_kwh, p_kw, band):
    cfg = FlexConfig(comfort_band_c=band)
    up, down = flexibility_kw(load, e_kwh, p_kw, cfg)
    load_a = np.asarray(load)
    assert (down >= 0).all() and (down <= load_a + 1e-12).all()
    assert (up >= 0).all() and (up <= np.clip(cfg.max_import_kw - load_a, 0, None) + 1e-12).all()


def test_no_band_and_no_battery_means_no_flexibility():
    up, down = flexibility_kw([1.0, 2.0], 0.0, 0.0, FlexConfig(comfort_band_c=0.0))
    assert up.tolist() == [0.0, 0.0] and down.tolist() == [0.0, 0.0]


def test_documented_example():
    # 25 % of 2 kW shiftable, battery 6.4 kWh / 5 kW at 50 % SOC over 1 h: 3.2 kW each way
    up, down = flexibility_kw([2.0], 6.4, 5.0)
    assert down[0] == 2.0  # capped by the load: import cannot go negative
    assert up[0] == 0.5 + 3.2


def test_quantiles_are_ordered():
    q = flexibility_quantiles([0.5, 1], [1, 2], [2, 9.5], 6.4, 5.0)
    for values in q.values():
        assert (np.diff(values, axis=1) >= 0).all()


def test_community_connection_limit_is_the_sum_of_homes():
    from analytics.flexibility import community_config

    cfg = community_config(FlexConfig(max_import_kw=8.0), 17)
    assert cfg.max_import_kw == 136.0 and cfg.flexible_share == FlexConfig().flexible_share
