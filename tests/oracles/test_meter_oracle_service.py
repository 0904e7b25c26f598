"""The meter-oracle service: aggregation (units and a property test against the chain),
late readings as corrections, and restart safety (a service killed mid-way and restarted
neither skips an interval nor commits one twice)."""

from __future__ import annotations

import random
import tempfile
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chain.tx import NonceManager
from oracles.aggregation import Direction, MeterSamples, SampleKind
from oracles.errors import OracleStateError
from oracles.service import MeterOracleService
from oracles.settings import OracleSettings
from streams.bus import InProcessBus
from tests.oracles.conftest import past_interval

GRACE_S = 30.0


def reading(device: str, prop: str, value: float, time_s: float) -> dict:
    unit = "Wh" if prop.startswith("energy") else "W"
    return {
        "device_id": device,
        "property": prop,
        "value": value,
        "unit": unit,
        "time_s": time_s,
        "household_id": device,
        "adapter": "zigbee2mqtt",
    }


_open: list[MeterOracleService] = []


@pytest.fixture(autouse=True)
def _close_services():
    """Each service holds its key's lease until closed (as a process does until it exits)."""
    yield
    while _open:
        _open.pop().close()


def make_service(oracles, state_dir: Path, **overrides) -> MeterOracleService:
    adopt = overrides.pop("adopt_chain", False)
    cfg = OracleSettings(grace_s=GRACE_S, max_wait_s=0.0, **overrides)
    service = MeterOracleService(
        oracles.meter(oracles.oracle),
        oracles.oracle,
        cfg,
        state_dir=state_dir,
        clock=lambda: 0.0,
        adopt_chain=adopt,
    )
    _open.append(service)
    return service


# -- aggregation (pure) ---------------------------------------------------------------------
def test_counter_energy_is_exact_at_boundaries_and_interpolated_between():
    m = MeterSamples()
    for t, wh in [(0, 1000.0), (300, 1100.0), (900, 1400.0), (1500, 1700.0), (2100, 2000.0)]:
        m.add(Direction.IMPORT, SampleKind.COUNTER, t, wh)
    assert m.interval(0) == (400, 0, True)
    # 1800 lies between 1500 and 2100: interpolated 1850
    assert m.interval(900) == (450, 0, True)
    assert m.interval(1800) == (150, 0, False)  # nothing at or after 2700: estimate
    assert m.interval(-900) is None  # the meter did not exist yet


def test_power_is_integrated_as_a_step_function():
    m = MeterSamples()
    for t, w in [(0, 3600.0), (450, 0.0), (900, 7200.0), (1800, 0.0)]:
        m.add(Direction.IMPORT, SampleKind.POWER, t, w)
    m.add(Direction.EXPORT, SampleKind.POWER, 0, 1800.0)
    m.add(Direction.EXPORT, SampleKind.POWER, 1800, 0.0)
    assert m.interval(0) == (450, 450, True)  # 3600 W for 450 s; 1800 W for 900 s
    assert m.interval(900) == (1800, 450, True)


def test_counters_win_over_power_and_duplicates_are_ignored():
    m = MeterSamples()
    assert m.add(Direction.IMPORT, SampleKind.COUNTER, 0, 10.0)
    assert not m.add(Direction.IMPORT, SampleKind.COUNTER, 0, 99.0)
    m.add(Direction.IMPORT, SampleKind.COUNTER, 900, 60.0)
    m.add(Direction.IMPORT, SampleKind.POWER, 0, 100_000.0)
    assert m.interval(0) == (50, 0, True)


# -- property: committed energy == sum of readings ------------------------------------------
meter_plan = st.lists(
    st.tuples(
        st.integers(0, 1_000_000),  # counter at the start, Wh
        st.lists(st.tuples(st.integers(1, 899), st.integers(0, 3)), max_size=6),  # extras
        st.lists(st.integers(0, 2_000), min_size=24, max_size=24),  # increments
        st.booleans(),  # has export (PV)
    ),
    min_size=1,
    max_size=3,
)


@settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    plan=meter_plan,
    intervals=st.integers(1, 4),
    late_fraction=st.sampled_from([0.0, 0.2, 0.5]),
    seed=st.integers(0, 2**32 - 1),
)
def test_committed_energy_equals_the_sum_of_readings(
    oracles, w3, plan, intervals, late_fraction, seed
):
    snap = w3.provider.make_request("evm_snapshot", [])["result"]
    try:
        rng = random.Random(seed)
        t0 = past_interval(w3, 40)
        messages: list[dict] = []
        expected: dict[tuple[str, int], list[int]] = {}
        for m, (start_wh, extras, increments, has_export) in enumerate(plan):
            meter = f"prop-{m}"
            times = {t0 + k * 900 for k in range(intervals + 1)}
            times |= {t0 + k * 900 + off for off, k in extras if k < intervals}
            counter_imp, counter_exp = float(start_wh), 0.0
            for i, t in enumerate(sorted(times)):
                if i:
                    counter_imp += increments[i % 24]
                    counter_exp += increments[(i + 7) % 24] // 4 if has_export else 0
                    k = (t - t0 - 1) // 900  # the reading at t covers (previous, t]
                    e = expected.setdefault((meter, t0 + k * 900), [0, 0])
                    e[0] += increments[i % 24]
                    e[1] += increments[(i + 7) % 24] // 4 if has_export else 0
                messages.append(reading(meter, "energy", counter_imp, t))
                if has_export:
                    messages.append(reading(meter, "energy_export", counter_exp, t))
        late = [msg for msg in messages if rng.random() < late_fraction]
        on_time = [msg for msg in messages if not any(msg is x for x in late)]
        with tempfile.TemporaryDirectory() as tmp:
            service = make_service(oracles, Path(tmp))
            feed = sorted(on_time, key=lambda msg: msg["time_s"])
            for k in range(intervals + 1):
                boundary = t0 + k * 900
                while feed and feed[0]["time_s"] <= boundary:
                    service.on_reading("", feed.pop(0))
                service.tick(boundary + GRACE_S)
            rng.shuffle(late)
            for msg in late:
                service.on_reading("", msg)
            service.tick(t0 + intervals * 900 + GRACE_S + 1)
            chain = service.client.current_values()
            got = {
                k: [c.value.import_wh, c.value.export_wh]
                for k, c in chain.items()
                if k[0].startswith("prop-")
            }
            assert got == expected
            assert service.committed() == {k: tuple(v) for k, v in expected.items()}
            originals = Counter(
                (c.value.meter_id, c.value.interval_start_s)
                for c in service.client.history()
                if not c.corrected
            )
            assert set(originals.values()) == {1}
            service.close()
    finally:
        w3.provider.make_request("evm_revert", [snap])
        NonceManager.reset_all()


# -- late readings and restart safety -------------------------------------------------------
def feed_intervals(service: MeterOracleService, t0: int, meters: list[str], first: int, last: int):
    """Counter readings every 300 s for intervals first..last (counter = 10 Wh per second)."""
    for k in range(first * 3, last * 3 + 4):
        t = t0 + k * 300
        for j, meter in enumerate(meters):
            service.on_reading(meter, reading(meter, "energy", 1000.0 * j + 10.0 * (t - t0), t))


