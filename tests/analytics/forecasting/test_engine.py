"""The forecaster on real data slices: it must beat the baselines, not just run."""

import numpy as np
import pandas as pd
import pytest

from analytics.errors import NegativeValueError, NotFittedError
from analytics.forecasting.backtest import backtest
from analytics.forecasting.domain import FORECAST_COLUMNS, Horizon, Target, to_records
from analytics.forecasting.engine import ForecastConfig, GbmForecaster

SLICE_H = 24 * 200  # Aug 2016 .. Feb 2017; the last quarter (Dec..Feb) is held out


def aggregate(community, target=Target.CONSUMPTION):
    frame = community.load_kwh if target is Target.CONSUMPTION else community.pv_kwh
    return frame.iloc[:SLICE_H].sum(axis=1).to_frame("community")


@pytest.fixture(scope="module")
def day_ahead(community):
    cfg = ForecastConfig(target=Target.CONSUMPTION, horizon=Horizon.DAY_AHEAD)
    return backtest(aggregate(community), community.weather, cfg)


def test_day_ahead_community_load_beats_both_baselines(day_ahead):
    s = day_ahead.scores
    assert s["n"] >= 24 * 45
    assert s["wape"] < 0.95 * s["wape_seasonal_naive"]
    assert s["wape"] < 0.95 * s["wape_mean_7d"]
    assert 0.5 < s["coverage_80"] <= 1.0
    # calibrated on the 28 days before the test quarter: nearer the nominal 80 % than raw
    assert abs(s["coverage_80"] - 0.8) <= abs(s["coverage_80_uncalibrated"] - 0.8) + 0.01
    assert abs(s["coverage_80"] - 0.8) < 0.08


def test_backtest_holds_out_the_final_quarter_and_refits(day_ahead):
    pred = day_ahead.predictions
    assert pred["interval_start"].min() >= day_ahead.test_start
    first = pd.Timestamp("2016-08-01 07:00", tz="UTC")
    end = first + pd.Timedelta(hours=SLICE_H)
    held_out = (end - day_ahead.test_start) / (end - first)
    assert 0.24 <= held_out <= 0.26  # the final quarter (from a midnight) is held out
    assert day_ahead.refits >= 3  # the calibration slice, then the test blocks
    calibration = day_ahead.out_of_sample
    assert calibration is not None and calibration["origin"].min() == (
        day_ahead.test_start - pd.Timedelta(days=28))
    assert (pred["q10"] <= pred["q50"]).all() and (pred["q50"] <= pred["q90"]).all()


def test_intraday_one_hour_ahead_beats_persistence_and_seasonal_naive(community):
    cfg = ForecastConfig(target=Target.CONSUMPTION, horizon=Horizon.INTRADAY, max_intraday_h=2)
    result = backtest(aggregate(community), community.weather, cfg)
    h1 = result.score(result.predictions[result.predictions["h"] == 1])
    assert h1["wape"] < 0.95 * h1["wape_persistence"]
    assert h1["wape"] < 0.8 * h1["wape_seasonal_naive"]
    h2 = result.score(result.predictions[result.predictions["h"] == 2])
    assert h1["wape"] < h2["wape"]  # error grows with the horizon


def test_day_ahead_pv_beats_seasonal_naive(community):
    cfg = ForecastConfig(target=Target.PV, horizon=Horizon.DAY_AHEAD)
    result = backtest(aggregate(community, Target.PV), community.weather, cfg)
    assert result.scores["wape"] < result.scores["wape_seasonal_naive"]
    assert result.scores["wape"] < result.scores["wape_mean_7d"]


def test_same_seed_same_forecast_and_other_seed_differs(community):
    y = aggregate(community).iloc[: 24 * 60]
    origin = y.index[-1].floor("D")
    runs = [
        GbmForecaster(ForecastConfig(seed=seed, n_estimators=60)).fit(
            y[y.index < origin], community.weather).predict(y, community.weather, origin)
        for seed in (7, 7, 8)
    ]
    pd.testing.assert_frame_equal(runs[0], runs[1])
    assert not np.allclose(runs[0]["q50_kw"], runs[2]["q50_kw"])


