"""Heating, cooling and hot-water systems of a home: capacity and efficiency.

Each function is compiled with numba (it runs inside the RC network's time loop,
:mod:`analytics.thermal.network`) and is plain Python to read. Figures are those of typical
European products; each is a parameter of :class:`HeatingSystem` or :class:`HotWaterTank`.

* **Gas boiler, modulating** (``kind="boiler"``): efficiency on the fuel's gross calorific value
  as a function of the part-load ratio (PLR = heat / nominal): a condensing boiler is most
  efficient at low load (``eta_low`` at ``plr_min``) and least at full load (``eta_full``),
  linear in between. Below ``plr_min`` it cycles on and off, and the start/stop losses lower the
  efficiency in proportion to how far below (up to ``cycling_loss`` at zero load).
* **Air-source heat pump** (``kind="heat-pump"``): heating COP = ``carnot_fraction`` x the Carnot
  COP between the supply water (heating curve: ``supply_design_c`` at ``outdoor_design_c``,
  ``supply_min_c`` at 20 degC outdoors) and the outdoor air, clipped to [1, 7]; capacity falls
  with the outdoor temperature (``capacity_slope`` per K around 7 degC, ISO/EN 14511's rating
  point) and a backup resistance covers what it cannot (``backup_w``).
* **Electric resistance** (``kind="resistance"``): heat = electricity.
* **Cooling** (``cooling_w`` > 0): an air conditioner (or the heat pump reversed) with EER =
  ``carnot_fraction`` x the Carnot EER between ``chilled_c`` and the outdoor air, clipped to
  [1.5, 8].
* **Hot-water tank** (:class:`HotWaterTank`): one mixed node; draws replace hot water with mains
  water, losses go to the room, a heater with hysteresis reheats it.
"""

from __future__ import annotations

from dataclasses import dataclass

from numba import njit

from analytics.thermal.errors import ThermalConfigError

KELVIN = 273.15
WATER_J_PER_L_K = 4186.0

SYSTEM_KINDS = {"none": 0, "boiler": 1, "heat-pump": 2, "resistance": 3}
DHW_HEATERS = {"none": 0, "resistance": 1, "heat-pump": 2, "boiler": 3}


@dataclass(frozen=True)
class HeatingSystem:
    """What heats and cools a home. Powers are thermal, W."""

    kind: str = "boiler"
    """``boiler``, ``heat-pump``, ``resistance`` or ``none``."""
    heating_w: float = 12_000.0
    """Nominal heating capacity (for a heat pump: at 7 degC outdoors)."""
    cooling_w: float = 0.0
    """Cooling capacity (0: no cooling)."""
    on_off: bool = False
    """True for an on/off system that switches at the thermostat's deadband edges at full
    power; False for a modulating one that holds the setpoint."""
    eta_full: float = 0.88
    eta_low: float = 0.97
    plr_min: float = 0.25
    cycling_loss: float = 0.15
    carnot_fraction: float = 0.45
    supply_design_c: float = 45.0
    supply_min_c: float = 28.0
    outdoor_design_c: float = -10.0
    capacity_slope: float = 0.025
    backup_w: float = 3_000.0
    chilled_c: float = 12.0
    auxiliary_w: float = 40.0
    """Pumps and fans while the system runs, W of electricity."""

    def __post_init__(self) -> None:
        if self.kind not in SYSTEM_KINDS:
            raise ThermalConfigError(
                f"unknown heating system {self.kind!r}; one of {', '.join(SYSTEM_KINDS)}"
            )
        for name in ("heating_w", "cooling_w", "backup_w", "auxiliary_w"):
            if getattr(self, name) < 0:
                raise ThermalConfigError(
                    f"heating system: {name} must be >= 0, got {getattr(self, name)}"
                )
        if not 0 < self.eta_full <= 1.1 or not 0 < self.eta_low <= 1.1:
            raise ThermalConfigError("heating system: boiler efficiencies must be in (0, 1.1]")
        if not 0 <= self.plr_min < 1:
            raise ThermalConfigError("heating system: plr_min must be in [0, 1)")
        if not 0 < self.carnot_fraction < 1:
            raise ThermalConfigError("heating system: carnot_fraction must be in (0, 1)")
        if self.supply_design_c <= self.supply_min_c:
            raise ThermalConfigError("heating system: supply_design_c must exceed supply_min_c")

    @property
    def code(self) -> int:
        return SYSTEM_KINDS[self.kind]


