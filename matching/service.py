"""The market operator: opens a session per delivery interval, clears each session once its
book is final, and submits the result, which the ``FlexMarket`` contract re-checks; voids a
session nobody cleared before its delivery, and (with a :class:`~settlement.market.
MarketSettler`) settles cleared sessions on delivery.

Restart-safe by construction: it keeps no state of its own. Which sessions exist and where each
stands is read from the chain on every round, so a restarted operator picks up where the last
one stopped and never submits a session twice (a clearing that lost a race to another operator
is rejected on-chain with ``FlexMarketWrongStatus`` and counted as done). Reorg-safe the same
way: a transaction a reorg drops frees its nonce (:mod:`chain.tx`) and the next round finds
its step undone on the chain and does it again.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from pydantic import BaseModel, Field

from chain.contracts import ParticipantRegistryClient
from chain.errors import revert_error
from chain.market import (
    BookOrder,
    FlexMarketClient,
    MarketTerms,
    Product,
    SessionBook,
    SessionInfo,
    SessionStatus,
)
from chain.tx import ChainWatch, TransactionInterrupted, stoppable
from core.rules import PricingRule
from core.units import INTERVAL_S
from matching.domain import Order
from matching.engine import clear
from matching.verify import check_clearing
from settlement.market import MarketSettler, SettledSession


class OperatorConfig(BaseModel):
    """How the operator runs the market."""

    gate_lead_s: int = Field(300, ge=1, description="Gate closure this long before delivery.")
    sessions_ahead: int = Field(1, ge=1, le=96, description="Intervals to keep a session open for.")
    rule: PricingRule = Field(PricingRule.UNIFORM, description="Pricing rule of new sessions.")
    product: Product = Field(Product.UPWARD, description="Flexibility product of new sessions.")
    grid_area: str = Field("", description="Area of new sessions; empty admits all areas.")
    poll_s: float = Field(1.0, gt=0, description="Seconds between rounds of `run`.")
    tolerance_bp: int = Field(
        1000, ge=0, lt=10_000, description="A seller's shortfall is penalised below its fill "
        "minus this share, basis points."
    )
    penalty_per_kwh: int = Field(
        50_000, ge=0, lt=2**40, description="Penalty per kWh of shortfall (an offer bonds its "
        "quantity at it), FlexToken base units."
    )
    order_bond: int = Field(
        100_000, ge=0, lt=2**48, description="Locked by every order until it is cleared, "
        "cancelled or settled (makes stuffing a session cost the stuffer), base units."
    )
    baseline_intervals: int = Field(
        1, ge=1, le=3, description="Meter-before baseline: intervals averaged before delivery."
    )
    settle_delay_s: int = Field(
        0, ge=0, description="Settlement opens this long after the delivery ends (meter data)."
    )

    @property
    def terms(self) -> MarketTerms:
        return MarketTerms(
            tolerance_bp=self.tolerance_bp,
            penalty_per_kwh=self.penalty_per_kwh,
            order_bond=self.order_bond,
            baseline_intervals=self.baseline_intervals,
            settle_delay_s=self.settle_delay_s,
        )


@dataclass(frozen=True)
class ClearedSession:
    """What the operator submitted for one session."""

    session_id: int
    delivery_start_s: int
    price_per_kwh: int | None
    volume_wh: int
    matches: int
    orders: int
    tx_hash: str


@dataclass
class Round:
    """What one round of the operator did."""

    opened: list[int] = field(default_factory=list)
    cleared: list[ClearedSession] = field(default_factory=list)
    voided: list[int] = field(default_factory=list)
    cancelled: list[tuple[int, int]] = field(default_factory=list)
    settled: list[SettledSession] = field(default_factory=list)


def engine_orders(book: SessionBook) -> list[Order]:
    """The book's active orders as the matching engine takes them."""

    def order(o: BookOrder) -> Order:
        return Order(o.order_id, o.side, o.qty_wh, o.price_per_kwh, o.trader, o.area_text or "-")

    return [order(o) for o in book.active_orders]


