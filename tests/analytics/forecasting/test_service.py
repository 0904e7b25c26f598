import pandas as pd
import pytest

from analytics.errors import ModelNotFoundError
from analytics.forecasting.domain import Horizon
from analytics.forecasting.engine import ForecastConfig, GbmForecaster
from analytics.forecasting.service import CommunityData, forecast_community, train_models
from analytics.forecasting.store import load_model, save_model


def small(community, days=45):
    n = 24 * days
    return CommunityData(community.load_kwh.iloc[:n], community.pv_kwh.iloc[:n],
                         community.weather, community.battery_kwh, community.battery_kw)


def test_models_are_versioned_with_their_scores(community, tmp_path):
    y = community.load_kwh.iloc[: 24 * 30].sum(axis=1).to_frame("community")
    engine = GbmForecaster(ForecastConfig(n_estimators=20)).fit(y, community.weather)
    assert save_model(engine, "m", {"wape": 0.2}, tmp_path) == "m-v1"
    assert save_model(engine, "m", {"wape": 0.1}, tmp_path) == "m-v2"
    latest = load_model("m", models_dir=tmp_path)
    assert latest.version == "m-v2" and latest.meta["scores"] == {"wape": 0.1}
    assert load_model("m", 1, tmp_path).meta["config"]["n_estimators"] == 20
    with pytest.raises(ModelNotFoundError, match="train"):
        load_model("other", models_dir=tmp_path)


def test_retrain_then_forecast_the_community(community, tmp_path):
    data = small(community, 60)
    saved = train_models(horizons=(Horizon.DAY_AHEAD,), data=data, models_dir=tmp_path,
                         with_backtest=True)
    assert [s["version"] for s in saved] == ["consumption-day_ahead-community-v1",
                                             "pv-day_ahead-community-v1"]
    assert 0 < saved[0]["scores"]["wape"] < 1
    adjust = load_model("consumption-day_ahead-community", models_dir=tmp_path
                        ).engine.interval_adjust_
    assert set(adjust) == {0} and adjust[0] >= 0  # conformal widening used live
    origin = data.load_kwh.index[-1].floor("D")
    fc = forecast_community(origin, Horizon.DAY_AHEAD, data=data, models_dir=tmp_path)
    assert sorted(fc["target"].unique()) == ["consumption", "flex_down", "flex_up", "pv"]
    assert (fc.groupby("target").size() == 96).all()
    assert set(fc["participant_id"]) == {"community"}
    cons = fc[fc["target"] == "consumption"].set_index("interval_start_s")
    down = fc[fc["target"] == "flex_down"].set_index("interval_start_s")
    assert (down["q50_kw"] <= cons["q50_kw"] + 1e-9).all()
    actual = data.load_kwh.sum(axis=1)
    start = pd.Timestamp(int(cons.index[0]), unit="s", tz="UTC")
    assert start == origin and actual.index[-1] >= start  # forecast of a day with known truth


def test_the_homes_load_model_is_saved_per_cluster_and_the_feed_can_use_it(community, tmp_path):
    from analytics.forecasting.clustered import ClusteredForecaster

    data = small(community, 60)
    saved = train_models(horizons=(Horizon.INTRADAY,), scopes=("homes",), data=data,
                         models_dir=tmp_path, with_backtest=True)
    assert [s["version"] for s in saved] == ["consumption-intraday-homes-v1",
                                             "pv-intraday-homes-v1"]
    clusters = saved[0]["scores"]["clusters"]
    assert set(clusters) == set(data.load_kwh.columns)
    load = load_model("consumption-intraday-homes", models_dir=tmp_path)
    assert isinstance(load.engine, ClusteredForecaster)
    assert load.meta["kind"] == "ClusteredForecaster"
    assert all(e.interval_adjust_ for e in load.engine.engines_.values())
    assert isinstance(load_model("pv-intraday-homes", models_dir=tmp_path).engine, GbmForecaster)
    origin = data.load_kwh.index[-10]
    homes = ["Building_3", "Building_12"]
    fc = load.engine.predict(data.load_kwh, data.weather, origin, load.version, homes)
    assert list(dict.fromkeys(fc["participant_id"])) == homes and len(fc) == 2 * 16
    assert (fc["q10_kw"] <= fc["q50_kw"]).all() and (fc["q50_kw"] <= fc["q90_kw"]).all()
