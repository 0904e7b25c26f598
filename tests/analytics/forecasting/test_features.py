import numpy as np
import pandas as pd
import pytest

from analytics.errors import InsufficientDataError
from analytics.forecasting.domain import Horizon
from analytics.forecasting.features import FEATURES, build_features


def series(community, days=30):
    return community.load_kwh.iloc[: 24 * days].sum(axis=1)


@pytest.mark.parametrize("horizon", [Horizon.DAY_AHEAD, Horizon.INTRADAY])
def test_features_do_not_see_data_after_their_origin(community, horizon):
    y = series(community)
    rows = build_features(y, community.weather, horizon)
    origin = pd.Timestamp("2016-08-20 00:00", tz="UTC")
    tampered = y.copy()
    tampered[tampered.index >= origin] *= 10.0  # the future changes ...
    rows2 = build_features(tampered, community.weather, horizon)
    mask = rows["origin"] == origin
    assert mask.sum() == (24 if horizon is Horizon.DAY_AHEAD else 4)
    # ... but no feature known at that origin does
    pd.testing.assert_frame_equal(rows.loc[mask, list(FEATURES)], rows2.loc[mask, list(FEATURES)])
    assert not np.allclose(rows.loc[mask, "y"], rows2.loc[mask, "y"])


def test_day_ahead_rows_cover_each_utc_day_with_horizons_1_to_24(community):
    rows = build_features(series(community), community.weather, Horizon.DAY_AHEAD)
    day = rows[rows["origin"] == pd.Timestamp("2016-08-15", tz="UTC")]
    assert day["h"].tolist() == list(range(1, 25))
    assert (day["interval_start"] - day["origin"]).max() == pd.Timedelta(hours=23)
    # the seasonal-naive baseline is the same hour of the previous day
    y = series(community)
    t = day["interval_start"].iloc[5]
    assert day["base_seasonal_naive"].iloc[5] == y[t - pd.Timedelta(hours=24)]


def test_too_short_history_is_refused(community):
    with pytest.raises(InsufficientDataError, match="192 h"):
        build_features(series(community, days=3), community.weather, Horizon.DAY_AHEAD)
