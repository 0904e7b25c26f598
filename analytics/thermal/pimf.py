"""Physics-informed model of one household's thermal behaviour (PIMF-1..5), in torch.

**Structure.** A lumped RC network with two states, the indoor air (and furniture) ``T_a`` and
the building's thermal mass ``T_m``::

    C_a dT_a/dt = H_ao (T_o - T_a) + H_am (T_m - T_a) + eta Q + g_a . solar + g_o occ
                  + f . gains + n_a(x)
    C_m dT_m/dt = H_am (T_a - T_m) + H_mo (T_o - T_m) + g_m . solar + n_m(x)

``Q`` is the heat the HVAC delivers (heating positive, cooling negative), ``solar`` the direct
and diffuse irradiance, ``occ`` the occupants, ``gains`` the internal gains given as energies
per step (:attr:`PimfConfig.gains_columns`: appliances ``equipment_kwh`` and hot water used
``dhw_kwh`` by default; on the development homes the hot water alone explained a quarter of the
one-step heat error). Every physical parameter is positive
(``exp`` of a learned log) and learned by gradient descent. ``n(x)`` is the neural correction:
a small MLP on the time of day, the day of the week, occupants and weather that adds a heat
flow to each node for what the RC network misses (occupant behaviour, unmodelled gains,
orientation of the glazing). Its last layer starts at zero, so an untrained correction is
exactly the RC network.

The network is discretised exactly (zero-order hold, matrix exponential) for the step of the
data, so the parameters are continuous-time and the step is not hard-coded: a model trained on
hourly data runs at 15-minute steps. Powers are in units of the home's typical HVAC heat rate
(:attr:`Scales.q_scale_kw`): the parameters (time constants, gain ratios) of one home are a
sensible start for another of a different size, which is what the generic pretrained model
(:data:`GENERIC_PATH`) is for.

**The state at the origin.** The measured indoor temperature is known up to the origin; the
mass temperature is not measured. It is estimated over a warm-up window before the origin
(``warmup_steps``) by an observer: the model is run over the history with the air temperature
reset to each measurement and the mass corrected by a learned gain times the one-step error.

**Two prediction modes**, from an origin, up to ``horizon_steps`` ahead (24 h by default):

* (E) heat given (:meth:`PimfModel.predict_heat_given`): the HVAC heat per step and the weather
  give the indoor temperature per step (what CityLearn's LSTM does).
* (S) setpoint given (:meth:`PimfModel.predict_setpoints`): a setpoint plan and an HVAC mode
  plan give the indoor temperature and the heat the HVAC must deliver to hold the setpoint.
  The air temperature at the end of a step is affine in that step's heat,
  ``T_a = a + b Q`` (``b > 0``), so the heat needed is ``(setpoint - a) / b``, clipped to the
  HVAC's sign and capacity: cooling mode ``-cap_cool <= Q <= 0``, heating mode
  ``0 <= Q <= cap_heat``, off ``Q = 0``. The capacities are the largest heat rates seen in the
  training data. Another setpoint plan is a what-if question (PIMF-2).

**Training** (:func:`train`) on one home's frame: chronological split (the last
``val_fraction`` is validation), a multi-step loss over rollouts of ``horizon_steps`` from every
training origin (mode E temperature, mode S temperature and mode S heat), Adam, deterministic
for a seed (single thread during training). Training starts from the generic model's RC
parameters by default (its correction too with ``warm_start_correction``) and writes a
checkpoint at the end of every ``checkpoint_every`` epochs and at the end: an
interrupted training resumes from it and ends with the same model as an uninterrupted one.

**The validation gate** (PIMF-3/4, :data:`GATE_DEFINITION`): on the validation split, at every
lead 1..24 h of mode E, ≥ 95 % of errors within ±1.5 °C, MAE ≤ 1.0 °C and MAE ≤ 0.9 times the
climatology's. :func:`require_usable` raises :class:`ModelGateError` with the reason.

Input frames are indexed by the UTC start of each interval (regular step) with the columns of
:data:`WEATHER_COLUMNS` plus ``occupants``, ``indoor_c`` (history), ``setpoint_c`` and
``hvac_mode`` (0 off, 1 cooling, 2 heating; mode S), the gains columns, and the heat per step
(mode E, and the history of both modes):
``heat_kwh`` (signed) or ``cooling_kwh`` and ``heating_kwh`` (both >= 0, thermal energy in the
interval), as :func:`analytics.data.citylearn2023.load_home` gives them.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import math
import platform
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from analytics.data.validation import validate_frame
from analytics.errors import FrameValidationError, InsufficientDataError
from core.errors import AnalyticsError

FORMAT = "bright-pimf/1"
GENERIC_PATH = Path(__file__).resolve().parent / "pretrained" / "generic.pt"
"""The generic pretrained model shipped with the code: the warm start of every training."""

WEATHER_COLUMNS = ("outdoor_c", "direct_w_m2", "diffuse_w_m2")
EXOGENOUS_COLUMNS = (*WEATHER_COLUMNS, "occupants")
SETPOINT_COLUMNS = ("setpoint_c", "hvac_mode")
HEAT_COLUMNS = ("cooling_kwh", "heating_kwh")
"""Mode E needs ``heat_kwh`` (signed, heating positive) or these two (both >= 0)."""

GATE_BAND_C = 1.5
GATE_MIN_SHARE = 0.95
GATE_MAX_MAE_C = 1.0
GATE_MAX_SKILL_RATIO = 0.9
GATE_DEFINITION = (
    "Mode E (heat given) predictions from every hourly origin of the validation split (the last "
    "25 % of the data, origins whose targets all lie in it), at EACH lead 1..24 h (the worst lead "
    f"decides): at least {GATE_MIN_SHARE:.0%} of the errors within ±{GATE_BAND_C} °C, the mean "
    f"absolute error at most {GATE_MAX_MAE_C} °C, and at most {GATE_MAX_SKILL_RATIO:g} times "
    "the mean absolute error of the climatology (a constant: the mean indoor temperature of the "
    "data before the validation split) at that lead."
)
"""Why the climatology condition: in homes whose indoor temperature varies by about 1 °C (the
CityLearn homes: the HVAC holds a setpoint), the ±1.5 °C band alone accepts a model that learned
nothing; a model trained on indoor temperatures shuffled in time scores 0.98-1.2 times the
climatology's error on the development homes, properly trained ones 0.21-0.80."""


