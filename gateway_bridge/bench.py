"""``bench_gateway``: the bridge's throughput and latencies on a real Mosquitto.

Measured in one process, on a broker started for the run (loopback, no persistence):

- **baseline**: a raw paho publisher -> broker -> paho subscriber, no bridge (burst rate and
  paced latency), the floor the bridge is compared with;
- **bridge burst**: ``messages`` Zigbee2MQTT meter messages (2 readings each, timestamped so
  the duplicate check runs) published as fast as possible; rate = messages / (last status
  update - first publish). With one Python publisher in the same process this is bounded by
  the publisher (the baseline shows the same bound), so the bridge's own capacity is also
  measured without the network (``handler_only_msgs_per_s``: :meth:`Bridge.handle` in a loop);
- **status latency**: paced messages (``rate_per_s``), time from publish until the device
  status query (:meth:`DeviceStatusStore.get`) returns the new value;
- **command latency**: time from a preference change until the boiler's command arrives on
  MQTT at a separate subscriber.

Targets (the specification allows 30 s and 1 s): status p99 < 1 s, command p99 < 100 ms.
Progress goes to stderr; the result is one JSON-serialisable dict.
"""

from __future__ import annotations

import json
import queue
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from core.benchutil import peak_rss_mb, percentile
from gateway_bridge.broker import MosquittoBroker, free_port
from gateway_bridge.domain import (
    ComfortMode,
    Device,
    DeviceRegistry,
    DeviceRole,
    Preferences,
    Property,
    Reading,
)
from gateway_bridge.service import BridgeService
from gateway_bridge.settings import BridgeSettings
from streams.bus import InProcessBus

STATUS_TARGET_MS = 1000.0
COMMAND_TARGET_MS = 100.0


def _progress(text: str) -> None:
    print(f"[bench gateway] {text}", file=sys.stderr, flush=True)


def _client(port: int, name: str) -> mqtt.Client:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=name)
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", port)
    client.loop_start()
    return client


def _subscribe(client: mqtt.Client, topic: str) -> None:
    done = threading.Event()
    client.on_subscribe = lambda *a: done.set()
    client.subscribe(topic, qos=0)
    if not done.wait(5):
        raise RuntimeError(f"subscription to {topic} not acknowledged")


def _summary(samples_s: list[float]) -> dict[str, float | int]:
    ms = [s * 1000 for s in samples_s]
    return {
        "samples": len(ms),
        "p50": round(percentile(ms, 50), 3),
        "p99": round(percentile(ms, 99), 3),
        "max": round(max(ms), 3),
    }


def _payload(i: int, t0: float) -> bytes:
    """Message ``i``: its energy counter is ``i`` kWh at ``t0 + i`` ms, so one sequence of
    ``i`` over all phases keeps every meter's counter rising (the bridge refuses a counter
    that falls)."""
    body = {"power": 100 + i % 3000, "energy": float(i), "time_s": t0 + i * 1e-3}
    return json.dumps(body).encode()


def _raw_baseline(port: int, messages: int, samples: int, rate: float) -> dict[str, Any]:
    """paho publish -> Mosquitto -> paho subscriber, without the bridge."""
    sub, pub = _client(port, "bench-raw-sub"), _client(port, "bench-raw-pub")
    received: dict[int, float] = {}
    done = threading.Event()
    expected = [messages]

    def on_message(c: mqtt.Client, u: Any, msg: mqtt.MQTTMessage) -> None:
        i = int(json.loads(msg.payload)["energy"])  # parse as the bridge would have to
        received[i] = time.perf_counter()
        if len(received) >= expected[0]:
            done.set()

    sub.on_message = on_message
    _subscribe(sub, "bench/raw/#")
    t0 = time.time() - 60
    start = time.perf_counter()
    for i in range(messages):
        pub.publish(f"bench/raw/{i % 100}", _payload(i, t0), qos=0)
    done.wait(120)
    last = max(received.values()) if received else time.perf_counter()
    burst = {
        "received": len(received),
        "msgs_per_s": round(len(received) / (last - start), 1),
    }
    received.clear()
    done.clear()
    expected[0] = samples
    sent: dict[int, float] = {}
    for i in range(samples):
        sent[i] = time.perf_counter()
        pub.publish(f"bench/raw/{i % 100}", _payload(i, t0), qos=0)
        time.sleep(1 / rate)
    done.wait(10)
    latency = [received[i] - sent[i] for i in sent if i in received]
    for c in (sub, pub):
        c.disconnect()
        c.loop_stop()
    return {**burst, "latency_ms": _summary(latency)}


