"""Community simulator: the real CityLearn 2022 homes as virtual Zigbee2MQTT gateways.

Each virtual home replays one of the 17 measured homes (hourly equipment load kWh and PV
generation W/kW x the home's kWp, :mod:`analytics.data.citylearn`) at the publishing cadence
(``publish_period_s``, default 60 s), at accelerated time (``speed`` simulated seconds per
wall second), and publishes what a Zigbee2MQTT smart-meter plug publishes on
``zigbee2mqtt/<home>/meter``::

    {"energy": 1234.567, "produced_energy": 12.345, "power": 412.3, "time_s": 1764150000}

(``energy``/``produced_energy``: import/export counters in kWh with Wh resolution; ``power``:
net import W with measurement noise; ``time_s``: the simulated instant.) More than 17 homes
are made by resampling: home *i* replays building ``i mod 17`` (shuffled), scaled by a
random factor and shifted by a few hours, so 1,000 homes are not 59 copies of each other.

Realism: consumption varies from minute to minute around the hourly mean (log-normal noise,
``noise``); power readings carry meter noise; gateways drop out (``gap_rate`` per step starts an
outage of 2 to 10 steps: the instantaneous messages of an outage are lost, its 15-minute
register readings are buffered and arrive late when it ends, as a smart meter's load profile
does); any message may be delayed (``late_rate``, by ``late_delay_s``). Register readings at
the interval boundaries are never lost, so the energy of every interval is recoverable, which
is what :attr:`SimulationResult.truth` (the energy each meter really measured per interval)
lets a test check end to end.

Simulated time ends in the past by default (``start_s`` = now minus the duration minus an
hour): the chain refuses commitments of intervals that have not ended by its own clock.

It lives in ``oracles/`` rather than ``analytics/`` because it exists to feed the data-in path
(bridge -> oracle -> chain) and its ground truth is phrased in the oracle's terms (meter id,
interval start, import/export Wh); it depends on the bridge only for the device list.
"""

from __future__ import annotations

import heapq
import json
import math
import random
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import paho.mqtt.client as mqtt

from analytics.data.citylearn import homes as citylearn_homes
from analytics.data.citylearn import load_home
from core.units import INTERVAL_S, interval_start
from gateway_bridge.domain import Device, DeviceRole
from gateway_bridge.errors import BrokerError

HOMES_PER_CLIENT = 250
YEAR_H = 8760


@dataclass(frozen=True)
class SimClock:
    """Simulated time: ``start_s`` at wall time ``wall_epoch_s``, running ``speed`` times faster."""

    start_s: float
    speed: float
    wall_epoch_s: float = field(default_factory=time.time)

    def now(self) -> float:
        return self.start_s + (time.time() - self.wall_epoch_s) * self.speed

    def wall_until(self, sim_s: float) -> float:
        """Wall seconds until the simulated instant ``sim_s`` (negative if past)."""
        return (sim_s - self.now()) / self.speed

    def to_dict(self) -> dict[str, float]:
        return {"start_s": self.start_s, "speed": self.speed, "wall_epoch_s": self.wall_epoch_s}


@dataclass(frozen=True)
class VirtualHome:
    """One simulated household and the measured home it replays."""

    home_id: str
    source: str  # CityLearn building, e.g. Building_3
    pv_kw: float
    scale: float  # multiplies load and PV
    shift_h: int  # hours of offset into the year of data

    @property
    def device_id(self) -> str:
        """The meter's device id (also its meter id on-chain)."""
        return f"{self.home_id}-meter"

    @property
    def address(self) -> str:
        """Zigbee2MQTT friendly name."""
        return f"{self.home_id}/meter"


def make_homes(count: int, seed: int = 0) -> list[VirtualHome]:
    """``count`` virtual homes (1 to 1,000): the 17 real ones first, then resampled ones."""
    if not 1 <= count <= 1000:
        raise ValueError(f"homes must be between 1 and 1000, got {count}")
    real = citylearn_homes(fetch=False)
    rng = random.Random(seed)
    out = []
    for i in range(count):
        info = real[i % len(real)]
        first_round = i < len(real)
        out.append(
            VirtualHome(
                home_id=f"h{i + 1:04d}",
                source=info.home_id,
                pv_kw=info.pv_kw,
                scale=1.0 if first_round else round(rng.uniform(0.6, 1.4), 3),
                shift_h=0 if first_round else rng.randint(-6, 6),
            )
        )
    return out


