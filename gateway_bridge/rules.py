"""Comfort rules (ISM-3/4/7): household preferences -> device commands and advice.

The rules speak one vocabulary (:class:`~gateway_bridge.domain.Action`: switch, setpoint,
mode) and address devices by role, so the same rule drives a Zigbee boiler thermostat and an
openHAB heat pump; adapters turn the commands into each device's MQTT messages.

Rules, per household with preferences:

- **Heating setpoint** (boilers, thermostats, heat pumps): comfort mode aims for the middle of
  the temperature band, economy mode for its lower edge; a flexibility shift
  (:meth:`ComfortEngine.set_flex_shift`, driven later by coalition targets) moves the setpoint,
  always clamped into the band, in 0.5 degC steps.
- **Heat pump mode**: ``cool`` once the indoor temperature exceeds the band's top by the
  hysteresis, back to ``heat`` below the middle of the band.
- **Dehumidifier** (device or smart plug with ``load="dehumidifier"``): on above the switch-on
  humidity (band top in economy, 5 %RH earlier in comfort), off 5 %RH lower.
- **Heater plug** (``load="heater"``): on below setpoint - 0.25 degC, off above + 0.25 degC.
- **Flexible plug** (``load="flexible"``): on, unless a flexibility request sheds it.
- **Advice** on ``household.advice`` when CO2, VOC or PM2.5 cross their limits (ventilate),
  and a ``cleared`` advice once back below the limit minus a hysteresis.

Rules run on every relevant reading and on a timer (``interval_s`` <= 60 s). A command is sent
when it differs from the last one sent to that device, and re-sent every ``reassert_s``.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from gateway_bridge.domain import (
    Action,
    Advice,
    ComfortMode,
    Command,
    Device,
    DeviceRegistry,
    DeviceRole,
    Preferences,
    Property,
    Reading,
)
from gateway_bridge.status import DeviceStatusStore

RELEVANT = frozenset(
    {Property.TEMPERATURE, Property.HUMIDITY, Property.CO2, Property.VOC, Property.PM25}
)
_INDOOR_ROLES = frozenset({DeviceRole.SENSOR, DeviceRole.THERMOSTAT})
_SETPOINT_ROLES = frozenset({DeviceRole.BOILER, DeviceRole.THERMOSTAT})


class RuleConfig(BaseModel):
    """Tuning of the comfort rules."""

    model_config = ConfigDict(frozen=True)

    interval_s: float = Field(
        default=30.0, gt=0, le=60, description="Timer period of the rules, s."
    )
    reassert_s: float = Field(
        default=900.0, gt=0, description="Re-send an unchanged command after, s."
    )
    setpoint_step_c: float = Field(default=0.5, gt=0, description="Setpoint resolution, degC.")
    heater_hysteresis_c: float = Field(
        default=0.25, ge=0, description="Heater plug dead band, degC."
    )
    cooling_hysteresis_c: float = Field(
        default=0.5, ge=0, description="Above band top to cool, degC."
    )
    humidity_hysteresis_rh: float = Field(
        default=5.0, ge=0, description="Dehumidifier dead band, %RH."
    )
    voc_limit_ppb: float = Field(default=1000.0, gt=0, description="Advise ventilating above, ppb.")
    pm25_limit_ug_m3: float = Field(
        default=25.0, gt=0, description="Advise ventilating above, ug/m3."
    )
    advice_hysteresis: float = Field(
        default=0.1, ge=0, lt=1, description="Clear below limit*(1-h)."
    )


@dataclass(frozen=True, slots=True)
class FlexShift:
    """A flexibility request for one household: shift the setpoint by ``shift_c`` (clamped
    into the comfort band) and optionally switch flexible plugs off, until ``until_s``."""

    shift_c: float = 0.0
    shed_flexible_loads: bool = False
    until_s: float | None = None


def quantise(value: float, step: float) -> float:
    return round(round(value / step) * step, 3)


def heating_setpoint_c(prefs: Preferences, shift_c: float = 0.0, step_c: float = 0.5) -> float:
    """The heating setpoint the preferences ask for, shifted by ``shift_c`` within the band.

    Comfort: middle of the band; economy: its lower edge. The result is quantised to
    ``step_c`` and never leaves ``[temperature_min_c, temperature_max_c]``.
    """
    low, high = prefs.temperature_min_c, prefs.temperature_max_c
    base = (low + high) / 2 if prefs.mode is ComfortMode.COMFORT else low
    target = quantise(base + shift_c, step_c)
    lowest = quantise(math.ceil(low / step_c - 1e-9) * step_c, step_c)  # first step in band
    highest = quantise(math.floor(high / step_c + 1e-9) * step_c, step_c)  # last step in band
    if lowest > highest:  # band narrower than one step: its edges are all we can do
        lowest, highest = low, high
    return min(max(target, lowest), highest)


class ComfortEngine:
    """Turns preferences and the latest readings into commands and advice.

    ``send_command`` and ``send_advice`` are called (outside the engine's lock) with each new
    command / advice; the bridge service publishes them on MQTT and the bus.
    """

    def __init__(
        self,
        registry: DeviceRegistry,
        status: DeviceStatusStore,
        send_command: Callable[[Command], None],
        send_advice: Callable[[Advice], None],
        config: RuleConfig | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.registry = registry
        self.status = status
        self.config = config or RuleConfig()
        self._send_command = send_command
        self._send_advice = send_advice
        self._clock = clock
        self._lock = threading.RLock()
        self._prefs: dict[str, Preferences] = {}
        self._flex: dict[str, FlexShift] = {}
        self._sent: dict[tuple[str, Action], tuple[bool | float | str, float]] = {}
        self._switch_state: dict[str, bool] = {}  # hysteresis memory per device
        self._cooling: dict[str, bool] = {}
        self._advice_active: dict[tuple[str, str, Property], bool] = {}
        self.evaluations = 0

    # -- inputs -------------------------------------------------------------------------------
    def set_preferences(self, prefs: Preferences) -> list[Command]:
        """Store a household's preferences and apply them at once; returns commands sent."""
        with self._lock:
            self._prefs[prefs.household_id] = prefs
        return self.evaluate(prefs.household_id)

    def preferences(self, household_id: str) -> Preferences | None:
        return self._prefs.get(household_id)

    def set_flex_shift(self, household_id: str, flex: FlexShift) -> list[Command]:
        """Hook for flexibility targets: shift the household's setpoints within its band."""
        with self._lock:
            self._flex[household_id] = flex
        return self.evaluate(household_id)

    def on_readings(self, device: Device, readings: Iterable[Reading]) -> list[Command]:
        """Run the household's rules if a reading is relevant to them."""
        relevant = [r for r in readings if r.property in RELEVANT]
        if not relevant:
            return []
        self._advise(device, relevant)
        if device.household_id not in self._prefs:
            return []
        return self.evaluate(device.household_id)

    def tick(self) -> list[Command]:
        """The timer: evaluate every household with preferences."""
        commands: list[Command] = []
        for household_id in list(self._prefs):
            commands.extend(self.evaluate(household_id))
        return commands

    # -- decisions ----------------------------------------------------------------------------
    def evaluate(self, household_id: str) -> list[Command]:
        """Decide the household's commands; send and return those that are new or due."""
        now = self._clock()
        with self._lock:
            self.evaluations += 1
            prefs = self._prefs.get(household_id)
            if prefs is None:
                return []
            flex = self._flex.get(household_id, FlexShift())
            if flex.until_s is not None and now > flex.until_s:
                self._flex.pop(household_id, None)
                flex = FlexShift()
            devices = self.registry.household(household_id)
            wanted = self._decide(prefs, flex, devices)
            to_send: list[Command] = []
            for command in wanted:
                key = (command.device_id, command.action)
                previous = self._sent.get(key)
                if (
                    previous is None
                    or previous[0] != command.value
                    or now - previous[1] >= self.config.reassert_s
                ):
                    self._sent[key] = (command.value, now)
                    to_send.append(command)
        for command in to_send:
            self._send_command(command)
        return to_send

    def _indoor(self, devices: list[Device], prop: Property) -> float | None:
        newest = None
        for device in devices:
            if device.role in _INDOOR_ROLES and device.options.get("indoor", "true") != "false":
                last = self.status.latest(device.device_id, prop)
                if last is not None and (newest is None or last.time_s > newest.time_s):
                    newest = last
        return None if newest is None else newest.value

    def _decide(self, prefs: Preferences, flex: FlexShift, devices: list[Device]) -> list[Command]:
        cfg = self.config
        setpoint = heating_setpoint_c(prefs, flex.shift_c, cfg.setpoint_step_c)
        temp = self._indoor(devices, Property.TEMPERATURE)
        humidity = self._indoor(devices, Property.HUMIDITY)
        mode = prefs.mode.value
        out: list[Command] = []
        for d in devices:
            if d.role in _SETPOINT_ROLES:
                out.append(Command(d.device_id, Action.SETPOINT, setpoint, f"{mode} band"))
            elif d.role is DeviceRole.HEAT_PUMP:
                cooling = self._cooling.get(d.device_id, False)
                if temp is not None:
                    if temp > prefs.temperature_max_c + cfg.cooling_hysteresis_c:
                        cooling = True
                    elif temp < (prefs.temperature_min_c + prefs.temperature_max_c) / 2:
                        cooling = False
                self._cooling[d.device_id] = cooling
                if cooling:
                    cool_to = (
                        prefs.temperature_max_c
                        if prefs.mode is ComfortMode.ECONOMY
                        else quantise(
                            (prefs.temperature_min_c + prefs.temperature_max_c) / 2,
                            cfg.setpoint_step_c,
                        )
                    )
                    out.append(Command(d.device_id, Action.MODE, "cool", "above band"))
                    out.append(Command(d.device_id, Action.SETPOINT, cool_to, "above band"))
                else:
                    out.append(Command(d.device_id, Action.MODE, "heat", f"{mode} band"))
                    out.append(Command(d.device_id, Action.SETPOINT, setpoint, f"{mode} band"))
            elif d.role is DeviceRole.DEHUMIDIFIER or d.load == "dehumidifier":
                if humidity is None:
                    continue
                on_at = prefs.humidity_max_rh - (
                    cfg.humidity_hysteresis_rh if prefs.mode is ComfortMode.COMFORT else 0.0
                )
                on = self._switch_state.get(d.device_id, False)
                if humidity > on_at:
                    on = True
                elif humidity < on_at - cfg.humidity_hysteresis_rh:
                    on = False
                self._switch_state[d.device_id] = on
                out.append(Command(d.device_id, Action.SWITCH, on, f"humidity {humidity:g} %RH"))
            elif d.role is DeviceRole.SMART_PLUG and d.load == "heater":
                if temp is None:
                    continue
                on = self._switch_state.get(d.device_id, False)
                if temp < setpoint - cfg.heater_hysteresis_c:
                    on = True
                elif temp > setpoint + cfg.heater_hysteresis_c:
                    on = False
                self._switch_state[d.device_id] = on
                out.append(Command(d.device_id, Action.SWITCH, on, f"temperature {temp:g} degC"))
            elif d.role is DeviceRole.SMART_PLUG and d.load == "flexible":
                shed = flex.shed_flexible_loads
                out.append(Command(d.device_id, Action.SWITCH, not shed, "flexibility request"))
        return out

    # -- advice -------------------------------------------------------------------------------
    def _limits(self, household_id: str) -> dict[Property, tuple[float, str]]:
        prefs = self._prefs.get(household_id)
        co2 = prefs.co2_limit_ppm if prefs else 1000.0
        return {
            Property.CO2: (co2, "ppm"),
            Property.VOC: (self.config.voc_limit_ppb, "ppb"),
            Property.PM25: (self.config.pm25_limit_ug_m3, "ug/m3"),
        }

    def _advise(self, device: Device, readings: list[Reading]) -> None:
        limits = self._limits(device.household_id)
        advice: list[Advice] = []
        with self._lock:
            for r in readings:
                if r.property not in limits:
                    continue
                limit, unit = limits[r.property]
                key = (device.household_id, device.device_id, r.property)
                active = self._advice_active.get(key, False)
                name = r.property.value.upper()
                if not active and r.value > limit:
                    self._advice_active[key] = True
                    advice.append(
                        Advice(
                            device.household_id,
                            device.device_id,
                            "ventilate",
                            r.property,
                            r.value,
                            limit,
                            "warning",
                            r.time_s,
                            f"{name} is {r.value:g} {unit}, above {limit:g} {unit}: "
                            "open a window or increase ventilation",
                        )
                    )
                elif active and r.value < limit * (1 - self.config.advice_hysteresis):
                    self._advice_active[key] = False
                    advice.append(
                        Advice(
                            device.household_id,
                            device.device_id,
                            "ventilate",
                            r.property,
                            r.value,
                            limit,
                            "cleared",
                            r.time_s,
                            f"{name} is back to {r.value:g} {unit}",
                        )
                    )
        for item in advice:
            self._send_advice(item)
