"""``bright bench settlement --chain``: settlement latency and gas on a real chain.

On a fresh anvil with ``block_time_s`` blocks: a DSO request of ``intervals`` 15-minute
intervals for ``members`` members (plus two reserves, signed opt-ins relayed in one batch);
the coalition service (:class:`coalitions.service.CoalitionService`, the code ``bright up``
runs) proposes, the DSO accepts; after the window the oracle commits the baseline hour and
every interval's meter values (one signed batch per interval, every member delivering its
target) while the service runs in its thread. Measured: seconds from the last meter
commitment being mined (its receipt) to the settlement's proposal being mined (the service's
receipt: the figures are on-chain, open to disputes for the challenge window), against a plain
token transfer's mining time in the same run, and the proposal transaction's gas per member.
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

__all__ = ["bench_settlement_latency"]

LOAD_WH = 1000
TARGET_WH = 500
TARGET_S = 60.0


def _say(message: str) -> None:
    print(f"[bench settlement --chain] {message}", file=sys.stderr, flush=True)


def bench_settlement_latency(
    members: int = 100, intervals: int = 16, block_time_s: float = 1.0
) -> dict[str, Any]:
    """Seconds from the last meter commitment mined to the settlement mined; gas per member."""
    from chain.anvil import Anvil
    from chain.compiler import compile_contracts
    from chain.coordination import coordination_client
    from chain.deploy import deploy_platform
    from chain.domain import Role
    from chain.oracles import MeterOracleClient
    from chain.platform import Platform, connect, dev_accounts, make_sender
    from coalitions.service import CoalitionService, ServiceConfig, Step, advance_chain
    from core.oracle_codec import MeterValue
    from core.rules import required_escrow
    from core.units import INTERVAL_S
    from settlement.baselines import BaselineMethod, MeterBeforeAfterParams, baseline_hash

    if not 1 <= members <= 1000 or not 1 <= intervals <= 16:
        raise ValueError("members must be 1..1000 and intervals 1..16")
    artifacts = compile_contracts()
    admin, dso, agg, oracle = dev_accounts(DEV_MNEMONIC, 4)
    people = [Account.from_key(keccak(text=f"bright-settle-bench-{i}")) for i in range(members + 2)]
    meter = [f"bench-meter-{i}" for i in range(len(people))]
    _say(f"anvil with {block_time_s:g} s blocks, {members} members x {intervals} intervals")
    with Anvil(accounts=4, block_time=block_time_s) as anvil:
        w3 = connect(anvil.url)
        deployment = deploy_platform(w3, make_sender(w3, admin, artifacts), artifacts)
        platform = Platform(w3, deployment, artifacts)
        rows = [
            (dso.address, Role.DSO, "feeder-1", ""),
            (agg.address, Role.AGGREGATOR, "feeder-1", ""),
            (oracle.address, Role.ORACLE, "feeder-1", ""),
        ] + [(p.address, Role.PROSUMER, "feeder-1", m) for p, m in zip(people, meter, strict=True)]
        platform.registry(admin).register_batch(rows)
        meters = MeterOracleClient(
            w3,
            deployment.address("MeterOracle"),
            artifacts["MeterOracle"],
            platform.sender(oracle),
        )
        meters.enrol_meters(meter)
        address = deployment.address("FlexCoordination")
        platform.token(admin).mint_batch([(dso.address, 10**15), (agg.address, 10**15)])
        platform.token(dso).approve(address, 10**15)
        as_dso = coordination_client(w3, address, artifacts, platform.sender(dso))
        as_agg = coordination_client(w3, address, artifacts, platform.sender(agg))
        as_agg.ensure_bond_allowance()  # once, as a running aggregator has
        now = int(w3.eth.get_block("latest")["timestamp"])
        start = (now // INTERVAL_S + 3) * INTERVAL_S
        quantities = [TARGET_WH * members] * intervals
        _, rid = as_dso.publish_request(
            start,
            quantities,
            1000,
            200_000,
            start - INTERVAL_S,
            required_escrow(quantities, 1000, 200_000),
            grid_area="feeder-1",
            penalty_per_kwh=100_000,
            baseline_method=int(BaselineMethod.METER_BEFORE_AFTER),
            baseline_hash=baseline_hash(
                BaselineMethod.METER_BEFORE_AFTER, MeterBeforeAfterParams()
            ),
        )
        as_agg.opt_in_signed(rid, [as_agg.sign_opt_in(p, rid, TARGET_WH) for p in people])
        steps: list[tuple[float, Step]] = []
        service = CoalitionService(
            as_agg,
            meters,
            platform.registry(),
            ServiceConfig(poll_s=0.5, reserve_bp=200, formation_time_limit_s=5.0),
            on_step=lambda s: steps.append((time.perf_counter(), s)),
        )
        advance_chain(w3, start - INTERVAL_S)
        [proposed] = service.tick()
        _say(f"{proposed.describe()}")
        as_dso.accept_coalition(rid)
        table = as_dso.coalition_rows(rid)
        targets = {r.meter_id: r.targets_wh for r in table}
        advance_chain(w3, start + intervals * INTERVAL_S + 60)
        nonce = iter(range(1, 10**6))
        for k in range(-4, 0):  # the baseline hour (meter before / after)
            values = [MeterValue(m, start + k * INTERVAL_S, LOAD_WH, 0) for m in meter]
            meters.commit(oracle, values, next(nonce))
        stop = threading.Event()
        thread = threading.Thread(target=service.run, args=(stop,), daemon=True)
        thread.start()
        receipt: Any = None
        committed_at = 0.0
        for k in range(intervals):
            s = start + k * INTERVAL_S
            values = [
                MeterValue(m, s, LOAD_WH - (targets[m][k] if m in targets else 0), 0) for m in meter
            ]
            receipt = meters.commit(oracle, values, next(nonce))
            committed_at = time.perf_counter()
        _say(f"{intervals} intervals committed; the last in block {receipt['blockNumber']}")
        deadline = time.perf_counter() + 300
        while not any(s.kind == "settlement_proposed" for _, s in steps):
            if time.perf_counter() > deadline:
                stop.set()
                raise TimeoutError("the service did not settle within 300 s")
            time.sleep(0.05)
        stop.set()
        thread.join(30)
        settled_at, settled = next(
            (t, s) for t, s in steps if s.kind == "settlement_proposed"
        )
        latency_s = settled_at - committed_at
        settle_receipt = w3.eth.get_transaction_receipt(HexStr(settled.tx_hash))
        blocks = int(settle_receipt["blockNumber"]) - int(receipt["blockNumber"])
        _say(settled.describe())
        # Baseline: a plain token transfer, sent right after a block, until mined.
        head = int(w3.eth.block_number)
        while int(w3.eth.block_number) == head:
            time.sleep(0.02)
        b0 = time.perf_counter()
        platform.token(dso).transfer(agg.address, 1)
        baseline_s = time.perf_counter() - b0
    rows_settled = int(settled.detail["rows"])
    return {
        "bench": "settlement_chain",
        "members": members,
        "rows": rows_settled,
        "intervals": intervals,
        "block_time_s": block_time_s,
        "commit_to_settlement_mined_s": round(latency_s, 3),
        "blocks_between": blocks,
        "baseline_plain_transfer_mined_s": round(baseline_s, 3),
        "ratio_to_baseline": round(latency_s / baseline_s, 2) if baseline_s else None,
        "settle_gas": settled.gas_used,
        "settle_gas_per_member": settled.gas_used // max(1, rows_settled),
        "gas_per_member_target": 15_000,
        "target_s": TARGET_S,
        "specification_s": 1800.0,
        "meets_target": latency_s < TARGET_S,
        "payout_total": settled.detail["payout_total"],
        "peak_rss_mb": peak_rss_mb(),
    }
