"""What-if scenarios (SLC-3): the same home and weather under another configuration.

A scenario is a name, a description and changes to the twin, as JSON (what the API stores and
``bright twin whatif --scenario FILE`` reads)::

    {"name": "heat-pump", "description": "...",
     "system": {"kind": "heat-pump", "heating_w": 8000},       # replaces those fields
     "tank": {"heater": "heat-pump"},
     "building_factors": {"h_op_w_k": 0.5, "h_win_w_k": 0.6},  # multiplies those fields
     "occupancy": {"pattern": "home-office"},
     "setpoint_offset_k": -1.0}                                 # on every heating setpoint;
                                                                # the opposite on cooling

:data:`STANDARD` holds the four the issue names: the boiler replaced by a heat pump, the
setpoint lowered by 1 K, the envelope insulated, and a household working from home.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from analytics.thermal.errors import ThermalConfigError
from analytics.thermal.network import Building
from analytics.thermal.occupants import Occupancy
from analytics.thermal.results import ScenarioResult, Series
from analytics.thermal.systems import HeatingSystem, HotWaterTank
from analytics.thermal.twin import (
    Controls,
    Drivers,
    SimResult,
    TwinConfig,
    prepare_weather,
    simulate,
)

_ALLOWED = {
    "name",
    "description",
    "system",
    "tank",
    "building_factors",
    "occupancy",
    "setpoint_offset_k",
}


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    system: dict[str, Any] = field(default_factory=dict)
    tank: dict[str, Any] = field(default_factory=dict)
    building_factors: dict[str, float] = field(default_factory=dict)
    occupancy: dict[str, Any] = field(default_factory=dict)
    setpoint_offset_k: float = 0.0

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Scenario:
        if not isinstance(data, dict):
            raise ThermalConfigError("a scenario is a JSON object")
        unknown = set(data) - _ALLOWED
        if unknown:
            raise ThermalConfigError(
                f"scenario: unknown fields {', '.join(sorted(unknown))}; "
                f"allowed: {', '.join(sorted(_ALLOWED))}"
            )
        name = data.get("name")
        if not isinstance(name, str) or not 1 <= len(name) <= 40:
            raise ThermalConfigError("scenario: name must be a string of 1..40 characters")
        scenario = cls(
            name=name,
            description=str(data.get("description", "")),
            system=dict(data.get("system", {})),
            tank=dict(data.get("tank", {})),
            building_factors={k: float(v) for k, v in data.get("building_factors", {}).items()},
            occupancy=dict(data.get("occupancy", {})),
            setpoint_offset_k=float(data.get("setpoint_offset_k", 0.0)),
        )
        scenario.apply(TwinConfig())  # every change must be valid on some twin
        return scenario

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "system": self.system,
            "tank": self.tank,
            "building_factors": self.building_factors,
            "occupancy": self.occupancy,
            "setpoint_offset_k": self.setpoint_offset_k,
        }

    def apply(self, config: TwinConfig) -> TwinConfig:
        """The twin with this scenario's changes."""
        try:
            system = replace(config.system, **self.system) if self.system else config.system
            tank = replace(config.tank, **self.tank) if self.tank else config.tank
            occupancy = (
                replace(config.occupancy, **self.occupancy) if self.occupancy else config.occupancy
            )
        except TypeError as exc:
            raise ThermalConfigError(f"scenario {self.name}: {exc}") from exc
        building: Building = config.building
        if self.building_factors:
            fields = set(building.__dict__)
            bad = set(self.building_factors) - fields
            if bad:
                raise ThermalConfigError(
                    f"scenario {self.name}: unknown building fields {', '.join(sorted(bad))}"
                )
            building = building.scaled(**self.building_factors)
        if abs(self.setpoint_offset_k) > 5:
            raise ThermalConfigError(f"scenario {self.name}: setpoint_offset_k beyond +-5 K")
        return replace(config, system=system, tank=tank, occupancy=occupancy, building=building)


def heat_pump_for(config: TwinConfig, design_outdoor_c: float = -10.0) -> dict[str, Any]:
    """A reversible heat pump sized for the home: its heat loss at the design temperature with a
    10 % margin; it cools at least as much as the system it replaces."""
    size = config.building.heat_loss_w_k() * (21.0 - design_outdoor_c) * 1.1
    return {
        "kind": "heat-pump",
        "heating_w": round(size, -2),
        "backup_w": 2000.0,
        "cooling_w": max(config.system.cooling_w, round(0.8 * size, -2)),
    }


def standard(config: TwinConfig) -> list[Scenario]:
    """The four standard what-ifs for this home (the heat pump sized to it)."""
    return [
        Scenario(
            "heat-pump",
            "Heating by an air-source heat pump sized to the home instead of "
            f"the {config.system.kind.replace('none', 'present system')} (the hot-water tank "
            "heated by the heat pump too)",
            system=heat_pump_for(config),
            tank={"heater": "heat-pump"},
        ),
        Scenario(
            "setpoint-1",
            "Heating setpoints 1 K lower (cooling setpoints 1 K higher)",
            setpoint_offset_k=-1.0,
        ),
        Scenario(
            "insulation",
            "Envelope insulated: walls, roof and floor conduct half, new "
            "windows 40 % less, air tightness 20 % better",
            building_factors={"h_op_w_k": 0.5, "h_win_w_k": 0.6, "ach": 0.8},
        ),
        Scenario(
            "home-office",
            "The household works from home on weekdays",
            occupancy={"pattern": "home-office"},
        ),
    ]