class ModelGateError(AnalyticsError):
    """A physics-informed model failed its validation gate and may not be used; ``reason`` says
    why (which lead, which figure, against which bar)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"thermal model not usable: {reason}")


class CheckpointError(AnalyticsError):
    """A checkpoint cannot be resumed for this training (other data or configuration) or is not
    a PIMF file."""


# ----------------------------------------------------------------------------------------------
# configuration and scales


@dataclass(frozen=True)
class PimfConfig:
    """How a model is built and trained. Steps are steps of the data (hours for hourly data)."""

    horizon_steps: int = 24
    warmup_steps: int = 24
    """History before each origin used to estimate the mass temperature."""
    hidden: int = 16
    """Width of the correction MLP."""
    epochs: int | None = None
    """Passes over the training windows; ``None``: 20 from a warm start, 40 from scratch
    (where the validation scores level off on the development homes)."""
    batch_size: int = 256
    lr: float = 0.05
    weight_decay: float = 1e-4
    """L2 penalty on the correction MLP's weights (keeps the physics in charge)."""
    energy_weight: float = 1.0
    """Weight of mode S's heat error (in units of the home's typical heat rate, squared) against
    the temperature errors (°C squared) in the loss."""
    warm_start_correction: bool = False
    """Whether a warm start also takes the warm-start model's neural correction (else only its
    RC parameters and observer gain; the correction starts at zero)."""
    val_fraction: float = 0.25
    seed: int = 0
    checkpoint_every: int = 10
    utc_offset_h: float = 0.0
    """Offset of the home's local clock from UTC (time-of-day features of the correction)."""
    gains_columns: tuple[str, ...] = ("equipment_kwh", "dhw_kwh")
    """Energies per step (kWh) that are internal heat gains, each with its own learned
    fraction: appliances and lighting, hot water used. Empty where a home has no such data
    (the correction then learns what it can); a column may also be filled with zeros."""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PimfConfig:
        known = {f for f in cls.__dataclass_fields__}
        fields = {k: v for k, v in data.items() if k in known}
        if "gains_columns" in fields:
            fields["gains_columns"] = tuple(fields["gains_columns"])
        return cls(**fields)


@dataclass(frozen=True)
class Scales:
    """Per-home units, measured on the training split."""

    step_h: float
    """Length of a step of the training data, hours."""
    q_scale_kw: float
    """Typical HVAC heat rate: mean |heat| over the steps with heat (1 where there is none)."""
    occ_scale: float
    """Largest occupant count (1 where none)."""
    cap_cool_kw: float
    """Largest cooling rate seen (the HVAC's cooling capacity in mode S; inf if never seen)."""
    cap_heat_kw: float
    """Largest heating rate seen (inf if never seen)."""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Scales:
        return cls(**data)


# ----------------------------------------------------------------------------------------------
# input frames


def _heat_kwh(frame: pd.DataFrame) -> np.ndarray:
    if "heat_kwh" in frame.columns:
        return frame["heat_kwh"].to_numpy(float)
    return frame["heating_kwh"].to_numpy(float) - frame["cooling_kwh"].to_numpy(float)


def _step_s(frame: pd.DataFrame, name: str) -> int:
    """The step of a frame: its first interval (validation then checks that all are equal)."""
    index = frame.index
    if not isinstance(index, pd.DatetimeIndex) or len(index) < 2:
        return 3600
    steps = np.diff(index.as_unit("s").asi8)
    return int(steps[0]) if steps[0] > 0 else 3600


def check_frame(frame: pd.DataFrame, *, name: str, history: bool = True, heat: bool = True,
                setpoints: bool = True, extra: Sequence[str] = (), step_s: int | None = None
                ) -> pd.DataFrame:
    """Check an input frame and return it, or raise a :class:`core.errors.DataError` that names
    the frame and the column: a UTC index at a regular step, the columns the use needs, no NaN
    in them, ``hvac_mode`` in {0, 1, 2}, no negative cooling/heating energy.

    ``history``: needs ``indoor_c``; ``heat``: needs ``heat_kwh`` or ``cooling_kwh`` and
    ``heating_kwh``; ``setpoints``: needs ``setpoint_c`` and ``hvac_mode``; ``extra``: other
    columns needed (the model's internal-gains column)."""
    columns = [*EXOGENOUS_COLUMNS, *extra]
    if history:
        columns.append("indoor_c")
    if setpoints:
        columns += SETPOINT_COLUMNS
    non_negative: list[str] = ["occupants", "direct_w_m2", "diffuse_w_m2"]
    if heat:
        if "heat_kwh" in frame.columns:
            columns.append("heat_kwh")
        else:
            columns += HEAT_COLUMNS
            non_negative += HEAT_COLUMNS
    validate_frame(frame, name=name, columns=columns, resolution_s=step_s or _step_s(frame, name),
                   non_negative=non_negative)
    if setpoints:
        modes = frame["hvac_mode"].to_numpy(float)
        bad = ~np.isin(modes, (0.0, 1.0, 2.0))
        if bad.any():
            where = frame.index[bad]
            raise FrameValidationError(
                name, f"column 'hvac_mode' must be 0 (off), 1 (cooling) or 2 (heating); found "
                f"{modes[bad][0]!r} at {where[0]} ({int(bad.sum())} row(s))")
    return frame


def _local_time_features(index: pd.DatetimeIndex, utc_offset_h: float) -> np.ndarray:
    local = index.tz_convert("UTC").tz_localize(None) + pd.Timedelta(hours=utc_offset_h)
    # middle of the interval, in hours of the day
    step_h = (index[1] - index[0]).total_seconds() / 3600 if len(index) > 1 else 1.0
    hour = local.hour + local.minute / 60 + step_h / 2
    dow = local.dayofweek + hour / 24
    return np.stack([np.sin(2 * np.pi * hour / 24), np.cos(2 * np.pi * hour / 24),
                     np.sin(2 * np.pi * dow / 7), np.cos(2 * np.pi * dow / 7)], axis=1)


@dataclass
class _Series:
    """One home's series as model inputs (scaled), float64 tensors of length N."""

    ta: Tensor           # measured indoor temperature (NaN where unknown)
    to: Tensor           # outdoor temperature
    p: Tensor            # heat in units of q_scale (NaN where not given)
    sp: Tensor           # setpoint (NaN where not given)
    lo: Tensor           # mode S bounds of p
    hi: Tensor
    solar: Tensor        # (N, 2) direct, diffuse in kW/m2
    occ: Tensor          # occupants / occ_scale
    gains: Tensor        # internal gains in units of q_scale (0 without a gains column)
    feat: Tensor         # (N, F) correction features
    step_h: float


def _series(frame: pd.DataFrame, scales: Scales, config: PimfConfig) -> _Series:
    """Model inputs of a frame; ``indoor_c``, the heat, ``setpoint_c`` and ``hvac_mode`` may be
    absent or NaN where they are not known (the future's temperature, mode E's setpoints)."""
    n = len(frame)
    nan = np.full(n, np.nan)
    index = frame.index
    assert isinstance(index, pd.DatetimeIndex)
    step_h = (index[1] - index[0]).total_seconds() / 3600 if n > 1 else scales.step_h
    to = frame["outdoor_c"].to_numpy(float)
    occ = frame["occupants"].to_numpy(float) / scales.occ_scale
    gains = np.stack([frame[c].to_numpy(float) for c in config.gains_columns], axis=1) \
        if config.gains_columns else np.zeros((n, 0))
    gains = gains / step_h / scales.q_scale_kw
    solar = np.stack([frame["direct_w_m2"].to_numpy(float),
                      frame["diffuse_w_m2"].to_numpy(float)], axis=1) / 1000.0
    ta = frame["indoor_c"].to_numpy(float) if "indoor_c" in frame.columns else nan
    p = _heat_kwh(frame) / step_h / scales.q_scale_kw if _has_heat(frame) else nan
    sp = frame["setpoint_c"].to_numpy(float) if "setpoint_c" in frame.columns else nan
    mode = frame["hvac_mode"].to_numpy(float) if "hvac_mode" in frame.columns else nan
    lo = np.where(mode == 1, -scales.cap_cool_kw / scales.q_scale_kw, 0.0)
    hi = np.where(mode == 2, scales.cap_heat_kw / scales.q_scale_kw, 0.0)
    feat = np.concatenate([
        _local_time_features(index, config.utc_offset_h),
        np.stack([occ, (to - 20.0) / 10.0, solar[:, 0], solar[:, 1]], axis=1),
    ], axis=1)

    def t(a: np.ndarray) -> Tensor:
        return torch.tensor(np.asarray(a, dtype=float), dtype=torch.float64)

    return _Series(t(ta), t(to), t(p), t(sp), t(lo), t(hi), t(solar), t(occ), t(gains),
                   t(feat), step_h)


