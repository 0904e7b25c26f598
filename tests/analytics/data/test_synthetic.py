import numpy as np
import pandas as pd

from analytics.data import citylearn
from analytics.data.synthetic import bdew_h0_hourly, synthetic_community


def test_bdew_h0_is_a_normalised_household_shape_on_the_data_clock():
    h0 = bdew_h0_hourly()
    assert h0.index.equals(citylearn.hourly_index())
    assert h0.sum() == np.float64(h0.sum()) and abs(h0.sum() - 1.0) < 1e-9
    local_hour = h0.index.tz_convert(citylearn.LOCAL_TZ).hour
    by_hour = h0.groupby(local_hour).mean()
    assert by_hour.loc[18:20].mean() > 1.5 * by_hour.loc[2:4].mean()  # evening peak, night low


def test_synthetic_community_is_reproducible_and_documented_mix():
    a = synthetic_community(30, seed=3, fetch=False)
    b = synthetic_community(30, seed=3, fetch=False)
    c = synthetic_community(30, seed=4, fetch=False)
    pd.testing.assert_frame_equal(a.load_kwh, b.load_kwh)
    assert not np.allclose(a.load_kwh.iloc[:, -1], c.load_kwh.iloc[:, -1])
    kinds = list(a.kinds.values())
    assert kinds.count("real") == 17 and kinds.count("resampled_real") == 7
    assert kinds.count("bdew_h0") == 6
    assert (a.load_kwh >= 0).all().all() and (a.pv_kwh >= 0).all().all()
    annual = a.load_kwh.sum()
    real = annual[[h for h, k in a.kinds.items() if k == "real"]]
    bdew = annual[[h for h, k in a.kinds.items() if k == "bdew_h0"]]
    assert (bdew > 0.8 * real.min()).all() and (bdew < 1.2 * real.max()).all()


def test_small_community_is_the_first_real_homes():
    small = synthetic_community(5, fetch=False)
    assert list(small.load_kwh.columns) == [f"Building_{i}" for i in range(1, 6)]
