"""Settlement on delivery of cleared market sessions, from chain data alone.

A cleared match is a promise: after the delivery period each seller's delivery is measured on
its committed meter data (the meter-before baseline the session names, see
:func:`core.rules.needed_intervals`), and the session settles with the one rule set
(:func:`core.rules.settle_session`). The ``FlexMarket`` contract computes the same figures
itself from the readings and their Merkle proofs, so anyone may settle; this module

* gathers each seller's evidence from the MeterOracle's events (the current value of every
  needed interval, corrections included, with its batch's proof), or names the first interval
  without a committed reading;
* submits the settlement (:meth:`MarketSettler.settle`), once per session, whoever else tries;
* recomputes a settled session from the same data and compares it with what the contract
  logged (:meth:`MarketSettler.verify`, ``bright settle verify --session``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from eth_utils import to_checksum_address
from web3.types import TxReceipt

from chain.contracts import ParticipantRegistryClient
from chain.errors import revert_error
from chain.market import (
    FlexMarketClient,
    Reading,
    SellerEvidence,
    SessionInfo,
    SessionStatus,
)
from chain.oracles import CommittedValue, MeterOracleClient
from core.errors import MarketError
from core.oracle_codec import MeterValue
from core.rules import (
    Direction,
    SessionSettlement,
    SessionTerms,
    Side,
    TableRow,
    needed_intervals,
    seller_delivered_wh,
    settle_session,
)


@dataclass(frozen=True)
class SellerOutcome:
    """A seller's settlement as the contract logged it (``SellerSettled``)."""

    filled_wh: int
    delivered_wh: int
    credited_wh: int
    shortfall_wh: int
    earned: int
    penalty: int
    missing_data: bool


@dataclass(frozen=True)
class BuyerOutcome:
    """A filled bid's settlement as the contract logged it (``BuyerRefunded``)."""

    buyer: str
    paid: int
    refund: int


@dataclass(frozen=True)
class SettledSession:
    """What the contract logged when a session settled (token base units, Wh)."""

    session_id: int
    earned: int
    penalties: int
    refunds: int
    dust: int
    sellers: dict[str, SellerOutcome] = field(default_factory=dict)
    buyers: dict[int, BuyerOutcome] = field(default_factory=dict)
    """Per filled bid (order id)."""
    tx_hash: str = ""


@dataclass
class VerifyReport:
    """A settled session recomputed from chain data and compared with what was logged."""

    session_id: int
    expected: SessionSettlement | None = None
    logged: SettledSession | None = None
    differences: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.expected is not None and self.logged is not None and not self.differences


def terms_of(info: SessionInfo) -> SessionTerms:
    """The money terms of a session as :func:`core.rules.settle_session` takes them."""
    return SessionTerms(
        rule=info.rule,
        product=Direction(int(info.product)),
        price_per_kwh=info.clearing_price_per_kwh,
        penalty_per_kwh=info.terms.penalty_per_kwh,
        tolerance_bp=info.terms.tolerance_bp,
        order_bond=info.terms.order_bond,
        duration_intervals=info.duration_s // 900,
    )


