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

from eth_typing import HexStr

from bright.bench_coordination_scenario import accepted_request, plain_transfer_s
from core.benchutil import peak_rss_mb

__all__ = ["bench_settlement_latency"]

TARGET_S = 60.0


def _say(message: str) -> None:
    print(f"[bench settlement --chain] {message}", file=sys.stderr, flush=True)


def bench_settlement_latency(
    members: int = 100, intervals: int = 16, block_time_s: float = 1.0
) -> dict[str, Any]:
    """Seconds from the last meter commitment mined to the settlement mined; gas per member."""
    from coalitions.service import Step

    if not 1 <= members <= 1000 or not 1 <= intervals <= 16:
        raise ValueError("members must be 1..1000 and intervals 1..16")
    steps: list[tuple[float, Step]] = []
    with accepted_request(
        members=members,
        intervals=intervals,
        people=members + 2,  # two reserves
        name="settle",
        block_time_s=block_time_s,
        reserve_bp=200,
        baseline_method=True,
        on_step=lambda s: steps.append((time.perf_counter(), s)),
        say=_say,
    ) as world:
        for k in range(-4, 0):  # the baseline hour (meter before / after)
            world.commit_interval(k)
        stop = threading.Event()
        thread = threading.Thread(target=world.service.run, args=(stop,), daemon=True)
        thread.start()
        receipt: Any = None
        committed_at = 0.0
        for k in range(intervals):
            receipt = world.commit_interval(k)
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
        settle_receipt = world.w3.eth.get_transaction_receipt(HexStr(settled.tx_hash))
        blocks = int(settle_receipt["blockNumber"]) - int(receipt["blockNumber"])
        _say(settled.describe())
        baseline_s = plain_transfer_s(world)
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
