"""The physics-informed model in ``bright bench thermal`` (:mod:`analytics.thermal.bench`).

:func:`predictor` is the bench's peer: it trains a model on the same first 75 % of a home's data
the twin is calibrated on (warm start from the generic model; the model's own validation split
is the last quarter of that part, so nothing of the bench's test part is seen) and forecasts
from the bench's origins in both modes. Each training is recorded; :func:`training_figures`
then retrains every recorded home from scratch (no warm start) and reports both times, the
gates and the model's size.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd

from analytics.thermal import pimf
from analytics.thermal.calibrate import Measured
from analytics.thermal.learn import model_bytes, pimf_frame

_RECORDS: list[dict[str, Any]] = []
"""One per :func:`predictor` call since the last :func:`training_figures`."""


def predictor(
    frame: pd.DataFrame,
    measured: Measured,
    n_train: int,
    origins: np.ndarray,
    utc_offset_h: float = 0.0,
) -> dict[str, np.ndarray]:
    """Train on ``frame[:n_train]`` and forecast the bench's origins (an origin ``o`` forecasts
    rows ``o .. o+23`` from measurements up to row ``o-1``); ``utc_offset_h``: the home's local
    clock (the time-of-day features of the model's correction)."""
    del measured
    data = pimf_frame(frame)
    result = pimf.train(data.iloc[:n_train], name="bench home", utc_offset_h=utc_offset_h)
    model = result.model
    pred = model.predict_origins(data, np.asarray(origins) - 1)
    lead_1 = result.scores.get("lead_1", {}).get("temp_e", {})
    lead_24 = result.scores.get("lead_24", {}).get("temp_e", {})
    _RECORDS.append(
        {
            "train": data.iloc[:n_train],
            "utc_offset_h": utc_offset_h,
            "warm_train_s": round(result.train_s, 2),
            "usable": result.gate.usable,
            "gate_reason": None if result.gate.usable else result.gate.reason,
            "validation_mae_1h_c": lead_1.get("mae_c"),
            "validation_mae_24h_c": lead_24.get("mae_c"),
            "model_bytes": len(model_bytes(model)),
        }
    )
    return {"indoor": pred["indoor_heat_given"], "heat": pred["heat_kwh_setpoint_given"]}


def training_figures() -> dict[str, Any]:
    """Warm-start and from-scratch training of every home :func:`predictor` saw."""
    homes = []
    for record in _RECORDS:
        started = time.perf_counter()
        scratch = pimf.train(
            record["train"],
            name="bench home (scratch)",
            warm_start=None,
            utc_offset_h=record["utc_offset_h"],
        )
        wall = time.perf_counter() - started
        homes.append(
            {k: v for k, v in record.items() if k not in ("train", "utc_offset_h")}
            | {
                "scratch_train_s": round(scratch.train_s, 2),
                "scratch_wall_s": round(wall, 2),
                "scratch_usable": scratch.gate.usable,
                "scratch_validation_mae_24h_c": scratch.scores.get("lead_24", {})
                .get("temp_e", {})
                .get("mae_c"),
            }
        )
    _RECORDS.clear()
    if not homes:
        return {"homes": []}
    warm = [h["warm_train_s"] for h in homes]
    cold = [h["scratch_train_s"] for h in homes]
    return {
        "homes": homes,
        "warm_train_s_mean": round(float(np.mean(warm)), 2),
        "scratch_train_s_mean": round(float(np.mean(cold)), 2),
        "usable": sum(bool(h["usable"]) for h in homes),
        "of": len(homes),
        "model_bytes": max(h["model_bytes"] for h in homes),
        "generic_model_bytes": pimf.GENERIC_PATH.stat().st_size,
        "gate": pimf.GATE_DEFINITION,
    }
