"""The community simulator: resampled homes, and what it publishes on a real Mosquitto."""

from __future__ import annotations

import contextlib
import json
import queue
import threading
import time

import paho.mqtt.client as mqtt
import pytest

from core.units import INTERVAL_S
from oracles.simulator import SimClock, make_homes, simulate, site_devices


def test_up_to_1000_homes_by_resampling_the_17_real_ones():
    homes = make_homes(1000, seed=3)
    assert len({h.home_id for h in homes}) == 1000
    assert {h.source for h in homes[:17]} == {f"Building_{i}" for i in range(1, 18)}
    assert all(h.scale == 1.0 and h.shift_h == 0 for h in homes[:17])
    resampled = {(h.source, h.scale, h.shift_h) for h in homes[17:]}
    assert len(resampled) > 900  # not 59 copies of each home
    assert make_homes(20, seed=3) == homes[:20]  # deterministic
    devices = site_devices(homes[:2])
    assert [d.address for d in devices] == ["h0001/meter", "h0002/meter"]
    for bad in (0, 1001):
        with pytest.raises(ValueError, match="between 1 and 1000"):
            make_homes(bad)


def test_published_registers_reproduce_the_truth(mqtt_broker):
    received: queue.Queue[tuple[str, dict]] = queue.Queue()
    probe = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="sim-probe")
    subscribed = threading.Event()
    probe.on_subscribe = lambda *a: subscribed.set()
    probe.on_message = lambda c, u, m: received.put((m.topic, json.loads(m.payload)))
    probe.connect("127.0.0.1", mqtt_broker.port)
    probe.loop_start()
    probe.subscribe("zigbee2mqtt/#", qos=1)
    assert subscribed.wait(5)
    start = (int(time.time()) // INTERVAL_S) * INTERVAL_S - 6 * 3600
    result = simulate(
        homes=4,
        speed=7200.0,
        duration_s=3600,
        start_s=start,
        mqtt_port=mqtt_broker.port,
        gap_rate=0.05,
        late_rate=0.1,
        late_delay_s=(120.0, 600.0),
        seed=7,
        progress=lambda msg: None,
    )
    deadline = time.monotonic() + 5
    messages: list[tuple[str, dict]] = []
    while len(messages) < result.published and time.monotonic() < deadline:
        with contextlib.suppress(queue.Empty):
            messages.append(received.get(timeout=0.2))
    probe.loop_stop()
    probe.disconnect()
    assert len(messages) == result.published
    assert result.lost > 0 and result.late > 0
    assert len(result.truth) == 4 * 4  # 4 homes x 4 intervals
    registers: dict[tuple[str, int], tuple[int, int]] = {}
    arrival_order_times = []
    for topic, body in messages:
        home = topic.split("/")[1]
        registers[(home, body["time_s"])] = (
            round(body["energy"] * 1000),
            round(body.get("produced_energy", 0.0) * 1000),
        )
        arrival_order_times.append(body["time_s"])
        assert body["power"] >= 0
    assert arrival_order_times != sorted(arrival_order_times)  # late messages exist
    for (meter, interval), (imp, exp) in result.truth.items():
        home = meter.removesuffix("-meter")
        a, b = registers[(home, interval)], registers[(home, interval + INTERVAL_S)]
        assert (b[0] - a[0], b[1] - a[1]) == (imp, exp)
        assert imp >= 0 and exp >= 0
    assert sum(imp for imp, _ in result.truth.values()) > 0


def _collect(port: int, run) -> list[tuple[str, dict]]:
    received: queue.Queue[tuple[str, dict]] = queue.Queue()
    probe = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"sim-probe-{time.time()}")
    subscribed = threading.Event()
    probe.on_subscribe = lambda *a: subscribed.set()
    probe.on_message = lambda c, u, m: received.put((m.topic, json.loads(m.payload)))
    probe.connect("127.0.0.1", port)
    probe.loop_start()
    probe.subscribe("zigbee2mqtt/#", qos=1)
    assert subscribed.wait(5)
    result = run()
    messages: list[tuple[str, dict]] = []
    deadline = time.monotonic() + 5
    while len(messages) < result.published and time.monotonic() < deadline:
        with contextlib.suppress(queue.Empty):
            messages.append(received.get(timeout=0.2))
    probe.loop_stop()
    probe.disconnect()
    return messages


def test_a_restarted_simulation_goes_on_from_the_meters_last_readings(mqtt_broker):
    """A restart of the demo starts the simulation again an hour back; with the last readings
    the oracle kept, each meter's counters go on from them and nothing up to them is sent
    again (before, the registers started from their seeded values: every reading after a
    restart went backwards and was refused)."""
    start = (int(time.time()) // INTERVAL_S) * INTERVAL_S - 6 * 3600

    def run(resume=None):
        return simulate(
            homes=3, speed=7200.0, duration_s=1800, start_s=start, mqtt_port=mqtt_broker.port,
            gap_rate=0.0, late_rate=0.0, seed=7, progress=lambda msg: None, resume=resume,
        )

    first = _collect(mqtt_broker.port, run)
    last: dict[str, tuple[float, float, float | None]] = {}
    for topic, body in first:
        if body["time_s"] <= start + 900:  # the first run "stopped" a quarter of an hour in
            device = topic.split("/")[1] + "-meter"
            last[device] = (
                float(body["time_s"]),
                body["energy"] * 1000,
                body.get("produced_energy", 0.0) * 1000 if "produced_energy" in body else None,
            )
    assert len(last) == 3
    second = _collect(mqtt_broker.port, lambda: run(resume=last))
    assert second
    for topic, body in second:
        t, imp, exp = last[topic.split("/")[1] + "-meter"]
        assert body["time_s"] > t  # nothing up to the last reading is sent again
        assert body["energy"] * 1000 >= imp  # the counter goes on rising
        if exp is not None:
            assert body["produced_energy"] * 1000 >= exp


def test_sim_clock_runs_at_speed():
    clock = SimClock(start_s=1000.0, speed=600.0)
    time.sleep(0.05)
    assert 1000.0 + 0.04 * 600 < clock.now() < 1000.0 + 1.0 * 600


def test_simulate_command_prints_a_summary(mqtt_broker, tmp_path):
    from typer.testing import CliRunner

    from oracles.cli import app

    sim_file = tmp_path / "sim.json"
    result = CliRunner().invoke(
        app,
        [
            "simulate",
            "--homes",
            "3",
            "--speed",
            "36000",
            "--duration-s",
            "900",
            "--mqtt-port",
            str(mqtt_broker.port),
            "--simulation-file",
            str(sim_file),
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert (summary["homes"], summary["intervals"]) == (3, 1)
    assert summary["published"] == 3 * 16 - summary["lost"]
    assert json.loads(sim_file.read_text())["speed"] == 36000
    from bright.cli import app as bright_app  # errors become one line at the entry point

    bad = CliRunner().invoke(bright_app, ["simulate", "--homes", "0", "--mqtt-port", "1"])
    assert bad.exit_code == 2  # bad input
    assert "between 1 and 1000" in bad.output
