"""Forecasts from an origin, for the benchmark and for controllers: what the twin and the
baselines predict 1 to 24 steps ahead.

At an origin ``o`` everything measured before step ``o`` is known; the forecast covers steps
``o .. o+H-1`` ("1 h ahead" is step ``o``, "24 h ahead" step ``o+23`` at hourly steps). Two
questions, as the issue asks them:

* **heat given** (mode E): with the heat the HVAC will deliver (a plan, here the measured one) and
  the weather, what indoor temperature? This is the question CityLearn's LSTM answers.
* **setpoint given** (mode S): with the setpoint plan (and HVAC mode), what heat will the HVAC
  need to hold it, and what temperature results? This is the energy to hold a setpoint plan.

The weather over the horizon is taken as known (the measured weather; the data sets' own
forecasts cover 6/12/24 h only at three horizons), for every model alike.

Baselines: **persistence** (the last measured value), **same hour yesterday** (energy), and
**follows the setpoint** (temperature: the setpoint where the HVAC is on, else the last measured
value). The RC twin starts each forecast from the state its observer assimilated from the
measured indoor temperature up to the origin (:func:`analytics.thermal.twin.simulate`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analytics.thermal.calibrate import Measured, drivers_for
from analytics.thermal.twin import Controls, Drivers, TwinConfig, prepare

HORIZON = 24


@dataclass
class Forecasts:
    """Per origin (rows) and step ahead (columns)."""

    origins: np.ndarray
    indoor_heat_given: np.ndarray | None = None
    """Mode E: indoor temperature, degC."""
    heat_setpoint_given: np.ndarray | None = None
    """Mode S: heat per step, kWh (signed: cooling negative)."""
    indoor_setpoint_given: np.ndarray | None = None


def origins_for(n_steps: int, first: int, every: int = 1, horizon: int = HORIZON) -> np.ndarray:
    """Forecast origins from ``first`` such that the whole horizon is inside the data."""
    return np.arange(max(first, 1), n_steps - horizon + 1, every)


def targets(values: np.ndarray, origins: np.ndarray, horizon: int = HORIZON) -> np.ndarray:
    """The measured values each forecast is judged against, (O, H)."""
    return np.stack([values[o : o + horizon] for o in origins])


def rc_forecasts(
    config: TwinConfig,
    m: Measured,
    origins: np.ndarray,
    horizon: int = HORIZON,
    observer_gain: float = 0.5,
) -> Forecasts:
    """The RC twin's forecasts in both modes (module docstring)."""
    frame = m.frame
    step_h = m.step_s / 3600.0
    drivers, controls = drivers_for(m)
    prepared = prepare(
        config,
        frame[["outdoor_c", "direct_w_m2", "diffuse_w_m2"]],
        step_s=m.step_s,
        drivers=[drivers],
    )
    heat_w = m.heat_kwh * 1000.0 / step_h
    measured_c = frame["indoor_c"].to_numpy()
    history = prepared.run(
        heat_given_w=heat_w,
        observed_c=measured_c,
        keep_nodes=True,
        initial_indoor_c=measured_c[0],
        observer_gain=observer_gain,
    )
    assert history.mass_end_c is not None
    mass_end = history.mass_end_c[:, 0]
    device_on = controls.device_on
    e = np.empty((len(origins), horizon))
    q = np.empty((len(origins), horizon))
    s = np.empty((len(origins), horizon))
    for i, o in enumerate(origins):
        window = slice(o, o + horizon)
        start_mass = np.array([mass_end[o - 1]])
        e[i] = prepared.run(
            o, o + horizon, heat_given_w=heat_w[window], initial_mass_c=start_mass
        ).indoor_c[:, 0]
        c = None if device_on is None else Controls(device_on=device_on[window])
        run = prepared.run(o, o + horizon, controls=c, initial_mass_c=start_mass)
        q[i] = run.heat_w[:, 0] * step_h / 1000.0
        s[i] = run.indoor_c[:, 0]
    return Forecasts(origins, e, q, s)


def persistence(values: np.ndarray, origins: np.ndarray, horizon: int = HORIZON) -> np.ndarray:
    return np.repeat(values[origins - 1][:, None], horizon, axis=1)


def same_hour_yesterday(
    values: np.ndarray, origins: np.ndarray, steps_per_day: int, horizon: int = HORIZON
) -> np.ndarray:
    """The value one day before each target step (the last known day where the horizon
    reaches beyond it)."""
    out = np.empty((len(origins), horizon))
    for i, o in enumerate(origins):
        for h in range(horizon):
            k = o + h - steps_per_day
            while k >= o:
                k -= steps_per_day
            out[i, h] = values[k] if k >= 0 else values[0]
    return out


def follows_setpoint(
    indoor: np.ndarray,
    setpoint: np.ndarray,
    hvac_on: np.ndarray,
    origins: np.ndarray,
    horizon: int = HORIZON,
) -> np.ndarray:
    """The setpoint where the HVAC is on at the target step, else the last measured value."""
    last = persistence(indoor, origins, horizon)
    sp = targets(setpoint, origins, horizon)
    on = targets(hvac_on.astype(float), origins, horizon) > 0
    return np.where(on, sp, last)


__all__ = [
    "Drivers",
    "Forecasts",
    "follows_setpoint",
    "origins_for",
    "persistence",
    "rc_forecasts",
    "same_hour_yesterday",
    "targets",
]
