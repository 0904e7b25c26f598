import numpy as np
import pandas as pd
import pytest

from analytics.data import citylearn
from analytics.errors import UnknownHomeError
from core.errors import DataError


def test_homes_keep_their_public_api():
    homes = citylearn.homes(fetch=False)
    assert [h.home_id for h in homes][:3] == ["Building_1", "Building_2", "Building_3"]
    assert len(homes) == 17
    first = homes[0]
    assert first.pv_kw == 4.0 and first.battery_kwh == 6.4 and first.battery_kw == 5.0


def test_home_frame_is_hourly_utc_with_load_and_pv_in_kwh():
    frame = citylearn.load_home("Building_1", fetch=False)
    assert list(frame.columns) == ["load_kwh", "pv_kwh"]
    assert str(frame.index.tz) == "UTC" and len(frame) == 8760
    # First row is Month 7 / Hour 24 (the hour ending at midnight) of 31 Jul 2016, UTC-8.
    assert frame.index[0] == pd.Timestamp("2016-08-01 07:00", tz="UTC")
    assert (np.diff(frame.index.asi8) == np.diff(frame.index.asi8)[0]).all()
    raw = pd.read_csv(citylearn.dataset_dir(fetch=False) / "Building_1.csv")
    np.testing.assert_allclose(frame["pv_kwh"].to_numpy(),
                               raw["Solar Generation [W/kW]"].to_numpy() * 4.0 / 1000)
    np.testing.assert_allclose(frame["load_kwh"].to_numpy(),
                               raw["Equipment Electric Power [kWh]"].to_numpy())


def test_pv_peaks_around_local_noon():
    frame = citylearn.load_home("Building_1", fetch=False)
    local_hour = frame.index.tz_convert(citylearn.LOCAL_TZ).hour
    by_hour = frame["pv_kwh"].groupby(local_hour).mean()
    assert 10 <= int(by_hour.idxmax()) <= 14
    assert by_hour.loc[[0, 1, 2, 3, 22, 23]].max() < 0.01


def test_weather_prediction_columns_forecast_the_later_hour():
    weather = citylearn.load_weather(fetch=False)
    actual = weather["temp_c"]
    pred = weather["temp_c_pred_24h"]
    # The value on row t is the forecast for t + 24 h: shifted forward it tracks the actual.
    err_aligned = (pred.shift(24) - actual).abs().mean()
    err_unshifted = (pred - actual).abs().mean()
    assert err_aligned < err_unshifted


def test_prices_are_positive_usd_per_kwh():
    prices = citylearn.load_prices(fetch=False)
    assert "price_usd_per_kwh_pred_24h" in prices.columns
    assert (prices["price_usd_per_kwh"] > 0).all() and len(prices) == 8760


def test_unknown_home_is_a_data_error_naming_it():
    with pytest.raises(UnknownHomeError, match="Building_99") as info:
        citylearn.load_home("Building_99", fetch=False)
    assert isinstance(info.value, DataError)
