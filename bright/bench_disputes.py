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

from eth_typing import HexStr

from bright.bench_coordination_scenario import accepted_request, plain_transfer_s
from core.benchutil import peak_rss_mb

__all__ = ["bench_dispute_latency"]

LIE_WH = 50


def _say(message: str) -> None:
    print(f"[bench dispute] {message}", file=sys.stderr, flush=True)


def bench_dispute_latency(
    members: int = 20, intervals: int = 4, block_time_s: float = 1.0
) -> dict[str, Any]:
    """Seconds from a wrong proposal mined to the watcher's dispute of it mined."""
    from chain.coordination import member_deliveries
    from settlement.disputes import DisputeStep, DisputeWatcher
    from settlement.service import MeterValues, compute_chain_settlement

    if not 1 <= members <= 500 or not 1 <= intervals <= 16:
        raise ValueError("members must be 1..500 and intervals 1..16")
    with accepted_request(
        members=members,
        intervals=intervals,
        people=members,
        name="dispute",
        block_time_s=block_time_s,
        reserve_bp=0,
        say=_say,
    ) as world:
        for k in range(-4, intervals):
            world.commit_interval(k)
        as_dso, rid, rows = world.as_dso, world.request_id, world.rows
        values = MeterValues(world.meters)
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
            as_dso, world.meters, on_step=lambda s: steps.append((time.perf_counter(), s))
        )
        watcher.tick()  # warm: nothing settling yet
        stop = threading.Event()
        thread = threading.Thread(target=watcher.run, args=(stop, 0.2), daemon=True)
        thread.start()
        receipt = world.as_agg.propose_settlement(rid, rows, lie)
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
        dispute_receipt = world.w3.eth.get_transaction_receipt(HexStr(disputed.tx_hash))
        blocks = int(dispute_receipt["blockNumber"]) - int(receipt["blockNumber"])
        _say(disputed.describe())
        corrected = as_dso.settlement_proposal(rid)
        baseline_s = plain_transfer_s(world)
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
