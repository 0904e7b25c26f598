"""The occupants of a home: when they are in, the heat they give off, the setpoints they want,
the hot water they draw.

A pattern gives, for each hour of a weekday and of a weekend day, the share of the household at
home and whether it is awake. From it and the household's size:

* **internal gains**, W: 80 W per person awake at home, 70 W asleep (ISO 13790 Annex G's metabolic
  rates rounded), plus appliances and lighting: ``appliance_w_m2`` x floor area at rest, three
  times that in the morning and evening hours of activity;
* **heating setpoint**: ``comfort_c`` while someone is home and awake, ``setback_c`` otherwise;
  **cooling setpoint**: ``cooling_c`` while someone is home, 3 K higher otherwise;
* **hot-water draws**: ``litres_per_person_day`` at the tank's temperature, spread over the
  morning and evening peaks.

Explicit series (measured setpoints, occupant counts, equipment power) replace the schedules when
a twin is calibrated on data (:class:`analytics.thermal.twin.Drivers`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analytics.thermal.errors import ThermalConfigError

# share of the household at home, per hour 0..23 of the local day: (weekday, weekend)
_PRESENCE = {
    "family": (
        [
            1,
            1,
            1,
            1,
            1,
            1,
            1,
            0.9,
            0.4,
            0.2,
            0.2,
            0.2,
            0.3,
            0.2,
            0.2,
            0.4,
            0.7,
            0.9,
            1,
            1,
            1,
            1,
            1,
            1,
        ],
        [1, 1, 1, 1, 1, 1, 1, 1, 1, 0.9, 0.7, 0.6, 0.7, 0.6, 0.6, 0.7, 0.8, 0.9, 1, 1, 1, 1, 1, 1],
    ),
    "home-office": (
        [1, 1, 1, 1, 1, 1, 1, 1, 0.9, 0.8, 0.8, 0.8, 0.9, 0.8, 0.8, 0.8, 0.9, 1, 1, 1, 1, 1, 1, 1],
        [1, 1, 1, 1, 1, 1, 1, 1, 1, 0.9, 0.7, 0.6, 0.7, 0.6, 0.6, 0.7, 0.8, 0.9, 1, 1, 1, 1, 1, 1],
    ),
    "retired": (
        [1, 1, 1, 1, 1, 1, 1, 1, 1, 0.9, 0.8, 0.9, 1, 0.9, 0.8, 0.9, 1, 1, 1, 1, 1, 1, 1, 1],
        [1, 1, 1, 1, 1, 1, 1, 1, 1, 0.9, 0.8, 0.9, 1, 0.9, 0.8, 0.9, 1, 1, 1, 1, 1, 1, 1, 1],
    ),
    "away-all-day": (
        [1, 1, 1, 1, 1, 1, 1, 0.6, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0.3, 0.8, 1, 1, 1, 1, 1],
        [
            1,
            1,
            1,
            1,
            1,
            1,
            1,
            1,
            0.8,
            0.5,
            0.4,
            0.4,
            0.5,
            0.4,
            0.4,
            0.5,
            0.7,
            0.9,
            1,
            1,
            1,
            1,
            1,
            1,
        ],
    ),
}
PATTERNS = tuple(_PRESENCE)
_AWAKE = np.array([h >= 7 and h < 23 for h in range(24)])
_ACTIVE = np.array([h in (7, 8, 18, 19, 20, 21) for h in range(24)])
_DRAWS = np.zeros(24)
_DRAWS[[6, 7, 8]] = [0.2, 0.25, 0.1]
_DRAWS[[12, 13]] = [0.05, 0.05]
_DRAWS[[18, 19, 20, 21]] = [0.1, 0.1, 0.1, 0.05]  # sums to 1 over the day


_CLOCKS: dict[tuple[int, int, int, str], tuple[np.ndarray, np.ndarray]] = {}


def local_clock(times_utc: pd.DatetimeIndex, time_zone: str) -> tuple[np.ndarray, np.ndarray]:
    """Local hour of day and weekend flag of each time (cached: many homes share a clock)."""
    key = (int(times_utc[0].value), len(times_utc), int(times_utc[-1].value), time_zone)
    if key not in _CLOCKS:
        if len(_CLOCKS) > 16:
            _CLOCKS.clear()
        local = times_utc.tz_convert(time_zone)
        _CLOCKS[key] = (np.asarray(local.hour), np.asarray(local.dayofweek) >= 5)
    return _CLOCKS[key]


@dataclass(frozen=True)
class Occupancy:
    """Who lives in a home and how it wants its temperature."""

    people: float = 2.5
    pattern: str = "family"
    comfort_c: float = 21.0
    setback_c: float = 17.0
    cooling_c: float = 25.0
    deadband_k: float = 0.5
    """Thermostat deadband, K (on/off systems switch at setpoint -/+ half of it)."""
    appliance_w_m2: float = 1.5
    litres_per_person_day: float = 45.0
    time_zone: str = "Europe/Berlin"
    """The clock the household lives by (schedules are local hours)."""

    def __post_init__(self) -> None:
        if self.pattern not in _PRESENCE:
            raise ThermalConfigError(
                f"unknown occupancy pattern {self.pattern!r}; one of {', '.join(PATTERNS)}"
            )
        if not 0 <= self.people <= 50:
            raise ThermalConfigError(f"occupancy: people = {self.people} is outside [0, 50]")
        if not 5 <= self.setback_c <= self.comfort_c <= 30:
            raise ThermalConfigError("occupancy: need 5 <= setback_c <= comfort_c <= 30 degC")
        if not self.comfort_c < self.cooling_c <= 35:
            raise ThermalConfigError(
                "occupancy: cooling_c must be above comfort_c and at most 35 degC"
            )
        if not 0 <= self.deadband_k <= 5:
            raise ThermalConfigError("occupancy: deadband_k must be in [0, 5] K")
        try:
            pd.Timestamp("2024-01-01", tz=self.time_zone)
        except Exception as exc:
            raise ThermalConfigError(f"occupancy: unknown time zone {self.time_zone!r}") from exc

    def schedules(
        self, times_utc: pd.DatetimeIndex, floor_area_m2: float, step_s: int
    ) -> dict[str, np.ndarray]:
        """Per step: ``gains_w``, ``heat_sp_c``, ``cool_sp_c``, ``draw_l`` (litres drawn in the
        step, per household) and ``presence`` (share at home)."""
        hour, weekend = local_clock(times_utc, self.time_zone)
        weekday_p, weekend_p = (np.asarray(x, dtype=float) for x in _PRESENCE[self.pattern])
        presence = np.where(weekend, weekend_p[hour], weekday_p[hour])
        awake = _AWAKE[hour]
        people_w = self.people * presence * np.where(awake, 80.0, 70.0)
        appliances = self.appliance_w_m2 * floor_area_m2 * np.where(_ACTIVE[hour], 3.0, 1.0)
        home_awake = (presence > 0.25) & awake
        heat_sp = np.where(home_awake, self.comfort_c, self.setback_c)
        cool_sp = np.where(presence > 0.25, self.cooling_c, self.cooling_c + 3.0)
        per_hour = _DRAWS[hour] * self.people * self.litres_per_person_day
        draw = per_hour * step_s / 3600.0
        return {
            "gains_w": people_w + appliances,
            "heat_sp_c": heat_sp.astype(float),
            "cool_sp_c": cool_sp.astype(float),
            "draw_l": draw,
            "presence": presence,
        }
