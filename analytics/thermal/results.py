"""What a twin run produces, in the shape the database stores and the API serves.

Plain data (JSON-ready): the store (:mod:`analytics.thermal.store`) writes these, the REST
routes (``api/routes/twin.py``) read them, the HTML report draws them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Series:
    """Values at a fixed step. ``None`` where there is no value (a gap in measured data)."""

    start_s: int
    """Unix seconds (UTC) of the start of the first interval."""
    step_s: int
    """Length of each interval, seconds (900 or 3600)."""
    indoor_c: list[float | None]
    """Mean indoor air temperature over the interval, degC."""
    heat_wh: list[float | None]
    """Heat the heating/cooling system delivered in the interval, Wh (cooling negative)."""
    electricity_wh: list[float | None]
    """Electricity of the heating/cooling system and the hot-water heater, Wh."""
    fuel_wh: list[float | None] = field(default_factory=list)
    """Fuel (gas) energy of a boiler, Wh (empty where the home has none)."""
    outdoor_c: list[float | None] = field(default_factory=list)
    setpoint_c: list[float | None] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Series:
        return cls(**data)


@dataclass(frozen=True)
class ScenarioResult:
    """One what-if scenario (or ``as-is``) simulated by the twin."""

    name: str
    """``as-is``, ``heat-pump``, ``setpoint-1``, ``insulation``, ``occupancy-home-office`` ..."""
    description: str
    config: dict[str, Any]
    """The changes the scenario made to the twin's configuration."""
    totals: dict[str, float]
    """``heat_kwh``, ``electricity_kwh``, ``fuel_kwh``, ``comfort_kh`` (kelvin-hours outside
    the comfort band), ``mean_indoor_c`` over the series."""
    series: Series

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "config": self.config,
            "totals": self.totals,
            "series": self.series.to_json(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ScenarioResult:
        return cls(
            data["name"],
            data["description"],
            data["config"],
            data["totals"],
            Series.from_json(data["series"]),
        )


@dataclass(frozen=True)
class TwinRecord:
    """A home's twin: its parameters, how well it fits, what was measured, its scenarios."""

    home_id: str
    """The home's data key (e.g. ``citylearn-2022/Building_3`` or a CSV's name)."""
    params: dict[str, Any]
    """The twin's configuration and fitted parameters (``TwinConfig.to_json()``)."""
    fit: dict[str, Any]
    """Calibration report: ``rmse_c``, ``mae_c``, ``energy_wape``, ``params_std`` ... (empty if
    the twin was not calibrated)."""
    measured: Series | None
    """The measured series the twin was compared with (None where nothing was measured)."""
    scenarios: list[ScenarioResult]
    created_s: int

    def to_json(self) -> dict[str, Any]:
        return {
            "home_id": self.home_id,
            "params": self.params,
            "fit": self.fit,
            "measured": None if self.measured is None else self.measured.to_json(),
            "scenarios": [s.to_json() for s in self.scenarios],
            "created_s": self.created_s,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TwinRecord:
        measured = data.get("measured")
        return cls(
            data["home_id"],
            data["params"],
            data["fit"],
            None if measured is None else Series.from_json(measured),
            [ScenarioResult.from_json(s) for s in data["scenarios"]],
            data["created_s"],
        )
