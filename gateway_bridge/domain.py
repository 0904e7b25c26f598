"""Pure types and rules of the home-gateway bridge: the SAREF-like reading, devices, commands,
household preferences and the reasons a message is refused.

A :class:`Reading` is one measured value of one device: ``device_id``, ``property`` (from the
fixed vocabulary :class:`Property`), ``value`` in the property's canonical :class:`Unit`, and
``time_s`` (unix seconds, UTC). The vocabulary follows SAREF's ``saref:Property`` and
``saref:UnitOfMeasure`` (``saref:Power`` in W, ``saref:Energy`` in Wh, ``saref:Temperature``
in degC, ...). Adapters translate gateway formats into it; :func:`to_canonical` converts units
(``kWh`` -> ``Wh``, ``degF`` -> ``degC``) and refuses units that do not fit the property.

Values are typed strictly (:func:`strict_value`): a boolean property (``state``, ``contact``,
``occupancy``) takes a boolean or a state word, every other property a finite number; a word or
a boolean is never read as a number (``{"energy": "OFF"}`` is refused, not 0 Wh). An energy
counter only rises (:class:`CounterHistory`).
"""

from __future__ import annotations

import bisect
import math
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from gateway_bridge.errors import DeviceNotFoundError, UnitError


class Property(StrEnum):
    """What a reading measures (SAREF-like property vocabulary)."""

    POWER = "power"  # active power drawn (import), W
    POWER_EXPORT = "power_export"  # active power fed in (PV, export), W
    ENERGY = "energy"  # cumulative imported energy counter, Wh
    ENERGY_EXPORT = "energy_export"  # cumulative exported energy counter, Wh
    VOLTAGE = "voltage"
    CURRENT = "current"
    TEMPERATURE = "temperature"  # indoor air temperature unless the device says otherwise
    SETPOINT = "setpoint"  # a thermostat's / boiler's current setpoint
    HUMIDITY = "humidity"
    OCCUPANCY = "occupancy"  # 1 occupied, 0 not
    CONTACT = "contact"  # 1 closed, 0 open (Zigbee2MQTT's ``contact: true`` is closed)
    CO2 = "co2"
    VOC = "voc"
    PM25 = "pm25"
    ILLUMINANCE = "illuminance"
    STATE = "state"  # switch state, 1 on, 0 off
    BATTERY = "battery"
    LINKQUALITY = "linkquality"


class Unit(StrEnum):
    """Canonical units: each property has exactly one (see :data:`CANONICAL_UNIT`)."""

    W = "W"
    WH = "Wh"
    V = "V"
    A = "A"
    DEGC = "degC"
    RH = "%RH"
    PPM = "ppm"
    PPB = "ppb"
    UG_M3 = "ug/m3"
    LX = "lx"
    BOOL = "bool"
    PERCENT = "%"
    LQI = "lqi"


# property -> {accepted unit: (factor, offset)}; canonical = value * factor + offset.
# The first entry of each is the canonical unit.
_POWER = {"W": (1.0, 0.0), "kW": (1e3, 0.0), "MW": (1e6, 0.0), "mW": (1e-3, 0.0)}
_ENERGY = {
    "Wh": (1.0, 0.0),
    "kWh": (1e3, 0.0),
    "MWh": (1e6, 0.0),
    "J": (1 / 3600, 0.0),
    "kJ": (1 / 3.6, 0.0),
    "MJ": (1e3 / 3.6, 0.0),
}
_TEMP = {"degC": (1.0, 0.0), "degF": (5 / 9, -160 / 9), "K": (1.0, -273.15)}
PROPERTY_UNITS: dict[Property, dict[str, tuple[float, float]]] = {
    Property.POWER: _POWER,
    Property.POWER_EXPORT: _POWER,
    Property.ENERGY: _ENERGY,
    Property.ENERGY_EXPORT: _ENERGY,
    Property.VOLTAGE: {"V": (1.0, 0.0), "mV": (1e-3, 0.0), "kV": (1e3, 0.0)},
    Property.CURRENT: {"A": (1.0, 0.0), "mA": (1e-3, 0.0)},
    Property.TEMPERATURE: _TEMP,
    Property.SETPOINT: _TEMP,
    Property.HUMIDITY: {"%RH": (1.0, 0.0), "%": (1.0, 0.0)},
    Property.CO2: {"ppm": (1.0, 0.0), "ppb": (1e-3, 0.0), "%": (1e4, 0.0)},
    Property.VOC: {"ppb": (1.0, 0.0), "ppm": (1e3, 0.0)},
    Property.PM25: {"ug/m3": (1.0, 0.0), "mg/m3": (1e3, 0.0)},
    Property.ILLUMINANCE: {"lx": (1.0, 0.0)},
    Property.OCCUPANCY: {"bool": (1.0, 0.0)},
    Property.CONTACT: {"bool": (1.0, 0.0)},
    Property.STATE: {"bool": (1.0, 0.0)},
    Property.BATTERY: {"%": (1.0, 0.0)},
    Property.LINKQUALITY: {"lqi": (1.0, 0.0)},
}
CANONICAL_UNIT: dict[Property, Unit] = {
    prop: Unit(next(iter(units))) for prop, units in PROPERTY_UNITS.items()
}