class MarketOperator:
    """Opens, clears, voids and settles sessions through an operator-signed client."""

    def __init__(
        self,
        market: FlexMarketClient,
        config: OperatorConfig | None = None,
        settler: MarketSettler | None = None,
        registry: ParticipantRegistryClient | None = None,
    ) -> None:
        self.market = market
        self.config = config or OperatorConfig()
        self.settler = settler
        self.registry = registry
        self._known: dict[int, SessionInfo] = {}
        self._chain = ChainWatch(market.w3).follow(market.sender)

    def sessions(self) -> list[SessionInfo]:
        """Every session on the chain (settled and voided ones are cached: they no longer
        change, unless a reorg takes the block that settled or voided one: the cache is then
        read again)."""
        if self._known and self._chain.reorged():
            self._known.clear()
        out = []
        cached = False
        for sid in range(1, self.market.session_count() + 1):
            info = self._known.get(sid)
            if info is None or info.status in (SessionStatus.OPEN, SessionStatus.CLEARED):
                info = self.market.session(sid)
                if info.status in (SessionStatus.SETTLED, SessionStatus.VOIDED):
                    self._known[sid] = info
                    cached = True
            out.append(info)
        if cached:
            self._chain.mark()
        return out

    def open_due(self, now_s: int) -> list[int]:
        """Open a session for each of the next intervals that has none; returns their ids."""
        starts = {s.delivery_start_s for s in self.sessions()}
        first = (now_s + self.config.gate_lead_s) // INTERVAL_S * INTERVAL_S + INTERVAL_S
        opened = []
        for k in range(self.config.sessions_ahead):
            start = first + k * INTERVAL_S
            if start in starts:
                continue
            _, sid = self.market.open_session(
                start,
                INTERVAL_S,
                start - self.config.gate_lead_s,
                product=self.config.product,
                rule=self.config.rule,
                grid_area=self.config.grid_area,
                terms=self.config.terms,
            )
            opened.append(sid)
        return opened

    def cancel_inactive(self, info: SessionInfo) -> list[tuple[int, int]]:
        """Cancel the orders of traders deactivated on-chain while the gate is open (the
        contract lets anyone do it), so they do not trade."""
        if self.registry is None or info.status != SessionStatus.OPEN:
            return []
        book = self.market.book(info.session_id)
        active: dict[str, bool] = {}
        done = []
        for o in book.active_orders:
            if o.trader not in active:
                active[o.trader] = self.registry.is_active(o.trader)
            if not active[o.trader]:
                self.market.cancel_order(info.session_id, o.order_id, book)
                book = self.market.book(info.session_id)
                done.append((info.session_id, o.order_id))
        return done

    def clear_session(self, info: SessionInfo) -> ClearedSession | None:
        """Clear one session whose book is final; None if another operator already did."""
        book = self.market.book(info.session_id)
        active = engine_orders(book)
        result = clear(active, info.rule)
        check_clearing(active, info.rule, result)  # never submit what the contract would refuse
        matches = [(m.bid_id, m.offer_id, m.qty_wh) for m in result.matches]
        try:
            receipt = self.market.clear_session(
                info.session_id, self.market.clearing_args(book, matches, result.price_per_kwh)
            )
        except revert_error("FlexMarketWrongStatus"):
            return None
        return ClearedSession(
            session_id=info.session_id,
            delivery_start_s=info.delivery_start_s,
            price_per_kwh=result.price_per_kwh,
            volume_wh=result.volume_wh,
            matches=len(result.matches),
            orders=len(active),
            tx_hash="0x" + bytes(receipt["transactionHash"]).hex(),
        )

    def clear_due(self, now_s: int) -> list[ClearedSession]:
        """Clear every session whose book is final (gate or reveal deadline passed) and whose
        delivery has not started."""
        done = []
        for info in self.sessions():
            if info.status != SessionStatus.OPEN or info.closes_at_s > now_s:
                continue
            if now_s >= info.delivery_start_s:
                continue  # too late: void_due releases it
            cleared = self.clear_session(info)
            if cleared is not None:
                done.append(cleared)
        return done

    def void_due(self, now_s: int) -> list[int]:
        """Void every session nobody cleared before its delivery started (releases the locks)."""
        done = []
        for info in self.sessions():
            if info.status == SessionStatus.OPEN and info.delivery_start_s <= now_s:
                try:
                    self.market.void_session(info.session_id)
                except revert_error("FlexMarketWrongStatus"):
                    continue
                done.append(info.session_id)
        return done

    def run_once(self, now_s: int | None = None) -> Round:
        """One round: cancel inactive traders' orders, clear what is due, void what is too late,
        settle what has been delivered, open what is missing (chain time by default)."""
        if now_s is None:
            now_s = int(self.market.w3.eth.get_block("latest")["timestamp"])
        r = Round()
        for info in self.sessions():
            if info.status == SessionStatus.OPEN and now_s < info.gate_closure_s:
                r.cancelled += self.cancel_inactive(info)
        r.cleared = self.clear_due(now_s)
        r.voided = self.void_due(now_s)
        if self.settler is not None:
            r.settled = self.settler.settle_due(now_s, self.sessions())
        r.opened = self.open_due(now_s)
        return r

    def run(
        self,
        stop: threading.Event,
        on_cleared: Callable[[ClearedSession], None] | None = None,
        on_settled: Callable[[SettledSession], None] | None = None,
    ) -> None:
        """Rounds every ``poll_s`` seconds until ``stop`` is set (a wait for a receipt ends
        then too)."""
        with stoppable(stop):
            while not stop.is_set():
                try:
                    r = self.run_once()
                except TransactionInterrupted:
                    break
                except Exception as exc:  # keep the market running; the next round retries
                    print(f"market operator: round failed: {exc}", file=sys.stderr, flush=True)
                    r = Round()
                for c in r.cleared:
                    if on_cleared:
                        on_cleared(c)
                for s in r.settled:
                    if on_settled:
                        on_settled(s)
                stop.wait(self.config.poll_s)


def describe(c: ClearedSession) -> str:
    """One line for a cleared session."""
    when = time.strftime("%Y-%m-%d %H:%M", time.gmtime(c.delivery_start_s))
    price = "-" if c.price_per_kwh is None else f"{c.price_per_kwh / 10**6:.6f} FLEX/kWh"
    return (
        f"session {c.session_id:>4}  delivery {when} UTC  orders {c.orders:>3}  "
        f"matches {c.matches:>3}  volume {c.volume_wh / 1000:8.3f} kWh  price {price}"
    )


def describe_settled(s: SettledSession) -> str:
    """One line for a session settled on delivery: what the sellers earned and the buyers got
    back."""
    delivered = sum(v.credited_wh for v in s.sellers.values())
    sold = sum(v.filled_wh for v in s.sellers.values())
    return (
        f"session {s.session_id:>4}  settled: sellers delivered {delivered / 1000:.3f} of "
        f"{sold / 1000:.3f} kWh, earned {s.earned / 10**6:.6f} FLEX, penalties "
        f"{s.penalties / 10**6:.6f}, buyers got back {s.refunds / 10**6:.6f} FLEX"
    )