def bench_gateway(
    messages: int = 20000,
    *,
    devices: int = 100,
    latency_samples: int = 1000,
    rate_per_s: float = 500.0,
    preference_changes: int = 200,
) -> dict:
    """Messages/s through the bridge, p99 publish -> status served, p99 preference change ->
    device command on MQTT, against a raw paho loop measured in the same run."""
    with tempfile.TemporaryDirectory(prefix="bright-bench-mqtt-") as tmp:
        broker = MosquittoBroker(Path(tmp), port=free_port(), persistence=False)
        broker.start()
        try:
            return _run(broker.port, messages, devices, latency_samples, rate_per_s,
                        preference_changes)  # fmt: skip
        finally:
            broker.stop()


def _run(
    port: int, messages: int, devices: int, samples: int, rate: float, pref_changes: int
) -> dict:
    _progress(f"baseline: raw paho loop, {messages} messages")
    raw = _raw_baseline(port, messages, samples, rate)
    _progress(f"baseline: {raw['msgs_per_s']} msg/s, p99 {raw['latency_ms']['p99']} ms")

    registry = DeviceRegistry(
        [
            Device(device_id=f"m{i}", household_id=f"h{i}", adapter="zigbee2mqtt",
                   address=f"bench{i}/meter", role=DeviceRole.METER)
            for i in range(devices)
        ]
        + [
            Device(device_id="boiler0", household_id="h0", adapter="zigbee2mqtt",
                   address="bench0/boiler", role=DeviceRole.BOILER)
        ]
    )  # fmt: skip
    bus = InProcessBus(check_json=True)
    readings_on_bus = [0]
    bus.subscribe(
        "meter.readings", lambda k, v: readings_on_bus.__setitem__(0, readings_on_bus[0] + 1)
    )
    settings = BridgeSettings(mqtt_port=port, client_id="bench-bridge", qos=0)
    service = BridgeService(settings, registry=registry, bus=bus).start()
    store = service.status

    updates = [0]
    update_times: dict[int, float] = {}
    serve = [False]
    all_done = threading.Event()
    target = [messages]
    offset = [0]  # the phase's first message number (numbers go on over the phases)

    def on_update(device: Device, readings: list[Reading]) -> None:
        for r in readings:
            if r.property is Property.ENERGY:
                i = round(r.value / 1000) - offset[0]
                if serve[0]:  # latency phase: the status query must already return it
                    served = store.get(device.device_id)["values"]["energy"]["value"]
                    if served < r.value:
                        continue
                update_times[i] = time.perf_counter()
        updates[0] += 1
        if updates[0] >= target[0]:
            all_done.set()

    store.add_listener(on_update)
    pub = _client(port, "bench-gateway")
    try:
        _progress(f"bridge burst: {messages} Zigbee2MQTT messages over {devices} meters")
        t0 = time.time() - 60 - (2 * messages + samples) * 1e-3  # the last one is 60 s old
        sent: dict[int, float] = {}
        start = time.perf_counter()
        for i in range(messages):
            sent[i] = time.perf_counter()
            pub.publish(f"zigbee2mqtt/bench{i % devices}/meter", _payload(i, t0), qos=0)
        all_done.wait(180)
        last = max(update_times.values()) if update_times else time.perf_counter()
        handled = len(update_times)
        burst_rate = handled / (last - start)
        burst_latency = [update_times[i] - sent[i] for i in sent if i in update_times]
        burst_readings = readings_on_bus[0]
        _progress(f"bridge burst: {burst_rate:.0f} msg/s, {handled}/{messages} received")

        _progress(f"bridge handler alone (no network): {messages} messages")
        offset[0] = messages
        topics = [f"zigbee2mqtt/bench{i}/meter" for i in range(devices)]
        payloads = [_payload(messages + i, t0) for i in range(messages)]
        began = time.perf_counter()
        for i, body in enumerate(payloads):
            service.bridge.handle(topics[(messages + i) % devices], body)
        handler_rate = messages / (time.perf_counter() - began)

        _progress(f"status latency: {samples} messages at {rate:g}/s")
        update_times.clear()
        updates[0] = 0
        target[0] = samples
        all_done.clear()
        serve[0] = True
        offset[0] = 2 * messages
        paced: dict[int, float] = {}
        for i in range(samples):
            paced[i] = time.perf_counter()
            n = 2 * messages + i
            pub.publish(f"zigbee2mqtt/bench{n % devices}/meter", _payload(n, t0), qos=0)
            time.sleep(1 / rate)
        all_done.wait(10)
        status_latency = [update_times[i] - paced[i] for i in paced if i in update_times]

        _progress(f"command latency: {pref_changes} preference changes")
        commands: queue.Queue[tuple[bytes, float]] = queue.Queue()
        watcher = _client(port, "bench-commands")
        watcher.on_message = lambda c, u, m: commands.put((bytes(m.payload), time.perf_counter()))
        _subscribe(watcher, "zigbee2mqtt/bench0/boiler/set")
        command_latency: list[float] = []
        missed = 0
        for k in range(pref_changes):
            economy = k % 2 == 1
            prefs = Preferences(
                household_id="h0", temperature_min_c=19, temperature_max_c=23,
                mode=ComfortMode.ECONOMY if economy else ComfortMode.COMFORT,
            )  # fmt: skip
            expected = 19.0 if economy else 21.0
            began = time.perf_counter()
            service.set_preferences(prefs)
            deadline = began + 2.0
            while True:
                try:
                    body, at = commands.get(timeout=max(0.0, deadline - time.perf_counter()))
                except queue.Empty:
                    missed += 1
                    break
                if json.loads(body).get("current_heating_setpoint") == expected:
                    command_latency.append(at - began)
                    break
        watcher.disconnect()
        watcher.loop_stop()
        stats = service.stats()
    finally:
        pub.disconnect()
        pub.loop_stop()
        service.stop()

    status = _summary(status_latency) if status_latency else {"samples": 0}
    command = _summary(command_latency) if command_latency else {"samples": 0}
    result = {
        "benchmark": "gateway",
        "messages": messages,
        "devices": devices,
        "bridge": {
            "msgs_per_s": round(burst_rate, 1),
            "readings_per_s": round(2 * burst_rate, 1),
            "received": handled,
            "lost": messages - handled,
            "readings_on_bus": burst_readings,
            "handler_only_msgs_per_s": round(handler_rate, 1),
            "burst_latency_ms": _summary(burst_latency) if burst_latency else None,
        },
        "baseline_raw_paho": raw,
        "throughput_ratio_vs_raw": round(burst_rate / raw["msgs_per_s"], 3),
        "status_latency_ms": {**status, "rate_per_s": rate, "target_p99": STATUS_TARGET_MS},
        "status_p99_within_target": status.get("p99", 1e9) < STATUS_TARGET_MS,
        "command_latency_ms": {**command, "missed": missed, "target_p99": COMMAND_TARGET_MS},
        "command_p99_within_target": command.get("p99", 1e9) < COMMAND_TARGET_MS,
        "rejected_total": stats["rejected_total"],
        "peak_rss_mb": peak_rss_mb(),
    }
    _progress("done")
    return result


if __name__ == "__main__":
    print(json.dumps(bench_gateway(int(sys.argv[1]) if len(sys.argv) > 1 else 20000)))