# Spellings gateways use for the same unit.
UNIT_ALIASES: dict[str, str] = {
    "°C": "degC",
    "℃": "degC",
    "C": "degC",
    "celsius": "degC",
    "°F": "degF",
    "℉": "degF",
    "F": "degF",
    "fahrenheit": "degF",
    "kelvin": "K",
    "% RH": "%RH",
    "%rh": "%RH",
    "RH": "%RH",
    "µg/m³": "ug/m3",
    "μg/m³": "ug/m3",
    "ug/m³": "ug/m3",
    "µg/m3": "ug/m3",
    "μg/m3": "ug/m3",
    "mg/m³": "mg/m3",
    "lux": "lx",
    "watt": "W",
    "watts": "W",
}
_ALL_UNITS = {u for units in PROPERTY_UNITS.values() for u in units}
_FOLDED: dict[str, str] = {}
for _u in sorted(_ALL_UNITS):
    _FOLDED.setdefault(_u.lower(), _u)
_FOLDED.pop("mw", None)  # mW and MW differ only by case: never guess between them

# Plausible range of each property in its canonical unit. Below 0 where 0 is the floor is
# "negative_value"; anything else outside is "absurd_value".
PLAUSIBLE_RANGE: dict[Property, tuple[float, float]] = {
    Property.POWER: (0.0, 60_000.0),  # a 3-phase 63 A home connection is ~43 kW
    Property.POWER_EXPORT: (0.0, 60_000.0),
    Property.ENERGY: (0.0, 1e10),
    Property.ENERGY_EXPORT: (0.0, 1e10),
    Property.VOLTAGE: (0.0, 500.0),
    Property.CURRENT: (0.0, 100.0),
    Property.TEMPERATURE: (-40.0, 90.0),
    Property.SETPOINT: (5.0, 35.0),
    Property.HUMIDITY: (0.0, 100.0),
    Property.CO2: (0.0, 10_000.0),
    Property.VOC: (0.0, 65_000.0),
    Property.PM25: (0.0, 1_000.0),
    Property.ILLUMINANCE: (0.0, 200_000.0),
    Property.OCCUPANCY: (0.0, 1.0),
    Property.CONTACT: (0.0, 1.0),
    Property.STATE: (0.0, 1.0),
    Property.BATTERY: (0.0, 100.0),
    Property.LINKQUALITY: (0.0, 255.0),
}


def normalise_unit(unit: str) -> str:
    """The project's spelling of ``unit`` (``"°C"`` -> ``"degC"``, ``"KWH"`` -> ``"kWh"``)."""
    text = unit.strip()
    if text in _ALL_UNITS:
        return text
    if text in UNIT_ALIASES:
        return UNIT_ALIASES[text]
    return _FOLDED.get(text.lower(), UNIT_ALIASES.get(text.lower(), text))


def to_canonical(prop: Property, value: float, unit: str | None) -> float:
    """``value`` given in ``unit`` converted to ``prop``'s canonical unit.

    ``unit=None`` means the value is already canonical. Raises :class:`UnitError` when the
    unit does not fit the property (``ppm`` for a temperature).
    """
    if unit is None:
        return value
    table = PROPERTY_UNITS[prop]
    factor_offset = table.get(normalise_unit(unit))
    if factor_offset is None:
        raise UnitError(prop.value, unit, "/".join(table))
    factor, offset = factor_offset
    return value * factor + offset