def meter_ids(homes: list[VirtualHome]) -> dict[str, str]:
    """Device id -> on-chain meter id: the 17 real homes get the demo community's registry
    meter ids (``citylearn-2022/Building_k``, see ``bright.demo``), resampled ones their
    device id."""
    return {
        h.device_id: (
            f"citylearn-2022/{h.source}" if h.scale == 1.0 and h.shift_h == 0 else h.device_id
        )
        for h in homes
    }


def site_devices(homes: list[VirtualHome], base_topic: str = "zigbee2mqtt") -> list[Device]:
    """The bridge's device list for ``homes`` (a meter per home)."""
    del base_topic  # the bridge maps topic roots to adapters; the address is what matters
    return [
        Device(
            device_id=h.device_id,
            household_id=h.home_id,
            adapter="zigbee2mqtt",
            address=h.address,
            role=DeviceRole.METER,
        )
        for h in homes
    ]


@dataclass
class SimulationResult:
    """What was simulated and published."""

    start_s: int
    end_s: int
    homes: list[VirtualHome]
    truth: dict[tuple[str, int], tuple[int, int]]
    """(meter id, interval start) -> (import Wh, export Wh) the meter registered."""
    published: int = 0
    lost: int = 0
    late: int = 0
    wall_s: float = 0.0

    def summary(self) -> dict[str, object]:
        return {
            "homes": len(self.homes),
            "start_s": self.start_s,
            "end_s": self.end_s,
            "intervals": (self.end_s - self.start_s) // INTERVAL_S,
            "published": self.published,
            "lost": self.lost,
            "late": self.late,
            "wall_s": round(self.wall_s, 2),
        }


class _Meter:
    """Counters and hourly data of one virtual home."""

    def __init__(self, home: VirtualHome, load_w: np.ndarray, pv_w: np.ndarray, rng_seed: int):
        self.home = home
        self.load_w = load_w
        self.pv_w = pv_w
        self.rng = random.Random(rng_seed)
        self.import_acc = self.rng.uniform(1e5, 5e6)  # Wh already on the register
        self.export_acc = self.rng.uniform(0, 1e6) if home.pv_kw > 0 else 0.0
        self.outage_left = 0
        self.buffered: list[tuple[float, str, bytes]] = []

    def registers(self) -> tuple[int, int]:
        """The register readings as the meter shows them, integer Wh."""
        return math.floor(self.import_acc), math.floor(self.export_acc)