N_FEATURES = 8


def _scales(frame: pd.DataFrame) -> Scales:
    index = frame.index
    assert isinstance(index, pd.DatetimeIndex)
    step_h = (index[1] - index[0]).total_seconds() / 3600
    q_kw = _heat_kwh(frame) / step_h
    active = np.abs(q_kw) > 1e-9
    q_scale = float(np.abs(q_kw[active]).mean()) if active.any() else 1.0
    occ = float(frame["occupants"].max())
    cool = -q_kw[q_kw < 0]
    heat = q_kw[q_kw > 0]
    return Scales(step_h=step_h, q_scale_kw=q_scale, occ_scale=occ if occ > 0 else 1.0,
                  cap_cool_kw=float(cool.max()) if len(cool) else math.inf,
                  cap_heat_kw=float(heat.max()) if len(heat) else math.inf)


# ----------------------------------------------------------------------------------------------
# the network


_INIT = {  # physical start (units of the home's typical heat rate, hours, kelvin)
    "h_ao": 0.06, "h_am": 0.6, "h_mo": 0.12, "c_a": 0.6, "c_m": 6.0, "eta": 1.0,
    "g_a": 0.15, "g_m": 0.15, "g_occ": 0.05, "g_gains": 0.8,
}


def _net(config: PimfConfig) -> PimfNet:
    return PimfNet(config.hidden, len(config.gains_columns))


class PimfNet(nn.Module):
    """The RC network plus the neural correction. Powers in units of ``q_scale``."""

    def __init__(self, hidden: int = 16, n_gains: int = 2) -> None:
        super().__init__()
        self.log_h_ao = nn.Parameter(torch.tensor(math.log(_INIT["h_ao"])))
        self.log_h_am = nn.Parameter(torch.tensor(math.log(_INIT["h_am"])))
        self.log_h_mo = nn.Parameter(torch.tensor(math.log(_INIT["h_mo"])))
        self.log_c_a = nn.Parameter(torch.tensor(math.log(_INIT["c_a"])))
        self.log_c_m = nn.Parameter(torch.tensor(math.log(_INIT["c_m"])))
        self.log_eta = nn.Parameter(torch.tensor(math.log(_INIT["eta"])))
        # solar apertures (direct, diffuse) into the air and the mass, occupant gain
        self.log_g_air = nn.Parameter(torch.full((2,), math.log(_INIT["g_a"])))
        self.log_g_mass = nn.Parameter(torch.full((2,), math.log(_INIT["g_m"])))
        self.log_g_occ = nn.Parameter(torch.tensor(math.log(_INIT["g_occ"])))
        self.log_g_gains = nn.Parameter(torch.full((n_gains,), math.log(_INIT["g_gains"])))
        self.observer_gain = nn.Parameter(torch.tensor(0.0))
        self.correction = nn.Sequential(nn.Linear(N_FEATURES, hidden), nn.Tanh(),
                                        nn.Linear(hidden, 2))
        last = self.correction[2]
        assert isinstance(last, nn.Linear)
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)
        self.double()

    # -- physics ------------------------------------------------------------------------------
    def physical(self) -> dict[str, Tensor]:
        return {
            "h_ao": self.log_h_ao.exp(), "h_am": self.log_h_am.exp(),
            "h_mo": self.log_h_mo.exp(), "c_a": self.log_c_a.exp(), "c_m": self.log_c_m.exp(),
            "eta": self.log_eta.exp(),
        }

    def discretise(self, step_h: float) -> tuple[Tensor, Tensor, Tensor]:
        """``(Ad, Gd, b)`` for one step: ``x' = Ad x + Gd f`` with ``f`` the forcing per unit
        capacity (K/h), constant over the step (zero-order hold); ``b`` the air temperature's
        rise per unit heat rate."""
        q = self.physical()
        c_a, c_m = q["c_a"], q["c_m"]
        a = torch.stack([
            torch.stack([-(q["h_ao"] + q["h_am"]) / c_a, q["h_am"] / c_a]),
            torch.stack([q["h_am"] / c_m, -(q["h_am"] + q["h_mo"]) / c_m]),
        ])
        m = torch.zeros(4, 4, dtype=a.dtype)
        m[:2, :2] = a
        m[:2, 2:] = torch.eye(2, dtype=a.dtype)
        e = torch.linalg.matrix_exp(m * step_h)
        ad, gd = e[:2, :2], e[:2, 2:]
        b_unit = q["eta"] / c_a  # K/h per unit heat rate into the air node
        return ad, gd, b_unit

    def forcing(self, to: Tensor, solar: Tensor, occ: Tensor, gains: Tensor, feat: Tensor
                ) -> tuple[Tensor, Tensor]:
        """Forcing of the air and the mass per unit capacity (K/h), without the HVAC heat."""
        q = self.physical()
        corr = self.correction(feat)
        g_air = self.log_g_air.exp()
        g_mass = self.log_g_mass.exp()
        air = (q["h_ao"] * to + solar @ g_air + self.log_g_occ.exp() * occ
               + gains @ self.log_g_gains.exp() + corr[..., 0]) / q["c_a"]
        mass = (q["h_mo"] * to + solar @ g_mass + corr[..., 1]) / q["c_m"]
        return air, mass

    # -- rollout ------------------------------------------------------------------------------
    def rollout(self, w: _Window, step_h: float, *, mode_e: bool = True, mode_s: bool = True
                ) -> dict[str, Tensor]:
        """Run a batch of windows: warm-up with the observer over ``w.warm`` steps, then
        ``H`` steps free. Returns ``ta_e`` (B, H), and ``ta_s``, ``p_s`` (B, H)."""
        ad, gd, b_unit = self.discretise(step_h)
        fa, fm = self.forcing(w.to, w.solar, w.occ, w.gains, w.feat)
        k = self.observer_gain
        ta = w.ta[:, 0]
        known = ~torch.isnan(w.ta[:, : w.warm + 1])
        mean_ta = torch.where(known, w.ta[:, : w.warm + 1], 0.0).sum(1) / known.sum(1).clamp(min=1)
        tm = mean_ta
        p_hist = torch.nan_to_num(w.p, nan=0.0)
        for i in range(1, w.warm + 1):
            fai = fa[:, i] + b_unit * p_hist[:, i]
            ta_pred = ad[0, 0] * ta + ad[0, 1] * tm + gd[0, 0] * fai + gd[0, 1] * fm[:, i]
            tm_pred = ad[1, 0] * ta + ad[1, 1] * tm + gd[1, 0] * fai + gd[1, 1] * fm[:, i]
            meas = w.ta[:, i]
            ok = ~torch.isnan(meas)
            tm = torch.where(ok, tm_pred + k * (torch.nan_to_num(meas) - ta_pred), tm_pred)
            ta = torch.where(ok, torch.nan_to_num(meas), ta_pred)
        out: dict[str, list[Tensor]] = {"ta_e": [], "ta_s": [], "p_s": []}
        b = gd[0, 0] * b_unit  # air temperature rise at the end of the step per unit heat rate
        ta_e, tm_e, ta_s, tm_s = ta, tm, ta, tm
        for i in range(w.warm + 1, w.warm + 1 + w.horizon):
            if mode_e:
                fai = fa[:, i] + b_unit * w.p[:, i]
                new = ad[0, 0] * ta_e + ad[0, 1] * tm_e + gd[0, 0] * fai + gd[0, 1] * fm[:, i]
                tm_e = ad[1, 0] * ta_e + ad[1, 1] * tm_e + gd[1, 0] * fai + gd[1, 1] * fm[:, i]
                ta_e = new
                out["ta_e"].append(ta_e)
            if mode_s:
                free = ad[0, 0] * ta_s + ad[0, 1] * tm_s + gd[0, 0] * fa[:, i] + gd[0, 1] * fm[:, i]
                need = (w.sp[:, i] - free) / b
                p = torch.minimum(torch.maximum(torch.nan_to_num(need), w.lo[:, i]), w.hi[:, i])
                fai = fa[:, i] + b_unit * p
                tm_s = ad[1, 0] * ta_s + ad[1, 1] * tm_s + gd[1, 0] * fai + gd[1, 1] * fm[:, i]
                ta_s = free + b * p
                out["ta_s"].append(ta_s)
                out["p_s"].append(p)
        return {key: torch.stack(v, 1) for key, v in out.items() if v}


