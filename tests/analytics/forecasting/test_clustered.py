"""Cluster-specific forecasters: routing, and that clusters help the homes on real data."""

import pandas as pd
import pytest

from analytics.forecasting.backtest import backtest
from analytics.forecasting.clustered import (
    ALL,
    ClusteredForecaster,
    clustered_backtest,
    model_groups,
)
from analytics.forecasting.domain import FORECAST_COLUMNS, Horizon
from analytics.forecasting.engine import ForecastConfig, GbmForecaster
from analytics.forecasting.service import CommunityData, _labels

SLICE_H = 24 * 200


def test_small_clusters_and_a_single_cluster_use_the_all_homes_model():
    labels = {"a": 0, "b": 0, "c": 0, "d": 1, "e": 2, "f": 2, "g": 2}
    assert model_groups(labels, 3) == {"c0": ["a", "b", "c"], "c2": ["e", "f", "g"],
                                       ALL: ["d"]}
    assert model_groups({"a": 0, "b": 0, "c": 0}, 3) == {ALL: ["a", "b", "c"]}
    with pytest.raises(ValueError, match="min_homes"):
        ClusteredForecaster(ForecastConfig(), labels, min_homes=1)


def test_each_home_is_forecast_by_its_clusters_model_and_new_homes_by_all(community):
    y = community.load_kwh.iloc[: 24 * 40, :6]
    labels = {h: (0 if i < 4 else 1) for i, h in enumerate(y.columns)}
    cfg = ForecastConfig(n_estimators=20)
    with pytest.raises(ValueError, match="without a cluster label"):
        ClusteredForecaster(cfg, {h: 0 for h in y.columns[:5]}).fit(y, community.weather)
    engine = ClusteredForecaster(cfg, labels).fit(y, community.weather)
    assert set(engine.engines_) == {"c0", ALL}
    homes = list(y.columns)
    assert [engine.engine_for(h) for h in homes] == ["c0"] * 4 + [ALL] * 2
    assert engine.engine_for("Building_99") == ALL
    origin = y.index[-1].floor("D")
    fc = engine.predict(y, community.weather, origin, "v-test")
    assert list(fc.columns) == list(FORECAST_COLUMNS)
    assert list(dict.fromkeys(fc["participant_id"])) == homes  # the order asked for
    cluster_only = GbmForecaster(cfg).fit(y[homes[:4]], community.weather)
    expected = cluster_only.predict(y, community.weather, origin, "v-test", homes[:4])
    pd.testing.assert_frame_equal(fc[fc["participant_id"].isin(homes[:4])].reset_index(
        drop=True), expected)


def test_cluster_models_forecast_the_big_clusters_homes_better_day_ahead(community):
    load = community.load_kwh.iloc[:SLICE_H]
    data = CommunityData(load, community.pv_kwh.iloc[:SLICE_H], community.weather,
                         community.battery_kwh, community.battery_kw)
    cfg = ForecastConfig(horizon=Horizon.DAY_AHEAD)
    pooled = backtest(load, community.weather, cfg)
    labels = _labels(data, before=pooled.test_start, seed=0)  # from the data before the test
    clustered = clustered_backtest(load, community.weather, cfg, labels, pooled=pooled)
    a = pooled.per_series()["wape"]
    b = clustered.per_series()["wape"].reindex(a.index)
    groups = model_groups(labels, 3)
    assert len(groups) >= 2
    own = [h for key, homes in groups.items() if key != ALL for h in homes]
    rest = groups.get(ALL, [])
    assert (b[rest] == a[rest]).all()  # the others keep the all-homes model
    assert (b[own] < a[own]).sum() >= 0.75 * len(own)
    assert b.median() < a.median()
    assert clustered.scores["n"] == pooled.scores["n"]
