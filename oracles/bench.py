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

``measure_oracle_gas()`` gives the gas of each oracle operation (enrol, commit, correct,
verify on the MeterOracle; enrol, commit, revise on the ForecastOracle; registering a member
with a meter on the ParticipantRegistry), deterministic for a given build. ``python -m
oracles.bench gas [--contracts DIR]`` prints it as JSON, for the sources in ``DIR`` if given
(e.g. an earlier commit's ``contracts/``, to compare a change with what it replaces).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from chain.anvil import Anvil
from chain.compiler import Artifact, compile_contracts, load_artifacts
from chain.contracts import ParticipantRegistryClient
from chain.deploy import deploy_contract
from chain.domain import Role
from chain.oracles import ForecastOracleClient, MeterOracleClient
from chain.platform import connect, dev_accounts, make_sender
from core.benchutil import peak_rss_mb
from core.codec import text_to_bytes32
from core.oracle_codec import ForecastRow, MeterValue
from core.settings import DEV_MNEMONIC
from core.units import INTERVAL_S, interval_start
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
        meters = [f"bench-{i:04d}" for i in range(1000)]
        # the corrected meters' members, in the oracle's grid area (corrections are bound to it)
        registry.register_batch(
            [("0x" + f"{0xB000 + i:040x}", Role.PROSUMER, "feeder-1", meters[i]) for i in range(10)]
        )
        address = deploy_contract(
            w3, make_sender(w3, admin, artifacts), artifacts["MeterOracle"], registry_dep.address
        ).address

        def client(account: Any) -> MeterOracleClient:
            return MeterOracleClient(
                w3, address, artifacts["MeterOracle"], make_sender(w3, account, artifacts)
            )

        relay = client(relayer)
        _say("enrolling 1,000 meters")
        enrol_gas = 0
        for k in range(0, 1000, 200):
            enrol_gas += int(client(oracle).enrol_meters(meters[k : k + 200])["gasUsed"])
        now = int(w3.eth.get_block("latest")["timestamp"])
        interval = interval_start(now) - 200 * INTERVAL_S
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
    interval = interval_start(head) - (20 + len(meters) // 100) * INTERVAL_S  # one per run
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


GAS_METERS = 1000
GAS_CORRECTED = 10


def measure_oracle_gas(artifacts: dict[str, Artifact] | None = None) -> dict[str, int]:
    """Gas of each oracle operation on a fresh anvil, from real receipts.

    Per-value figures are a batch's gas divided by its size. Commits are steady state (the
    signer's nonce word is already in use). Corrections are signed by an oracle of the grid
    area of the corrected meters' holders (the rule of ``MeterOracle.correctReadings``).
    ``meter_verify_reading_estimate`` is ``eth_estimateGas`` of ``verifyReading`` (a view)
    for a value of a 100-value batch, intrinsic 21,000 and calldata included.
    """
    artifacts = artifacts or load_artifacts()
    ops: dict[str, int] = {}
    with Anvil(accounts=4) as node:
        w3 = connect(node.url)
        admin, oracle, relayer, member = dev_accounts(DEV_MNEMONIC, 4)
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
        meters = [f"bench-{i:04d}" for i in range(GAS_METERS)]
        ops["registry_register_prosumer"] = _gas(
            registry.register(member.address, Role.PROSUMER, "feeder-1", meters[0])
        )
        holders = [
            ("0x" + f"{0xB000 + i:040x}", Role.PROSUMER, "feeder-1", m)
            for i, m in enumerate(meters[1:51], start=1)
        ]
        ops["registry_register_batch_per_participant_50"] = (
            _gas(registry.register_batch(holders)) // 50
        )
        deployed = {
            name: deploy_contract(
                w3, make_sender(w3, admin, artifacts), artifacts[name], registry_dep.address
            )
            for name in ("MeterOracle", "ForecastOracle")
        }
        for name, dep in deployed.items():
            ops[f"deploy_{name}"] = _gas(w3.eth.get_transaction_receipt(dep.tx_hash))  # type: ignore[arg-type]

        def meter(account: Any) -> MeterOracleClient:
            return MeterOracleClient(
                w3,
                deployed["MeterOracle"].address,
                artifacts["MeterOracle"],
                make_sender(w3, account, artifacts),
            )

        def forecast(account: Any) -> ForecastOracleClient:
            return ForecastOracleClient(
                w3,
                deployed["ForecastOracle"].address,
                artifacts["ForecastOracle"],
                make_sender(w3, account, artifacts),
            )

        enrol = [_gas(meter(oracle).enrol_meters(meters[k : k + 200])) for k in range(0, 1000, 200)]
        ops["meter_enrol_per_meter_200"] = sum(enrol) // GAS_METERS
        relay = meter(relayer)
        interval = interval_start(int(w3.eth.get_block("latest")["timestamp"])) - 50 * INTERVAL_S
        relay.commit(oracle, _values(meters[:1], interval, 0), nonce=1)  # nonce word in use
        interval += INTERVAL_S
        nonce = 1
        for size in (1, 100, 1000):
            nonce += 1
            batch = _values(meters[:size], interval, size)
            ops[f"meter_commit_per_value_{size}"] = _gas(relay.commit(oracle, batch, nonce)) // size
            if size == 100:
                value = batch[37]
                proof = relay.proof_for(value, batch)
                root = relay.history()[-1].root
                ops["meter_verify_reading_estimate"] = int(
                    relay.contract.functions.verifyReading(
                        text_to_bytes32(value.meter_id),
                        value.interval_start_s,
                        value.import_wh,
                        value.export_wh,
                        root,
                        proof,
                    ).estimate_gas()
                )
                corrected_interval = interval
            interval += INTERVAL_S
        for size in (1, GAS_CORRECTED):
            nonce += 1
            fixed = _values(meters[1 : 1 + size], corrected_interval, 500 + size)
            receipt = relay.commit(oracle, fixed, nonce, correction=True)
            ops[f"meter_correct_per_value_{size}"] = _gas(receipt) // size

        participants = [f"home-{i:04d}" for i in range(200)]
        ops["forecast_enrol_per_participant_200"] = (
            _gas(forecast(oracle).enrol_participants(participants)) // 200
        )
        frelay = forecast(relayer)
        ahead = interval_start(int(w3.eth.get_block("latest")["timestamp"])) + 8 * INTERVAL_S
        rows = [
            ForecastRow(p, ahead, -100 + i, 200 + i, 500 + i, "gas-v1")
            for i, p in enumerate(participants[:101])
        ]
        frelay.commit(oracle, rows[:1], nonce=nonce + 1)  # the nonce word in use
        ops["forecast_commit_per_row_100"] = _gas(frelay.commit(oracle, rows[1:], nonce + 2)) // 100
        revised = [replace(r, q50_wh=r.q50_wh + 1) for r in rows[1:11]]
        ops["forecast_revise_per_row_10"] = (
            _gas(frelay.commit(oracle, revised, nonce + 3, revision=True)) // 10
        )
    return ops


def _gas(receipt: Any) -> int:
    return int(receipt["gasUsed"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m oracles.bench")
    parser.add_argument("what", choices=["gas"])
    parser.add_argument(
        "--contracts", type=Path, help="compile these sources instead of contracts/"
    )
    args = parser.parse_args(argv)
    artifacts = None
    if args.contracts is not None:
        with tempfile.TemporaryDirectory() as tmp:
            artifacts = compile_contracts(contracts_dir=args.contracts, out_dir=Path(tmp))
    print(json.dumps(measure_oracle_gas(artifacts), indent=1, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