def _offsets(drivers: Drivers | None, offset: float) -> tuple[Drivers | None, Controls | None]:
    """A setpoint offset applied to heating setpoints, the opposite to cooling ones."""
    if offset == 0:
        return drivers, None
    if drivers is not None and (drivers.heat_sp_c is not None or drivers.cool_sp_c is not None):
        return Drivers(
            drivers.gains_w,
            None if drivers.heat_sp_c is None else drivers.heat_sp_c + offset,
            None if drivers.cool_sp_c is None else drivers.cool_sp_c - offset,
        ), None
    return drivers, Controls(setpoint_offset_k=np.asarray(offset, dtype=float))


def comfort_kh(
    result: SimResult, low_c: float, high_c: float, presence: np.ndarray | None = None
) -> float:
    """Kelvin-hours outside the comfort band [low, high] (while someone is home, if given)."""
    air = result.indoor_c[:, 0]
    out = np.clip(low_c - air, 0, None) + np.clip(air - high_c, 0, None)
    if presence is not None:
        out = out * (presence > 0.25)
    return float(out.sum() * result.step_s / 3600.0)


def to_series(result: SimResult, n: int = 0, setpoint_c: np.ndarray | None = None) -> Series:
    wh = result.step_s / 3600.0

    def r(values: np.ndarray, digits: int) -> list[float | None]:
        return [round(float(v), digits) if np.isfinite(v) else None for v in values]

    return Series(
        start_s=int(result.times[0].timestamp()),
        step_s=result.step_s,
        indoor_c=r(result.indoor_c[:, n], 2),
        heat_wh=r(result.heat_w[:, n] * wh, 1),
        electricity_wh=r(result.electricity_w[:, n] * wh, 1),
        fuel_wh=r(result.fuel_w[:, n] * wh, 1),
        outdoor_c=r(result.outdoor_c, 2),
        setpoint_c=[] if setpoint_c is None else r(setpoint_c, 2),
    )


def totals(result: SimResult, config: TwinConfig) -> dict[str, float]:
    occ = config.occupancy
    return {
        "heat_kwh": round(float(result.energy_kwh(np.clip(result.heat_w, 0, None))[0]), 1),
        "cooling_kwh": round(float(result.energy_kwh(np.clip(-result.heat_w, 0, None))[0]), 1),
        "hot_water_kwh": round(float(result.energy_kwh(result.dhw_w)[0]), 1),
        "electricity_kwh": round(float(result.energy_kwh(result.electricity_w)[0]), 1),
        "fuel_kwh": round(float(result.energy_kwh(result.fuel_w)[0]), 1),
        "comfort_kh": round(comfort_kh(result, occ.setback_c - 0.5, occ.cooling_c + 3.5), 1),
        "mean_indoor_c": round(float(result.indoor_c[:, 0].mean()), 2),
    }


def run_scenarios(
    config: TwinConfig,
    weather: pd.DataFrame,
    scenarios: list[Scenario] | None = None,
    *,
    step_s: int = 3600,
    drivers: Drivers | None = None,
    controls: Controls | None = None,
) -> list[ScenarioResult]:
    """``as-is`` and each scenario (default: :func:`standard`), simulated over the weather."""
    chosen = standard(config) if scenarios is None else scenarios
    names = [s.name for s in chosen]
    if "as-is" in names or len(set(names)) != len(names):
        raise ThermalConfigError("scenario names must be unique and not 'as-is'")
    out = []
    base = Scenario("as-is", "The home as calibrated")
    for scenario in [base, *chosen]:
        twin = scenario.apply(config)
        d, offset_controls = _offsets(drivers, scenario.setpoint_offset_k)
        if scenario.occupancy and d is not None and d.gains_w is not None:
            # measured gains plus what the other occupancy adds (or takes away) by the schedule
            area = config.building.floor_area_m2
            times = prepare_weather(weather, step_s).index
            before = config.occupancy.schedules(times, area, step_s)["gains_w"]
            after = twin.occupancy.schedules(times, area, step_s)["gains_w"]
            d = Drivers(np.clip(d.gains_w + after - before, 0, None), d.heat_sp_c, d.cool_sp_c)
        c = controls
        if offset_controls is not None:
            c = Controls(
                offset_controls.setpoint_offset_k,
                None if controls is None else controls.modulation,
                None if controls is None else controls.device_on,
            )
        result = simulate(
            twin, weather, step_s=step_s, drivers=None if d is None else [d], controls=c
        )
        setpoints = None
        if d is not None and d.heat_sp_c is not None:
            setpoints = np.where(
                d.heat_sp_c > -40, d.heat_sp_c, d.cool_sp_c if d.cool_sp_c is not None else np.nan
            )
        out.append(
            ScenarioResult(
                scenario.name,
                scenario.description,
                scenario.to_json(),
                totals(result, twin),
                to_series(result, 0, setpoints),
            )
        )
    return out


__all__ = [
    "HeatingSystem",
    "HotWaterTank",
    "Occupancy",
    "Scenario",
    "heat_pump_for",
    "run_scenarios",
    "standard",
]
