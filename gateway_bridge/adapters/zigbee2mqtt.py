"""Zigbee2MQTT: ``zigbee2mqtt/<friendly_name>`` JSON state messages.

Topics (``zigbee2mqtt`` is the default base topic; friendly names may contain ``/``):

- ``<base>/<name>``: device state, a JSON object, e.g.
  ``{"power": 412, "energy": 1.25, "temperature": 21.3, "humidity": 48, "battery": 97,
  "linkquality": 120, "state": "ON"}``. Keys use Zigbee2MQTT's units (``energy`` in kWh, the
  others already W, degC, %, ppm, ppb, ug/m3, lqi); unknown keys (``update``, ``child_lock``,
  ...) are ignored. A value may also be ``{"value": 1.2, "unit": "kW"}`` (gateways that add
  units); its unit is converted or refused.
- ``<base>/<name>/availability``: ``{"state": "online"|"offline"}`` or the legacy plain text.
- ``<base>/bridge/...`` (Zigbee2MQTT itself) and ``<base>/<name>/set|get`` (commands): ignored.

Time: ``last_seen`` (Zigbee2MQTT's ``advanced.last_seen``: ISO 8601 or epoch milliseconds) or
``time_s`` (unix seconds, a BRIGHT extension the community simulator uses); neither: the time
the bridge received it.

Parsing is strict: a payload that is not UTF-8 JSON, nests deeper than 32 levels, or holds
``NaN``/``Infinity`` or a number no float holds (``1e400``, a 400-digit integer) is
``malformed_payload``; so is a timestamp that is not a finite number or an ISO 8601 time with a
zone. Values are typed by property (:func:`gateway_bridge.domain.strict_value`): ``"OFF"`` or
``true`` for an energy counter is a ``bad_value``, not 0 or 1.

Commands go to ``<base>/<name>/set``: switch ``{"state": "ON"}``, setpoint
``{"current_heating_setpoint": 21.5}`` (key from the device option ``setpoint_key``), mode
``{"system_mode": "heat"}`` (option ``mode_key``).
"""

from __future__ import annotations

import json
import math
import re
from datetime import datetime

from gateway_bridge.adapters.base import Adapter, Decoded, RawValue, register_adapter
from gateway_bridge.domain import (
    Action,
    Command,
    Device,
    DeviceRegistry,
    Property,
    RejectReason,
    strict_value,
)
from gateway_bridge.errors import RejectedMessage

# payload key -> (property, the unit Zigbee2MQTT sends it in)
KEYS: dict[str, tuple[Property, str | None]] = {
    "power": (Property.POWER, "W"),
    "energy": (Property.ENERGY, "kWh"),
    "produced_energy": (Property.ENERGY_EXPORT, "kWh"),
    "voltage": (Property.VOLTAGE, "V"),
    "current": (Property.CURRENT, "A"),
    "temperature": (Property.TEMPERATURE, "degC"),
    "local_temperature": (Property.TEMPERATURE, "degC"),
    "current_heating_setpoint": (Property.SETPOINT, "degC"),
    "occupied_heating_setpoint": (Property.SETPOINT, "degC"),
    "humidity": (Property.HUMIDITY, "%RH"),
    "occupancy": (Property.OCCUPANCY, None),
    "contact": (Property.CONTACT, None),
    "co2": (Property.CO2, "ppm"),
    "voc": (Property.VOC, "ppb"),
    "pm25": (Property.PM25, "ug/m3"),
    "illuminance_lux": (Property.ILLUMINANCE, "lx"),
    "state": (Property.STATE, None),
    "battery": (Property.BATTERY, "%"),
    "linkquality": (Property.LINKQUALITY, "lqi"),
}
_COMMAND_SUFFIXES = ("/set", "/get")
MAX_INT_DIGITS = 30  # no reading or timestamp needs more; a longer integer is malformed
MAX_JSON_DEPTH = 32  # a gateway state nests 2 or 3 levels; deeper is malformed, whatever the
# interpreter's recursion limit (which decides whether json.loads raises RecursionError)
_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[{\]}]')


def json_depth(payload: bytes) -> int:
    """How deep arrays and objects nest in ``payload`` (brackets inside strings ignored)."""
    depth = deepest = 0
    for match in _TOKENS.finditer(payload):
        c = match.group()[:1]
        if c in (b"[", b"{"):
            depth += 1
            deepest = max(deepest, depth)
        elif c in (b"]", b"}"):
            depth -= 1
    return deepest


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:40]} does not fit a float")
    return value


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise ValueError(f"an integer of {len(text.lstrip('-'))} digits")
    return int(text)


_DECODER = json.JSONDecoder(
    parse_constant=_no_constant, parse_float=_finite_float, parse_int=_bounded_int
)


