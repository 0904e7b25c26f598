"""openHAB's MQTT event bus: ``openhab/<item>/state`` with plain-text states.

openHAB publishes each item's state as text: ``21.5 °C``, ``1.25 kWh``, ``412 W``, ``48 %``,
``ON``/``OFF``, ``OPEN``/``CLOSED``, ``NULL``/``UNDEF`` (no value yet: ignored). A number
without a unit is in the property's canonical unit (or the unit of the item's binding).

Mapping items to devices and properties, in this order:

1. Item metadata: the device's ``items`` map, ``{"LivingRoom_Temp": "temperature"}`` or with
   a unit, ``{"Meter_Total": "energy:kWh"}`` (mirrors openHAB metadata
   ``bright="energy:kWh"`` on the item).
2. Naming convention: ``<address>_<Property>``, split at the last ``_``, where ``<address>``
   is the device's address and ``<Property>`` a vocabulary word in any case without
   underscores (``h1hp_Power``, ``h1hp_EnergyExport``, ``h1air_CO2``, ``h1air_PM25``).

Values are typed by property: state words (``ON``/``OFF``, ``OPEN``/``CLOSED``) only for a
boolean property (``state``, ``contact``, ``occupancy``), numbers for the others; ``OPEN`` for
an energy item is a ``bad_value``, not 0 Wh. A number that does not fit a float (``1e400``) is
``malformed_payload``.

Commands go to ``openhab/<item>/command`` (openHAB's event bus turns them into item commands):
switch ``ON``/``OFF`` to the item bound to ``state`` (convention ``<address>_Switch``),
setpoint ``21.5`` to ``setpoint`` (``<address>_Setpoint``), mode ``HEAT``/``COOL``/``OFF`` to
``mode`` (``<address>_Mode``).
"""

from __future__ import annotations

import math
import re

from gateway_bridge.adapters.base import Adapter, Decoded, RawValue, register_adapter
from gateway_bridge.domain import (
    BOOLEAN_PROPERTIES,
    BOOLEAN_WORDS,
    Action,
    Command,
    Device,
    DeviceRegistry,
    Property,
    RejectReason,
)
from gateway_bridge.errors import RejectedMessage

_WORDS: dict[str, Property] = {p.value.replace("_", ""): p for p in Property}
_WORDS["temp"] = Property.TEMPERATURE
_WORDS["switch"] = Property.STATE
_NUMBER = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(.*?)\s*$")
_COMMAND_ITEMS = {Action.SWITCH: "state", Action.SETPOINT: "setpoint", Action.MODE: "mode"}
_CONVENTION = {Action.SWITCH: "Switch", Action.SETPOINT: "Setpoint", Action.MODE: "Mode"}


@register_adapter
class OpenHabAdapter(Adapter):
    name = "openhab"

    def __init__(self, topic_root: str | None = None) -> None:
        super().__init__(topic_root)
        self._index_version = -1
        self._items: dict[str, tuple[Device, str]] = {}

    def subscriptions(self) -> list[str]:
        return [f"{self.topic_root}/+/state"]

    def _item_index(self, registry: DeviceRegistry) -> dict[str, tuple[Device, str]]:
        if registry.version != self._index_version:
            index: dict[str, tuple[Device, str]] = {}
            for device in registry.all():
                if device.adapter == self.name:
                    for item, binding in device.items.items():
                        index[item] = (device, binding)
            self._items, self._index_version = index, registry.version
        return self._items

    def decode(self, topic: str, payload: bytes, registry: DeviceRegistry) -> Decoded:
        parts = topic[len(self.topic_root) + 1 :].split("/")
        if len(parts) != 2 or parts[1] != "state":
            return Decoded(ignore=True)  # commands (ours or anyone's) and other topics
        item = parts[0]
        try:
            text = payload.decode("utf-8").strip()
        except UnicodeDecodeError as exc:
            raise RejectedMessage(RejectReason.MALFORMED_PAYLOAD, f"not UTF-8: {exc}") from None
        bound = self._item_index(registry).get(item)
        if bound is not None:
            device, binding = bound
            word, _, binding_unit = binding.partition(":")
            prop: Property | None = Property(word) if word in _WORDS.values() else None
            if prop is None:  # e.g. a 'mode' item: command only
                return Decoded(address=device.address, device=device, ignore=True)
            unit: str | None = binding_unit or None
        else:
            address, _, word = item.rpartition("_")
            found = registry.find(self.name, address) if address else None
            if found is None:
                return Decoded(address=address or item)
            device = found
            prop = _WORDS.get(word.lower())
            if prop is None:
                raise RejectedMessage(
                    RejectReason.UNKNOWN_PROPERTY, f"item {item!r}: {word!r} is no property"
                )
            unit = None
        out = Decoded(address=device.address, device=device)
        if text.upper() in ("NULL", "UNDEF", ""):
            return out  # openHAB has no value yet: nothing to report
        if text.upper() in BOOLEAN_WORDS:
            if prop in BOOLEAN_PROPERTIES:
                out.values.append(RawValue(prop, BOOLEAN_WORDS[text.upper()], None))
            else:
                detail = f"item {item!r}: {text[:40]!r} is no {prop.value} number"
                out.problems.append((RejectReason.BAD_VALUE, detail))
            return out
        match = _NUMBER.match(text)
        if match is None:
            out.problems.append((RejectReason.BAD_VALUE, f"item {item!r}: {text[:40]!r}"))
            return out
        number = float(match.group(1))
        if not math.isfinite(number):
            raise RejectedMessage(
                RejectReason.MALFORMED_PAYLOAD, f"item {item!r}: {match.group(1)[:40]} overflows"
            )
        out.values.append(RawValue(prop, number, match.group(2) or unit))
        return out

    def encode(self, device: Device, command: Command) -> list[tuple[str, bytes]]:
        wanted = _COMMAND_ITEMS[command.action]
        item = next(
            (i for i, b in device.items.items() if b.partition(":")[0] == wanted),
            f"{device.address}_{_CONVENTION[command.action]}",
        )
        if command.action is Action.SWITCH:
            text = "ON" if command.value else "OFF"
        elif command.action is Action.SETPOINT:
            text = f"{float(command.value):g}"
        else:
            text = str(command.value).upper()
        return [(f"{self.topic_root}/{item}/command", text.encode())]