def _hour_row(time_s: float, origin_s: float, shift_h: int) -> int:
    return (int((time_s - origin_s) // 3600) + shift_h) % YEAR_H


def simulate(
    homes: int = 17,
    speed: float = 60.0,
    duration_s: int = 3600,
    start_s: int | None = None,
    *,
    mqtt_host: str = "127.0.0.1",
    mqtt_port: int = 1883,
    base_topic: str = "zigbee2mqtt",
    publish_period_s: int = 60,
    noise: float = 0.15,
    power_noise: float = 0.02,
    gap_rate: float = 0.01,
    late_rate: float = 0.02,
    late_delay_s: tuple[float, float] = (300.0, 1800.0),
    seed: int = 0,
    clock: SimClock | None = None,
    stop: threading.Event | None = None,
    progress: Callable[[str], None] | None = None,
    delivery: Callable[[int], Mapping[str, int]] | None = None,
    resume: Mapping[str, tuple[float, float, float | None]] | None = None,
    net_w: Callable[[str, float], float | None] | None = None,
) -> SimulationResult:
    """Publish the homes' meter messages on MQTT at accelerated time; see the module docstring.

    ``duration_s`` is rounded up to whole intervals; ``start_s`` (aligned to 900 s) defaults
    to now minus the duration minus one hour. ``clock`` (default: a :class:`SimClock` from
    ``start_s`` at ``speed``) is shared with the bridge and the oracle in a simulation. Returns
    when the last (late) message is published, or when ``stop`` is set.

    ``delivery`` is the homes' response to flexibility targets: called once per interval,
    when the simulation reaches its start, with the interval's start (unix s), it returns
    ``{device_id: Wh}``, the change of that meter's net import over the interval (negative:
    less load or more export, as an upward request asks). The change is spread evenly over
    the interval's publishing steps, so the interval's metered net energy moves by exactly
    that much (to the Wh rounding of the registers); the noise is unchanged.

    ``net_w(device_id, time_s)``: where it returns a value (W), the home's net import in
    business as usual comes from it (e.g. a controlled thermal twin's physics) instead of the
    replayed load less PV; the noise and ``delivery`` apply to it the same way.

    ``resume`` (``{device_id: (time_s, import Wh, export Wh or None)}``: each meter's last
    reading an earlier run published, e.g. :meth:`oracles.state.OracleState.last_counters`)
    makes a restarted simulation go on where the meters were: their registers start from those
    readings (a counter only rises: starting again from the seeded registers, every reading
    after a restart was refused as going backwards), and nothing is published again for the
    time up to them.
    """
    if INTERVAL_S % publish_period_s:
        raise ValueError(f"publish_period_s must divide 900, got {publish_period_s}")
    if speed <= 0:
        raise ValueError(f"speed must be > 0, got {speed}")
    duration_s = math.ceil(duration_s / INTERVAL_S) * INTERVAL_S
    if start_s is None:
        start_s = interval_start(time.time() - duration_s - 3600)
    if start_s % INTERVAL_S:
        raise ValueError(f"start_s must be a multiple of 900, got {start_s}")
    clock = clock or SimClock(float(start_s), speed)
    say = progress or (lambda msg: print(msg, file=sys.stderr))
    virtual = make_homes(homes, seed)
    frames = {src: load_home(src, fetch=False) for src in {h.source for h in virtual}}
    origin_s = next(iter(frames.values())).index[0].timestamp()
    rng = random.Random(seed)
    meters = [
        _Meter(
            h,
            frames[h.source]["load_kwh"].to_numpy() * 1000.0 * h.scale,
            frames[h.source]["pv_kwh"].to_numpy() * 1000.0 * h.scale,
            rng.randrange(2**32),
        )
        for h in virtual
    ]
    resume_at: dict[str, float] = {}
    for m in meters:
        last = (resume or {}).get(m.home.device_id)
        if last is not None:
            resume_at[m.home.device_id] = last[0]
            m.import_acc = last[1]
            if last[2] is not None:
                m.export_acc = last[2]
    end_s = start_s + duration_s
    result = SimulationResult(start_s, end_s, virtual, {})
    clients = _connect(mqtt_host, mqtt_port, math.ceil(homes / HOMES_PER_CLIENT), seed)
    queue: list[tuple[float, int, str, bytes, int]] = []  # (deliver at, seq, topic, payload, home)
    seq = 0
    delivery_s = -1
    offsets_w: dict[str, float] = {}
    boundary_registers: dict[str, tuple[int, int]] = {}
    wall0 = time.time()
    try:
        t = float(start_s)
        step = publish_period_s
        while t <= end_s or queue:
            if stop is not None and stop.is_set():
                break
            if t <= end_s:
                at_boundary = t % INTERVAL_S == 0
                if delivery is not None and interval_start(t) != delivery_s:
                    delivery_s = interval_start(t)
                    offsets_w = _delivery_w(delivery, delivery_s)
                for i, m in enumerate(meters):
                    resumes = resume_at.get(m.home.device_id)
                    # published before the restart (the registers hold its last reading)
                    silent = resumes is not None and t <= resumes
                    if resumes is not None and silent and t + step <= resumes:
                        continue
                    imp, exp = m.registers()
                    if at_boundary and not silent:
                        key = m.home.device_id
                        prev = boundary_registers.get(key)
                        if prev is not None:
                            result.truth[(key, int(t) - INTERVAL_S)] = (
                                imp - prev[0],
                                exp - prev[1],
                            )
                        boundary_registers[key] = (imp, exp)
                    row = _hour_row(t, origin_s, m.home.shift_h)
                    load = m.load_w[row] * m.rng.lognormvariate(-(noise**2) / 2, noise)
                    pv = m.pv_w[row]
                    given = net_w(m.home.device_id, t) if net_w is not None else None
                    if given is not None:
                        load, pv = given * m.rng.lognormvariate(-(noise**2) / 2, noise), 0.0
                    home_w = load - pv + offsets_w.get(m.home.device_id, 0.0)
                    payload: dict[str, object] = {
                        "energy": round(imp / 1000.0, 3),
                        "power": round(max(home_w, 0.0) * (1 + m.rng.gauss(0, power_noise)), 1),
                        "time_s": int(t),
                        "linkquality": m.rng.randint(40, 200),
                    }
                    if m.home.pv_kw > 0:
                        payload["produced_energy"] = round(exp / 1000.0, 3)
                    body = json.dumps(payload).encode()
                    topic = f"{base_topic}/{m.home.address}"
                    deliver = t
                    if not silent:
                        if m.outage_left == 0 and m.rng.random() < gap_rate:
                            m.outage_left = m.rng.randint(2, 10)
                        if m.outage_left > 0:
                            m.outage_left -= 1
                            if at_boundary:
                                m.buffered.append((t, topic, body))
                            else:
                                result.lost += 1
                            if m.outage_left == 0:  # reconnects: the buffered registers arrive
                                for _, b_topic, b_body in m.buffered:
                                    heapq.heappush(queue, (t + step, seq, b_topic, b_body, i))
                                    seq += 1
                                    result.late += 1
                                m.buffered.clear()
                        else:
                            if m.rng.random() < late_rate:
                                deliver = t + m.rng.uniform(*late_delay_s)
                                result.late += 1
                            heapq.heappush(queue, (deliver, seq, topic, body, i))
                            seq += 1
                    # energy of the coming step
                    m.import_acc += max(home_w, 0.0) * step / 3600.0
                    m.export_acc += max(-home_w, 0.0) * step / 3600.0
                    if t + step > end_s and m.buffered:  # the run ends during an outage
                        for _, b_topic, b_body in m.buffered:
                            heapq.heappush(queue, (t + step, seq, b_topic, b_body, i))
                            seq += 1
                            result.late += 1
                        m.buffered.clear()
                t += step
            else:
                t = queue[0][0]
            # publish everything due by the next step's simulated time
            horizon = min(t, end_s + step) if t <= end_s else t
            while queue and queue[0][0] <= horizon:
                deliver, _, topic, body, i = heapq.heappop(queue)
                # in steps: a clock that follows the chain may jump forward meanwhile
                wait = clock.wall_until(deliver)
                while wait > 0 and not (stop is not None and stop.is_set()):
                    time.sleep(wait)
                    wait = clock.wall_until(deliver)
                clients[i // HOMES_PER_CLIENT].publish(topic, body, qos=1)
                result.published += 1
            if int(t - start_s) % 3600 == 0 and t <= end_s:
                say(
                    f"simulated {(t - start_s) / 3600:.0f} h of {homes} homes: "
                    f"{result.published} messages"
                )
    finally:
        for c in clients:
            c.loop_stop()
            c.disconnect()
    result.wall_s = time.time() - wall0
    return result


def _delivery_w(delivery: Callable[[int], Mapping[str, int]], interval_s: int) -> dict[str, float]:
    """The interval's net-import changes as constant power, W (Wh per 900 s)."""
    try:
        changes = delivery(interval_s)
    except Exception as exc:  # the homes keep metering whatever the coordination does
        print(f"simulator: no delivery targets for {interval_s}: {exc}", file=sys.stderr)
        return {}
    return {device: float(wh) * 3600.0 / INTERVAL_S for device, wh in changes.items()}


def _connect(host: str, port: int, count: int, seed: int) -> list[mqtt.Client]:
    clients = []
    for k in range(count):
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=f"bright-sim-{seed}-{k}-{time.time_ns() % 10**9}",
            protocol=mqtt.MQTTv311,
        )
        client.max_queued_messages_set(0)
        client.max_inflight_messages_set(1000)
        try:
            client.connect(host, port, keepalive=30)
        except OSError as exc:
            raise BrokerError(f"the simulator cannot reach MQTT at {host}:{port}: {exc}") from exc
        client.loop_start()
        clients.append(client)
    return clients
