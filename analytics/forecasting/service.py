"""Training, retraining and community forecasts: what the CLI and the oracle hand-off call.

Models are trained on the real CityLearn homes: per (target, horizon) one *community* model on
the aggregate series, and optionally one pooled *homes* model (all homes, one model, each home
scaled by its mean). Training runs the rolling-origin backtest first and saves its scores with
the model, then refits on all data.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from analytics.data import citylearn
from analytics.flexibility import (
    FlexConfig,
    community_config,
    flexibility_quantiles,
)
from analytics.forecasting.backtest import backtest, held_out_start
from analytics.forecasting.calibration import live_adjustments
from analytics.forecasting.clustered import (
    ClusteredForecaster,
    cluster_homes,
    clustered_backtest,
)
from analytics.forecasting.domain import COMMUNITY_ID, FORECAST_COLUMNS, Horizon, Target
from analytics.forecasting.engine import ForecastConfig, GbmForecaster
from analytics.forecasting.store import load_model, save_model

Scope = Literal["community", "homes"]
MODEL_TARGETS = (Target.CONSUMPTION, Target.PV)


@dataclass
class CommunityData:
    """Hourly inputs of the forecasters: per-home load and PV (kWh), weather, batteries."""

    load_kwh: pd.DataFrame
    pv_kwh: pd.DataFrame
    weather: pd.DataFrame
    battery_kwh: dict[str, float]
    battery_kw: dict[str, float]

    def series(self, target: Target, scope: Scope) -> pd.DataFrame:
        """The hourly kWh frame a model of ``target`` and ``scope`` is trained on."""
        frame = self.load_kwh if target is Target.CONSUMPTION else self.pv_kwh
        if scope == "community":
            return frame.sum(axis=1).to_frame(COMMUNITY_ID)
        if target is Target.PV:
            frame = frame.loc[:, frame.sum() > 0]  # homes without PV have nothing to forecast
        return frame


def load_community_data(home_ids: Sequence[str] | None = None) -> CommunityData:
    """The real homes (all, or ``home_ids``) and the weather, hourly."""
    infos = {h.home_id: h for h in citylearn.homes()}
    ids = list(home_ids) if home_ids is not None else list(infos)
    return CommunityData(
        load_kwh=citylearn.load_matrix("load_kwh", ids),
        pv_kwh=citylearn.load_matrix("pv_kwh", ids),
        weather=citylearn.load_weather(),
        battery_kwh={h: infos[h].battery_kwh for h in ids},
        battery_kw={h: infos[h].battery_kw for h in ids},
    )


def model_name(target: Target, horizon: Horizon, scope: Scope) -> str:
    """Store name of a model, e.g. ``consumption-day_ahead-community``."""
    return f"{target}-{horizon}-{scope}"


def train_models(
    targets: Sequence[Target] = MODEL_TARGETS,
    horizons: Sequence[Horizon] = (Horizon.INTRADAY, Horizon.DAY_AHEAD),
    scopes: Sequence[Scope] = ("community",),
    data: CommunityData | None = None,
    models_dir: Path | None = None,
    with_backtest: bool = True,
    seed: int = 0,
    clustered: bool = True,
) -> list[dict[str, Any]]:
    """(Re)train and save a model per target, horizon and scope; return what was saved.

    Each entry has the model ``version``, its backtest ``scores`` (when ``with_backtest``) and
    the seconds it took. Progress goes to stderr. ``clustered``: the homes' load models are
    cluster-specific (:mod:`analytics.forecasting.clustered`); the backtest clusters on the
    data before its scored quarter, the saved model on all data.
    """
    data = data or load_community_data()
    saved = []
    for scope in scopes:
        for target in targets:
            for horizon in horizons:
                start = time.perf_counter()
                cfg = ForecastConfig(target=target, horizon=horizon, seed=seed)
                y = data.series(target, scope)
                by_cluster = clustered and scope == "homes" and target is Target.CONSUMPTION
                scores: dict[str, Any] = {}
                if with_backtest:
                    print(f"backtest {model_name(target, horizon, scope)} ...", file=sys.stderr)
                    if by_cluster:
                        before_test = _labels(data, before=held_out_start(y.index), seed=seed)
                        result = clustered_backtest(y, data.weather, cfg, before_test)
                    else:
                        result = backtest(y, data.weather, cfg)
                    scores = {k: round(v, 4) for k, v in result.scores.items()}
                    if horizon is Horizon.INTRADAY:
                        pred = result.predictions
                        for h in sorted(pred["h"].unique()):
                            scores[f"by_h_{h}"] = {
                                k: round(v, 4)
                                for k, v in result.score(pred[pred["h"] == h]).items()
                            }
                engine: GbmForecaster | ClusteredForecaster
                if by_cluster:
                    labels = _labels(data, before=None, seed=seed)
                    engine = ClusteredForecaster(cfg, labels).fit(y, data.weather)
                    scores["clusters"] = labels
                else:
                    engine = GbmForecaster(cfg).fit(y, data.weather)
                calibrate = with_backtest and cfg.calibration_window_days > 0
                if calibrate and result.out_of_sample is not None:
                    adjust = live_adjustments(
                        result.out_of_sample, cfg.calibration_window_days,
                        per_h=horizon is not Horizon.DAY_AHEAD)
                    for part in (engine.engines_.values()
                                 if isinstance(engine, ClusteredForecaster) else [engine]):
                        part.interval_adjust_ = adjust
                    scores["interval_adjust"] = adjust
                version = save_model(engine, model_name(target, horizon, scope), scores,
                                     models_dir)
                seconds = round(time.perf_counter() - start, 2)
                print(f"saved {version} in {seconds} s", file=sys.stderr)
                saved.append({"version": version, "scores": scores, "seconds": seconds})
    return saved


def _labels(data: CommunityData, before: pd.Timestamp | None, seed: int) -> dict[str, int]:
    """Clusters of the homes on their data before ``before`` (all data when None)."""
    load = data.load_kwh if before is None else data.load_kwh[data.load_kwh.index < before]
    return cluster_homes(load, data.pv_kwh.loc[load.index], data.weather["temp_c"],
                         data.battery_kwh, data.battery_kw, seed=seed)


def default_origin(data: CommunityData, horizon: Horizon) -> pd.Timestamp:
    """The latest origin the data allows (weather forecasts must cover the horizon)."""
    end = data.weather.index[-1] + pd.Timedelta(hours=1)
    if horizon is Horizon.DAY_AHEAD:
        return (end - pd.Timedelta(hours=24)).floor("D")
    return end - pd.Timedelta(hours=4)


def forecast_community(
    origin: pd.Timestamp | None = None,
    horizon: Horizon = Horizon.DAY_AHEAD,
    data: CommunityData | None = None,
    models_dir: Path | None = None,
    flex: FlexConfig | None = None,
) -> pd.DataFrame:
    """Community forecast of consumption, PV and flexibility from saved community models.

    Returns a tidy frame (:data:`FORECAST_COLUMNS`) at 900 s intervals for participant
    ``community``. Flexibility is the model of :mod:`analytics.flexibility` applied
    to the community load with the community's summed battery capacity, battery power and
    connection limit.
    """
    data = data or load_community_data()
    origin = origin if origin is not None else default_origin(data, horizon)
    frames = []
    consumption = None
    for target in MODEL_TARGETS:
        saved = load_model(model_name(target, horizon, "community"), models_dir=models_dir)
        y = data.series(target, "community")
        fc = saved.engine.predict(y, data.weather, origin, saved.version)
        frames.append(fc)
        if target is Target.CONSUMPTION:
            consumption = fc
    assert consumption is not None
    flex_q = flexibility_quantiles(
        consumption["q10_kw"], consumption["q50_kw"], consumption["q90_kw"],
        sum(data.battery_kwh.values()), sum(data.battery_kw.values()),
        community_config(flex, len(data.load_kwh.columns)),
    )
    for name, values in flex_q.items():
        part = consumption.copy()
        part["target"] = name
        part[["q10_kw", "q50_kw", "q90_kw"]] = values
        frames.append(part)
    return pd.concat(frames, ignore_index=True)[list(FORECAST_COLUMNS)]