_FIELDS = ("ta", "to", "p", "sp", "lo", "hi", "solar", "occ", "gains", "feat")


@dataclass
class _Window:
    """A batch of windows ``[origin - warm, origin + horizon]`` (length ``warm + 1 + horizon``)."""

    ta: Tensor
    to: Tensor
    p: Tensor
    sp: Tensor
    lo: Tensor
    hi: Tensor
    solar: Tensor
    occ: Tensor
    gains: Tensor
    feat: Tensor
    warm: int
    horizon: int

    @staticmethod
    def gather(s: _Series, origins: Tensor, warm: int, horizon: int) -> _Window:
        idx = origins[:, None] + torch.arange(-warm, horizon + 1)[None, :]
        return _Window(s.ta[idx], s.to[idx], s.p[idx], s.sp[idx], s.lo[idx], s.hi[idx],
                       s.solar[idx], s.occ[idx], s.gains[idx], s.feat[idx], warm, horizon)

    @staticmethod
    def cat(windows: Sequence[_Window]) -> _Window:
        first = windows[0]
        tensors = {f: torch.cat([getattr(w, f) for w in windows]) for f in _FIELDS}
        return _Window(**tensors, warm=first.warm, horizon=first.horizon)

    def take(self, rows: Tensor) -> _Window:
        tensors = {f: getattr(self, f)[rows] for f in _FIELDS}
        return _Window(**tensors, warm=self.warm, horizon=self.horizon)

    def __len__(self) -> int:
        return int(self.ta.shape[0])

    def targets(self) -> tuple[Tensor, Tensor]:
        """Measured indoor temperature and heat rate over the horizon, (B, H) each."""
        return self.ta[:, self.warm + 1:], self.p[:, self.warm + 1:]


# ----------------------------------------------------------------------------------------------
# the gate and scores


@dataclass(frozen=True)
class Gate:
    """The validation gate (PIMF-3/4): :data:`GATE_DEFINITION`."""

    usable: bool
    reason: str
    worst_lead_share_within: float
    worst_lead_mae_c: float
    n_origins: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Gate:
        return cls(**data)


def gate_from_errors(err: np.ndarray, step_h: float = 1.0,
                     climatology_err: np.ndarray | None = None) -> Gate:
    """The gate (:data:`GATE_DEFINITION`) on mode E errors (origins, leads) and the errors of
    the climatology on the same targets (same shape; ``None`` skips that condition)."""
    if err.size == 0 or err.shape[0] == 0:
        return Gate(False, "no validation origins: too little data after the split", 0.0,
                    math.inf, 0)
    share = (np.abs(err) <= GATE_BAND_C).mean(0)
    mae = np.abs(err).mean(0)
    worst_share, worst_mae = float(share.min()), float(mae.max())
    problems = []
    if worst_share < GATE_MIN_SHARE:
        lead = int(share.argmin()) + 1
        problems.append(f"at {lead * step_h:g} h ahead only {share.min():.1%} of the validation "
                        f"predictions are within ±{GATE_BAND_C} °C (needs ≥ {GATE_MIN_SHARE:.0%})")
    if worst_mae > GATE_MAX_MAE_C:
        lead = int(mae.argmax()) + 1
        problems.append(f"at {lead * step_h:g} h ahead the mean absolute error is "
                        f"{mae.max():.2f} °C (needs ≤ {GATE_MAX_MAE_C} °C)")
    skill = ""
    if climatology_err is not None:
        ratio = mae / np.maximum(np.abs(climatology_err).mean(0), 1e-9)
        lead = int(ratio.argmax()) + 1
        if ratio.max() > GATE_MAX_SKILL_RATIO:
            problems.append(
                f"at {lead * step_h:g} h ahead its mean absolute error ({mae[lead - 1]:.2f} °C) "
                f"is {ratio.max():.2f} times that of the climatology (a constant "
                f"{np.abs(climatology_err).mean(0)[lead - 1]:.2f} °C; needs ≤ "
                f"{GATE_MAX_SKILL_RATIO:g} times): it has not learned the home's dynamics")
        skill = f", ≤ {ratio.max():.2f} times the climatology's error"
    n = int(err.shape[0])
    if problems:
        return Gate(False, "; ".join(problems) + f" ({n} validation origins)", worst_share,
                    worst_mae, n)
    return Gate(True, f"within the gate at every lead: ≥ {worst_share:.1%} within "
                f"±{GATE_BAND_C} °C, MAE ≤ {worst_mae:.2f} °C{skill} ({n} validation origins)",
                worst_share, worst_mae, n)


def _demand_metrics(pred_kw: np.ndarray, meas_kw: np.ndarray, q_scale: float) -> dict[str, float]:
    """MAPE over steps with demand (|measured| ≥ 5 % of the home's typical heat rate) and WAPE
    over all steps."""
    demand = np.abs(meas_kw) >= 0.05 * q_scale
    err = np.abs(pred_kw - meas_kw)
    mape = float((err[demand] / np.abs(meas_kw[demand])).mean()) if demand.any() else math.nan
    total = float(np.abs(meas_kw).sum())
    wape = float(err.sum() / total) if total > 0 else math.nan
    return {"mape": mape, "wape": wape, "n_demand": int(demand.sum())}


# ----------------------------------------------------------------------------------------------
# the model