BOOLEAN_PROPERTIES = frozenset({Property.OCCUPANCY, Property.CONTACT, Property.STATE})
"""Properties whose value is a state (1 or 0), given as a boolean or a state word."""
BOOLEAN_WORDS: dict[str, float] = {
    "ON": 1.0,
    "OFF": 0.0,
    "TRUE": 1.0,
    "FALSE": 0.0,
    "OPEN": 0.0,
    "CLOSED": 1.0,
}
COUNTER_PROPERTIES = frozenset({Property.ENERGY, Property.ENERGY_EXPORT})
"""Cumulative counters: a reading below an earlier one is refused (counter_decreased)."""
MAX_PAYLOAD_BYTES = 65_536
"""Largest MQTT payload the bridge reads (and the generated Mosquitto config forwards); a
gateway state message is well under 2 KB."""


def strict_value(prop: Property, raw: object) -> float:
    """A decoded JSON value of ``prop`` as a float, typed strictly.

    A boolean property takes ``true``/``false``, a state word (:data:`BOOLEAN_WORDS`, any
    case) or the numbers 0 and 1; every other property takes a finite JSON number only (no
    booleans, no words, no numeric strings). ``ValueError`` otherwise.
    """
    if prop in BOOLEAN_PROPERTIES:
        if isinstance(raw, bool):
            return 1.0 if raw else 0.0
        if isinstance(raw, str) and raw.strip().upper() in BOOLEAN_WORDS:
            return BOOLEAN_WORDS[raw.strip().upper()]
        if isinstance(raw, int | float) and raw in (0, 1):
            return float(raw)
        raise ValueError(f"{raw!r} is not a {prop.value} state (true/false, ON/OFF, OPEN/CLOSED)")
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise ValueError(f"{raw!r} is not a number")
    try:
        value = float(raw)
    except OverflowError:
        raise ValueError(f"{raw!r} does not fit a float") from None
    if not math.isfinite(value):
        raise ValueError(f"{raw!r} is not finite")
    return value


class CounterHistory:
    """The latest readings of one energy counter (at most ``keep``), to refuse one that would
    make the counter fall: below the reading just before it, or above the one just after it
    (a late reading). A reading older than all kept ones is checked against the oldest."""

    def __init__(self, keep: int = 64) -> None:
        self.keep = keep
        self.times: list[float] = []
        self.values: list[float] = []

    def conflict(self, time_s: float, value: float) -> tuple[float, float] | None:
        """``(time, value)`` of the kept reading that ``value`` at ``time_s`` contradicts."""
        i = bisect.bisect_left(self.times, time_s)
        if i > 0 and value < self.values[i - 1]:
            return self.times[i - 1], self.values[i - 1]
        j = i + 1 if i < len(self.times) and self.times[i] == time_s else i
        if j < len(self.times) and value > self.values[j]:
            return self.times[j], self.values[j]
        return None

    def add(self, time_s: float, value: float) -> None:
        i = bisect.bisect_left(self.times, time_s)
        if i < len(self.times) and self.times[i] == time_s:
            return
        self.times.insert(i, time_s)
        self.values.insert(i, value)
        if len(self.times) > self.keep:
            del self.times[0], self.values[0]


class RejectReason(StrEnum):
    """Why the bridge refused (part of) a message; each has its own counter."""

    MALFORMED_PAYLOAD = "malformed_payload"  # cannot be parsed (JSON, number, time, nesting)
    PAYLOAD_TOO_LARGE = "payload_too_large"  # over max_payload_bytes: not even parsed
    UNKNOWN_ADAPTER = "unknown_adapter"  # topic root configured for an adapter not installed
    UNKNOWN_DEVICE = "unknown_device"  # no registered device at this address
    UNKNOWN_PROPERTY = "unknown_property"  # openHAB item that maps to no property
    WRONG_UNIT = "wrong_unit"
    BAD_VALUE = "bad_value"  # wrong type: a word or boolean for a number, a number for a state
    NEGATIVE_VALUE = "negative_value"
    ABSURD_VALUE = "absurd_value"  # outside the plausible range, NaN or infinite
    COUNTER_DECREASED = "counter_decreased"  # an energy counter below an earlier reading
    DUPLICATE = "duplicate"  # same device, property and time again within the duplicate window
    REPLAYED = "replayed"  # same device, property and time again after the duplicate window
    CLOCK_SKEW_FUTURE = "clock_skew_future"
    CLOCK_SKEW_PAST = "clock_skew_past"
    INTERNAL_ERROR = "internal_error"  # a bug in an adapter; the bridge keeps running


