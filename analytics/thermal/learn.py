"""From a home's data to its physics-informed model and its forecasts: what ``bright twin learn``
and ``bright twin forecast`` do (the model itself: :mod:`analytics.thermal.pimf`).

* :func:`pimf_frame`: a source's frame with the columns the model needs (an occupant count or a
  gains column the home has no data of is zero; ``hvac_mode`` from the heat's sign when absent).
* :func:`learn`: train (warm start from the generic model by default, checkpoint, resume),
  then the model's forecast from the last day of the data (:func:`forecast`).
* :func:`forecast`: from one origin, 24 h (by default) of indoor temperature and the heat the
  HVAC needs under the measured setpoint plan (``as-is``) and under the plan lowered by 1 K
  (``setpoint-1``). The weather of the hours ahead is the measured weather (the platform has no
  weather forecast feed), which a real forecast would replace. A model that failed its gate is
  refused (:func:`analytics.thermal.pimf.require_usable`).
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from analytics.data import citylearn2023 as cl
from analytics.thermal import pimf
from analytics.thermal.errors import ThermalConfigError, ThermalDataError

Progress = Callable[[str], None]

PLANS = {"as-is": 0.0, "setpoint-1": -1.0}
"""Setpoint plans of a forecast: offsets (K) from the measured setpoints."""


def utc_offset_for(key: str, longitude: float) -> float:
    """The local clock of a source: a CityLearn set's own, else the longitude's solar hour."""
    kind, _, rest = key.partition(":")
    if kind == "citylearn":
        data = cl.ALL.get(rest.partition("/")[0])
        if data is not None:
            return float(data.utc_offset_h)
    return float(round(longitude / 15.0))


def pimf_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with the columns the model needs (module docstring)."""
    out = frame.copy()
    for column in ("occupants", *pimf.PimfConfig().gains_columns):
        if column not in out.columns:
            out[column] = 0.0
    for column in ("cooling_kwh", "heating_kwh"):
        if column not in out.columns and "heat_kwh" not in out.columns:
            raise ThermalDataError(
                f"the data has no {column!r} column: the model learns from the HVAC's heat"
            )
    if "hvac_mode" not in out.columns:
        heat = out["heating_kwh"].to_numpy(float) - out["cooling_kwh"].to_numpy(float)
        out["hvac_mode"] = np.where(heat > 0, 2, np.where(heat < 0, 1, 0))
    return out


def model_bytes(model: pimf.PimfModel) -> bytes:
    """The model as ``torch.save`` writes it (what the read models store)."""
    buffer = io.BytesIO()
    torch.save(model.to_payload(), buffer)
    return buffer.getvalue()


@dataclass
class Learned:
    result: pimf.PimfResult
    forecast: dict[str, Any] | None
    """None when the gate failed (nothing is forecast with a refused model)."""

    def summary(self) -> dict[str, Any]:
        scores = self.result.scores
        gate = self.result.gate
        return {
            "usable": gate.usable,
            "reason": gate.reason,
            "gate": gate.to_json(),
            "validation": {
                f"lead_{h}h": scores[f"lead_{h}"]["temp_e"]
                for h in (1, 24)
                if f"lead_{h}" in scores
            },
            "train_s": round(self.result.train_s, 2),
            "epochs_run": self.result.epochs_run,
            "warm_start": self.result.model.meta.get("warm_start", {}).get("path"),
            "parameters": self.result.model.meta.get("parameters", {}),
        }


def learn(
    frame: pd.DataFrame,
    *,
    name: str,
    utc_offset_h: float,
    warm_start: bool = True,
    epochs: int | None = None,
    checkpoint: Path | None = None,
    resume: bool = True,
    progress: Progress | None = None,
) -> Learned:
    """Train a home's model (module docstring); ``progress`` gets a line per epoch."""
    data = pimf_frame(frame)

    def on_epoch(p: pimf.Progress) -> None:
        if progress is not None:
            progress(f"epoch {p.epoch}/{p.epochs}: loss {p.loss:.5f} ({p.elapsed_s:.1f} s)")

    overrides: dict[str, Any] = {"utc_offset_h": utc_offset_h}
    if epochs is not None:
        overrides["epochs"] = epochs
    result = pimf.train(
        data,
        name=name,
        warm_start=pimf.GENERIC_PATH if warm_start else None,
        checkpoint=checkpoint,
        resume=resume,
        progress=on_epoch,
        **overrides,
    )
    made = forecast(result.model, data) if result.gate.usable else None
    return Learned(result, made)


def forecast(
    model: pimf.PimfModel,
    frame: pd.DataFrame,
    *,
    origin: pd.Timestamp | None = None,
    hours: int = 24,
    plans: dict[str, float] | None = None,
) -> dict[str, Any]:
    """Forecasts from ``origin`` (the last measured interval; default: ``hours`` before the
    end of the data) under each setpoint plan: ``{"origin_s", "step_s", "plans": {name:
    {"indoor_c": [...], "heat_kwh": [...]}}, "measured": {...}}``. Refuses a model that failed
    its gate."""
    pimf.require_usable(model)
    data = pimf_frame(frame)
    index = pd.DatetimeIndex(data.index)
    step_s = int((index[1] - index[0]).total_seconds())
    steps = round(hours * 3600 / step_s)
    if not 1 <= steps <= 96:
        raise ThermalConfigError(f"--hours gives {steps} steps of {step_s} s; at most 96")
    if origin is None:
        at = len(data) - steps - 1
    else:
        found = index.get_indexer([origin])[0]
        if found < 0:
            raise ThermalConfigError(
                f"origin {origin} is not an interval start of the data "
                f"({index[0]} .. {index[-1]}, every {step_s} s)"
            )
        at = int(found)
    if at < 1 or at + steps > len(data) - 1:
        raise ThermalDataError(
            f"a forecast from {index[max(at, 0)]} needs history before it and {steps} steps "
            f"of weather and setpoints after it; the data runs {index[0]} .. {index[-1]}"
        )
    history = data.iloc[: at + 1]
    future = data.iloc[at + 1 : at + 1 + steps].copy()
    out: dict[str, Any] = {
        "origin_s": int(index[at].timestamp()) + step_s,
        "step_s": step_s,
        "plans": {},
        "measured": {
            "indoor_c": _round(future["indoor_c"].to_numpy(float)),
            "heat_kwh": _round(
                future["heating_kwh"].to_numpy(float) - future["cooling_kwh"].to_numpy(float)
            ),
        },
    }
    for name, offset in (plans or PLANS).items():
        plan = future.assign(setpoint_c=future["setpoint_c"] + offset)
        indoor, heat = model.predict_setpoints(history, plan)
        out["plans"][name] = {"indoor_c": _round(indoor), "heat_kwh": _round(heat)}
    return out


def _round(values: np.ndarray) -> list[float]:
    return [round(float(v), 4) for v in values]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
