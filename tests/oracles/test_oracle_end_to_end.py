"""End to end on Mosquitto + anvil: simulated homes -> bridge -> bus -> meter oracle -> chain.

The energy committed on-chain (after corrections) equals the energy the simulated meters
registered, for every meter and interval.
"""

from __future__ import annotations

import time
from collections import Counter

import pytest

from core.units import INTERVAL_S
from gateway_bridge.domain import DeviceRegistry
from gateway_bridge.service import BridgeService
from gateway_bridge.settings import BridgeSettings
from oracles.service import MeterOracleService
from oracles.settings import OracleSettings
from oracles.simulator import SimClock, make_homes, simulate, site_devices
from streams.bus import InProcessBus

pytestmark = pytest.mark.usefixtures("snapshot")


def test_simulated_energy_reaches_the_chain_exactly(oracles, w3, mqtt_broker, tmp_path):
    homes, intervals, speed = 5, 6, 1800.0
    now = int(w3.eth.get_block("latest")["timestamp"])
    start = (now // INTERVAL_S) * INTERVAL_S - (intervals + 8) * INTERVAL_S
    clock = SimClock(float(start), speed)
    bus = InProcessBus()
    registry = DeviceRegistry(site_devices(make_homes(homes, seed=11)))
    bridge_settings = BridgeSettings(
        mqtt_port=mqtt_broker.port, client_id="e2e-bridge", state_dir=tmp_path / "gw"
    )
    oracle = MeterOracleService(
        oracles.meter(oracles.oracle),
        oracles.oracle,
        OracleSettings(grace_s=60.0, max_wait_s=120.0, tick_s=0.05),
        state_dir=tmp_path / "oracle",
        clock=clock.now,
    ).attach(bus)
    with BridgeService(bridge_settings, registry=registry, bus=bus, clock=clock.now) as bridge:
        oracle.start()
        try:
            result = simulate(
                homes=homes,
                speed=speed,
                duration_s=intervals * INTERVAL_S,
                start_s=start,
                mqtt_port=mqtt_broker.port,
                gap_rate=0.05,
                late_rate=0.08,
                late_delay_s=(300.0, 1200.0),
                seed=11,
                clock=clock,
                progress=lambda msg: None,
            )
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                if all(oracle.committed().get(k) == v for k, v in result.truth.items()):
                    break
                time.sleep(0.1)
        finally:
            oracle.stop()
        stats = bridge.stats()
    assert len(result.truth) == homes * intervals
    assert result.lost > 0 and result.late > 0
    assert stats["rejected_total"] == 0, stats["quarantine"]
    on_chain = oracle.client.current_values()
    got = {k: (c.value.import_wh, c.value.export_wh) for k, c in on_chain.items()}
    # after the simulation the meters are silent: nothing is committed for them (no estimate)
    assert got == result.truth
    history = oracle.client.history()
    originals = Counter(
        (c.value.meter_id, c.value.interval_start_s) for c in history if not c.corrected
    )
    assert set(originals.values()) == {1}
    assert any(c.corrected for c in history)  # late register readings were corrections
    assert oracle.stats["late"] > 0
    oracle.close()