@dataclass
class PimfModel:
    """A trained physics-informed model of one home, ready to predict (if its gate passed)."""

    net: PimfNet
    config: PimfConfig
    scales: Scales
    gate: Gate | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    """Data range, validation scores, versions, timings, warm start."""

    @property
    def usable(self) -> bool:
        return self.gate is not None and self.gate.usable

    # -- parameters ---------------------------------------------------------------------------
    def parameters_physical(self) -> dict[str, float]:
        """The RC parameters in physical units: conductances kW/K, capacities kWh/K, time
        constants h, HVAC efficiency factor, solar apertures m2 (kW per kW/m2)."""
        with torch.no_grad():
            q = {k: float(v) for k, v in self.net.physical().items()}
            ga = self.net.log_g_air.exp().tolist()
            gm = self.net.log_g_mass.exp().tolist()
            g_occ = float(self.net.log_g_occ.exp())
            g_gains = self.net.log_g_gains.exp().tolist()
        s = self.scales.q_scale_kw
        out = {"h_air_out_kw_k": q["h_ao"] * s, "h_air_mass_kw_k": q["h_am"] * s,
               "h_mass_out_kw_k": q["h_mo"] * s, "c_air_kwh_k": q["c_a"] * s,
               "c_mass_kwh_k": q["c_m"] * s, "hvac_efficiency": q["eta"],
               "solar_direct_air_m2": ga[0] * s, "solar_diffuse_air_m2": ga[1] * s,
               "solar_direct_mass_m2": gm[0] * s, "solar_diffuse_mass_m2": gm[1] * s,
               "occupant_gain_kw": g_occ * s / self.scales.occ_scale,
               **{f"gain_fraction_{c}": g for c, g in
                  zip(self.config.gains_columns, g_gains, strict=True)}}
        a = np.array([[-(q["h_ao"] + q["h_am"]) / q["c_a"], q["h_am"] / q["c_a"]],
                      [q["h_am"] / q["c_m"], -(q["h_am"] + q["h_mo"]) / q["c_m"]]])
        taus = sorted(-1.0 / np.linalg.eigvals(a).real)
        out["tau_fast_h"], out["tau_slow_h"] = float(taus[0]), float(taus[1])
        out["heat_loss_kw_k"] = (q["h_ao"] + q["h_am"] * q["h_mo"] / (q["h_am"] + q["h_mo"])) * s
        return out

    # -- prediction ---------------------------------------------------------------------------
    def _window(self, history: pd.DataFrame, future: pd.DataFrame, *, mode_s: bool
                ) -> tuple[_Window, float]:
        if len(history) < 1:
            raise InsufficientDataError("history", "at least 1 row up to the origin", "0 rows")
        if len(future) < 1:
            raise InsufficientDataError("future", "at least 1 row after the origin", "0 rows")
        warm = min(self.config.warmup_steps, len(history) - 1)
        hist = history.iloc[len(history) - warm - 1:]
        step_s = _step_s(hist, "history") if len(hist) > 1 else (
            _step_s(future, "future") if len(future) > 1 else round(self.scales.step_h * 3600))
        extra = _extra(self.config)
        check_frame(hist, name="history", history=True, heat=True, setpoints=False,
                    extra=extra, step_s=step_s)
        check_frame(future, name="future", history=False, heat=not mode_s, setpoints=mode_s,
                    extra=extra, step_s=step_s)
        if (future.index[0] - hist.index[-1]).total_seconds() != step_s:
            raise FrameValidationError(
                "future", f"must start one step ({step_s} s) after the history's last row "
                f"{hist.index[-1]}; it starts at {future.index[0]}")
        past = hist[[*EXOGENOUS_COLUMNS, *extra, "indoor_c"]].assign(heat_kwh=_heat_kwh(hist))
        ahead = future[[*EXOGENOUS_COLUMNS, *extra]].copy()
        if mode_s:
            ahead[list(SETPOINT_COLUMNS)] = future[list(SETPOINT_COLUMNS)].to_numpy(float)
        else:
            ahead["heat_kwh"] = _heat_kwh(future)
        joined = pd.concat([past, ahead], axis=0, sort=False)
        s = _series(joined, self.scales, self.config)
        return _Window.gather(s, torch.tensor([warm]), warm, len(future)), s.step_h

    def predict_heat_given(self, history: pd.DataFrame, future: pd.DataFrame) -> np.ndarray:
        """Mode E: indoor temperature (°C) at the end of each step of ``future``, given the HVAC
        heat of each step (``heat_kwh`` signed, or ``cooling_kwh``/``heating_kwh``), the weather
        and the occupants.

        ``history``: rows up to and including the origin with ``indoor_c``, the weather,
        occupants and the heat (the last ``warmup_steps`` are used); ``future``: the next rows,
        starting one step after the origin."""
        w, step_h = self._window(history, future, mode_s=False)
        with torch.no_grad():
            out = self.net.rollout(w, step_h, mode_e=True, mode_s=False)
        return out["ta_e"][0].numpy().copy()

    def predict_setpoints(self, history: pd.DataFrame, future: pd.DataFrame
                          ) -> tuple[np.ndarray, np.ndarray]:
        """Mode S: ``(indoor_c, heat_kwh)`` per step of ``future`` given its ``setpoint_c`` and
        ``hvac_mode`` plan, the weather and the occupants: the heat the HVAC must deliver in each
        step to hold the setpoint (cooling negative), clipped to the HVAC's sign and capacity
        (0 when off), and the temperature that results. ``history`` as for
        :meth:`predict_heat_given`."""
        w, step_h = self._window(history, future, mode_s=True)
        with torch.no_grad():
            out = self.net.rollout(w, step_h, mode_e=False, mode_s=True)
        heat_kwh = out["p_s"][0].numpy() * self.scales.q_scale_kw * step_h
        return out["ta_s"][0].numpy().copy(), heat_kwh.copy()

    def predict_origins(self, frame: pd.DataFrame, origins: Sequence[int] | np.ndarray
                        ) -> dict[str, np.ndarray]:
        """Both modes from many origins of one frame at once (backtests, benchmarks).

        ``frame`` has the measured history and the inputs of both modes (module docstring);
        from each origin row ``o`` (measured up to ``o``) the predictions of rows
        ``o+1 .. o+horizon_steps``: ``indoor_heat_given`` (mode E), ``indoor_setpoint_given``
        and ``heat_kwh_setpoint_given`` (mode S, signed kWh per step), each (origins, horizon).
        Each origin needs ``warmup_steps`` rows before it and a whole horizon after it."""
        config = self.config
        check_frame(frame, name="frame", history=True, heat=True, setpoints=True,
                    extra=_extra(config))
        o = np.asarray(origins, dtype=int)
        h, warm = config.horizon_steps, config.warmup_steps
        if len(o) and (o.min() < warm or o.max() + h > len(frame) - 1):
            raise InsufficientDataError(
                "origins", f"{warm} rows before each origin and {h} after it",
                f"origins {o.min()}..{o.max()} in {len(frame)} rows")
        series = _series(frame, self.scales, config)
        with torch.no_grad(), _single_thread():
            w = _Window.gather(series, torch.as_tensor(o, dtype=torch.long), warm, h)
            out = self.net.rollout(w, series.step_h)
        q = self.scales.q_scale_kw * series.step_h
        return {"indoor_heat_given": out["ta_e"].numpy().copy(),
                "indoor_setpoint_given": out["ta_s"].numpy().copy(),
                "heat_kwh_setpoint_given": out["p_s"].numpy() * q}

    # -- files --------------------------------------------------------------------------------
    def to_payload(self) -> dict[str, Any]:
        return {"format": FORMAT, "state_dict": self.net.state_dict(),
                "config": self.config.to_json(), "scales": _json_safe(self.scales.to_json()),
                "gate": None if self.gate is None else self.gate.to_json(),
                "meta": _json_safe(self.meta)}

    def save(self, path: str | Path) -> Path:
        """Write the model (state dict + metadata) with ``torch.save``."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        _atomic_save(self.to_payload(), path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> PimfModel:
        """Read a model or a training checkpoint (``torch.load(weights_only=True)``)."""
        payload = _load_payload(path)
        return cls.from_payload(payload)

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> PimfModel:
        config = PimfConfig.from_json(payload["config"])
        net = _net(config)
        net.load_state_dict(payload["state_dict"])
        gate = payload.get("gate")
        return cls(net, config, Scales.from_json(_json_unsafe(payload["scales"])),
                   None if gate is None else Gate.from_json(gate), _json_unsafe(payload["meta"]))


def _extra(config: PimfConfig) -> list[str]:
    return list(config.gains_columns)


def _has_heat(frame: pd.DataFrame) -> bool:
    return "heat_kwh" in frame.columns or all(c in frame.columns for c in HEAT_COLUMNS)


def require_usable(model: PimfModel) -> PimfModel:
    """Return the model if it passed its validation gate, else raise :class:`ModelGateError`
    saying why."""
    if model.gate is None:
        raise ModelGateError("it has not been validated (no gate result); train it with "
                             "analytics.thermal.pimf.train")
    if not model.gate.usable:
        raise ModelGateError(f"it failed its validation gate: {model.gate.reason}")
    return model


# ----------------------------------------------------------------------------------------------
# files


def _json_safe(data: Any) -> Any:
    """Floats that JSON and ``weights_only`` loading both accept (inf/nan as strings)."""
    if isinstance(data, dict):
        return {str(k): _json_safe(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [_json_safe(v) for v in data]
    if isinstance(data, float) and not math.isfinite(data):
        return repr(data)
    if isinstance(data, np.generic):
        return _json_safe(data.item())
    return data


def _json_unsafe(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _json_unsafe(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_json_unsafe(v) for v in data]
    if data in ("inf", "-inf", "nan"):
        return float(data)
    return data


def _atomic_save(payload: dict[str, Any], path: Path) -> None:
    tmp = path.with_name(path.name + ".partial")
    torch.save(payload, tmp)
    tmp.replace(path)


def _load_payload(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        payload = torch.load(path, weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as exc:  # a corrupt or foreign file
        raise CheckpointError(f"{path}: not a readable PIMF model file ({exc})") from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a PIMF model file (format {FORMAT!r} expected)")
    return payload


def _versions() -> dict[str, str]:
    return {"torch": str(torch.__version__), "python": platform.python_version(),
            "numpy": str(np.__version__)}


@contextlib.contextmanager
def _single_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


# ----------------------------------------------------------------------------------------------
# training


@dataclass(frozen=True)
class Progress:
    """What the ``progress`` callback of :func:`train` receives after each epoch."""

    epoch: int
    epochs: int
    loss: float
    elapsed_s: float


@dataclass
class PimfResult:
    """What :func:`train` returns."""

    model: PimfModel
    gate: Gate
    scores: dict[str, Any]
    """Validation scores (:func:`evaluate`)."""
    train_s: float
    """Seconds spent in gradient descent (this call; a resumed call counts its own part)."""
    total_s: float
    epochs_run: int
    """Epochs run by this call (fewer than ``config.epochs`` when resumed)."""
    checkpoint: Path | None


def _fingerprint(frame: pd.DataFrame, columns: Sequence[str]) -> str:
    h = hashlib.sha256()
    h.update(np.asarray(pd.DatetimeIndex(frame.index).as_unit("s").asi8).tobytes())
    for c in columns:
        h.update(c.encode())
        h.update(np.ascontiguousarray(frame[c].to_numpy(float)).tobytes())
    return h.hexdigest()[:16]


def _prepare(frame: pd.DataFrame, config: PimfConfig, name: str
             ) -> tuple[pd.DataFrame, int, Scales, _Series]:
    check_frame(frame, name=name, history=True, heat=True, setpoints=True,
                extra=_extra(config))
    n = len(frame)
    need = 2 * (config.warmup_steps + config.horizon_steps) + 1
    if n < need * 2:
        raise InsufficientDataError(name, f"at least {need * 2} rows (warm-up + horizon, twice, "
                                    "for training and validation)", f"{n} rows")
    ta = frame["indoor_c"].to_numpy(float)
    if np.nanstd(ta) < 1e-6:
        raise FrameValidationError(name, "column 'indoor_c' is constant: a stuck sensor?")
    split = round(n * (1 - config.val_fraction))
    scales = _scales(frame.iloc[:split])
    series = _series(frame, scales, config)
    return frame, split, scales, series


def _train_origins(split: int, config: PimfConfig) -> Tensor:
    """Origins whose whole window lies before the split."""
    return torch.arange(config.warmup_steps, split - config.horizon_steps)


def _val_origins(n: int, split: int, config: PimfConfig) -> Tensor:
    """Origins whose targets all lie in the validation part (the first target is ``split``)."""
    return torch.arange(max(split - 1, config.warmup_steps), n - config.horizon_steps)


def _loss(net: PimfNet, w: _Window, step_h: float, energy_weight: float) -> Tensor:
    out = net.rollout(w, step_h)
    ta, p = w.targets()
    loss_e = ((out["ta_e"] - ta) ** 2).mean()
    loss_s = ((out["ta_s"] - ta) ** 2).mean()
    on = (w.hi[:, w.warm + 1:] != 0) | (w.lo[:, w.warm + 1:] != 0)
    err_p = torch.where(on, out["p_s"] - p, 0.0)
    loss_p = (err_p**2).sum() / on.sum().clamp(min=1)
    return loss_e + loss_s + energy_weight * loss_p


def _make_optimizer(net: PimfNet, config: PimfConfig) -> torch.optim.Optimizer:
    def weight(name: str, p: Tensor) -> bool:
        return name.startswith("correction") and p.ndim == 2

    decay = [p for n, p in net.named_parameters() if weight(n, p)]
    rest = [p for n, p in net.named_parameters() if not weight(n, p)]
    return torch.optim.Adam([{"params": rest, "weight_decay": 0.0},
                             {"params": decay, "weight_decay": config.weight_decay}], lr=config.lr)


def _epochs(config: PimfConfig) -> int:
    if config.epochs is None:
        raise ValueError("epochs not resolved")  # train() resolves it first
    return config.epochs


def _lr_at(config: PimfConfig, epoch: int) -> float:
    """Constant, then a tenth over the last fifth of the epochs (a function of the epoch only,
    so a resumed training follows the same schedule)."""
    return config.lr * (0.1 if epoch >= int(0.8 * _epochs(config)) else 1.0)


def _run_epochs(net: PimfNet, opt: torch.optim.Optimizer, windows: _Window, step_h: float,
                config: PimfConfig, start_epoch: int, *, on_epoch: Callable[[int, float], None]
                ) -> None:
    for epoch in range(start_epoch, _epochs(config)):
        for group in opt.param_groups:
            group["lr"] = _lr_at(config, epoch)
        gen = torch.Generator().manual_seed(config.seed * 100_003 + epoch)
        order = torch.randperm(len(windows), generator=gen)
        total, count = 0.0, 0
        for b in range(0, len(order), config.batch_size):
            rows = order[b: b + config.batch_size]
            batch = windows.take(rows)
            opt.zero_grad(set_to_none=True)
            loss = _loss(net, batch, step_h, config.energy_weight)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(rows)
            count += len(rows)
        on_epoch(epoch, total / max(count, 1))


def evaluate(model: PimfModel, frame: pd.DataFrame, *, start: int | None = None,
             stop: int | None = None, leads: Sequence[int] = (1, 24)) -> dict[str, Any]:
    """Scores of a model on a frame: predictions from every origin whose targets lie in
    ``frame.iloc[start:stop]`` (default: the validation split, the last ``val_fraction``), with
    the measured history before each origin.

    Returns the gate (:class:`Gate` as JSON) and, per lead in ``leads``: mode E temperature MAE
    and share within ±1.5 °C (``temp_e``), mode S temperature MAE (``temp_s``) and mode S heat
    MAPE over steps with demand / WAPE (``energy_s``); ``mae_e_by_lead`` for every lead."""
    config = model.config
    check_frame(frame, name="evaluation frame", history=True, heat=True, setpoints=True,
                extra=_extra(config))
    n = len(frame)
    split = round(n * (1 - config.val_fraction)) if start is None else start
    stop = n if stop is None else stop
    series = _series(frame, model.scales, config)
    h = config.horizon_steps
    origins = torch.arange(max(split - 1, config.warmup_steps), stop - h)
    if len(origins) == 0:
        gate = gate_from_errors(np.zeros((0, h)))
        return {"gate": gate.to_json(), "n_origins": 0}
    with torch.no_grad(), _single_thread():
        w = _Window.gather(series, origins, config.warmup_steps, h)
        out = model.net.rollout(w, series.step_h)
    ta, p = w.targets()
    err_e = (out["ta_e"] - ta).numpy()
    err_s = (out["ta_s"] - ta).numpy()
    q = model.scales.q_scale_kw * series.step_h
    climatology = float(np.nanmean(frame["indoor_c"].to_numpy(float)[: max(split, 1)]))
    gate = gate_from_errors(err_e, series.step_h, (climatology - ta).numpy())
    scores: dict[str, Any] = {"gate": gate.to_json(), "n_origins": len(origins),
                              "first_target": str(frame.index[int(origins[0]) + 1]),
                              "mae_e_by_lead": np.abs(err_e).mean(0).round(4).tolist()}
    for lead in leads:
        if lead > h:
            continue
        i = lead - 1
        on = ((w.hi[:, w.warm + 1 + i] != 0) | (w.lo[:, w.warm + 1 + i] != 0)).numpy()
        pred_kwh = out["p_s"][:, i].numpy() * q
        meas_kwh = p[:, i].numpy() * q
        scores[f"lead_{lead}"] = {
            "temp_e": {"mae_c": float(np.abs(err_e[:, i]).mean()),
                       "climatology_mae_c": float(np.abs(climatology - ta[:, i].numpy()).mean()),
                       "within_1_5": float((np.abs(err_e[:, i]) <= GATE_BAND_C).mean())},
            "temp_s": {"mae_c": float(np.abs(err_s[:, i]).mean())},
            "energy_s": _demand_metrics(pred_kwh[on], meas_kwh[on], q)
            | {"wape_all_hours": _demand_metrics(pred_kwh, meas_kwh, q)["wape"]},
        }
    return _json_safe(scores)


def _load_warm_start(path: Path, config: PimfConfig) -> PimfNet:
    """A new net with the warm start's RC parameters (and its correction with
    ``config.warm_start_correction``; the correction's width must then match)."""
    payload = _load_payload(path)
    start = PimfConfig.from_json(payload["config"])
    width_differs = config.warm_start_correction and start.hidden != config.hidden
    if width_differs or start.gains_columns != config.gains_columns:
        raise CheckpointError(
            f"warm start {path} has a correction of width {start.hidden} and gains columns "
            f"{list(start.gains_columns)}, this training {config.hidden} and "
            f"{list(config.gains_columns)}: pass warm_start=None, or fill a missing gains "
            "column with zeros")
    net = _net(config)
    state = dict(payload["state_dict"])
    if not config.warm_start_correction:  # physics only: the correction starts afresh
        state = {k: v for k, v in state.items() if not k.startswith("correction.")}
        state.update({k: v for k, v in net.state_dict().items() if k.startswith("correction.")})
    net.load_state_dict(state)
    return net


