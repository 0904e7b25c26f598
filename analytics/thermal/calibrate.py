"""Calibrating a twin on measured data (SLC-2): scipy least squares with bounds.

**Measured data** is a frame indexed by the UTC start of each interval (hourly or 15-minute):

========================  ===============================================================
``indoor_c``              indoor air temperature, degC (required)
``outdoor_c``             outdoor air temperature, degC (required)
``heating_kwh``           heat the heating system delivered in the interval, kWh
``cooling_kwh``           heat the cooling system removed in the interval, kWh (>= 0)
``setpoint_c``            thermostat setpoint, degC (default: none, energy is not fitted)
``hvac_mode``             0 off, 1 cooling, 2 heating (default: heating where heating_kwh > 0 ...)
``direct_w_m2``           direct normal irradiance, W/m2 (default 0: no solar gains)
``diffuse_w_m2``          diffuse horizontal irradiance, W/m2 (default 0)
``occupants``             people at home (default: the twin's schedule)
``equipment_kwh``         electricity of appliances and lighting (ends up as heat indoors)
========================  ===============================================================

At least one of ``heating_kwh`` / ``cooling_kwh`` is required. :func:`load_csv` reads the same
columns from a CSV file with a ``time`` column (ISO 8601 with an offset, or UTC).

**What is fitted.** Five factors on a starting twin, each bounded to [0.1, 10]: the envelope's
conductance (opaque and windows together), the air change rate, the thermal capacity, the
solar aperture and the internal gains. Residuals are of two kinds, each in its own unit over a
nominal error: the indoor temperature the twin reaches with the *measured* heat (0.5 K), and,
where a setpoint is given, the heat the twin needs to hold the *measured* setpoint (10 % of the
mean measured heat). The fit is on the first ``train_share`` of the data and reported on the
rest (validation).

**Uncertainty.** From the Jacobian at the optimum: ``cov = s^2 (J^T J)^-1`` on the log-factors,
reported as a relative standard deviation of each parameter (``params_std``), and flagged when
the data cannot tell two parameters apart (a correlation above 0.95).

**Bad data is refused** (:class:`ThermalDataError`) with the column and what is wrong: missing
columns; gaps (missing rows or NaN) longer than ``max_gap_steps`` (shorter ones are interpolated
and counted in the report); a constant sensor (the same value for 24 h, or no variation at all);
units (an indoor temperature whose median is outside 5..35 degC is in Fahrenheit or kelvin;
negative energies; heat above 10 MWh in one interval is in Wh).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import least_squares

from analytics.thermal.errors import CalibrationError, ThermalDataError
from analytics.thermal.network import Building
from analytics.thermal.systems import HeatingSystem, HotWaterTank
from analytics.thermal.twin import Controls, Drivers, TwinConfig, simulate

FACTORS = ("envelope", "ventilation", "capacity", "solar", "gains")
"""The fitted factors, in the order of the parameter vector."""
TEMP_SIGMA_K = 0.5
FACTOR_BOUND = 10.0
"""Each factor is fitted within [1/10, 10] of the starting twin's value."""
REQUIRED = ("indoor_c", "outdoor_c")
MAX_HEAT_KWH = 10_000.0