def test_predict_returns_the_oracle_frame_at_900_s_intervals(community):
    y = community.load_kwh.iloc[: 24 * 60, :3]
    origin = y.index[-1].floor("D")
    engine = GbmForecaster(ForecastConfig(n_estimators=60)).fit(y[y.index < origin],
                                                                community.weather)
    fc = engine.predict(y, community.weather, origin, model_version="test-v1")
    assert list(fc.columns) == list(FORECAST_COLUMNS)
    assert len(fc) == 3 * 96
    one = fc[fc["participant_id"] == "Building_2"]
    assert one["horizon_s"].tolist() == [900 * i for i in range(96)]
    assert (one["interval_start_s"] % 900 == 0).all()
    assert one["interval_start_s"].iloc[0] == int(origin.timestamp())
    assert (fc["q10_kw"] <= fc["q50_kw"]).all() and (fc["q50_kw"] <= fc["q90_kw"]).all()
    # the four quarters of an hour carry the hour's mean power (energy conserved)
    assert one["q50_kw"].iloc[:4].nunique() == 1
    rec = to_records(fc.head(1))[0]
    assert rec.model_version == "test-v1"
    assert rec.energy_wh == round(rec.q50_kw * 250)


def test_predict_before_fit_and_bad_origin_are_refused(community):
    y = aggregate(community).iloc[: 24 * 30]
    with pytest.raises(NotFittedError):
        GbmForecaster().predict(y, community.weather, y.index[-1].floor("D"))
    engine = GbmForecaster(ForecastConfig(n_estimators=20)).fit(y, community.weather)
    with pytest.raises(ValueError, match="midnight"):
        engine.predict(y, community.weather, y.index[-1].floor("D") + pd.Timedelta(hours=3))


def test_fit_rejects_negative_load_naming_the_column_and_time(community):
    y = aggregate(community).iloc[: 24 * 30].copy()
    y.iloc[100, 0] = -1.0
    with pytest.raises(NegativeValueError, match=r"'community'.*2016-08-05 11:00"):
        GbmForecaster().fit(y, community.weather)


def test_intraday_fits_one_model_set_per_horizon_hour(community):
    y = aggregate(community).iloc[: 24 * 40]
    cfg = ForecastConfig(horizon=Horizon.INTRADAY, max_intraday_h=3, n_estimators=20)
    engine = GbmForecaster(cfg).fit(y, community.weather)
    assert sorted({h for h, _ in engine.models_}) == [1, 2, 3]
    origin = y.index[-1] - pd.Timedelta(hours=5)
    fc = engine.predict(y, community.weather, origin)
    assert fc["horizon_s"].max() == 3 * 3600 - 900 and len(fc) == 12


def test_day_of_year_feeds_pv_models_only_unless_configured(community):
    from analytics.forecasting.features import FEATURES

    load = ForecastConfig(target=Target.CONSUMPTION).feature_names()
    assert "doy_sin" not in load and "doy_cos" not in load and "hour_local" in load
    assert ForecastConfig(target=Target.PV).feature_names() == FEATURES
    forced = ForecastConfig(target=Target.CONSUMPTION, day_of_year_features=True)
    assert forced.feature_names() == FEATURES
    y = aggregate(community).iloc[: 24 * 40]
    engine = GbmForecaster(ForecastConfig(n_estimators=20)).fit(y, community.weather)
    model = next(iter(engine.models_.values()))
    assert model.n_features_in_ == len(load)


def test_a_model_saved_before_feature_names_existed_still_forecasts(community):
    y = aggregate(community).iloc[: 24 * 40]
    cfg = ForecastConfig(n_estimators=20, day_of_year_features=True)
    engine = GbmForecaster(cfg).fit(y, community.weather)
    origin = y.index[-1].floor("D")
    before = engine.predict(y, community.weather, origin)
    del engine.feature_names_  # as unpickled from a model stored by an earlier version
    pd.testing.assert_frame_equal(engine.predict(y, community.weather, origin), before)