def train(frame: pd.DataFrame, *, name: str = "home", config: PimfConfig | None = None,
          warm_start: str | Path | None = GENERIC_PATH, checkpoint: str | Path | None = None,
          resume: bool = True, progress: Callable[[Progress], None] | None = None,
          **overrides: Any) -> PimfResult:
    """Train a model of one home on ``frame`` (its whole history: see the module docstring for
    the columns) and validate it on the last ``val_fraction`` of it.

    ``warm_start``: a model file whose parameters start the training (default: the generic
    model shipped with the code; ``None``: the physical defaults). ``checkpoint``: where to write
    a checkpoint after every ``config.checkpoint_every`` epochs and at the end; when it exists,
    matches this data and configuration and ``resume`` is true, training goes on from it (and
    returns at once if it was finished). ``progress`` is called after every epoch; an exception
    it raises stops the training (the last checkpoint stays). ``overrides`` replace fields of
    ``config`` (``epochs=10``)."""
    t0 = time.perf_counter()
    config = replace(config or PimfConfig(), **overrides)
    if config.epochs is None:
        config = replace(config, epochs=EPOCHS_WARM if warm_start is not None else EPOCHS_SCRATCH)
    epochs = _epochs(config)
    frame, split, scales, series = _prepare(frame, config, name)
    used = [*EXOGENOUS_COLUMNS, *_extra(config), "indoor_c", *SETPOINT_COLUMNS]
    data = {"name": name, "start": str(frame.index[0]), "end": str(frame.index[-1]),
            "rows": len(frame), "split_at": str(frame.index[split]), "train_rows": split,
            "fingerprint": _fingerprint(frame.assign(heat_kwh=_heat_kwh(frame)),
                                        [*used, "heat_kwh"])}
    ckpt = Path(checkpoint) if checkpoint is not None else None
    with _single_thread():
        torch.manual_seed(config.seed)
        warm_info: dict[str, Any] = {"path": None}
        if warm_start is not None:
            net = _load_warm_start(Path(warm_start), config)
            warm_info = {"path": str(warm_start), "sha256": hashlib.sha256(
                Path(warm_start).read_bytes()).hexdigest()[:16]}
        else:
            net = _net(config)
        opt = _make_optimizer(net, config)
        start_epoch, history, prior_s = 0, [], 0.0
        if ckpt is not None and ckpt.exists() and resume:
            payload = _load_payload(ckpt)
            saved = payload.get("training") or {}
            if saved.get("fingerprint") != data["fingerprint"] or \
                    saved.get("config") != config.to_json():
                raise CheckpointError(
                    f"checkpoint {ckpt} is of another training (data {saved.get('fingerprint')} "
                    f"vs {data['fingerprint']}, or another configuration); delete it or pass "
                    "resume=False")
            net.load_state_dict(payload["state_dict"])
            opt.load_state_dict(payload["optimizer"])
            torch.set_rng_state(payload["rng_torch"])
            start_epoch = int(saved["epoch"])
            history = list(saved.get("loss_history", []))
            prior_s = float(saved.get("train_s", 0.0))
            warm_info = payload["meta"].get("warm_start", warm_info)
        windows = _Window.gather(series, _train_origins(split, config), config.warmup_steps,
                                 config.horizon_steps)
        t_train = time.perf_counter()

        def save_checkpoint(epoch: int, finished: bool) -> None:
            if ckpt is None:
                return
            model = PimfModel(net, config, scales, None, {})
            with torch.no_grad():
                scores = evaluate(model, frame, start=split)  # the block's validation scores
            model.gate = Gate.from_json(scores["gate"])
            payload = model.to_payload()
            payload["optimizer"] = opt.state_dict()
            payload["rng_torch"] = torch.get_rng_state()
            payload["training"] = {"epoch": epoch, "finished": finished,
                                   "fingerprint": data["fingerprint"],
                                   "config": config.to_json(), "loss_history": history,
                                   "train_s": prior_s + time.perf_counter() - t_train}
            payload["meta"] = _json_safe({"data": data, "warm_start": warm_info,
                                          "versions": _versions(), "epoch": epoch,
                                          "scores": scores, "gate_definition": GATE_DEFINITION})
            ckpt.parent.mkdir(parents=True, exist_ok=True)
            _atomic_save(payload, ckpt)

        def on_epoch(epoch: int, loss: float) -> None:
            history.append(round(loss, 8))
            done = epoch + 1
            if done % config.checkpoint_every == 0 and done < epochs:
                save_checkpoint(done, False)
            if progress is not None:
                progress(Progress(done, epochs, loss, time.perf_counter() - t0))

        _run_epochs(net, opt, windows, series.step_h, config, start_epoch, on_epoch=on_epoch)
        train_s = time.perf_counter() - t_train
        model = PimfModel(net, config, scales)
        scores = evaluate(model, frame, start=split)
        gate = Gate.from_json(scores["gate"])
        model.gate = gate
        model.meta = _json_safe({
            "data": data, "warm_start": warm_info, "versions": _versions(),
            "epoch": epochs, "scores": scores, "loss_history": history,
            "train_s": prior_s + train_s, "gate_definition": GATE_DEFINITION,
            "parameters": model.parameters_physical(),
        })
        if ckpt is not None:
            save_checkpoint(epochs, True)
            payload = _load_payload(ckpt)
            payload["meta"] = model.meta
            _atomic_save(payload, ckpt)
    return PimfResult(model, gate, scores, train_s, time.perf_counter() - t0,
                      epochs - start_epoch, ckpt)