class MarketSettler:
    """Settles cleared sessions whose settlement is open (anyone may; the operator does)."""

    def __init__(
        self,
        market: FlexMarketClient,
        meters: MeterOracleClient,
        registry: ParticipantRegistryClient,
        from_block: int = 0,
    ) -> None:
        self.market = market
        self.meters = meters
        self.registry = registry
        self.from_block = from_block
        self._meter_of: dict[str, str] = {}

    # ------------------------------------------------------------ evidence
    def meter_of(self, trader: str) -> str:
        """The registered meter id of ``trader`` ("" when it has none)."""
        key = to_checksum_address(trader)
        if key not in self._meter_of:
            self._meter_of[key] = self.registry.participant(key).meter_id
        return self._meter_of[key]

    def _committed(
        self, meter_ids: Iterable[str], starts: Iterable[int]
    ) -> tuple[dict[tuple[str, int], CommittedValue], dict[bytes, list[MeterValue]]]:
        """The current value of each (meter, interval) asked for, and every batch by root."""
        wanted_meters, wanted_starts = set(meter_ids), set(starts)
        current: dict[tuple[str, int], CommittedValue] = {}
        batches: dict[bytes, list[MeterValue]] = defaultdict(list)
        for c in self.meters.history(self.from_block):
            if c.value.interval_start_s not in wanted_starts:
                continue
            batches[c.root].append(c.value)
            if c.value.meter_id in wanted_meters:
                current[(c.value.meter_id, c.value.interval_start_s)] = c
        return current, batches

    def evidence(self, info: SessionInfo, sellers: Iterable[str]) -> list[SellerEvidence]:
        """Each seller's readings with their proofs, or its first interval without one."""
        before, during = needed_intervals(
            info.delivery_start_s,
            info.duration_s,
            info.terms.baseline_intervals,
            info.terms.baseline_gap_intervals,
        )
        starts = before + during
        sellers = [to_checksum_address(s) for s in sellers]
        meter = {s: self.meter_of(s) for s in sellers}
        current, batches = self._committed([m for m in meter.values() if m], starts)
        out = []
        for s in sellers:
            readings: list[Reading] = []
            missing = 0
            for k, t in enumerate(starts):
                c = current.get((meter[s], t)) if meter[s] else None
                if c is None:
                    missing = k + 1
                    break
                proof = self.meters.proof_for(c.value, batches[c.root])
                readings.append(Reading(c.value.import_wh, c.value.export_wh, c.root, proof))
            out.append(SellerEvidence(s, () if missing else readings, missing))
        return out

    def deliveries(
        self, info: SessionInfo, evidence: Sequence[SellerEvidence]
    ) -> dict[str, int | None]:
        """Per seller the delivery the contract will compute from ``evidence`` (None: missing)."""
        k = info.terms.baseline_intervals
        out: dict[str, int | None] = {}
        for e in evidence:
            if e.missing:
                out[e.trader] = None
                continue
            net = [r.import_wh - r.export_wh for r in e.readings]
            out[e.trader] = seller_delivered_wh(Direction(int(info.product)), net[:k], net[k:])
        return out

    # ------------------------------------------------------------ settling
    def sellers_of(self, table: Sequence[TableRow]) -> list[str]:
        return sorted({r.trader for r in table if r.side == Side.OFFER}, key=lambda a: int(a, 16))

    def expected(
        self, session_id: int
    ) -> tuple[SessionSettlement, list[TableRow], list[SellerEvidence]]:
        """The settlement the contract will compute now, from the same chain data."""
        info = self.market.session(session_id)
        if info.status not in (SessionStatus.CLEARED, SessionStatus.SETTLED):
            raise MarketError(f"session {session_id} is {info.status.name.lower()}, not cleared")
        table = self.market.settlement_table(session_id, self.from_block)
        evidence = self.evidence(info, self.sellers_of(table))
        outcome = settle_session(terms_of(info), table, self.deliveries(info, evidence))
        return outcome, table, evidence

    def settle(self, session_id: int) -> SettledSession | None:
        """Settle one session whose settlement is open; None if someone else already did."""
        _, table, evidence = self.expected(session_id)
        try:
            receipt = self.market.settle_session(session_id, table, evidence)
        except revert_error("FlexMarketWrongStatus"):
            return None
        return self.logged_in(receipt)

    def settle_due(self, now_s: int, sessions: Iterable[SessionInfo]) -> list[SettledSession]:
        """Settle every cleared session whose settlement has opened."""
        done = []
        for info in sessions:
            if info.status == SessionStatus.CLEARED and info.settle_opens_s <= now_s:
                settled = self.settle(info.session_id)
                if settled is not None:
                    done.append(settled)
        return done

    # ------------------------------------------------------------ reading back
    def logged_in(self, receipt: TxReceipt) -> SettledSession:
        """The settlement a receipt carries (its ``SessionSettled`` and per-party events)."""
        [ev] = self.market.events(receipt, "SessionSettled")
        return self._from_events(
            ev,
            self.market.events(receipt, "SellerSettled"),
            self.market.events(receipt, "BuyerRefunded"),
        )

    def logged(self, session_id: int) -> SettledSession | None:
        """What the contract logged for ``session_id``, read from the events (None: not settled)."""
        f = {"sessionId": session_id}
        c = self.market.contract.events
        settled = c.SessionSettled.get_logs(from_block=self.from_block, argument_filters=f)
        if not settled:
            return None
        return self._from_events(
            settled[-1],
            c.SellerSettled.get_logs(from_block=self.from_block, argument_filters=f),
            c.BuyerRefunded.get_logs(from_block=self.from_block, argument_filters=f),
        )

    @staticmethod
    def _from_events(ev: Any, sellers: Iterable[Any], buyers: Iterable[Any]) -> SettledSession:
        a = ev["args"]
        out = SettledSession(
            session_id=int(a["sessionId"]),
            earned=int(a["earned"]),
            penalties=int(a["penalties"]),
            refunds=int(a["refunds"]),
            dust=int(a["dust"]),
            tx_hash="0x" + bytes(ev["transactionHash"]).hex(),
        )
        for s in sellers:
            x = s["args"]
            out.sellers[to_checksum_address(x["seller"])] = SellerOutcome(
                filled_wh=int(x["filledWh"]),
                delivered_wh=int(x["deliveredWh"]),
                credited_wh=int(x["creditedWh"]),
                shortfall_wh=int(x["shortfallWh"]),
                earned=int(x["earned"]),
                penalty=int(x["penalty"]),
                missing_data=bool(x["missingData"]),
            )
        for b in buyers:
            x = b["args"]
            out.buyers[int(x["orderId"])] = BuyerOutcome(
                to_checksum_address(x["buyer"]), int(x["paid"]), int(x["refund"])
            )
        return out

    def verify(self, session_id: int) -> VerifyReport:
        """Recompute a settled session from chain data and compare it with the events."""
        report = VerifyReport(session_id)
        report.logged = self.logged(session_id)
        if report.logged is None:
            report.differences.append(f"session {session_id} is not settled")
            return report
        expected, _, _ = self.expected(session_id)
        report.expected = expected
        got = report.logged
        for name in ("earned", "penalties", "refunds", "dust"):
            if getattr(expected, name) != getattr(got, name):
                report.differences.append(
                    f"{name}: logged {getattr(got, name)}, recomputed {getattr(expected, name)}"
                )
        for s in expected.sellers:
            g = got.sellers.get(to_checksum_address(s.trader))
            want = SellerOutcome(
                s.filled_wh,
                s.delivered_wh,
                s.credited_wh,
                s.shortfall_wh,
                s.earned,
                s.penalty,
                s.missing_data,
            )
            if g != want:
                report.differences.append(f"seller {s.trader}: logged {g}, recomputed {want}")
        for b in expected.buyers:
            gb = got.buyers.get(b.order_id)
            wb = BuyerOutcome(to_checksum_address(b.trader), b.paid, b.refund)
            if gb != wb:
                report.differences.append(f"bid {b.order_id}: logged {gb}, recomputed {wb}")
        return report
