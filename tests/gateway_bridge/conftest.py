"""Fixtures for the gateway bridge: a real Mosquitto (one per session, plain + TLS listeners on
free ports), MQTT probe clients, a small site of devices and a running bridge service."""

from __future__ import annotations

import itertools
import json
import queue
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from gateway_bridge.broker import MosquittoBroker, free_port
from gateway_bridge.domain import Device, DeviceRegistry, DeviceRole
from gateway_bridge.rules import RuleConfig
from gateway_bridge.service import BridgeService
from gateway_bridge.settings import BridgeSettings
from streams.bus import InProcessBus

_ids = itertools.count()


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MosquittoBroker]:
    b = MosquittoBroker(
        tmp_path_factory.mktemp("mosquitto"),
        port=free_port(),
        tls_port=free_port(),
        persistence=False,
    )
    b.start()
    yield b
    b.stop()


class Probe:
    """A paho client that publishes and records what it receives."""

    def __init__(self, port: int | None, subscribe: tuple[str, ...] = (), **tls: Any) -> None:
        assert port is not None
        self.messages: queue.Queue[tuple[str, bytes, float]] = queue.Queue()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"probe-{next(_ids)}")
        if tls:
            self.client.tls_set(**tls)
        self.client.on_message = lambda c, u, m: self.messages.put(
            (m.topic, bytes(m.payload), time.perf_counter())
        )
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *a: subscribed.set()
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        if subscribe:
            self.client.subscribe([(t, 1) for t in subscribe])
            assert subscribed.wait(5), "probe subscription not acknowledged"

    def publish(self, topic: str, payload: object, qos: int = 1) -> None:
        data = payload if isinstance(payload, bytes | str) else json.dumps(payload)
        self.client.publish(topic, data, qos=qos).wait_for_publish(5)

    def expect(self, match: Callable[[str, bytes], bool], timeout_s: float = 5.0) -> bytes:
        """The payload of the first received message that ``match``es (others are dropped)."""
        deadline = time.monotonic() + timeout_s
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("expected MQTT message did not arrive")
            try:
                topic, payload, _ = self.messages.get(timeout=left)
            except queue.Empty:
                continue
            if match(topic, payload):
                return payload

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class Recorder:
    """Records bus messages per topic; ``wait`` blocks until a predicate holds."""

    def __init__(self, bus: InProcessBus, topics: list[str]) -> None:
        self.by_topic: dict[str, list[tuple[str, dict]]] = defaultdict(list)
        self._cond = threading.Condition()
        for topic in topics:
            bus.subscribe(topic, self._handler(topic))

    def _handler(self, topic: str) -> Callable[[str, dict], None]:
        def handle(key: str, value: dict) -> None:
            with self._cond:
                self.by_topic[topic].append((key, value))
                self._cond.notify_all()

        return handle

    def wait(self, topic: str, predicate: Callable[[dict], bool], timeout_s: float = 5.0) -> dict:
        found: list[dict] = []

        def check() -> bool:
            found[:] = [v for _, v in self.by_topic[topic] if predicate(v)]
            return bool(found)

        with self._cond:
            assert self._cond.wait_for(check, timeout_s), f"nothing matching on {topic}"
        return found[-1]


def site_devices() -> list[Device]:
    z, o = "zigbee2mqtt", "openhab"
    return [
        Device(device_id="h1-meter", household_id="h1", adapter=z, address="h1/meter",
               role=DeviceRole.METER),
        Device(device_id="h1-air", household_id="h1", adapter=z, address="h1/air"),
        Device(device_id="h1-boiler", household_id="h1", adapter=z, address="h1/boiler",
               role=DeviceRole.BOILER),
        Device(device_id="h1-dehum", household_id="h1", adapter=z, address="h1/dehum_plug",
               role=DeviceRole.SMART_PLUG, load="dehumidifier"),
        Device(device_id="h2-hp", household_id="h2", adapter=o, address="h2hp",
               role=DeviceRole.HEAT_PUMP),
        Device(device_id="h2-air", household_id="h2", adapter=o, address="h2air"),
        Device(device_id="h2-meter", household_id="h2", adapter=o, address="h2meter",
               role=DeviceRole.METER, items={"H2_Meter_Total": "energy:kWh"}),
    ]  # fmt: skip


@pytest.fixture
def bus() -> InProcessBus:
    return InProcessBus(check_json=True)


@pytest.fixture
def recorder(bus: InProcessBus) -> Recorder:
    return Recorder(
        bus, ["meter.readings", "household.advice", "device.commands", "gateway.quarantine"]
    )


@pytest.fixture
def make_service(
    broker: MosquittoBroker, bus: InProcessBus
) -> Iterator[Callable[..., BridgeService]]:
    started: list[BridgeService] = []

    def make(rules: RuleConfig | None = None, **overrides: object) -> BridgeService:
        values: dict = {"mqtt_port": broker.port, "client_id": f"bridge-{next(_ids)}"}
        values.update(overrides)
        service = BridgeService(
            BridgeSettings(**values), registry=DeviceRegistry(site_devices()), bus=bus,
            rules=rules,
        )  # fmt: skip
        started.append(service.start())
        return service

    yield make
    for service in started:
        service.stop()


@pytest.fixture
def service(make_service: Callable[..., BridgeService]) -> BridgeService:
    return make_service()


@pytest.fixture
def probe(broker: MosquittoBroker) -> Iterator[Probe]:
    p = Probe(broker.port, ("zigbee2mqtt/+/+/set", "openhab/+/command"))
    yield p
    p.close()