# ----------------------------------------------------------------------------------------------
# the generic model


GENERIC_CONFIG = PimfConfig(epochs=60)
EPOCHS_WARM = 20
EPOCHS_SCRATCH = 40


def train_generic(out: str | Path = GENERIC_PATH, *, config: PimfConfig = GENERIC_CONFIG,
                  progress: Callable[[Progress], None] | None = None) -> PimfModel:
    """Train the generic model on the training splits (first 75 %) of the 7 development homes
    (:data:`analytics.data.citylearn2023.DEVELOP`; never the held-out sets), jointly: one set
    of dimensionless parameters, each home in units of its own heat rate. Deterministic for the
    configuration's seed. Writes ``out`` and a JSON sidecar next to it."""
    from analytics.data import citylearn2023 as cl

    t0 = time.perf_counter()
    parts: list[_Window] = []
    homes: list[dict[str, Any]] = []
    step_h = 1.0
    for set_name, data_set in cl.DEVELOP.items():
        for home_id in cl.home_ids(set_name, fetch=False):
            frame = cl.load_home(set_name, home_id, fetch=False)
            cfg = replace(config, utc_offset_h=float(data_set.utc_offset_h))
            frame, split, _, series = _prepare(frame, cfg, f"{set_name}/{home_id}")
            step_h = series.step_h
            parts.append(_Window.gather(series, _train_origins(split, cfg), cfg.warmup_steps,
                                        cfg.horizon_steps))
            homes.append({"set": set_name, "home": home_id, "start": str(frame.index[0]),
                          "end": str(frame.index[split - 1]), "rows": split})
    windows = _Window.cat(parts)
    history: list[float] = []
    with _single_thread():
        torch.manual_seed(config.seed)
        net = _net(config)
        opt = _make_optimizer(net, config)

        def on_epoch(epoch: int, loss: float) -> None:
            history.append(round(loss, 8))
            if progress is not None:
                progress(Progress(epoch + 1, _epochs(config), loss, time.perf_counter() - t0))

        _run_epochs(net, opt, windows, step_h, config, 0, on_epoch=on_epoch)
    model = PimfModel(net, config, Scales(step_h, 1.0, 1.0, math.inf, math.inf), None, {})
    model.meta = _json_safe({
        "generic": True, "homes": homes, "versions": _versions(), "epoch": config.epochs,
        "loss_history": history,
        "note": "dimensionless: powers in units of each home's typical HVAC heat rate; "
                "warm start only, not gated for any home",
        "parameters_scaled": model.parameters_physical(),
    })
    path = model.save(out)
    sidecar = {k: model.meta[k] for k in ("homes", "versions", "epoch", "note",
                                          "parameters_scaled")}
    sidecar |= {"config": config.to_json(), "final_loss": history[-1] if history else None,
                "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    path.with_suffix(".json").write_text(json.dumps(sidecar, indent=1) + "\n")
    return model


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analytics.thermal.pimf",
                                     description="Physics-informed thermal model (PIMF).")
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("train-generic", help="regenerate the generic pretrained model")
    gen.add_argument("--out", type=Path, default=GENERIC_PATH)
    args = parser.parse_args(argv)
    if args.command == "train-generic":
        def show(p: Progress) -> None:
            print(f"epoch {p.epoch}/{p.epochs} loss {p.loss:.5f} ({p.elapsed_s:.0f} s)",
                  file=sys.stderr)
        model = train_generic(args.out, progress=show)
        print(json.dumps({"out": str(args.out), "bytes": Path(args.out).stat().st_size,
                          "parameters_scaled": model.meta["parameters_scaled"]}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


__all__ = [
    "GATE_DEFINITION", "GENERIC_PATH", "CheckpointError", "Gate", "ModelGateError",
    "PimfConfig", "PimfModel", "PimfResult", "Progress", "Scales", "check_frame", "evaluate",
    "require_usable", "train", "train_generic",
]
