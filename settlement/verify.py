"""``bright settle verify``: recompute a settled request from the chain and the committed meter
data, and compare it with what the chain holds.

From the chain: the request's terms (``request``, ``quantities``), its baseline method and
parameter hash (resolved as :func:`settlement.service.resolve_baseline_params` does), the
targets table rebuilt from the ``CoalitionProposed`` and ``MemberReplaced`` events (checked
against the stored ``targetsHash``), and the ``RequestSettled`` event (results, deliveries,
payout total, refund; its hash checked against the stored ``settlementHash``). From the
MeterOracle: the current value of every (meter, interval) (events, corrections included); each
value the recomputation uses is checked against the commitment with ``verifyReading`` and a
Merkle proof built from its batch. The recomputation is
:func:`settlement.service.compute_chain_settlement`; every field that differs is reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from web3 import Web3

from chain.compiler import Artifact
from chain.coordination import FlexCoordinationClient, RequestStatus
from chain.errors import RevertError
from chain.oracles import CommittedValue, MeterOracleClient
from core.codec import unpack_deliveries, unpack_result
from core.errors import BrightError
from settlement.domain import SettlementRules
from settlement.errors import SettlementError
from settlement.service import (
    MeterValues,
    compute_chain_settlement,
    settlement_hash,
)

__all__ = ["VerifyInputError", "VerifyReport", "verify_settlement"]


class VerifyInputError(BrightError, ValueError):
    """The request cannot be verified: unknown, not settled, nothing deployed."""


@dataclass
class VerifyReport:
    request_id: int
    matches: bool = True
    rows: int = 0
    intervals: int = 0
    values_checked: int = 0
    baseline: dict[str, Any] = field(default_factory=dict)
    differences: list[dict[str, Any]] = field(default_factory=list)

    def differ(self, what: str, on_chain: object, recomputed: object) -> None:
        self.matches = False
        self.differences.append({"field": what, "on_chain": on_chain, "recomputed": recomputed})

    def to_dict(self) -> dict[str, Any]:
        return {
            "request_id": self.request_id,
            "matches": self.matches,
            "rows": self.rows,
            "intervals": self.intervals,
            "meter_values_checked": self.values_checked,
            "baseline": self.baseline,
            "differences": self.differences,
        }


def _check_values(
    meters: MeterOracleClient,
    current: dict[tuple[str, int], CommittedValue],
    used: dict[tuple[str, int], int],
    report: VerifyReport,
) -> None:
    """Every used value against its commitment (``verifyReading`` with a Merkle proof)."""
    batches: dict[bytes, list[Any]] = {}
    for h in meters.history():
        batches.setdefault(h.root, []).append(h.value)
    for key in sorted(used):
        c = current.get(key)
        if c is None:
            report.differ(f"meter {key[0]} @ {key[1]}", None, used[key])
            continue
        proof = meters.proof_for(c.value, batches[c.root])
        if not meters.verify_reading(c.value, c.root, proof):
            report.differ(f"meter {key[0]} @ {key[1]}: commitment", "not verified", c.value)
        report.values_checked += 1


def verify_settlement(
    w3: Web3,
    coordination_address: str,
    meter_oracle_address: str,
    artifacts: dict[str, Artifact],
    request_id: int,
    rules: SettlementRules | None = None,
    known_params: list[list[int]] | None = None,
) -> VerifyReport:
    """Recompute request ``request_id``'s settlement and compare (see the module)."""
    if request_id < 1:
        raise VerifyInputError(f"request ids start at 1, got {request_id}")
    coord = FlexCoordinationClient(w3, coordination_address, artifacts["FlexCoordination"], None)
    meters = MeterOracleClient(w3, meter_oracle_address, artifacts["MeterOracle"], None)
    try:
        info = coord.request(request_id)
    except RevertError as exc:
        if exc.error_name == "FlexCoordinationUnknownRequest":
            raise VerifyInputError(f"request {request_id} does not exist on this chain") from exc
        raise
    if info.status is not RequestStatus.SETTLED:
        raise VerifyInputError(
            f"request {request_id} is not settled (status {info.status.name.lower()})"
        )
    report = VerifyReport(request_id, intervals=info.intervals)
    [event] = coord.contract.events.RequestSettled.get_logs(
        from_block=0, argument_filters={"requestId": request_id}
    )
    a = event["args"]
    results = [unpack_result(int(w)) for w in a["results"]]
    deliveries = unpack_deliveries([int(w) for w in a["deliveries"]], info.intervals)
    if settlement_hash(results, deliveries, info.intervals) != info.settlement_hash:
        report.differ("settlement_hash (event vs stored)", info.settlement_hash.hex(), "event")
    rows = coord.coalition_rows(request_id)
    report.rows = len(rows)
    values = MeterValues(meters)
    current = values.refresh()
    try:
        expected = compute_chain_settlement(
            info,
            coord.quantities_wh(request_id),
            rows,
            values.net_wh(),
            rules,
            known_params or (),
        )
    except SettlementError as exc:
        report.differ("recomputation", "settled", str(exc))
        return report
    report.baseline = {"method": info.baseline_method_id, "params": list(expected.params)}
    _check_values(meters, current, expected.used, report)
    if int(a["payoutTotal"]) != expected.payout_total:
        report.differ("payout_total", int(a["payoutTotal"]), expected.payout_total)
    if int(a["refund"]) != expected.refund:
        report.differ("refund", int(a["refund"]), expected.refund)
    if len(results) != len(rows):
        report.differ("rows", len(results), len(rows))
    for i, (row, got, want) in enumerate(zip(rows, results, expected.results, strict=False)):
        for name in ("payout", "penalty_uncovered", "points"):
            if getattr(got, name) != getattr(want, name):
                report.differ(f"row {i} ({row.member}).{name}", getattr(got, name),
                              getattr(want, name))
    for i, (row, got_d, want_d) in enumerate(
        zip(rows, deliveries, expected.deliveries, strict=False)
    ):
        if got_d.missing != want_d.missing:
            report.differ(f"row {i} ({row.member}).missing", sorted(got_d.missing),
                          sorted(want_d.missing))
        for name in ("delivered_wh", "credited_wh", "shortfall_wh"):
            g, w = getattr(got_d, name), getattr(want_d, name)
            for k, (gv, wv) in enumerate(zip(g, w, strict=True)):
                if gv != wv:
                    report.differ(f"row {i} ({row.member}).{name}[{k}]", gv, wv)
    return report