@dataclass
class Measured:
    """Validated measured data at a regular step (built by :func:`check_measured`)."""

    frame: pd.DataFrame
    step_s: int
    interpolated: dict[str, int] = field(default_factory=dict)
    """Values filled in per column (short gaps)."""

    @property
    def heat_kwh(self) -> np.ndarray:
        """Signed heat delivered per step (heating positive, cooling negative), kWh."""
        return (self.frame["heating_kwh"] - self.frame["cooling_kwh"]).to_numpy()


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, length) of each run of True."""
    if not mask.any():
        return []
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1)
    return list(zip(starts.tolist(), (ends - starts).tolist(), strict=True))


def check_measured(frame: pd.DataFrame, *, max_gap_steps: int = 2) -> Measured:
    """Validate measured data (module docstring) and bring it to a regular step."""
    if not isinstance(frame.index, pd.DatetimeIndex) or frame.index.tz is None:
        raise ThermalDataError(
            "measured data: the index must be time-zone-aware interval start times"
        )
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise ThermalDataError(f"measured data: columns missing: {', '.join(missing)}")
    if "heating_kwh" not in frame.columns and "cooling_kwh" not in frame.columns:
        raise ThermalDataError(
            "measured data: need heating_kwh or cooling_kwh (heat the system delivered)"
        )
    if frame.index.has_duplicates:
        raise ThermalDataError("measured data: duplicate times")
    frame = frame.sort_index()
    if len(frame) < 48:
        raise ThermalDataError(f"measured data: {len(frame)} rows; at least two days are needed")
    steps = np.diff(frame.index.as_unit("s").asi8)
    step_s = int(np.median(steps))
    if step_s not in (900, 3600):
        raise ThermalDataError(f"measured data: step of {step_s} s; use hourly or 15-minute data")
    full = pd.date_range(frame.index[0], frame.index[-1], freq=f"{step_s}s")
    out = frame.reindex(full)
    out = out.astype({c: float for c in out.columns if c != "hvac_mode"})
    for col in ("heating_kwh", "cooling_kwh"):
        if col not in out.columns:
            out[col] = 0.0
    defaults = {"direct_w_m2": 0.0, "diffuse_w_m2": 0.0}
    for col, value in defaults.items():
        if col not in out.columns:
            out[col] = value
    interpolated: dict[str, int] = {}
    for col in out.columns:
        gaps = out[col].isna().to_numpy()
        if not gaps.any():
            continue
        longest = max(_runs(gaps), key=lambda r: r[1])
        if longest[1] > max_gap_steps:
            at = out.index[longest[0]]
            raise ThermalDataError(
                f"measured data: {col} has a gap of {longest[1]} steps from "
                f"{at:%Y-%m-%d %H:%M} UTC "
                f"({int(gaps.sum())} missing in all); gaps up to {max_gap_steps} steps are filled, "
                "longer ones must be cut out or filled before calibrating"
            )
        interpolated[col] = int(gaps.sum())
        out[col] = out[col].interpolate(limit_direction="both")
    indoor = out["indoor_c"].to_numpy()
    median = float(np.median(indoor))
    if median > 35:
        unit = "Fahrenheit" if median < 120 else "kelvin"
        raise ThermalDataError(
            f"measured data: indoor_c has a median of {median:.1f}: it looks like "
            f"{unit}; give degrees Celsius"
        )
    if median < 5:
        raise ThermalDataError(
            f"measured data: indoor_c has a median of {median:.1f} degC: not a heated "
            "or cooled room, or not degrees Celsius"
        )
    if not float(out["outdoor_c"].min()) >= -60 and float(out["outdoor_c"].max()) <= 60:
        raise ThermalDataError(
            "measured data: outdoor_c outside -60..60 degC: not degrees Celsius?"
        )
    per_day = int(86400 // step_s)
    for col in ("indoor_c", "outdoor_c"):
        values = out[col].to_numpy()
        if np.ptp(values) < 0.05:
            raise ThermalDataError(
                f"measured data: {col} does not change at all: a stuck or missing sensor"
            )
        same = np.concatenate([[False], np.abs(np.diff(values)) < 1e-9])
        for start, length in _runs(same):
            if length >= per_day:
                at = out.index[max(start - 1, 0)]
                raise ThermalDataError(
                    f"measured data: {col} is constant for {length * step_s / 3600:.0f} h from "
                    f"{at:%Y-%m-%d %H:%M} UTC: a stuck sensor? Cut that period out"
                )
    for col in ("heating_kwh", "cooling_kwh"):
        values = out[col].to_numpy()
        if (values < 0).any():
            raise ThermalDataError(
                f"measured data: {col} has negative values; give heat delivered "
                "(cooling as a positive amount removed)"
            )
        if values.max() > MAX_HEAT_KWH:
            raise ThermalDataError(
                f"measured data: {col} reaches {values.max():.0f} in one step: that is Wh, not kWh"
            )
    if out["heating_kwh"].sum() + out["cooling_kwh"].sum() <= 0:
        raise ThermalDataError(
            "measured data: heating_kwh and cooling_kwh are zero throughout: "
            "nothing to calibrate the system's heat on"
        )
    return Measured(out, step_s, interpolated)


def load_csv(path: str | Path) -> pd.DataFrame:
    """A measured-data CSV (module docstring) as a frame indexed by UTC."""
    try:
        frame = pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise ThermalDataError(f"cannot read {path}: {exc}") from exc
    if "time" not in frame.columns:
        raise ThermalDataError(f"{path}: no 'time' column (ISO 8601 start of each interval)")
    try:
        times = pd.to_datetime(frame.pop("time"), utc=True, format="ISO8601")
    except (ValueError, TypeError) as exc:
        raise ThermalDataError(f"{path}: 'time' is not ISO 8601: {exc}") from exc
    frame.index = pd.DatetimeIndex(times, name="interval_start")
    return frame


@dataclass
class Calibration:
    """A calibrated twin and how well it fits."""

    config: TwinConfig
    factors: dict[str, float]
    factors_std: dict[str, float]
    """Relative standard deviation of each factor (0.05 = +-5 %)."""
    fit: dict[str, Any]
    """``train`` and ``validation`` metrics (``rmse_c``, ``mae_c``, ``energy_wape``), the
    correlated parameter pairs, iterations, seconds, interpolated values."""

    def report(self) -> dict[str, Any]:
        return {"factors": self.factors, "factors_std": self.factors_std, **self.fit}


def apply_factors(config: TwinConfig, factors: np.ndarray) -> TwinConfig:
    env, vent, cap, sol, gain = (float(f) for f in factors)
    b = config.building
    h_op = b.h_op_w_k * env
    # keep the opaque envelope below the mass-surface coupling (a network constraint)
    h_op = min(h_op, 0.95 * b.h_tr_ms)
    building = replace(
        b,
        h_op_w_k=h_op,
        h_win_w_k=b.h_win_w_k * env,
        ach=min(b.ach * vent, 20.0),
        c_m_j_k=b.c_m_j_k * cap,
        window_m2=(b.window_m2[0] * sol, b.window_m2[1] * sol, b.window_m2[2] * sol,
                   b.window_m2[3] * sol),
    )
    return replace(config, building=building, gain_scale=config.gain_scale * gain)


def _drivers(m: Measured) -> tuple[Drivers, Controls]:
    f = m.frame
    step_h = m.step_s / 3600.0
    gains = None
    if "equipment_kwh" in f.columns or "occupants" in f.columns:
        gains = np.zeros(len(f))
        if "equipment_kwh" in f.columns:
            gains += f["equipment_kwh"].to_numpy() * 1000.0 / step_h
        if "occupants" in f.columns:
            gains += f["occupants"].to_numpy() * 80.0
    heat_sp = cool_sp = None
    device_on = None
    if "setpoint_c" in f.columns:
        sp = f["setpoint_c"].to_numpy()
        mode = f["hvac_mode"].to_numpy() if "hvac_mode" in f.columns else None
        heating = f["heating_kwh"].to_numpy() > 0
        cooling = f["cooling_kwh"].to_numpy() > 0
        if mode is None:
            mode = np.where(
                heating, 2, np.where(cooling, 1, 2 if heating.sum() >= cooling.sum() else 1)
            )
        # the system acts on the side its mode says; the other side is out of reach
        heat_sp = np.where(mode == 2, sp, -50.0)
        cool_sp = np.where(mode == 1, sp, 80.0)
        device_on = (mode > 0).astype(float)
    return Drivers(gains_w=gains, heat_sp_c=heat_sp, cool_sp_c=cool_sp), Controls(
        device_on=device_on
    )


def _system_for(m: Measured, config: TwinConfig) -> TwinConfig:
    """The starting twin's system sized to the measured heat (so capacity never binds where the
    real system delivered more), and no hot-water tank (its heat is not in the data)."""
    step_h = m.step_s / 3600.0
    heat_w = m.frame["heating_kwh"].max() * 1000 / step_h
    cool_w = m.frame["cooling_kwh"].max() * 1000 / step_h
    system = replace(
        config.system,
        kind=config.system.kind if heat_w > 0 else "none",
        heating_w=max(config.system.heating_w, 1.2 * heat_w),
        cooling_w=1.2 * cool_w,
        backup_w=0.0,
    )
    if system.kind == "none" and heat_w > 0:
        system = replace(system, kind="resistance")
    return replace(config, system=system, tank=HotWaterTank(volume_l=0))


def _floor_guess(m: Measured) -> float:
    """A first guess of the floor area from the peak heat (about 40 W/m2 at design
    conditions), so that the fitted factors start near one for a flat or an office block."""
    step_h = m.step_s / 3600.0
    peak_w = float(np.quantile(np.abs(m.heat_kwh), 0.99)) * 1000.0 / step_h
    return float(np.clip(peak_w / 40.0, 40.0, 100_000.0))


def _metrics(
    sim_t: np.ndarray, meas_t: np.ndarray, sim_q: np.ndarray | None, meas_q: np.ndarray
) -> dict[str, float | None]:
    err = sim_t - meas_t
    out: dict[str, float | None] = {
        "rmse_c": float(np.sqrt(np.mean(err**2))),
        "mae_c": float(np.mean(np.abs(err))),
        "within_1_5_c": float(np.mean(np.abs(err) <= 1.5)),
    }
    if sim_q is not None and np.abs(meas_q).sum() > 0:
        out["energy_wape"] = float(np.abs(sim_q - meas_q).sum() / np.abs(meas_q).sum())
        demand = np.abs(meas_q) > 0.05 * np.abs(meas_q).max()
        out["energy_mape_demand_hours"] = float(
            np.mean(np.abs(sim_q[demand] - meas_q[demand]) / np.abs(meas_q[demand]))
        )
    else:
        out["energy_wape"] = None
    return out


def calibrate(
    measured: pd.DataFrame | Measured,
    start: TwinConfig | None = None,
    *,
    train_share: float = 0.75,
    fit_energy: bool = True,
    max_evaluations: int = 200,
    progress: Any = None,
) -> Calibration:
    """Fit a twin to measured data (module docstring). ``start`` is the twin to scale (its
    place and systems matter; default: a typical 1980s home at the default place)."""
    m = measured if isinstance(measured, Measured) else check_measured(measured)
    if not 0.3 <= train_share <= 1.0:
        raise CalibrationError(f"train_share must be in [0.3, 1], got {train_share}")
    base = _system_for(m, start or TwinConfig(building=Building.typical(_floor_guess(m))))
    f = m.frame
    weather = f[["outdoor_c", "direct_w_m2", "diffuse_w_m2"]]
    step_h = m.step_s / 3600.0
    heat_w = m.heat_kwh * 1000.0 / step_h
    meas_t = f["indoor_c"].to_numpy()
    n_train = max(int(len(f) * train_share), 24)
    has_sp = fit_energy and "setpoint_c" in f.columns
    q_scale = max(0.1 * float(np.mean(np.abs(m.heat_kwh))), 1e-3)
    evaluations = 0
    measured_drivers = _drivers(m)

    def run(x: np.ndarray, upto: int | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        nonlocal evaluations
        evaluations += 1
        factors = np.exp(x)
        config = apply_factors(base, factors)
        drivers, controls = measured_drivers
        w = weather if upto is None else weather.iloc[:upto]
        cut = (lambda a: a) if upto is None else (lambda a: None if a is None else a[:upto])
        d = Drivers(cut(drivers.gains_w), cut(drivers.heat_sp_c), cut(drivers.cool_sp_c))
        t_sim = simulate(
            config,
            w,
            step_s=m.step_s,
            heat_given_w=heat_w[: len(w)],
            drivers=[d],
            initial_indoor_c=meas_t[0],
        ).indoor_c[:, 0]
        q_sim = None
        if has_sp:
            c = Controls(device_on=cut(controls.device_on))
            q_sim = (
                simulate(
                    config, w, step_s=m.step_s, drivers=[d], controls=c, initial_indoor_c=meas_t[0]
                ).heat_w[:, 0]
                * step_h
                / 1000.0
            )
        if progress is not None and evaluations % 10 == 0:
            progress(evaluations)
        return t_sim, q_sim

    def residuals(x: np.ndarray) -> np.ndarray:
        t_sim, q_sim = run(x, n_train)
        parts = [(t_sim - meas_t[:n_train]) / TEMP_SIGMA_K]
        if q_sim is not None:
            parts.append((q_sim - m.heat_kwh[:n_train]) / q_scale)
        return np.concatenate(parts)

    started = time.perf_counter()
    bound = np.log(FACTOR_BOUND)
    try:
        sol = least_squares(
            residuals,
            np.zeros(len(FACTORS)),
            bounds=(-bound, bound),
            x_scale=1.0,
            diff_step=1e-3,
            max_nfev=max_evaluations,
            method="trf",
        )
    except (ValueError, FloatingPointError) as exc:
        raise CalibrationError(f"calibration failed: {exc}") from exc
    seconds = time.perf_counter() - started
    factors = np.exp(sol.x)
    # uncertainty from the Jacobian (module docstring)
    dof = max(len(sol.fun) - len(sol.x), 1)
    s2 = float(sol.fun @ sol.fun) / dof
    jtj = sol.jac.T @ sol.jac
    try:
        cov = np.linalg.pinv(jtj) * s2
    except np.linalg.LinAlgError as exc:
        raise CalibrationError(
            "the data cannot identify the parameters (singular Jacobian)"
        ) from exc
    std = np.sqrt(np.clip(np.diag(cov), 0, None))
    corr_pairs = []
    denom = np.outer(std, std)
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.where(denom > 0, cov / denom, 0.0)
    for i in range(len(FACTORS)):
        for j in range(i + 1, len(FACTORS)):
            if abs(corr[i, j]) > 0.95:
                corr_pairs.append([FACTORS[i], FACTORS[j], round(float(corr[i, j]), 3)])
    config = apply_factors(base, factors)
    t_sim, q_sim = run(sol.x)
    train = _metrics(
        t_sim[:n_train],
        meas_t[:n_train],
        None if q_sim is None else q_sim[:n_train],
        m.heat_kwh[:n_train],
    )
    validation = (
        _metrics(
            t_sim[n_train:],
            meas_t[n_train:],
            None if q_sim is None else q_sim[n_train:],
            m.heat_kwh[n_train:],
        )
        if n_train < len(f)
        else None
    )
    at_bound = [FACTORS[i] for i, x in enumerate(sol.x) if abs(abs(x) - bound) < 1e-6]
    fit = {
        "train": train,
        "validation": validation,
        "steps": len(f),
        "train_steps": n_train,
        "step_s": m.step_s,
        "energy_fitted": has_sp,
        "evaluations": evaluations,
        "seconds": round(seconds, 3),
        "converged": bool(sol.success),
        "status": sol.message,
        "correlated": corr_pairs,
        "at_bounds": at_bound,
        "interpolated": m.interpolated,
        "data_from": f.index[0].isoformat(),
        "data_to": f.index[-1].isoformat(),
    }
    return Calibration(
        config=config,
        factors={k: round(float(v), 5) for k, v in zip(FACTORS, factors, strict=True)},
        factors_std={k: round(float(v), 5) for k, v in zip(FACTORS, std, strict=True)},
        fit=fit,
    )


def drivers_for(measured: Measured) -> tuple[Drivers, Controls]:
    """The measured drivers (gains, setpoints, HVAC availability), for simulating a
    calibrated twin over the same period."""
    return _drivers(measured)


__all__ = [
    "FACTORS",
    "Calibration",
    "HeatingSystem",
    "Measured",
    "calibrate",
    "check_measured",
    "load_csv",
]
