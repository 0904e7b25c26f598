"""Cluster-specific forecasters: one pooled model per cluster of homes that behave alike.

The pooled homes model (one LightGBM for all homes, each scaled by its mean) lets a few
unusual homes pull the model away from the rest. Here the homes are clustered by behaviour
first (:mod:`analytics.clustering`: daily profile shape, level, PV self-consumption,
temperature sensitivity, flexibility), and every cluster of at least ``min_homes`` homes gets
its own pooled model; homes of smaller clusters, and homes the clustering never saw (a
household added later), are forecast by the model of all homes.

Where clusters help (backtest, per-home consumption WAPE, median over the 17 real homes, the
clustering made on the data before the scored quarter; k = 2 with 15 and 2 homes):

============================  ===========  ===========
                              validation   held-out
============================  ===========  ===========
day-ahead, pooled             47.92 %      45.17 %
day-ahead, per cluster        47.71 %      44.67 %
1 h ahead, pooled             36.88 %      37.17 %
1 h ahead, per cluster        36.81 %      37.18 %
============================  ===========  ===========

Day-ahead, 13 of the 15 homes of the large cluster are forecast better on both quarters (the
two others keep the all-homes model); 1 h ahead the gain on the validation quarter (13 of 15
better) did not carry over to the held-out one. ``bright analytics train --homes`` therefore
trains clustered load models (:func:`analytics.forecasting.service.train_models`); the
forecast feed trains the plain pooled model when none is saved (it forecasts 1 to 4 h ahead,
where clusters did not help, and trains in half the time). PV is never clustered: its shape
is the sun's, and the clusters are of consumption behaviour.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from analytics.forecasting.backtest import BacktestResult, backtest, score_frame
from analytics.forecasting.engine import ForecastConfig, GbmForecaster

ALL = "all"
"""Key of the model fitted on every home."""


def cluster_homes(
    load_kwh: pd.DataFrame,
    pv_kwh: pd.DataFrame,
    temp_c: pd.Series,
    battery_kwh: Mapping[str, float] | None = None,
    battery_kw: Mapping[str, float] | None = None,
    seed: int = 0,
) -> dict[str, int]:
    """home id -> cluster of the homes' hourly frames (k chosen by silhouette)."""
    from analytics.clustering.engine import ClusterConfig, cluster_households

    result = cluster_households(load_kwh, pv_kwh, temp_c, battery_kwh, battery_kw,
                                ClusterConfig(seed=seed))
    return {str(h): int(c) for h, c in zip(result.household_ids, result.labels, strict=True)}


def model_groups(labels: Mapping[str, int], min_homes: int) -> dict[str, list[str]]:
    """Model key -> homes it forecasts: ``c<k>`` per cluster of ``min_homes`` or more homes,
    :data:`ALL` for the others (absent when every home has a cluster model)."""
    by_cluster: dict[int, list[str]] = {}
    for home, cluster in labels.items():
        by_cluster.setdefault(cluster, []).append(home)
    groups: dict[str, list[str]] = {}
    rest: list[str] = []
    for cluster, homes in sorted(by_cluster.items()):
        if len(homes) >= min_homes and len(by_cluster) > 1:
            groups[f"c{cluster}"] = homes
        else:
            rest.extend(homes)
    if rest:
        groups[ALL] = rest
    return groups


class ClusteredForecaster:
    """A :class:`GbmForecaster` per cluster (see the module docstring), same ``predict``."""

    def __init__(self, config: ForecastConfig, labels: Mapping[str, int],
                 min_homes: int = 3) -> None:
        if min_homes < 2:
            raise ValueError("min_homes must be at least 2 (a pooled model needs homes)")
        self.config = config
        self.labels = {str(k): int(v) for k, v in labels.items()}
        self.min_homes = min_homes
        self.engines_: dict[str, GbmForecaster] = {}
        self.fit_seconds_ = 0.0

    def fit(self, y: pd.DataFrame, weather: pd.DataFrame) -> ClusteredForecaster:
        """Fit the all-homes model and one model per large cluster on hourly kWh ``y``."""
        unknown = sorted(set(map(str, y.columns)) - set(self.labels))
        if unknown:
            raise ValueError(f"homes without a cluster label: {unknown}")
        start = time.perf_counter()
        groups = model_groups({str(c): self.labels[str(c)] for c in y.columns}, self.min_homes)
        self.engines_ = {ALL: GbmForecaster(self.config).fit(y, weather)}
        for key, homes in groups.items():
            if key != ALL:
                self.engines_[key] = GbmForecaster(self.config).fit(y[homes], weather)
        self.fit_seconds_ = time.perf_counter() - start
        return self

    def engine_for(self, home: str) -> str:
        """Key of the model that forecasts ``home``."""
        key = f"c{self.labels[home]}" if home in self.labels else ALL
        return key if key in self.engines_ else ALL

    def predict(
        self,
        y: pd.DataFrame,
        weather: pd.DataFrame,
        origin: pd.Timestamp,
        model_version: str = "unsaved",
        participant_ids: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """As :meth:`GbmForecaster.predict`, each home by its cluster's model."""
        if not self.engines_:
            from analytics.errors import NotFittedError

            raise NotFittedError("ClusteredForecaster")
        ids = [str(c) for c in (participant_ids if participant_ids is not None else y.columns)]
        routed: dict[str, list[str]] = {}
        for home in ids:
            routed.setdefault(self.engine_for(home), []).append(home)
        parts = [self.engines_[key].predict(y, weather, origin, model_version, homes)
                 for key, homes in routed.items()]
        out = pd.concat(parts, ignore_index=True)
        order = {home: i for i, home in enumerate(ids)}
        return out.sort_values(["participant_id", "interval_start_s"],
                               key=lambda s: s.map(order) if s.name == "participant_id" else s,
                               kind="stable").reset_index(drop=True)


def clustered_backtest(
    y: pd.DataFrame, weather: pd.DataFrame, config: ForecastConfig, labels: Mapping[str, int],
    min_homes: int = 3, pooled: BacktestResult | None = None, **kwargs: Any,
) -> BacktestResult:
    """The rolling-origin backtest of a :class:`ClusteredForecaster` (same protocol and rows
    as :func:`backtest`; ``labels`` should come from data before the scored quarter).

    ``pooled``: the backtest of the all-homes model on ``y`` when already run (it forecasts
    the homes without a cluster model, as in :class:`ClusteredForecaster`).
    """
    groups = model_groups({str(c): labels[str(c)] for c in y.columns}, min_homes)
    results = []
    for key, homes in groups.items():
        if key == ALL:
            pooled = pooled or backtest(y, weather, config, **kwargs)
            keep = pooled.predictions["series_id"].isin(homes)
            oos = pooled.out_of_sample
            results.append(BacktestResult(
                config, pooled.predictions[keep], pooled.test_start, pooled.refits,
                pooled.fit_seconds,
                out_of_sample=None if oos is None else oos[oos["series_id"].isin(homes)]))
        else:
            results.append(backtest(y[homes], weather, config, **kwargs))
    predictions = pd.concat([r.predictions for r in results], ignore_index=True)
    oos_parts = [r.out_of_sample for r in results if r.out_of_sample is not None]
    out = BacktestResult(config, predictions, results[0].test_start,
                         sum(r.refits for r in results), sum(r.fit_seconds for r in results),
                         out_of_sample=pd.concat(oos_parts, ignore_index=True)
                         if oos_parts else None)
    out.scores = score_frame(predictions, config.horizon)
    return out
