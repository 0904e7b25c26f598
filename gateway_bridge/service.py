"""The bridge service: MQTT gateway topics in, normalised readings out on the bus.

:class:`Bridge` is the message handler (no network): size limit -> adapter (strict parsing
and types) -> device -> time checks -> units and plausibility -> per reading: duplicates (same
device, property and timestamp, whatever the bytes looked like) and energy counters that
would fall -> status store, bus topic ``meter.readings``, comfort rules.
It never raises on input: every refused message or value is counted under a
:class:`~gateway_bridge.domain.RejectReason` and kept in a bounded quarantine (also published
on ``gateway.quarantine``). :class:`BridgeService` wires it to a paho-mqtt client, runs the
rules' timer and publishes device commands on MQTT (and ``device.commands`` on the bus).

Bus messages (JSON-serialisable dicts, key = device id, household id for advice):

- ``meter.readings``: ``{device_id, household_id, adapter, property, value, unit, time_s}``
- ``household.advice``: :meth:`gateway_bridge.domain.Advice.to_dict`
- ``device.commands``: :meth:`gateway_bridge.domain.Command.to_dict` plus ``topic``
- ``gateway.quarantine``: ``{time_s, topic, reason, detail, payload}``
"""

from __future__ import annotations

import json
import logging
import math
import ssl
import threading
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from core.errors import ConfigError
from gateway_bridge.adapters import ADAPTERS, Adapter
from gateway_bridge.domain import (
    CANONICAL_UNIT,
    COUNTER_PROPERTIES,
    Advice,
    Command,
    CounterHistory,
    Device,
    DeviceRegistry,
    Preferences,
    Property,
    Reading,
    RejectReason,
    check_plausible,
    to_canonical,
)
from gateway_bridge.errors import BrokerError, RejectedMessage, UnitError
from gateway_bridge.rules import ComfortEngine, FlexShift, RuleConfig
from gateway_bridge.settings import BridgeSettings
from gateway_bridge.status import DeviceStatusStore
from streams.bus import Bus

log = logging.getLogger(__name__)

READINGS_TOPIC = "meter.readings"
ADVICE_TOPIC = "household.advice"
COMMANDS_TOPIC = "device.commands"
QUARANTINE_TOPIC = "gateway.quarantine"


def load_site(path: Path) -> tuple[list[Device], list[Preferences]]:
    """Devices and household preferences from a JSON file.

    ``{"devices": [{"device_id": "h1-meter", "household_id": "h1", "adapter": "zigbee2mqtt",
    "address": "h1/meter", "role": "meter"}, ...], "preferences": [{"household_id": "h1",
    "temperature_min_c": 19, "temperature_max_c": 22, "mode": "economy"}, ...]}``
    """
    try:
        data = json.loads(Path(path).read_text())
        devices = [Device.model_validate(d) for d in data.get("devices", [])]
        prefs = [Preferences.model_validate(p) for p in data.get("preferences", [])]
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the site file {path}: {exc}") from exc
    return devices, prefs


class BridgeStats:
    """Thread-safe counters of the bridge; :meth:`snapshot` gives them as a dict."""

    def __init__(self, quarantine_size: int) -> None:
        self._lock = threading.Lock()
        self.messages = 0  # MQTT messages handled
        self.accepted = 0  # messages that produced readings or status
        self.ignored = 0  # not for the bridge (gateway's own topics, commands, no value)
        self.readings = 0  # readings published on meter.readings
        self.commands = 0  # device commands published
        self.command_errors = 0
        self.advice = 0
        self.rejected: Counter[str] = Counter({r.value: 0 for r in RejectReason})
        self.quarantine: deque[dict[str, Any]] = deque(maxlen=quarantine_size)

    def add(self, name: str, n: int = 1) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + n)

    def reject(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self.rejected[entry["reason"]] += 1
            self.quarantine.append(entry)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "messages": self.messages,
                "accepted": self.accepted,
                "ignored": self.ignored,
                "readings": self.readings,
                "commands": self.commands,
                "command_errors": self.command_errors,
                "advice": self.advice,
                "rejected": dict(self.rejected),
                "rejected_total": sum(self.rejected.values()),
            }