def check_plausible(prop: Property, value: float) -> RejectReason | None:
    """``None`` if ``value`` (canonical unit) is plausible for ``prop``, else the reason."""
    if not math.isfinite(value):
        return RejectReason.ABSURD_VALUE
    low, high = PLAUSIBLE_RANGE[prop]
    if value < 0 <= low:
        return RejectReason.NEGATIVE_VALUE
    if value < low or value > high:
        return RejectReason.ABSURD_VALUE
    return None


@dataclass(frozen=True, slots=True)
class Reading:
    """One normalised measurement: ``value`` in ``unit`` (canonical for ``property``) at
    ``time_s`` (unix seconds, UTC)."""

    device_id: str
    property: Property
    value: float
    unit: Unit
    time_s: float

    def to_dict(self) -> dict[str, str | float]:
        return {
            "device_id": self.device_id,
            "property": self.property.value,
            "value": self.value,
            "unit": self.unit.value,
            "time_s": self.time_s,
        }

    @classmethod
    def from_dict(cls, data: dict) -> Reading:
        return cls(
            device_id=str(data["device_id"]),
            property=Property(data["property"]),
            value=float(data["value"]),
            unit=Unit(data["unit"]),
            time_s=float(data["time_s"]),
        )


class DeviceRole(StrEnum):
    """What a device is for; comfort rules address devices by role, never by type."""

    METER = "meter"
    SENSOR = "sensor"
    THERMOSTAT = "thermostat"
    BOILER = "boiler"
    HEAT_PUMP = "heat_pump"
    DEHUMIDIFIER = "dehumidifier"
    SMART_PLUG = "smart_plug"