@dataclass(frozen=True)
class HotWaterTank:
    """A domestic-hot-water tank (0 L: the home has none)."""

    volume_l: float = 150.0
    setpoint_c: float = 55.0
    hysteresis_k: float = 5.0
    ua_w_k: float = 1.5
    """Standing loss coefficient, W/K (to the room)."""
    heater: str = "resistance"
    """``resistance``, ``heat-pump``, ``boiler`` or ``none``."""
    heater_w: float = 3_000.0
    cold_c: float = 12.0
    """Mains water temperature, degC."""

    def __post_init__(self) -> None:
        if self.volume_l < 0 or self.heater_w < 0 or self.ua_w_k < 0:
            raise ThermalConfigError("hot-water tank: volume, heater power and losses must be >= 0")
        if self.heater not in DHW_HEATERS:
            raise ThermalConfigError(
                f"unknown hot-water heater {self.heater!r}; one of {', '.join(DHW_HEATERS)}"
            )
        if self.setpoint_c <= self.cold_c:
            raise ThermalConfigError(
                "hot-water tank: setpoint must exceed the mains water temperature"
            )

    @property
    def code(self) -> int:
        return DHW_HEATERS[self.heater] if self.volume_l > 0 else 0


@njit(cache=True)
def boiler_efficiency(
    plr: float, eta_full: float, eta_low: float, plr_min: float, cycling_loss: float
) -> float:
    """Gross efficiency of a modulating boiler at a part-load ratio (module docstring)."""
    if plr >= plr_min:
        span = 1.0 - plr_min
        frac = (plr - plr_min) / span if span > 0 else 1.0
        return eta_low + (eta_full - eta_low) * frac
    if plr_min <= 0:
        return eta_low
    return eta_low * (1.0 - cycling_loss * (plr_min - plr) / plr_min)


@njit(cache=True)
def supply_temperature(
    outdoor_c: float, supply_design_c: float, supply_min_c: float, outdoor_design_c: float
) -> float:
    """Heating curve: the supply water temperature for an outdoor temperature."""
    if outdoor_c >= 20.0:
        return supply_min_c
    frac = (20.0 - outdoor_c) / (20.0 - outdoor_design_c)
    if frac > 1.0:
        frac = 1.0
    return supply_min_c + (supply_design_c - supply_min_c) * frac


@njit(cache=True)
def heat_pump_cop(outdoor_c: float, supply_c: float, carnot_fraction: float) -> float:
    """Heating COP of an air-source heat pump (module docstring)."""
    lift = supply_c - outdoor_c
    if lift < 5.0:
        lift = 5.0
    cop = carnot_fraction * (supply_c + KELVIN) / lift
    if cop < 1.0:
        return 1.0
    if cop > 7.0:
        return 7.0
    return cop


@njit(cache=True)
def heat_pump_capacity(nominal_w: float, outdoor_c: float, slope: float) -> float:
    """Heating capacity at an outdoor temperature (nominal at 7 degC)."""
    factor = 1.0 + slope * (outdoor_c - 7.0)
    if factor < 0.4:
        factor = 0.4
    if factor > 1.3:
        factor = 1.3
    return nominal_w * factor


@njit(cache=True)
def cooling_eer(outdoor_c: float, chilled_c: float, carnot_fraction: float) -> float:
    """Cooling EER of an air conditioner (module docstring)."""
    lift = outdoor_c - chilled_c
    if lift < 5.0:
        lift = 5.0
    eer = carnot_fraction * (chilled_c + KELVIN) / lift
    if eer < 1.5:
        return 1.5
    if eer > 8.0:
        return 8.0
    return eer