class Bridge:
    """Handles gateway messages; see the module docstring. Thread-safe."""

    def __init__(
        self,
        settings: BridgeSettings,
        registry: DeviceRegistry,
        bus: Bus,
        status: DeviceStatusStore,
        engine: ComfortEngine | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.bus = bus
        self.status = status
        self.engine = engine
        self.stats = BridgeStats(settings.quarantine_size)
        self._clock = clock
        self._lock = threading.Lock()
        # (device, property, time) -> (first received, value) of timestamped readings
        self._seen: OrderedDict[tuple[str, Property, float], tuple[float, float]] = OrderedDict()
        self._counters: dict[tuple[str, Property], CounterHistory] = {}
        self.adapters: dict[str, Adapter | None] = {}
        for root, name in settings.adapters.items():
            cls = ADAPTERS.get(name)
            if cls is None:
                log.warning("topic root %r: adapter %r is not installed", root, name)
            self.adapters[root.strip("/")] = None if cls is None else cls(root)

    def subscriptions(self) -> list[str]:
        topics: list[str] = []
        for root, adapter in self.adapters.items():
            topics.extend(adapter.subscriptions() if adapter else [f"{root}/#"])
        return topics

    def adapter_for(self, name: str) -> Adapter | None:
        return next((a for a in self.adapters.values() if a and a.name == name), None)

    # -- input --------------------------------------------------------------------------------
    def handle(self, topic: str, payload: bytes) -> list[Reading]:
        """Handle one MQTT message; returns the readings it produced. Never raises."""
        received = self._clock()
        self.stats.add("messages")
        if len(payload) > self.settings.max_payload_bytes:  # never parsed
            detail = f"{len(payload)} bytes (max {self.settings.max_payload_bytes})"
            self.reject(RejectReason.PAYLOAD_TOO_LARGE, detail, topic, payload, received)
            return []
        try:
            return self._handle(topic, payload, received)
        except RejectedMessage as exc:
            self.reject(RejectReason(exc.reason), exc.detail, topic, payload, received)
        except Exception as exc:  # a bug in an adapter or a subscriber must not stop the bridge
            log.exception("handling %s failed", topic)
            self.reject(RejectReason.INTERNAL_ERROR, repr(exc), topic, payload, received)
        return []

    def reject(
        self, reason: RejectReason, detail: str, topic: str, payload: bytes, received_s: float
    ) -> None:
        entry = {
            "time_s": received_s,
            "topic": topic,
            "reason": reason.value,
            "detail": detail[:300],
            "payload": payload[:300].decode("utf-8", "replace"),
        }
        self.stats.reject(entry)
        log.debug("rejected %s: %s %s", topic, reason.value, detail)
        try:
            self.bus.publish(QUARANTINE_TOPIC, topic, entry)
        except Exception:
            log.exception("publishing a quarantine entry failed")

    def _check_time(self, stamp: float, received: float) -> None:
        cfg = self.settings
        if not math.isfinite(stamp):
            raise RejectedMessage(RejectReason.MALFORMED_PAYLOAD, f"time {stamp!r} is no time")
        if stamp - received > cfg.max_future_s:
            raise RejectedMessage(
                RejectReason.CLOCK_SKEW_FUTURE,
                f"time {stamp:.0f} is {stamp - received:.0f} s ahead (max {cfg.max_future_s:g})",
            )
        if received - stamp > cfg.max_past_s:
            raise RejectedMessage(
                RejectReason.CLOCK_SKEW_PAST,
                f"time {stamp:.0f} is {received - stamp:.0f} s old (max {cfg.max_past_s:g})",
            )

    def _admit(
        self, reading: Reading, received: float, timestamped: bool
    ) -> tuple[RejectReason, str] | None:
        """Why ``reading`` is refused, else None (and it is remembered), under one lock:

        - a timestamped reading seen before (same device, property and time: the parsed
          reading, so reordered keys or another spelling of one message are the same reading)
          is a ``duplicate`` within ``duplicate_window_s``, later ``replayed``;
        - an energy counter below the device's reading just before it, or above the one just
          after it, is ``counter_decreased``.
        """
        cfg = self.settings
        key = (reading.device_id, reading.property, reading.time_s)
        with self._lock:
            seen = self._seen.get(key) if timestamped else None
            if seen is None and reading.property in COUNTER_PROPERTIES:
                history = self._counters.get(key[:2])
                if history is None:
                    history = self._counters[key[:2]] = CounterHistory()
                other = history.conflict(reading.time_s, reading.value)
                if other is None:
                    history.add(reading.time_s, reading.value)
            else:
                other = None
            if seen is None and other is None and timestamped:
                self._seen[key] = (received, reading.value)
                while len(self._seen) > cfg.dedup_capacity:
                    self._seen.popitem(last=False)
                while self._seen:
                    oldest = next(iter(self._seen.values()))[0]
                    if received - oldest <= cfg.max_past_s:
                        break
                    self._seen.popitem(last=False)
        if seen is not None:
            first, value = seen
            age = received - first
            reason = (
                RejectReason.DUPLICATE if age <= cfg.duplicate_window_s else RejectReason.REPLAYED
            )
            differs = "" if value == reading.value else f" (then {value:g}, now {reading.value:g})"
            return reason, (
                f"{reading.device_id} {reading.property.value} at {reading.time_s:.3f} first "
                f"received {age:.1f} s ago{differs}"
            )
        if other is not None:
            when, value = other
            relation = "below the earlier" if when < reading.time_s else "above the later"
            return RejectReason.COUNTER_DECREASED, (
                f"{reading.device_id}: {reading.property.value} {reading.value:g} Wh at "
                f"{reading.time_s:.0f} is {relation} {value:g} Wh at {when:.0f}: a counter only "
                "rises"
            )
        return None

    def _handle(self, topic: str, payload: bytes, received: float) -> list[Reading]:
        root = topic.split("/", 1)[0]
        if root not in self.adapters:
            raise RejectedMessage(RejectReason.UNKNOWN_ADAPTER, f"no adapter for root {root!r}")
        adapter = self.adapters[root]
        if adapter is None:
            raise RejectedMessage(
                RejectReason.UNKNOWN_ADAPTER,
                f"adapter {self.settings.adapters.get(root)!r} for {root!r} is not installed",
            )
        decoded = adapter.decode(topic, payload, self.registry)
        if decoded.ignore:
            self.stats.add("ignored")
            return []
        device = decoded.device
        if device is None:
            raise RejectedMessage(
                RejectReason.UNKNOWN_DEVICE,
                f"{adapter.name} device {decoded.address!r} is not registered",
            )
        if decoded.availability is not None:
            self.status.set_availability(device, decoded.availability, received)
            self.stats.add("accepted")
            return []
        time_s = received
        timestamped = decoded.time_s is not None
        if decoded.time_s is not None:
            self._check_time(decoded.time_s, received)
            time_s = decoded.time_s
        for reason, detail in decoded.problems:
            self.reject(reason, f"{device.device_id}: {detail}", topic, payload, received)
        readings: list[Reading] = []
        for raw in decoded.values:
            try:
                value = to_canonical(raw.property, raw.value, raw.unit)
            except UnitError as exc:
                self.reject(
                    RejectReason.WRONG_UNIT, f"{device.device_id}: {exc}", topic, payload, received
                )
                continue
            bad = check_plausible(raw.property, value)
            if bad is not None:
                detail = f"{device.device_id}: {raw.property.value} = {value:g} " + (
                    CANONICAL_UNIT[raw.property].value
                )
                self.reject(bad, detail, topic, payload, received)
                continue
            reading = Reading(
                device.device_id, raw.property, value, CANONICAL_UNIT[raw.property], time_s
            )
            refused = self._admit(reading, received, timestamped)
            if refused is not None:
                self.reject(refused[0], refused[1], topic, payload, received)
                continue
            readings.append(reading)
        if not readings:
            if not decoded.values and not decoded.problems:
                self.stats.add("ignored")  # e.g. openHAB NULL, a payload of other keys only
            return []
        self.status.update(device, readings, received)
        for r in readings:
            message = r.to_dict()
            message["household_id"] = device.household_id
            message["adapter"] = adapter.name
            self.bus.publish(READINGS_TOPIC, device.device_id, message)
        self.stats.add("readings", len(readings))
        self.stats.add("accepted")
        if self.engine is not None:
            self.engine.on_readings(device, readings)
        return readings


class BridgeService:
    """The running bridge: an MQTT client feeding :class:`Bridge`, plus the rules' timer.

    ``with BridgeService(settings, registry=..., bus=...) as service: ...`` connects,
    subscribes (returns once the broker acknowledged the subscriptions) and stops on exit.
    """

    def __init__(
        self,
        settings: BridgeSettings | None = None,
        *,
        registry: DeviceRegistry,
        bus: Bus,
        rules: RuleConfig | None = None,
        preferences: Iterable[Preferences] = (),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings or BridgeSettings()
        self.registry = registry
        self.bus = bus
        self.status = DeviceStatusStore(
            registry, offline_after_s=self.settings.offline_after_s, clock=clock
        )
        rule_config = rules or RuleConfig(interval_s=self.settings.rule_interval_s)
        self.engine = ComfortEngine(
            registry, self.status, self._send_command, self._send_advice, rule_config, clock
        )
        self.bridge = Bridge(self.settings, registry, bus, self.status, self.engine, clock)
        self._initial_prefs = list(preferences)
        self._client: mqtt.Client | None = None
        self._ready = threading.Event()
        self._connect_error: str | None = None
        self._stop = threading.Event()
        self._timer: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------------------
    def _make_client(self) -> mqtt.Client:
        s = self.settings
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=s.client_id, protocol=mqtt.MQTTv311
        )
        if s.username is not None:
            client.username_pw_set(s.username, s.password)
        if s.mqtt_tls:
            client.tls_set(
                ca_certs=str(s.ca_file) if s.ca_file else None,
                certfile=str(s.cert_file) if s.cert_file else None,
                keyfile=str(s.key_file) if s.key_file else None,
                cert_reqs=ssl.CERT_REQUIRED,
                tls_version=ssl.PROTOCOL_TLS_CLIENT,
            )
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        client.on_disconnect = self._on_disconnect
        return client

    def start(self, timeout_s: float = 10.0) -> BridgeService:
        """Connect, subscribe and start the rules' timer; :class:`BrokerError` if it fails."""
        s = self.settings
        client = self._make_client()
        self._ready.clear()
        self._connect_error = None
        try:
            client.connect(s.mqtt_host, s.mqtt_port, keepalive=30)
        except (OSError, ssl.SSLError) as exc:
            raise BrokerError(f"cannot connect to {s.mqtt_host}:{s.mqtt_port}: {exc}") from exc
        self._client = client
        client.loop_start()
        if not self._ready.wait(timeout_s) or self._connect_error:
            self.stop()
            raise BrokerError(
                f"MQTT broker {s.mqtt_host}:{s.mqtt_port} did not accept the bridge: "
                f"{self._connect_error or 'timed out'}"
            )
        for prefs in self._initial_prefs:
            self.engine.set_preferences(prefs)
        self._stop.clear()
        self._timer = threading.Thread(target=self._run_timer, name="comfort-rules", daemon=True)
        self._timer.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._timer is not None:
            self._timer.join(5)
            self._timer = None
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()
            self._client = None

    def __enter__(self) -> BridgeService:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run_timer(self) -> None:
        while not self._stop.wait(self.engine.config.interval_s):
            try:
                self.engine.tick()
            except Exception:
                log.exception("comfort rules timer failed")

    # -- paho callbacks -----------------------------------------------------------------------
    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any = None
    ) -> None:
        if reason.is_failure:
            self._connect_error = str(reason)
            self._ready.set()
            return
        topics = [(t, self.settings.qos) for t in self.bridge.subscriptions()]
        client.subscribe(topics)

    def _on_subscribe(
        self, client: mqtt.Client, userdata: Any, mid: int, codes: Any, props: Any = None
    ) -> None:
        failed = [c for c in codes if c.is_failure]
        if failed:
            self._connect_error = f"subscription refused: {failed}"
        self._ready.set()

    def _on_disconnect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any = None
    ) -> None:
        if not self._ready.is_set():  # dropped during the handshake (e.g. TLS refused)
            self._connect_error = f"disconnected before subscribing: {reason}"
            self._ready.set()
            return
        if reason.is_failure and not self._stop.is_set():
            log.warning("bridge disconnected from the broker (%s); paho reconnects", reason)

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        self.bridge.handle(msg.topic, bytes(msg.payload))

    # -- outputs ------------------------------------------------------------------------------
    def _send_command(self, command: Command) -> None:
        stats = self.bridge.stats
        try:
            device = self.registry.get(command.device_id)
            adapter = self.bridge.adapter_for(device.adapter)
            if adapter is None:
                raise BrokerError(f"no adapter {device.adapter!r} to command {device.device_id}")
            client = self._client
            if client is None:
                raise BrokerError("the bridge is not connected")
            for topic, payload in adapter.encode(device, command):
                client.publish(topic, payload, qos=self.settings.qos)
                self.bus.publish(
                    COMMANDS_TOPIC, device.device_id, {**command.to_dict(), "topic": topic}
                )
            stats.add("commands")
        except Exception:
            stats.add("command_errors")
            log.exception("sending %s failed", command)

    def _send_advice(self, advice: Advice) -> None:
        self.bus.publish(ADVICE_TOPIC, advice.household_id, advice.to_dict())
        self.bridge.stats.add("advice")

    # -- API ----------------------------------------------------------------------------------
    def set_preferences(self, prefs: Preferences) -> list[Command]:
        """Apply a household's preferences now; returns the commands it caused."""
        return self.engine.set_preferences(prefs)

    def set_flex_shift(self, household_id: str, flex: FlexShift) -> list[Command]:
        """Flexibility hook: shift a household's setpoints within its comfort band."""
        return self.engine.set_flex_shift(household_id, flex)

    def stats(self) -> dict[str, Any]:
        """Counters (messages, readings, rejections per reason, ...) and the last rejections."""
        snap = self.bridge.stats.snapshot()
        snap["quarantine"] = list(self.bridge.stats.quarantine)[-20:]
        snap["devices"] = len(self.registry)
        snap["online"] = len(self.status.list(online=True))
        return snap