class Device(BaseModel):
    """A registered home device.

    ``address`` is where its gateway publishes it: the Zigbee2MQTT friendly name (topic
    ``zigbee2mqtt/<address>``) or, for openHAB, the item-name prefix (items
    ``<address>_<Property>``, see :mod:`gateway_bridge.adapters.openhab`).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    device_id: str = Field(min_length=1, max_length=128, description="Platform-wide device id.")
    household_id: str = Field(min_length=1, max_length=128, description="Owning household.")
    adapter: str = Field(min_length=1, description="Adapter name, e.g. 'zigbee2mqtt'.")
    address: str = Field(min_length=1, description="Gateway-side name of the device.")
    role: DeviceRole = Field(default=DeviceRole.SENSOR, description="What the device is for.")
    load: Literal["heater", "dehumidifier", "flexible"] | None = Field(
        default=None, description="For a smart plug: what it powers (decides which rule drives it)."
    )
    items: dict[str, str] = Field(
        default_factory=dict,
        description="openHAB: explicit item -> 'property' or 'property:unit' (item metadata).",
    )
    options: dict[str, str] = Field(
        default_factory=dict,
        description="Adapter options, e.g. Zigbee2MQTT 'setpoint_key', 'mode_key'.",
    )

    @field_validator("items")
    @classmethod
    def _check_items(cls, items: dict[str, str]) -> dict[str, str]:
        for item, binding in items.items():
            prop = binding.split(":", 1)[0]
            if prop not in Property.__members__.values() and prop not in ("mode",):
                raise ValueError(f"item {item!r}: unknown property {prop!r}")
        return items


class DeviceRegistry:
    """Thread-safe registry of devices, looked up by id, by (adapter, address), by household."""

    def __init__(self, devices: Iterable[Device] = ()) -> None:
        self._lock = threading.Lock()
        self._by_id: dict[str, Device] = {}
        self._by_address: dict[tuple[str, str], Device] = {}
        self.version = 0  # bumped on every change, so adapters can cache indexes
        for device in devices:
            self.add(device)

    def add(self, device: Device) -> None:
        with self._lock:
            old = self._by_id.get(device.device_id)
            if old is not None:
                self._by_address.pop((old.adapter, old.address), None)
            self._by_id[device.device_id] = device
            self._by_address[(device.adapter, device.address)] = device
            self.version += 1

    def get(self, device_id: str) -> Device:
        try:
            return self._by_id[device_id]
        except KeyError:
            raise DeviceNotFoundError(device_id) from None

    def find(self, adapter: str, address: str) -> Device | None:
        return self._by_address.get((adapter, address))

    def household(self, household_id: str) -> list[Device]:
        with self._lock:
            return [d for d in self._by_id.values() if d.household_id == household_id]

    def households(self) -> list[str]:
        with self._lock:
            return sorted({d.household_id for d in self._by_id.values()})

    def all(self) -> list[Device]:
        with self._lock:
            return list(self._by_id.values())

    def __len__(self) -> int:
        return len(self._by_id)


class ComfortMode(StrEnum):
    COMFORT = "comfort"  # aim for the middle of the band, react early
    ECONOMY = "economy"  # aim for the cheap edge of the band, react late


class Preferences(BaseModel):
    """A household's comfort preferences (ISM-3): bands the rules keep the home in."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    household_id: str = Field(min_length=1, max_length=128, description="The household.")
    temperature_min_c: float = Field(
        default=19.0, ge=10, le=28, description="Lowest comfortable, degC."
    )
    temperature_max_c: float = Field(
        default=22.0, ge=10, le=30, description="Highest comfortable, degC."
    )
    humidity_min_rh: float = Field(
        default=30.0, ge=10, le=80, description="Lowest comfortable, %RH."
    )
    humidity_max_rh: float = Field(
        default=60.0, ge=20, le=90, description="Highest comfortable, %RH."
    )
    mode: ComfortMode = Field(default=ComfortMode.COMFORT, description="Comfort or economy.")
    co2_limit_ppm: float = Field(
        default=1000.0, ge=600, le=5000, description="Advise ventilating above this CO2, ppm."
    )

    @model_validator(mode="after")
    def _check_bands(self) -> Preferences:
        if self.temperature_max_c - self.temperature_min_c < 0.5:
            raise ValueError(
                f"temperature band {self.temperature_min_c}..{self.temperature_max_c} degC "
                "must be at least 0.5 degC wide"
            )
        if self.humidity_max_rh - self.humidity_min_rh < 5:
            raise ValueError(
                f"humidity band {self.humidity_min_rh}..{self.humidity_max_rh} %RH must be at "
                "least 5 %RH wide"
            )
        return self


class Action(StrEnum):
    """The one command vocabulary of the rules; adapters encode it per device type."""

    SWITCH = "switch"  # value: bool (on/off)
    SETPOINT = "setpoint"  # value: float, degC
    MODE = "mode"  # value: "heat" | "cool" | "off"


@dataclass(frozen=True, slots=True)
class Command:
    """A command for one device; ``reason`` says which rule decided it."""

    device_id: str
    action: Action
    value: bool | float | str
    reason: str = ""

    def to_dict(self) -> dict[str, str | float | bool]:
        return {
            "device_id": self.device_id,
            "action": self.action.value,
            "value": self.value,
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class Advice:
    """A notification for a household (ISM-7), published on ``household.advice``.

    ``level`` is ``"warning"`` when a threshold is crossed upwards and ``"cleared"`` when the
    value is back below it (minus a hysteresis).
    """

    household_id: str
    device_id: str
    kind: str  # "ventilate", "dehumidify", "humidify"
    property: Property
    value: float
    threshold: float
    level: Literal["warning", "cleared"]
    time_s: float
    message: str

    def to_dict(self) -> dict[str, str | float]:
        return {
            "household_id": self.household_id,
            "device_id": self.device_id,
            "kind": self.kind,
            "property": self.property.value,
            "value": self.value,
            "threshold": self.threshold,
            "level": self.level,
            "time_s": self.time_s,
            "message": self.message,
        }
