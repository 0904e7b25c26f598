"""Dispute latency on a real chain: seconds from a wrong settlement proposal being mined to
the automatic dispute of it being mined.

On a fresh anvil with ``block_time_s`` blocks: a DSO request of ``intervals`` 15-minute
intervals for ``members`` members; the coalition service (:class:`coalitions.service.
CoalitionService`) proposes the coalition, the DSO accepts; the oracle commits the baseline
hour and every interval (every member delivering its target). Then the aggregator proposes a
settlement with one member's delivery 50 Wh too high, while a :class:`settlement.disputes.
DisputeWatcher` (the DSO's key) runs in its thread. Measured: seconds from the proposal's
receipt to the dispute's receipt (the watcher's), against a plain token transfer's mining time
in the same run, the dispute's gas, and whether the corrected proposal is the honest one.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

from eth_account import Account
from eth_typing import HexStr
from eth_utils import keccak

from core.benchutil import peak_rss_mb
from core.settings import DEV_MNEMONIC

__all__ = ["bench_dispute_latency"]

LOAD_WH = 1000
TARGET_WH = 500
LIE_WH = 50


def _say(message: str) -> None:
    print(f"[bench dispute] {message}", file=sys.stderr, flush=True)


def bench_dispute_latency(
    members: int = 20, intervals: int = 4, block_time_s: float = 1.0
) -> dict[str, Any]:
    """Seconds from a wrong proposal mined to the watcher's dispute of it mined."""
    from chain.anvil import Anvil
    from chain.compiler import compile_contracts
    from chain.coordination import coordination_client, member_deliveries
    from chain.deploy import deploy_platform
    from chain.domain import Role
    from chain.oracles import MeterOracleClient
    from chain.platform import Platform, connect, dev_accounts, make_sender
    from coalitions.service import CoalitionService, ServiceConfig, advance_chain
    from core.oracle_codec import MeterValue
    from core.rules import required_escrow
    from core.units import INTERVAL_S
    from settlement.disputes import DisputeStep, DisputeWatcher
    from settlement.service import MeterValues, compute_chain_settlement

    if not 1 <= members <= 500 or not 1 <= intervals <= 16:
        raise ValueError("members must be 1..500 and intervals 1..16")
    artifacts = compile_contracts()
    admin, dso, agg, oracle = dev_accounts(DEV_MNEMONIC, 4)
    people = [Account.from_key(keccak(text=f"bright-dispute-bench-{i}")) for i in range(members)]
    meter = [f"dispute-meter-{i}" for i in range(members)]
    _say(f"anvil with {block_time_s:g} s blocks, {members} members x {intervals} intervals")
    with Anvil(accounts=4, block_time=block_time_s) as anvil:
        w3 = connect(anvil.url)
        deployment = deploy_platform(w3, make_sender(w3, admin, artifacts), artifacts)
        platform = Platform(w3, deployment, artifacts)
        registrations = [
            (dso.address, Role.DSO, "feeder-1", ""),
            (agg.address, Role.AGGREGATOR, "feeder-1", ""),
            (oracle.address, Role.ORACLE, "feeder-1", ""),
        ]
        registrations += [
            (p.address, Role.PROSUMER, "feeder-1", m) for p, m in zip(people, meter, strict=True)
        ]
        platform.registry(admin).register_batch(registrations)
        meters = MeterOracleClient(
            w3, deployment.address("MeterOracle"), artifacts["MeterOracle"],
            platform.sender(oracle),
        )
        meters.enrol_meters(meter)
        address = deployment.address("FlexCoordination")
        platform.token(admin).mint_batch([(dso.address, 10**15), (agg.address, 10**15)])
        platform.token(dso).approve(address, 10**15)
        as_dso = coordination_client(w3, address, artifacts, platform.sender(dso))
        as_agg = coordination_client(w3, address, artifacts, platform.sender(agg))
        as_agg.ensure_bond_allowance()
        now = int(w3.eth.get_block("latest")["timestamp"])
        start = (now // INTERVAL_S + 3) * INTERVAL_S
        quantities = [TARGET_WH * members] * intervals
        _, rid = as_dso.publish_request(
            start, quantities, 1000, 200_000, start - INTERVAL_S,
            required_escrow(quantities, 1000, 200_000), grid_area="feeder-1",
            penalty_per_kwh=100_000,
        )
        as_agg.opt_in_signed(rid, [as_agg.sign_opt_in(p, rid, TARGET_WH) for p in people])
        service = CoalitionService(
            as_agg, meters, platform.registry(),
            ServiceConfig(poll_s=0.5, reserve_bp=0, formation_time_limit_s=5.0),
        )
        advance_chain(w3, start - INTERVAL_S)
        [proposed] = service.tick()
        _say(proposed.describe())
        as_dso.accept_coalition(rid)
        rows = as_dso.coalition_rows(rid)
        targets = {r.meter_id: r.targets_wh for r in rows}
        advance_chain(w3, start + intervals * INTERVAL_S + 60)
        nonce = iter(range(1, 10**6))
        for k in range(-4, intervals):
            batch = [
                MeterValue(
                    m, start + k * INTERVAL_S,
                    LOAD_WH - (targets[m][k] if k >= 0 and m in targets else 0), 0,
                )
                for m in meter
            ]
            meters.commit(oracle, batch, next(nonce))
        values = MeterValues(meters)
        values.refresh()
        info = as_dso.request(rid)
        honest = compute_chain_settlement(
            info, as_dso.quantities_wh(rid), rows, values.net_wh()
        )
        lie = list(honest.deliveries)
        d = lie[0]
        lie[0] = member_deliveries(
            (d.delivered_wh[0] + LIE_WH, *d.delivered_wh[1:]), d.missing, rows[0].targets_wh,
            info.tolerance_bp,
        )
        steps: list[tuple[float, DisputeStep]] = []
        watcher = DisputeWatcher(
            as_dso, meters, on_step=lambda s: steps.append((time.perf_counter(), s))
        )
        watcher.tick()  # warm: nothing settling yet
        stop = threading.Event()
        thread = threading.Thread(target=watcher.run, args=(stop, 0.2), daemon=True)
        thread.start()
        receipt = as_agg.propose_settlement(rid, rows, lie)
        proposed_at = time.perf_counter()
        _say(f"wrong proposal mined in block {receipt['blockNumber']}")
        deadline = time.perf_counter() + 120
        while not any(s.kind == "disputed" for _, s in steps):
            if time.perf_counter() > deadline:
                stop.set()
                raise TimeoutError("the watcher did not dispute within 120 s")
            time.sleep(0.02)
        stop.set()
        thread.join(30)
        disputed_at, disputed = next((t, s) for t, s in steps if s.kind == "disputed")
        latency_s = disputed_at - proposed_at
        dispute_receipt = w3.eth.get_transaction_receipt(HexStr(disputed.tx_hash))
        blocks = int(dispute_receipt["blockNumber"]) - int(receipt["blockNumber"])
        _say(disputed.describe())
        corrected = as_dso.settlement_proposal(rid)
        # Baseline: a plain token transfer, sent right after a block, until mined.
        head = int(w3.eth.block_number)
        while int(w3.eth.block_number) == head:
            time.sleep(0.02)
        b0 = time.perf_counter()
        platform.token(dso).transfer(agg.address, 1)
        baseline_s = time.perf_counter() - b0
    return {
        "bench": "dispute_chain",
        "members": members,
        "intervals": intervals,
        "block_time_s": block_time_s,
        "proposal_to_dispute_mined_s": round(latency_s, 3),
        "blocks_between": blocks,
        "baseline_plain_transfer_mined_s": round(baseline_s, 3),
        "ratio_to_baseline": round(latency_s / baseline_s, 2) if baseline_s else None,
        "dispute_gas": disputed.gas_used,
        "bond_paid": disputed.detail["bond_paid"],
        "corrected_to_honest": corrected is not None and corrected.results == honest.results,
        "peak_rss_mb": peak_rss_mb(),
    }


if __name__ == "__main__":  # pragma: no cover
    import json

    print(json.dumps(bench_dispute_latency()))
