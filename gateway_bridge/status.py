"""Device status (IHG-5/7/8): last value per property, online/offline, battery.

The bridge writes it; the REST API (a later issue) and the comfort rules read it through the
query methods, which return plain JSON-serialisable dicts.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from gateway_bridge.domain import Device, DeviceRegistry, Property, Reading

Listener = Callable[[Device, list[Reading]], None]


@dataclass(slots=True)
class LastValue:
    value: float
    unit: str
    time_s: float  # the reading's own time, unix s
    received_s: float  # when the bridge received it, unix s


@dataclass(slots=True)
class _State:
    values: dict[Property, LastValue]
    last_seen_s: float | None = None
    availability: bool | None = None  # from the gateway's availability topic, if it has one


class DeviceStatusStore:
    """Thread-safe status of every registered device.

    A device is *online* when its gateway has not said it is offline (Zigbee2MQTT's
    availability topic) and it was heard from (a reading or an ``online`` availability)
    within ``offline_after_s``. A late reading never replaces a newer value of the same
    property.
    """

    def __init__(
        self,
        registry: DeviceRegistry,
        *,
        offline_after_s: float = 600.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.registry = registry
        self.offline_after_s = offline_after_s
        self._clock = clock
        self._states: dict[str, _State] = {}
        self._cond = threading.Condition()
        self._listeners: list[Listener] = []

    # -- writes (the bridge) ------------------------------------------------------------------
    def update(self, device: Device, readings: list[Reading], received_s: float) -> None:
        with self._cond:
            state = self._states.setdefault(device.device_id, _State(values={}))
            state.last_seen_s = max(state.last_seen_s or 0.0, received_s)
            for r in readings:
                old = state.values.get(r.property)
                if old is None or r.time_s >= old.time_s:
                    state.values[r.property] = LastValue(
                        r.value, r.unit.value, r.time_s, received_s
                    )
            self._cond.notify_all()
        for listener in tuple(self._listeners):
            listener(device, readings)

    def set_availability(self, device: Device, online: bool, received_s: float) -> None:
        with self._cond:
            state = self._states.setdefault(device.device_id, _State(values={}))
            state.availability = online
            if online:
                state.last_seen_s = max(state.last_seen_s or 0.0, received_s)
            self._cond.notify_all()

    def add_listener(self, listener: Listener) -> None:
        """Call ``listener(device, readings)`` after each update (in the bridge's thread)."""
        self._listeners.append(listener)

    # -- queries ------------------------------------------------------------------------------
    def latest(self, device_id: str, prop: Property) -> LastValue | None:
        with self._cond:
            state = self._states.get(device_id)
            return None if state is None else state.values.get(prop)

    def is_online(self, device_id: str, now_s: float | None = None) -> bool:
        with self._cond:
            return self._online(self._states.get(device_id), now_s)

    def _online(self, state: _State | None, now_s: float | None) -> bool:
        if state is None or state.availability is False or state.last_seen_s is None:
            return False
        now = self._clock() if now_s is None else now_s
        return now - state.last_seen_s <= self.offline_after_s

    def get(self, device_id: str, now_s: float | None = None) -> dict:
        """Status of one registered device as a dict; :class:`DeviceNotFoundError` if none."""
        device = self.registry.get(device_id)
        with self._cond:
            return self._describe(device, self._states.get(device_id), now_s)

    def list(
        self,
        *,
        household_id: str | None = None,
        online: bool | None = None,
        now_s: float | None = None,
    ) -> list[dict]:
        """Status of the registered devices, optionally of one household / only (off)line."""
        devices = self.registry.household(household_id) if household_id else self.registry.all()
        with self._cond:
            rows = [self._describe(d, self._states.get(d.device_id), now_s) for d in devices]
        if online is not None:
            rows = [r for r in rows if r["online"] is online]
        return sorted(rows, key=lambda r: r["device_id"])

    def _describe(self, device: Device, state: _State | None, now_s: float | None) -> dict:
        values = {} if state is None else state.values
        battery = values.get(Property.BATTERY)
        lqi = values.get(Property.LINKQUALITY)
        return {
            "device_id": device.device_id,
            "household_id": device.household_id,
            "role": device.role.value,
            "adapter": device.adapter,
            "online": self._online(state, now_s),
            "availability": None if state is None else state.availability,
            "last_seen_s": None if state is None else state.last_seen_s,
            "battery_pct": None if battery is None else battery.value,
            "linkquality": None if lqi is None else lqi.value,
            "values": {
                p.value: {"value": v.value, "unit": v.unit, "time_s": v.time_s}
                for p, v in values.items()
            },
        }

    def wait_for(self, predicate: Callable[[], bool], timeout_s: float) -> bool:
        """Block until ``predicate()`` (checked after each update) holds; False on timeout."""
        with self._cond:
            return self._cond.wait_for(predicate, timeout_s)
