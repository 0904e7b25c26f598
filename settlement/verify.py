"""``bright settle verify``: recompute a request's settlement from the chain and the committed
meter data, and compare it with what the chain holds.

From the chain: the request's terms (``request``, ``quantities``), its baseline (the
meter-before parameters it stores, see :func:`settlement.service.resolve_baseline_params`),
the targets table rebuilt from the ``CoalitionProposed`` and ``MemberReplaced`` events
(checked against the stored ``targetsHash``), the settlement proposal as it stands
(``SettlementProposed`` with every ``SettlementDisputed`` correction applied; its hash checked
against the stored ``settlementHash``) and, once finalized, ``SettlementFinalized`` (its
results must be the proposal's). A request is verified while its settlement is open to
disputes (``proposed``) or after it was finalized (``finalized``).

From the MeterOracle: every committed and corrected value (events). A finalized settlement is
recomputed from the values current when it was finalized: a meter correction committed later
cannot change money that was paid, so it is reported as **flagged** (the value it replaced,
the new one, and the figures it would have changed), not as a difference. A proposal is
recomputed from the values current now (it can still be disputed). Each value the
recomputation uses and that is still current is checked against the commitment with
``verifyReading`` and a Merkle proof built from its batch. The recomputation is
:func:`settlement.service.compute_chain_settlement`; every field that differs is reported,
and so is every dispute (row, member, disputer, bond paid).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from web3 import Web3

from chain.compiler import Artifact
from chain.coordination import FlexCoordinationClient, RequestInfo, RequestStatus
from chain.errors import RevertError
from chain.oracles import CommittedValue, MeterOracleClient
from core.codec import (
    CoalitionRow,
    MemberDeliveries,
    MemberResult,
)
from core.errors import BrightError
from core.oracle_codec import MeterValue
from settlement.domain import SettlementRules
from settlement.errors import SettlementError
from settlement.service import ChainSettlement, compute_chain_settlement

__all__ = ["VerifyInputError", "VerifyReport", "verify_settlement"]


class VerifyInputError(BrightError, ValueError):
    """The request cannot be verified: unknown, not settled, nothing deployed."""


@dataclass
class VerifyReport:
    request_id: int
    matches: bool = True
    state: str = ""
    """``proposed`` (open to disputes) or ``finalized``."""
    rows: int = 0
    intervals: int = 0
    values_checked: int = 0
    baseline: dict[str, Any] = field(default_factory=dict)
    differences: list[dict[str, Any]] = field(default_factory=list)
    disputes: list[dict[str, Any]] = field(default_factory=list)
    flagged: list[dict[str, Any]] = field(default_factory=list)
    """Meter corrections committed after the finalization, and what they would change."""

    def differ(self, what: str, on_chain: object, recomputed: object) -> None:
        self.matches = False
        self.differences.append({"field": what, "on_chain": on_chain, "recomputed": recomputed})

    def to_dict(self) -> dict[str, Any]:
        return {
            "request_id": self.request_id,
            "matches": self.matches,
            "state": self.state,
            "rows": self.rows,
            "intervals": self.intervals,
            "meter_values_checked": self.values_checked,
            "baseline": self.baseline,
            "differences": self.differences,
            "disputes": self.disputes,
            "flagged": self.flagged,
        }


def _values_as_of(
    history: list[CommittedValue], block: int | None
) -> dict[tuple[str, int], CommittedValue]:
    """The current value of each (meter, interval) at the end of ``block`` (None: now)."""
    out: dict[tuple[str, int], CommittedValue] = {}
    for c in history:
        if block is None or c.block <= block:
            out[(c.value.meter_id, c.value.interval_start_s)] = c
    return out


def _net(values: dict[tuple[str, int], CommittedValue]) -> dict[tuple[str, int], int]:
    return {k: c.value.import_wh - c.value.export_wh for k, c in values.items()}


def _check_values(
    meters: MeterOracleClient,
    history: list[CommittedValue],
    used_from: dict[tuple[str, int], CommittedValue],
    used: dict[tuple[str, int], int],
    report: VerifyReport,
) -> None:
    """Every used value that is still current against its commitment (``verifyReading`` with
    a Merkle proof)."""
    current = _values_as_of(history, None)
    batches: dict[bytes, list[MeterValue]] = {}
    for h in history:
        batches.setdefault(h.root, []).append(h.value)
    for key in sorted(used):
        c = used_from.get(key)
        if c is None:
            report.differ(f"meter {key[0]} @ {key[1]}", None, used[key])
            continue
        if current.get(key) != c:
            continue  # superseded by a later correction: flagged, see _flag_corrections
        proof = meters.proof_for(c.value, batches[c.root])
        if not meters.verify_reading(c.value, c.root, proof):
            report.differ(f"meter {key[0]} @ {key[1]}: commitment", "not verified", c.value)
        report.values_checked += 1


def _compare(
    report: VerifyReport,
    rows: list[CoalitionRow],
    results: list[MemberResult],
    deliveries: list[MemberDeliveries],
    expected: ChainSettlement,
    out: list[dict[str, Any]] | None = None,
) -> None:
    """Every field of the chain's figures against the recomputation: into the report's
    differences, or (``out``) into a list of what would change."""

    def differ(what: str, got: object, want: object) -> None:
        if out is None:
            report.differ(what, got, want)
        else:
            out.append({"field": what, "on_chain": got, "recomputed": want})

    payout_total = sum(r.payout for r in results)
    if payout_total != expected.payout_total:
        differ("payout_total", payout_total, expected.payout_total)
        differ("refund", expected.refund + expected.payout_total - payout_total, expected.refund)
    for i, (row, got, want) in enumerate(zip(rows, results, expected.results, strict=False)):
        for name in ("payout", "penalty_uncovered", "points"):
            if getattr(got, name) != getattr(want, name):
                differ(f"row {i} ({row.member}).{name}", getattr(got, name), getattr(want, name))
    for i, (row, got_d, want_d) in enumerate(
        zip(rows, deliveries, expected.deliveries, strict=False)
    ):
        if got_d.missing != want_d.missing:
            differ(
                f"row {i} ({row.member}).missing", sorted(got_d.missing), sorted(want_d.missing)
            )
        for name in ("delivered_wh", "credited_wh", "shortfall_wh"):
            g, w = getattr(got_d, name), getattr(want_d, name)
            for k, (gv, wv) in enumerate(zip(g, w, strict=True)):
                if gv != wv:
                    differ(f"row {i} ({row.member}).{name}[{k}]", gv, wv)


def _disputes(coord: FlexCoordinationClient, request_id: int) -> list[dict[str, Any]]:
    logs = coord.contract.events.SettlementDisputed.get_logs(
        from_block=0, argument_filters={"requestId": request_id}
    )
    return [
        {
            "row": int(e["args"]["row"]),
            "member": e["args"]["member"],
            "disputer": e["args"]["disputer"],
            "bond_paid": int(e["args"]["bondPaid"]),
            "payout_after": int(e["args"]["result"]) >> 160,
            "block": int(e["blockNumber"]),
        }
        for e in sorted(logs, key=lambda e: (e["blockNumber"], e["logIndex"]))
    ]


def _flag_corrections(
    report: VerifyReport,
    info: RequestInfo,
    quantities: tuple[int, ...],
    rows: list[CoalitionRow],
    results: list[MemberResult],
    deliveries: list[MemberDeliveries],
    history: list[CommittedValue],
    final_block: int,
    rules: SettlementRules | None,
    known_params: list[list[int]],
) -> None:
    """Corrections of the rows' meters committed after ``final_block``: each with the value
    it replaced, and what the settlement would be with the values current now."""
    meters = {row.meter_id for row in rows}
    then = _values_as_of(history, final_block)
    late = [
        c for c in history if c.corrected and c.block > final_block and c.value.meter_id in meters
    ]
    if not late:
        return
    changes: list[dict[str, Any]] = []
    try:
        now = compute_chain_settlement(
            info, quantities, rows, _net(_values_as_of(history, None)), rules, known_params
        )
        _compare(report, rows, results, deliveries, now, changes)
    except SettlementError as exc:
        changes.append({"field": "recomputation", "on_chain": "settled", "recomputed": str(exc)})
    for c in late:
        key = (c.value.meter_id, c.value.interval_start_s)
        old = then.get(key)
        report.flagged.append(
            {
                "meter": key[0],
                "interval_start_s": key[1],
                "corrected_in_block": c.block,
                "was_wh": None if old is None else old.value.import_wh - old.value.export_wh,
                "now_wh": c.value.import_wh - c.value.export_wh,
            }
        )
    if changes:
        report.flagged.append({"would_change": changes})


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
    if info.status not in (RequestStatus.SETTLING, RequestStatus.SETTLED):
        raise VerifyInputError(
            f"request {request_id} is not settled (status {info.status.name.lower()})"
        )
    report = VerifyReport(request_id, intervals=info.intervals)
    report.state = "finalized" if info.status is RequestStatus.SETTLED else "proposed"
    rows = coord.coalition_rows(request_id)
    report.rows = len(rows)
    proposal = coord.settlement_proposal(request_id)
    if proposal is None:
        raise VerifyInputError(f"request {request_id} has no settlement proposal in the events")
    if proposal.settlement_hash != info.settlement_hash:
        report.differ("settlement_hash (events vs stored)", info.settlement_hash.hex(), "events")
    results = proposal.results
    deliveries = proposal.deliveries(rows, info.tolerance_bp)
    report.disputes = _disputes(coord, request_id)
    final_block: int | None = None
    if info.status is RequestStatus.SETTLED:
        [final] = coord.contract.events.SettlementFinalized.get_logs(
            from_block=0, argument_filters={"requestId": request_id}
        )
        final_block = int(final["blockNumber"])
        paid = [int(w) for w in final["args"]["results"]]
        if paid != proposal.results_words:
            report.differ("finalized results (vs the proposal)", paid, proposal.results_words)
        if int(final["args"]["refund"]) != info.escrow - proposal.payout_total:
            report.differ(
                "finalized refund (vs the proposal)",
                int(final["args"]["refund"]),
                info.escrow - proposal.payout_total,
            )
    history = meters.history()
    used_from = _values_as_of(history, final_block)
    quantities = coord.quantities_wh(request_id)
    try:
        expected = compute_chain_settlement(
            info, quantities, rows, _net(used_from), rules, known_params or ()
        )
    except SettlementError as exc:
        report.differ("recomputation", "settled", str(exc))
        return report
    report.baseline = {"method": info.baseline_method_id, "params": list(expected.params)}
    _check_values(meters, history, used_from, expected.used, report)
    if len(results) != len(rows):
        report.differ("rows", len(results), len(rows))
    _compare(report, rows, results, deliveries, expected)
    if final_block is not None:
        _flag_corrections(
            report, info, quantities, rows, results, deliveries, history, final_block, rules,
            known_params or [],
        )
    return report