def load_json(payload: bytes) -> object:
    """``payload`` as JSON, strictly: :class:`RejectedMessage` (``malformed_payload``) for
    anything that is not RFC 8259 JSON with numbers a float holds, or nests too deep."""
    brackets = payload.count(b"[") + payload.count(b"{")
    if brackets > MAX_JSON_DEPTH and json_depth(payload) > MAX_JSON_DEPTH:
        raise RejectedMessage(
            RejectReason.MALFORMED_PAYLOAD, f"JSON nested deeper than {MAX_JSON_DEPTH} levels"
        )
    try:
        return _DECODER.decode(payload.decode("utf-8"))  # RFC 8259: JSON on the wire is UTF-8
    except RecursionError:
        raise RejectedMessage(RejectReason.MALFORMED_PAYLOAD, "JSON nested too deep") from None
    except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise RejectedMessage(RejectReason.MALFORMED_PAYLOAD, f"not JSON: {exc}") from None


def parse_time(value: object) -> float:
    """``last_seen`` / ``time_s`` as unix seconds; ``ValueError`` if it is neither form."""
    if isinstance(value, bool):
        raise ValueError(f"not a timestamp: {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
        if not math.isfinite(seconds):
            raise ValueError(f"not a timestamp: {value!r}")
        # Zigbee2MQTT's epoch format is milliseconds; seconds are below 1e11 until year 5138.
        return seconds / 1000.0 if seconds > 1e11 else seconds
    if isinstance(value, str):
        stamp = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if stamp.tzinfo is None:
            raise ValueError(f"timestamp without a time zone: {value!r}")
        return stamp.timestamp()
    raise ValueError(f"not a timestamp: {value!r}")


def _number(key: str, prop: Property, raw: object) -> tuple[float, str | None]:
    """A payload value as (number, unit given in the message or None), typed by ``prop``."""
    unit: str | None = None
    if isinstance(raw, dict):
        if "value" not in raw:
            raise ValueError(f"{key}: object without 'value'")
        unit = raw.get("unit")
        if unit is not None and not isinstance(unit, str):
            raise ValueError(f"{key}: unit {unit!r} is not text")
        raw = raw["value"]
    try:
        return strict_value(prop, raw), unit
    except ValueError as exc:
        raise ValueError(f"{key}: {exc}") from None


@register_adapter
class Zigbee2MqttAdapter(Adapter):
    name = "zigbee2mqtt"

    def decode(self, topic: str, payload: bytes, registry: DeviceRegistry) -> Decoded:
        rest = topic[len(self.topic_root) + 1 :]
        if not rest or rest == "bridge" or rest.startswith("bridge/"):
            return Decoded(ignore=True)
        if rest.endswith(_COMMAND_SUFFIXES) or "/set/" in rest:
            return Decoded(ignore=True)
        if rest.endswith("/availability"):
            address = rest[: -len("/availability")]
            return Decoded(
                address=address,
                device=registry.find(self.name, address),
                availability=self._availability(payload),
            )
        data = load_json(payload)
        if not isinstance(data, dict):
            raise RejectedMessage(
                RejectReason.MALFORMED_PAYLOAD, f"expected a JSON object, got {type(data).__name__}"
            )
        out = Decoded(address=rest, device=registry.find(self.name, rest))
        stamp = data.get("time_s", data.get("last_seen"))
        if stamp is not None:
            try:
                out.time_s = parse_time(stamp)
            except (ValueError, OverflowError) as exc:
                raise RejectedMessage(RejectReason.MALFORMED_PAYLOAD, f"bad time: {exc}") from None
        for key, raw in data.items():
            spec = KEYS.get(key)
            if spec is None:
                continue
            prop, default_unit = spec
            try:
                value, unit = _number(key, prop, raw)
            except ValueError as exc:
                out.problems.append((RejectReason.BAD_VALUE, str(exc)))
                continue
            out.values.append(RawValue(prop, value, unit if unit is not None else default_unit))
        return out

    @staticmethod
    def _availability(payload: bytes) -> bool:
        text = payload.decode("utf-8", "replace").strip()
        if text.startswith("{"):
            data = load_json(payload)
            if not isinstance(data, dict):
                raise RejectedMessage(RejectReason.MALFORMED_PAYLOAD, "bad availability")
            text = str(data.get("state", ""))
        if text.lower() not in ("online", "offline"):
            raise RejectedMessage(
                RejectReason.MALFORMED_PAYLOAD, f"availability {text[:40]!r} is not online/offline"
            )
        return text.lower() == "online"

    def encode(self, device: Device, command: Command) -> list[tuple[str, bytes]]:
        body: dict[str, object]
        if command.action is Action.SWITCH:
            body = {"state": "ON" if command.value else "OFF"}
        elif command.action is Action.SETPOINT:
            body = {device.options.get("setpoint_key", "current_heating_setpoint"): command.value}
        else:
            body = {device.options.get("mode_key", "system_mode"): command.value}
        return [(f"{self.topic_root}/{device.address}/set", json.dumps(body).encode())]
