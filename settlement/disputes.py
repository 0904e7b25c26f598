"""Disputes of FlexCoordination settlement proposals: every proposal checked against an own
recomputation from chain data, every wrong row disputed on-chain with its meter evidence.

A settlement is proposed (its deliveries per member and interval), then open to disputes for
the contract's challenge window (see :mod:`chain.coordination`). :class:`DisputeWatcher`
(the demo runs one for the DSO, anyone can run one) does what the contract cannot do by itself:
on every :meth:`~DisputeWatcher.tick` it reads each settling request's proposal as it stands,
recomputes the settlement with :func:`settlement.service.compute_chain_settlement` from the
targets table and the MeterOracle's current values, and for each row whose deliveries differ
sends ``disputeSettlement`` with that row's evidence (:func:`row_evidence`): the request's
meter-before baseline intervals and every window interval, each the current committed reading
with its Merkle proof, or the claim that there is none (checked on-chain). The contract
recounts the row the same way, corrects the proposal and pays the bond to the first
successful disputer; a dispute that finds the row correct is refused
(``FlexCoordinationRowCorrect``), so the watcher never pays gas for nothing twice: it keeps
what it checked (the proposal's hash and the meter data it saw) and looks again only when
either changes.

Nothing here is state a restart loses: what to dispute follows from the chain alone.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from chain.coordination import (
    MISSING,
    FlexCoordinationClient,
    RequestInfo,
    RequestStatus,
    SettlementProposal,
    pack_proposal_deliveries,
    proposal_row_words,
)
from chain.errors import RevertError
from chain.market import Reading
from chain.oracles import MeterOracleClient
from core.codec import CoalitionRow
from core.names import Names, label
from core.rules import needed_intervals
from core.units import INTERVAL_S
from settlement.domain import SettlementRules
from settlement.errors import SettlementError
from settlement.service import MeterValues, compute_chain_settlement

log = logging.getLogger(__name__)

__all__ = ["DisputeStep", "DisputeWatcher", "row_evidence", "wrong_rows"]


def row_evidence(info: RequestInfo, row: CoalitionRow, values: MeterValues) -> list[Reading]:
    """A row's meter evidence for ``disputeSettlement``: the request's meter-before baseline
    intervals (``baseline_params`` = (intervals, gap)), then each window interval, each the
    meter's current committed reading with its Merkle proof, or :data:`~chain.coordination.
    MISSING` where it has none."""
    k, gap = (int(v) for v in info.baseline_params)
    before, during = needed_intervals(info.window_start_s, INTERVAL_S * info.intervals, k, gap)
    out = []
    for t in before + during:
        c = values.values.get((row.meter_id, t))
        if c is None:
            out.append(MISSING)
        else:
            out.append(Reading(c.value.import_wh, c.value.export_wh, c.root, values.proof(c)))
    return out


def wrong_rows(
    info: RequestInfo,
    quantities_wh: Sequence[int],
    rows: Sequence[CoalitionRow],
    proposal: SettlementProposal,
    values: MeterValues,
    rules: SettlementRules | None = None,
) -> list[int]:
    """The rows whose proposed deliveries (missing-data flags and delivered Wh) are not those
    recomputed from the current meter data; the results follow from them on-chain."""
    expected = compute_chain_settlement(info, quantities_wh, rows, values.net_wh(), rules)
    want = pack_proposal_deliveries(expected.deliveries, info.intervals)
    got = proposal.deliveries_words
    dw = proposal_row_words(info.intervals)
    return [
        i for i in range(len(rows)) if got[i * dw : (i + 1) * dw] != want[i * dw : (i + 1) * dw]
    ]


@dataclass(frozen=True)
class DisputeStep:
    """A dispute the watcher sent (or one it could not make)."""

    kind: str  # disputed | refused
    request_id: int
    row: int
    member: str
    detail: dict[str, Any] = field(default_factory=dict)
    gas_used: int = 0
    tx_hash: str = ""

    def describe(self, names: Names | None = None) -> str:
        """One line for the log; ``names``: display names of the members (:func:`label`)."""
        rid = f"request #{self.request_id}"
        if self.kind == "disputed":
            d = self.detail
            return (
                f"settlement of {rid} disputed: row {self.row} ({label(self.member, names)}) "
                f"corrected, payout "
                f"{d['payout_before']} -> {d['payout_after']}, bond paid {d['bond_paid']}, gas "
                f"{self.gas_used}"
            )
        return f"{rid}: dispute of row {self.row} refused ({self.detail.get('reason')})"


class DisputeWatcher:
    """Checks every settlement proposal and disputes its wrong rows (see the module).
    ``coordination`` sends the disputes (any account: a dispute needs no role)."""

    def __init__(
        self,
        coordination: FlexCoordinationClient,
        meters: MeterOracleClient,
        from_block: int = 0,
        clock: Callable[[], float] | None = None,
        on_step: Callable[[DisputeStep], None] | None = None,
        rules: SettlementRules | None = None,
    ) -> None:
        if coordination.sender is None:
            raise ValueError("the dispute watcher needs a sending account")
        self.coordination = coordination
        self.values = MeterValues(meters, from_block)
        self.from_block = from_block
        self.clock = clock
        self.on_step = on_step
        self.rules = rules
        self._final: set[int] = set()
        self._checked: dict[int, tuple[bytes, tuple[int, int]]] = {}
        self._stop = threading.Event()

    def _now(self) -> float:
        if self.clock is not None:
            return self.clock()
        return float(self.coordination.w3.eth.get_block("latest")["timestamp"])

    def tick(self, now_s: float | None = None) -> list[DisputeStep]:
        """Check every settling request whose challenge window is open; dispute wrong rows."""
        now = self._now() if now_s is None else now_s
        steps: list[DisputeStep] = []
        for rid in range(1, self.coordination.request_count() + 1):
            if rid in self._final:
                continue
            info = self.coordination.request(rid)
            if info.status in (RequestStatus.SETTLED, RequestStatus.RECLAIMED):
                self._final.add(rid)
                continue
            if info.status is RequestStatus.SETTLING and now < info.challenge_ends_s:
                steps += self.check(info)
        for s in steps:
            log.info(s.describe())
            if self.on_step is not None:
                self.on_step(s)
        return steps

    def check(self, info: RequestInfo) -> list[DisputeStep]:
        """Check one settling request's proposal and dispute each wrong row."""
        rid = info.request_id
        self.values.refresh()
        seen = len(self.values.values), sum(len(b) for b in self.values.batches.values())
        key = (bytes(info.settlement_hash), seen)
        if self._checked.get(rid) == key:
            return []  # nothing changed since the last look
        rows = self.coordination.coalition_rows(rid, self.from_block)
        proposal = self.coordination.settlement_proposal(rid, self.from_block)
        if proposal is None:
            return []
        quantities = self.coordination.quantities_wh(rid)
        try:
            wrong = wrong_rows(info, quantities, rows, proposal, self.values, self.rules)
        except SettlementError as exc:
            log.warning("request %s: cannot recompute its settlement: %s", rid, exc)
            self._checked[rid] = key
            return []
        steps = []
        for i in wrong:
            step = self._dispute(info, rows, proposal, i)
            steps.append(step)
            if step.kind != "disputed":
                continue
            proposal = self.coordination.settlement_proposal(rid, self.from_block) or proposal
        info = self.coordination.request(rid)
        self._checked[rid] = (bytes(info.settlement_hash), seen)
        return steps

    def _dispute(
        self, info: RequestInfo, rows: Sequence[CoalitionRow], proposal: SettlementProposal, i: int
    ) -> DisputeStep:
        rid, member = info.request_id, rows[i].member
        readings = row_evidence(info, rows[i], self.values)
        before = proposal.results[i].payout
        try:
            receipt = self.coordination.dispute_settlement(rid, rows, proposal, i, readings)
        except RevertError as exc:  # someone else corrected it, or the window closed
            return DisputeStep("refused", rid, i, member, {"reason": exc.error_name})
        [ev] = self.coordination.events(receipt, "SettlementDisputed")
        a = ev["args"]
        after = int(a["result"]) >> 160
        return DisputeStep(
            "disputed",
            rid,
            i,
            member,
            {
                "payout_before": before,
                "payout_after": after,
                "bond_paid": int(a["bondPaid"]),
                "payout_total": int(a["payoutTotal"]),
                "refund": int(a["refund"]),
            },
            int(receipt["gasUsed"]),
            "0x" + bytes(receipt["transactionHash"]).hex(),
        )

    def run(
        self,
        stop: threading.Event | None = None,
        poll_s: float = 0.5,
        on_error: Callable[[Exception], None] | None = None,
    ) -> None:
        """Tick every ``poll_s`` until ``stop`` (or :meth:`stop`) is set."""
        stop = stop or self._stop
        while not stop.is_set() and not self._stop.is_set():
            try:
                self.tick()
            except Exception as exc:  # the next tick starts from the chain again
                log.exception("dispute watcher tick failed")
                if on_error is not None:
                    on_error(exc)
            stop.wait(poll_s)

    def stop(self) -> None:
        self._stop.set()