@pytest.mark.usefixtures("snapshot")
def test_late_reading_is_committed_as_a_correction(oracles, w3, tmp_path):
    t0 = past_interval(w3, 30)
    bus = InProcessBus()
    service = make_service(oracles, tmp_path).attach(bus)
    bus.publish("meter.readings", "m", reading("late-1", "energy", 0.0, t0))
    bus.publish("meter.readings", "m", reading("late-1", "energy", 4000.0, t0 + 600))
    report = service.tick(t0 + 900 + GRACE_S)  # no reading at the end yet: an estimate
    assert report.committed == 1
    assert service.committed()[("late-1", t0)] == (4000, 0)
    bus.publish("meter.readings", "m", reading("late-1", "energy", 9000.0, t0 + 900))
    report = service.tick(t0 + 900 + GRACE_S + 5)
    assert (report.committed, report.corrected) == (0, 1)
    trail = [c for c in service.client.history() if c.value.meter_id == "late-1"]
    assert [(c.value.import_wh, c.corrected) for c in trail] == [(4000, False), (9000, True)]
    # a reading that changes nothing causes no transaction
    bus.publish("meter.readings", "m", reading("late-1", "energy", 6000.0, t0 + 900 - 300))
    assert service.tick(t0 + 900 + GRACE_S + 10).batches == 0
    # other properties and unknown shapes are ignored
    bus.publish("meter.readings", "m", {"device_id": "x", "property": "temperature"})
    bus.publish("meter.readings", "m", {"device_id": "x", "property": "energy"})
    assert service.stats["malformed"] == 1


class Crash(Exception):
    """Stands for the process dying."""


@pytest.mark.usefixtures("snapshot")
@pytest.mark.parametrize("when", ["before_send", "after_mined"])
def test_restart_neither_skips_nor_double_commits(oracles, w3, tmp_path, when):
    t0 = past_interval(w3, 20)
    meters = [f"rs-{when[:3]}-{i}" for i in range(3)]
    first = make_service(oracles, tmp_path)
    feed_intervals(first, t0, meters, 0, 3)
    real_submit = first.client.submit
    calls = []

    def dying_submit(batch, gas=None):
        calls.append(batch.nonce)
        if len(calls) == 2:  # the second batch: interval t0 + 900
            if when == "after_mined":
                real_submit(batch, gas)
            raise Crash
        return real_submit(batch, gas)

    first.client.submit = dying_submit  # type: ignore[method-assign]
    with pytest.raises(Crash):
        first.tick(t0 + 4 * 900 + GRACE_S)
    first.close()  # the process is gone: the OS closes its state file and frees its locks
    # a new one starts from the same state folder (no readings re-sent)
    second = make_service(oracles, tmp_path)
    report = second.tick(t0 + 4 * 900 + GRACE_S)
    assert report.recovered == 1
    history = second.client.history()
    originals = Counter(
        (c.value.meter_id, c.value.interval_start_s) for c in history if not c.corrected
    )
    expected_keys = {(m, t0 + k * 900) for m in meters for k in range(4)}
    assert set(originals) == expected_keys  # nothing skipped
    assert set(originals.values()) == {1}  # nothing twice
    assert not any(c.corrected for c in history)
    for c in history:
        assert (c.value.import_wh, c.value.export_wh) == (9000, 0)
    assert second.cursor_s == t0 + 4 * 900
    assert second.tick(t0 + 4 * 900 + GRACE_S + 1).batches == 0
    second.close()


def test_state_of_another_contract_is_refused(oracles, tmp_path):
    from oracles.state import OracleState

    OracleState(tmp_path / "s.sqlite", chain_id=1, contract="0x" + "11" * 20, signer="0xabc")
    with pytest.raises(OracleStateError, match="contract"):
        OracleState(tmp_path / "s.sqlite", chain_id=1, contract="0x" + "22" * 20, signer="0xabc")


@pytest.mark.usefixtures("snapshot")
def test_silent_meter_gets_no_estimate_until_its_readings_arrive(oracles, w3, tmp_path):
    t0 = past_interval(w3, 30)
    service = make_service(oracles, tmp_path)
    service.on_reading("m", reading("quiet-1", "energy", 100.0, t0))
    assert service.tick(t0 + 3 * 900 + GRACE_S).batches == 0  # offline, not idle
    assert service.cursor_s == t0 + 3 * 900  # nothing blocks the cursor
    service.on_reading("m", reading("quiet-1", "energy", 700.0, t0 + 1800))
    report = service.tick(t0 + 3 * 900 + GRACE_S + 1)
    assert report.committed == 2  # late first commitments: interpolated 300 + 300 Wh
    assert service.committed() == {("quiet-1", t0): (300, 0), ("quiet-1", t0 + 900): (300, 0)}
    service.close()
