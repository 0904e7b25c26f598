"""The market operator: opens a session per delivery interval, clears each session once its
book is final, and submits the result, which the ``FlexMarket`` contract re-checks.

Restart-safe by construction: it keeps no state of its own. Which sessions exist and which are
cleared is read from the chain on every round, so a restarted operator picks up where the last
one stopped and never submits a session twice (a clearing that lost a race to another operator
is rejected on-chain with ``FlexMarketAlreadyCleared`` and counted as done).
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from pydantic import BaseModel, Field

from chain.errors import revert_error
from chain.market import FlexMarketClient, Product, SessionInfo
from core.rules import PricingRule
from core.units import INTERVAL_S
from matching.engine import clear
from matching.verify import check_clearing


class OperatorConfig(BaseModel):
    """How the operator runs the market."""

    gate_lead_s: int = Field(300, ge=1, description="Gate closure this long before delivery.")
    sessions_ahead: int = Field(1, ge=1, le=96, description="Intervals to keep a session open for.")
    rule: PricingRule = Field(PricingRule.UNIFORM, description="Pricing rule of new sessions.")
    product: Product = Field(Product.UPWARD, description="Flexibility product of new sessions.")
    grid_area: str = Field("", description="Area of new sessions; empty admits all areas.")
    poll_s: float = Field(1.0, gt=0, description="Seconds between rounds of `run`.")


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


class MarketOperator:
    """Opens and clears sessions through an operator-signed :class:`FlexMarketClient`."""

    def __init__(self, market: FlexMarketClient, config: OperatorConfig | None = None) -> None:
        self.market = market
        self.config = config or OperatorConfig()
        self._known: dict[int, SessionInfo] = {}

    def sessions(self) -> list[SessionInfo]:
        """Every session on the chain (cleared ones are cached: they no longer change)."""
        out = []
        for sid in range(1, self.market.session_count() + 1):
            info = self._known.get(sid)
            if info is None or not info.cleared:
                info = self.market.session(sid)
                if info.cleared:
                    self._known[sid] = info
            out.append(info)
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
            )
            opened.append(sid)
        return opened

    def clear_session(self, info: SessionInfo) -> ClearedSession | None:
        """Clear one session whose book is final; None if another operator already did."""
        book = self.market.book(info.session_id)
        active = book.active_orders
        result = clear(active, info.rule)
        check_clearing(active, info.rule, result)  # never submit what the contract would refuse
        try:
            receipt = self.market.clear_session(
                info.session_id, self.market.clearing_args(book, result)
            )
        except revert_error("FlexMarketAlreadyCleared"):
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
        """Clear every session whose book is final (gate or reveal deadline passed)."""
        done = []
        for info in self.sessions():
            if not info.cleared and info.closes_at_s <= now_s:
                cleared = self.clear_session(info)
                if cleared is not None:
                    done.append(cleared)
        return done

    def run_once(self, now_s: int | None = None) -> tuple[list[int], list[ClearedSession]]:
        """One round: clear what is due, then open what is missing (chain time by default)."""
        if now_s is None:
            now_s = int(self.market.w3.eth.get_block("latest")["timestamp"])
        cleared = self.clear_due(now_s)
        opened = self.open_due(now_s)
        return opened, cleared

    def run(
        self,
        stop: threading.Event,
        on_cleared: Callable[[ClearedSession], None] | None = None,
    ) -> None:
        """Rounds every ``poll_s`` seconds until ``stop`` is set."""
        while not stop.is_set():
            try:
                _, cleared = self.run_once()
            except Exception as exc:  # keep the market running; the next round retries
                print(f"market operator: round failed: {exc}", file=sys.stderr, flush=True)
                cleared = []
            for c in cleared:
                if on_cleared:
                    on_cleared(c)
            stop.wait(self.config.poll_s)


def describe(c: ClearedSession) -> str:
    """One line for a cleared session."""
    when = time.strftime("%Y-%m-%d %H:%M", time.gmtime(c.delivery_start_s))
    price = "-" if c.price_per_kwh is None else f"{c.price_per_kwh / 10**6:.6f} FLEX/kWh"
    return (
        f"session {c.session_id:>4}  delivery {when} UTC  orders {c.orders:>3}  "
        f"matches {c.matches:>3}  volume {c.volume_wh / 1000:8.3f} kWh  price {price}"
    )
