"""``bench_oracle()``: gas per committed meter value and commit latency, from real receipts.

Runs its own anvil. Measures, on the MeterOracle:

- gas per committed meter value (one meter's import and export of one interval) in batches
  of 100 and of 1,000 meters (steady state: the signer's nonce word is already in use; the
  very first batch of a signer, which also creates that word, is reported separately);
- the baseline in the same run: the same values committed one transaction per meter;
- a correction's gas per value, and enrolment gas per meter (once per meter, ever);
- seconds from an interval's end (on the service's clock) to its mined commitment, through
  the real service (readings on the bus, SQLite outbox, EIP-712 signing, relaying), with
  ``grace_s = 0`` and ``tick_s = 0.1``.

Progress goes to stderr; the result is one JSON-serialisable dict.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from chain.anvil import Anvil
from chain.compiler import load_artifacts
from chain.contracts import ParticipantRegistryClient
from chain.deploy import deploy_contract
from chain.domain import Role
from chain.platform import connect, dev_accounts, make_sender
from core.benchutil import peak_rss_mb
from core.settings import DEV_MNEMONIC
from oracles.clients import MeterOracleClient
from oracles.deploy import deploy_oracles
from oracles.domain import INTERVAL_S, MeterValue, interval_floor
from oracles.service import MeterOracleService
from oracles.settings import OracleSettings

TARGET_GAS_PER_VALUE = 2000


def _say(msg: str) -> None:
    print(f"[bench oracle] {msg}", file=sys.stderr, flush=True)


def _values(meters: list[str], interval: int, salt: int) -> list[MeterValue]:
    # realistic magnitudes: 50..1,500 Wh import, some PV export, per 15 minutes
    return [
        MeterValue(m, interval, 50 + (i * 37 + salt) % 1450, ((i * 13 + salt) % 7) * 90)
        for i, m in enumerate(meters)
    ]


def bench_oracle(repeats: int = 3, baseline_meters: int = 100) -> dict[str, Any]:
    """Run the benchmark (see the module docstring)."""
    artifacts = load_artifacts()
    with Anvil(accounts=3) as node:
        w3 = connect(node.url)
        admin, oracle, relayer = dev_accounts(DEV_MNEMONIC, 3)
        registry_dep = deploy_contract(
            w3, make_sender(w3, admin, artifacts), artifacts["ParticipantRegistry"], admin.address
        )
        registry = ParticipantRegistryClient(
            w3,
            registry_dep.address,
            artifacts["ParticipantRegistry"],
            make_sender(w3, admin, artifacts),
        )
        registry.register(oracle.address, Role.ORACLE, "feeder-1")
        deployed = deploy_oracles(
            w3, make_sender(w3, admin, artifacts), artifacts, registry_dep.address
        )
        address = deployed["MeterOracle"].address

        def client(account: Any) -> MeterOracleClient:
            return MeterOracleClient(
                w3, address, artifacts["MeterOracle"], make_sender(w3, account, artifacts)
            )

        relay = client(relayer)
        meters = [f"bench-{i:04d}" for i in range(1000)]
        _say("enrolling 1,000 meters")
        enrol_gas = 0
        for k in range(0, 1000, 200):
            enrol_gas += int(client(oracle).enrol_meters(meters[k : k + 200])["gasUsed"])
        now = int(w3.eth.get_block("latest")["timestamp"])
        interval = interval_floor(now) - 200 * INTERVAL_S
        nonce = 0

        def commit(values: list[MeterValue], correction: bool = False) -> int:
            nonce_box[0] += 1
            receipt = relay.commit(oracle, values, nonce_box[0], correction=correction)
            return int(receipt["gasUsed"])

        nonce_box = [nonce]
        first_gas = commit(_values(meters[:100], interval, 0))
        interval += INTERVAL_S
        batches: dict[str, Any] = {}
        for size in (100, 1000):
            per_value = []
            for r in range(repeats):
                _say(f"batch of {size}, repeat {r + 1}/{repeats}")
                per_value.append(commit(_values(meters[:size], interval, r)) / size)
                interval += INTERVAL_S
            batches[str(size)] = {
                "gas_per_value": round(statistics.mean(per_value), 1),
                "gas_per_value_max": round(max(per_value), 1),
                "gas_per_batch": round(statistics.mean(per_value) * size),
                "meets_target": max(per_value) <= TARGET_GAS_PER_VALUE,
            }
        _say(f"baseline: {baseline_meters} meters, one transaction each")
        base_gas = [commit(_values([m], interval, 5)) for m in meters[:baseline_meters]]
        baseline = statistics.mean(base_gas)
        interval += INTERVAL_S
        _say("corrections")
        correction_gas = commit(_values(meters[:10], interval - 2 * INTERVAL_S, 99), True) / 10

        latency = {str(n): _latency(w3, client(oracle), oracle, meters[:n]) for n in (100, 1000)}
    return {
        "benchmark": "oracle",
        "unit": "gas per committed meter value (one meter's import+export of one interval)",
        "target_gas_per_value": TARGET_GAS_PER_VALUE,
        "batch": batches,
        "first_batch_of_a_signer_gas_per_value_100": round(first_gas / 100, 1),
        "baseline_one_tx_per_meter_gas_per_value": round(baseline, 1),
        "ratio_baseline_to_batch_100": round(baseline / batches["100"]["gas_per_value"], 1),
        "ratio_baseline_to_batch_1000": round(baseline / batches["1000"]["gas_per_value"], 1),
        "correction_gas_per_value_10": round(correction_gas, 1),
        "enrolment_gas_per_meter_once": round(enrol_gas / 1000, 1),
        "interval_end_to_mined_s": latency,
        "latency_settings": {"grace_s": 0.0, "tick_s": 0.1, "chain": "anvil, automine"},
        "peak_rss_mb": peak_rss_mb(),
    }


def _latency(w3: Any, client: MeterOracleClient, oracle: Any, meters: list[str]) -> float:
    """Wall seconds from an interval's end on the service clock to the mined commitment."""
    _say(f"latency through the service, {len(meters)} meters")
    head = int(w3.eth.get_block("latest")["timestamp"])
    interval = interval_floor(head) - (20 + len(meters) // 100) * INTERVAL_S  # one per run
    end = interval + INTERVAL_S
    # the service's clock reaches `end` 1.0 s from now; the chain's clock is hours ahead
    offset = time.time() + 1.0 - end
    with tempfile.TemporaryDirectory() as tmp:
        service = MeterOracleService(
            client,
            oracle,
            OracleSettings(grace_s=0.0, max_wait_s=0.0, tick_s=0.1),
            state_dir=Path(tmp),
            clock=lambda: time.time() - offset,
            adopt_chain=True,  # the batches this key signed above are the benchmark's own
        )
        for i, m in enumerate(meters):
            for t, wh in ((interval - 300, 0.0), (interval, 10.0 * i), (end, 10.0 * i + 500)):
                service.on_reading(
                    m, {"device_id": m, "property": "energy", "value": wh, "time_s": t}
                )
        service.start()
        try:
            while time.time() - offset < end:
                time.sleep(0.001)
            t_end = time.time()
            key = (meters[-1], interval)
            while key not in service.committed():
                time.sleep(0.002)
            elapsed = time.time() - t_end
        finally:
            service.close()
    return round(elapsed, 3)
