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

Commands go to ``<base>/<name>/set``: switch ``{"state": "ON"}``, setpoint
``{"current_heating_setpoint": 21.5}`` (key from the device option ``setpoint_key``), mode
``{"system_mode": "heat"}`` (option ``mode_key``).
"""

from __future__ import annotations

import json
from datetime import datetime

from gateway_bridge.adapters.base import Adapter, Decoded, RawValue, register_adapter
from gateway_bridge.domain import Action, Command, Device, DeviceRegistry, Property, RejectReason
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
_BOOL_WORDS = {"ON": 1.0, "OFF": 0.0, "TRUE": 1.0, "FALSE": 0.0, "OPEN": 0.0, "CLOSED": 1.0}
_COMMAND_SUFFIXES = ("/set", "/get")


def parse_time(value: object) -> float:
    """``last_seen`` / ``time_s`` as unix seconds; ``ValueError`` if it is neither form."""
    if isinstance(value, bool):
        raise ValueError(f"not a timestamp: {value!r}")
    if isinstance(value, int | float):
        # Zigbee2MQTT's epoch format is milliseconds; seconds are below 1e11 until year 5138.
        return float(value) / 1000.0 if value > 1e11 else float(value)
    if isinstance(value, str):
        stamp = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if stamp.tzinfo is None:
            raise ValueError(f"timestamp without a time zone: {value!r}")
        return stamp.timestamp()
    raise ValueError(f"not a timestamp: {value!r}")


def _number(key: str, raw: object) -> tuple[float, str | None]:
    """A payload value as (number, unit given in the message or None)."""
    unit: str | None = None
    if isinstance(raw, dict):
        if "value" not in raw:
            raise ValueError(f"{key}: object without 'value'")
        unit = raw.get("unit")
        if unit is not None and not isinstance(unit, str):
            raise ValueError(f"{key}: unit {unit!r} is not text")
        raw = raw["value"]
    if isinstance(raw, bool):
        return (1.0 if raw else 0.0), unit
    if isinstance(raw, int | float):
        return float(raw), unit
    if isinstance(raw, str) and raw.strip().upper() in _BOOL_WORDS:
        return _BOOL_WORDS[raw.strip().upper()], unit
    raise ValueError(f"{key}: {raw!r} is not a number")


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
        try:
            data = json.loads(payload)
        except (UnicodeDecodeError, ValueError) as exc:
            raise RejectedMessage(RejectReason.MALFORMED_PAYLOAD, f"not JSON: {exc}") from None
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
                value, unit = _number(key, raw)
            except ValueError as exc:
                out.problems.append((RejectReason.BAD_VALUE, str(exc)))
                continue
            out.values.append(RawValue(prop, value, unit if unit is not None else default_unit))
        return out

    @staticmethod
    def _availability(payload: bytes) -> bool:
        text = payload.decode("utf-8", "replace").strip()
        if text.startswith("{"):
            try:
                text = str(json.loads(text).get("state", ""))
            except (ValueError, AttributeError) as exc:
                raise RejectedMessage(
                    RejectReason.MALFORMED_PAYLOAD, f"bad availability: {exc}"
                ) from None
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
