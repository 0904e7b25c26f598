"""The demo community trading on the flexibility market, from its real load and PV profiles.

Each round the market operator opens the session of the next 15-minute interval; every home
looks at its measured load and PV for that hour of the CityLearn 2022 year and trades:

* a home with more load than PV can shed part of it (30 % of its load in the interval): it
  offers that upward flexibility, at a price that grows with how much it gives up;
* a home with surplus PV wants the community to absorb it: it bids for flexibility to cover
  half of its surplus;
* the aggregator bids for 40 % of the offered flexibility, to balance the community, at a
  higher price in the evening peak.

This is a stand-in strategy to exercise the market with realistic volumes and shapes; the
forecasting and coalition engines replace it. Half of the orders go directly from the homes'
wallets, half as EIP-712 signed orders relayed by the operator (the signers pay no gas). On the
local demo chain, time is accelerated: after the orders, the chain clock is moved to the gate
closure and the session is cleared, so a 15-minute session takes a few seconds. In real time
(``real_time=True``, ``bright up --real-time``) the chain clock is never moved: each round
opens the next interval's session when the chain's clock (:class:`chain.clock.ChainClock`,
the wall clock on a chain that was never accelerated) reaches it, the community trades in it
at once, and it is cleared by the first round after its real gate closure (``gate_lead_s``
before delivery): a session opens 20 minutes before its delivery, so a person has 15 minutes
to trade in it.

A cleared trade is a promise: once a session's delivery interval is over (and its meter data
committed, ``settle_delay_s`` later) the operator settles it on delivery from the MeterOracle's
readings (:class:`settlement.market.MarketSettler`): the sellers are paid for what their meters
show they delivered against the meter-before baseline, the buyers get back the rest. Without
the data-in path (``bright up --no-data``) no meter data is committed and the sellers are
settled as having no data.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from web3.types import RPCEndpoint

from analytics.data.citylearn import load_matrix
from chain.clock import ChainClock
from chain.domain import Role
from chain.oracles import MeterOracleClient
from chain.platform import Platform
from chain.tx import TransactionInterrupted, stoppable
from core.rules import Side
from core.units import INTERVAL_S, tokens_to_base
from matching.service import ClearedSession, MarketOperator, OperatorConfig
from settlement.market import MarketSettler, SettledSession

if TYPE_CHECKING:
    from bright.demo import Member
    from bright.demo_control import DemoPhysics, MarketSales

MARKET_DEPOSIT = tokens_to_base(500)
DEMO_OPERATOR = OperatorConfig(settle_delay_s=900)
"""Settlement opens one interval after delivery: the data-in path commits each interval's
meter data when it ends."""
HOURS = 8760


@dataclass(frozen=True)
class DemoOrder:
    member_index: int
    side: Side
    qty_wh: int
    price_per_kwh: int


def data_hour(delivery_start_s: int, hours: int = HOURS) -> int:
    """Row of the data set's year for a delivery time: the same calendar day and hour (UTC).

    The data year starts on 1 August (CityLearn 2022); 29 February maps to 28 February.
    """
    t = time.gmtime(delivery_start_s)
    day_of_year = min(t.tm_yday, 365) - 1
    first_day = 212  # 1 August in a non-leap year, 0-based
    return ((day_of_year - first_day) % 365 * 24 + t.tm_hour) % hours


def profile_orders(
    load_kwh: np.ndarray, pv_kwh: np.ndarray, delivery_start_s: int, seed: int = 0
) -> list[tuple[int, Side, int, int]]:
    """Orders (home index, side, qty Wh, price per kWh) for one interval from hourly profiles.

    ``load_kwh`` and ``pv_kwh`` are (hours, homes) arrays of the data set's year.
    """
    hour = data_hour(delivery_start_s, load_kwh.shape[0])
    rng = np.random.default_rng(seed + delivery_start_s // INTERVAL_S)
    orders = []
    for h in range(load_kwh.shape[1]):
        load_wh = load_kwh[hour, h] * 1000 / 4  # energy in the 15-minute interval
        pv_wh = pv_kwh[hour, h] * 1000 / 4
        if load_wh > pv_wh:
            qty = int(0.3 * load_wh)
            price = int(tokens_to_base("0.06") + 4_000 * (h % 8) + rng.integers(0, 20_000))
            side = Side.OFFER
        else:
            qty = int(0.5 * (pv_wh - load_wh))
            price = int(tokens_to_base("0.09") + rng.integers(0, 40_000))
            side = Side.BID
        if qty > 0:
            orders.append((h, side, qty, price))
    return orders


class DemoMarket:
    """Runs market rounds for the demo community on a local chain."""

    def __init__(
        self,
        platform: Platform,
        members: list[Member],
        config: OperatorConfig | None = None,
        real_time: bool = False,
        physics: DemoPhysics | None = None,
        sales: MarketSales | None = None,
    ) -> None:
        """``physics``: the homes' twins (``bright up --control``): orders from what each twin
        imports and can shift, and every cleared sell recorded in ``sales`` for the homes'
        controller to deliver."""
        self.physics = physics
        self.sales = sales
        self.platform = platform
        self.real_time = real_time
        self.clock = ChainClock(platform.w3, cache_s=0.0)
        self.homes = [m for m in members if m.role is Role.PROSUMER]
        self.aggregator = next(m for m in members if m.role is Role.AGGREGATOR)
        operator = next(m for m in members if m.role is Role.MARKET_OPERATOR)
        market = platform.market(operator.account)
        meters = MeterOracleClient(
            platform.w3,
            platform.deployment.address("MeterOracle"),
            platform.artifacts["MeterOracle"],
            platform.sender(operator.account),
        )
        settler = MarketSettler(
            market, meters, platform.registry(), from_block=platform.deployment.start_block
        )
        self.operator = MarketOperator(
            market, config or DEMO_OPERATOR, settler=settler, registry=platform.registry()
        )
        self.load = load_matrix("load_kwh").to_numpy()
        self.pv = load_matrix("pv_kwh").to_numpy()

    def fund(self) -> int:
        """Deposit FlexToken into the market for members that have none there (idempotent)."""
        market_address = self.platform.deployment.address("FlexMarket")
        funded = 0
        for m in [*self.homes, self.aggregator]:
            free, locked, _ = self.platform.market().account(m.address)
            if free + locked == 0 and self.platform.token().balance_of(m.address) >= MARKET_DEPOSIT:
                self.platform.token(m.account).approve(market_address, MARKET_DEPOSIT)
                self.platform.market(m.account).deposit(MARKET_DEPOSIT)
                funded += 1
        return funded

    def _now(self) -> int:
        return int(self.platform.w3.eth.get_block("latest")["timestamp"])

    def _advance_to(self, t_s: int) -> None:
        gap = t_s - self._now()
        if gap > 0:
            self.platform.w3.provider.make_request(RPCEndpoint("evm_increaseTime"), [gap])
        self.platform.w3.provider.make_request(RPCEndpoint("evm_mine"), [])

    def trade(self, session_id: int) -> int:
        """The community's orders for a session: half direct, half signed and relayed."""
        info = self.operator.market.session(session_id)
        if self.physics is not None:
            sides = {"offer": Side.OFFER, "bid": Side.BID}
            orders = [
                (h, sides[side], qty, price)
                for h, side, qty, price in self.physics.market_orders(
                    [(m.address, m.meter_id) for m in self.homes], info.delivery_start_s
                )
            ]
        else:
            orders = profile_orders(self.load, self.pv, info.delivery_start_s)
        signed = []
        for k, (h, side, qty, price) in enumerate(orders):
            member = self.homes[h]
            if k % 2 == 0:
                self.platform.market(member.account).place_order(session_id, side, qty, price)
            else:
                signed.append(
                    self.operator.market.sign_order(member.account, session_id, side, qty, price)
                )
        if signed:
            self.operator.market.place_signed_orders(session_id, signed)
        # The aggregator buys shedding for the community's balance: 40 % of what is offered,
        # at a higher price in the evening peak.
        offered_wh = sum(qty for _, side, qty, _ in orders if side is Side.OFFER)
        if offered_wh:
            hour = (info.delivery_start_s // 3600) % 24
            price = tokens_to_base("0.15" if 17 <= hour < 21 else "0.11")
            self.platform.market(self.aggregator.account).place_order(
                session_id, Side.BID, max(1, int(0.4 * offered_wh)), int(price)
            )
        return len(orders)

    def record_sales(self, cleared: list[ClearedSession]) -> None:
        """The homes' cleared sells, for their controller to deliver (with ``sales``)."""
        if self.sales is None:
            return
        meters = {m.address.lower(): m.meter_id for m in self.homes}
        from_block = self.platform.deployment.start_block
        for c in cleared:
            for row in self.operator.market.settlement_table(c.session_id, from_block):
                meter = meters.get(row.trader.lower())
                if row.side is Side.OFFER and meter and row.fill_wh > 0:
                    self.sales.add(c.delivery_start_s, meter, row.trader, row.fill_wh)

    def round(self) -> tuple[list[ClearedSession], list[SettledSession]]:
        """Clear what is due already (a clearing a reorg dropped), open the next session,
        trade it, move the clock past its gate, clear it; settle every session whose delivery
        is over. In real time the clock is not moved (:meth:`real_time_round`)."""
        if self.real_time:
            return self.real_time_round()
        now = self._now()
        cleared = self.operator.clear_due(now)
        opened = self.operator.open_due(now)
        for sid in opened:
            self.trade(sid)
            self._advance_to(self.operator.market.session(sid).closes_at_s + 1)
        if not opened:
            # The next interval's session exists already (the operator opened it, e.g. in the
            # web UI, for members to trade in): the clock moves on all the same, to that
            # interval's gate, and the session is cleared once its own gate has passed.
            lead = self.operator.config.gate_lead_s
            self._advance_to((now + lead) // INTERVAL_S * INTERVAL_S + INTERVAL_S - lead + 1)
        now = self._now()
        cleared += self.operator.clear_due(now)
        self.operator.void_due(now)
        settler = self.operator.settler
        settled = settler.settle_due(now, self.operator.sessions()) if settler else []
        return cleared, settled

    def real_time_round(self) -> tuple[list[ClearedSession], list[SettledSession]]:
        """One round at the chain's own pace: clear every session whose gate has passed, void
        what was not cleared in time, open (and trade) the next interval's session once the
        clock is there, settle what has been delivered. Nothing here moves the clock."""
        now = int(self.clock.now())
        cleared = self.operator.clear_due(now)
        self.operator.void_due(now)
        for sid in self.operator.open_due(now):
            self.trade(sid)
        settler = self.operator.settler
        settled = settler.settle_due(now, self.operator.sessions()) if settler else []
        return cleared, settled

    def run(
        self,
        stop: threading.Event,
        seconds_per_session: float,
        on_cleared: Callable[[ClearedSession], None],
        on_error: Callable[[Exception], None],
        on_settled: Callable[[SettledSession], None] | None = None,
    ) -> None:
        """Rounds until ``stop``, ``seconds_per_session`` of wall time apart (in real time:
        how often the clock is looked at, not a session's length)."""
        with stoppable(stop):  # a wait for a receipt ends when the demo stops
            while not stop.is_set():
                try:
                    cleared, settled = self.round()
                    self.record_sales(cleared)
                    for c in cleared:
                        on_cleared(c)
                    for s in settled:
                        if on_settled is not None:
                            on_settled(s)
                except TransactionInterrupted:
                    break
                except Exception as exc:  # report and keep the demo running
                    on_error(exc)
                stop.wait(seconds_per_session)
