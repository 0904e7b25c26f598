"""The one rule set of flexibility money: DSO requests, coalitions and market sessions.

This docstring is the SPECIFICATION that the contracts implement (``contracts/libraries/
FlexRules.sol`` for the arithmetic, ``FlexCoordination`` and ``FlexMarket`` for the flows) and
that every Python package imports (``chain``, ``coalitions``, ``settlement``, ``matching``,
``streams``, ``api``). Golden vectors (``tests/golden/rules.json``) run against this module and,
under brownie, against the Solidity library, so the two cannot drift.

Units, as on-chain: energy in Wh (ints), time in unix seconds, 15-minute intervals
(:data:`INTERVAL_S`) aligned to UTC, prices in FlexToken base units per kWh, money in FlexToken
base units, shares in basis points (:data:`BP` = 100 %). Everything is an int: anyone recomputes
the same figures from chain data.

Rounding
--------
Money has one rounding rule: **down** (towards zero; every amount here is >= 0).

* :func:`energy_cost` ``(wh, price_per_kwh) = wh * price_per_kwh // 1000``: what ``wh`` Wh
  cost at ``price_per_kwh``. Every payment, escrow, reward, penalty, bond and point count is
  one call of it.
* :func:`pro_rata` ``(amount, part, whole) = amount * part // whole``: a share of a pot.

Energy bounds round down too: :func:`upper_wh` ``= T * (BP + tol) // BP``, :func:`lower_wh`
``= T * (BP - tol) // BP``. Baselines (energy, not money) round to the nearest Wh, halves up
(:func:`div_round`, floor division, so negative sums round the same way in Solidity).

DSO requests (FlexCoordination)
-------------------------------
Per member and interval, with target ``T``, delivered ``D`` (baseline minus metered for upward
flexibility, metered minus baseline for downward, see :class:`Direction`) and tolerance ``tol``:

* credited ``C = clamp(D, 0, upper_wh(T, tol))`` (:func:`credited_wh`), shortfall
  ``S = max(0, lower_wh(T, tol) - D)`` (:func:`shortfall_wh`);
* reward ``energy_cost(C, price)``, penalty ``energy_cost(S, penalty_per_kwh)``, per interval;
  a member's ``payout = max(0, sum reward - sum penalty)``, the rest of the penalty
  (``penalty_uncovered``) is reported, not collected (:func:`member_money`);
* reputation points ``energy_cost(C, points_per_kwh) - energy_cost(S, penalty_points_per_kwh)``
  per interval (:func:`interval_points`);
* the escrow a request needs: ``sum_t energy_cost(upper_wh(q_t, tol), price_cap)``
  (:func:`required_escrow`); the most a coalition's targets can earn:
  ``sum energy_cost(upper_wh(T, tol), price)`` (:func:`max_payout`); the coalition's targets of
  an interval add up to between ``lower_wh(q, tol)`` and ``upper_wh(q, tol)``
  (:func:`tolerance_bounds`); ``escrow == payouts + refund`` exactly.

Market sessions (FlexMarket)
----------------------------
A cleared match is a promise to deliver the product (upward or downward flexibility) in the
session's delivery period; money moves per **order**, never per match, so every pairing the
contract accepts moves the same money (:func:`clearing_money`):

* a bid pays ``energy_cost(fill, p)``: ``p`` is the clearing price (UNIFORM, COOPERATIVE) or the
  bid's own limit price (PAY_AS_BID); the session's escrow ``E`` is the sum;
* a bid entering the book locks ``energy_cost(qty, limit) + order_bond``
  (:func:`bid_lock`), an offer ``energy_cost(qty, penalty_per_kwh) + order_bond``
  (:func:`offer_lock`); at clearing an unfilled order's lock is released whole, a filled bid's
  lock less what it pays, a filled offer keeps ``energy_cost(fill, penalty_per_kwh)`` as its
  delivery bond (released at settlement, less its penalty).

Settlement on delivery (:func:`settle_session`), after the delivery period, from the committed
meter data; per seller (one trader, all its filled offers, filled ``F``), with the session's
tolerance and the baseline method named on-chain:

* delivered ``D`` as for requests, credited ``C = clamp(D, 0, F)`` (a buyer bought ``F``, not
  more), shortfall ``S = max(0, lower_wh(F, tol) - D)``;
* the seller earns ``pro_rata(E, C, V)`` (``V``: the session's volume): under UNIFORM and
  COOPERATIVE that is the clearing price per credited kWh, under PAY_AS_BID the
  volume-weighted price the bids paid; its penalty ``min(energy_cost(S, penalty_per_kwh),
  bond)`` comes out of its delivery bond, the rest of the bond is released;
* what the sellers did not earn plus their penalties goes back to the buyers, each its share
  ``pro_rata(pot, paid, E)`` of the pot (by what each bought, Wh, when ``E`` is 0); the few
  base units that rounding leaves go to the treasury. Exactly: ``E + bonds == earned +
  (bonds - penalties) + refunds + dust``.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING, TypeVar

from core.errors import (
    EmptyWindow,
    ImpossibleTolerance,
    InvalidQuantity,
    MisalignedInterval,
    PriceAboveCap,
)
from core.units import INTERVAL_S

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "BP",
    "INTERVAL_S",
    "MAX_INTERVALS",
    "MAX_PRICE_PER_KWH",
    "MAX_WH",
    "BuyerRefund",
    "Direction",
    "FlexRequest",
    "MemberMoney",
    "PricingRule",
    "SellerSettlement",
    "SessionSettlement",
    "SessionTerms",
    "Side",
    "TableRow",
    "as_int",
    "bid_cost",
    "bid_lock",
    "check_aligned",
    "clearing_money",
    "credited_wh",
    "delivered_wh",
    "div_round",
    "energy_cost",
    "interval_points",
    "lower_wh",
    "max_payout",
    "member_max_payout",
    "member_money",
    "meter_before_baseline",
    "needed_intervals",
    "offer_bond",
    "offer_lock",
    "pro_rata",
    "required_escrow",
    "seller_delivered_wh",
    "settle_session",
    "shortfall_wh",
    "tolerance_bounds",
    "upper_wh",
    "within_tolerance",
]

BP = 10_000
"""Basis points in one (100 %)."""
MAX_WH = 10**12
"""Largest energy of one interval or order, Wh (far beyond a community's 15 minutes)."""
MAX_PRICE_PER_KWH = 10**12
"""Largest price, token base units per kWh."""
MAX_INTERVALS = 256
"""Longest request window the contract accepts, intervals."""

Wh = TypeVar("Wh", int, "np.ndarray")
"""Energy: an int, or an int64 array of them (the bounds apply elementwise)."""


class Direction(IntEnum):
    """Which way flexibility goes. Values match the contracts' enums (a request's direction,
    a market session's product: ``Upward`` = 0, ``Downward`` = 1)."""

    UP = 0
    """Less load (load reduction / more export): delivered = baseline - metered."""
    DOWN = 1
    """More load (load increase / less export): delivered = metered - baseline."""


# ---------------------------------------------------------------------------- validation


def as_int(what: str, value: object, low: int = 0, high: int = MAX_WH) -> int:
    """``value`` as a Python int in ``low..high``; bools, floats and strings are refused."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InvalidQuantity(what, value)
    v = int(value)
    if not low <= v <= high:
        raise InvalidQuantity(what, value)
    return v


def check_aligned(what: str, ts_s: object) -> int:
    """``ts_s`` as an int; raises :class:`MisalignedInterval` unless it is a multiple of 900."""
    if isinstance(ts_s, bool) or not isinstance(ts_s, numbers.Integral):
        raise InvalidQuantity(what, ts_s)
    if int(ts_s) % INTERVAL_S:
        raise MisalignedInterval(what, int(ts_s))
    return int(ts_s)


# ---------------------------------------------------------------------------- rounding


def energy_cost(wh: int, price_per_kwh: int) -> int:
    """What ``wh`` Wh cost at ``price_per_kwh``, token base units, rounded down.

    The one rounding rule of money: every payment, escrow, reward, penalty, bond and point
    count of the platform is one call of this function (``FlexRules.energyCost`` on-chain).
    """
    if wh < 0 or price_per_kwh < 0:
        raise InvalidQuantity("energy and price", (wh, price_per_kwh))
    return wh * price_per_kwh // 1000


def pro_rata(amount: int, part: int, whole: int) -> int:
    """``amount * part // whole``: the share ``part / whole`` of ``amount``, rounded down
    (0 when ``whole`` is 0). ``FlexRules.proRata`` on-chain."""
    if amount < 0 or part < 0 or whole < 0 or part > whole:
        raise InvalidQuantity("pro-rata share", (amount, part, whole))
    return 0 if whole == 0 else amount * part // whole


def div_round(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` rounded to the nearest int, halves up (towards +inf).

    The rounding of baselines (energy, not money): ``(2 * a + b) // (2 * b)`` with floor
    division, so negative sums (a net exporter) round the same way in Python and Solidity
    (``FlexRules.divRound``). ``denominator > 0``.
    """
    if denominator <= 0:
        raise InvalidQuantity("denominator", denominator)
    return (2 * numerator + denominator) // (2 * denominator)


# ---------------------------------------------------------------------------- tolerance


def upper_wh(target_wh: Wh, tolerance_bp: int) -> Wh:
    """Target plus tolerance, Wh (rounded down): the most a member is paid for."""
    return target_wh * (BP + tolerance_bp) // BP


def lower_wh(target_wh: Wh, tolerance_bp: int) -> Wh:
    """Target minus tolerance, Wh (rounded down): below it the shortfall is penalised."""
    return target_wh * (BP - tolerance_bp) // BP


def tolerance_bounds(quantity_wh: int, tolerance_bp: int) -> tuple[int, int]:
    """The coalition's accepted total targets of an interval: ``(lower_wh, upper_wh)``."""
    return lower_wh(quantity_wh, tolerance_bp), upper_wh(quantity_wh, tolerance_bp)


def within_tolerance(total_wh: int, quantity_wh: int, tolerance_bp: int) -> bool:
    """Whether a total (of targets, or of deliveries) meets a quantity within the tolerance:
    ``lower_wh(q) <= total <= upper_wh(q)``, the contract's bounds, both included."""
    lower, upper = tolerance_bounds(quantity_wh, tolerance_bp)
    return lower <= total_wh <= upper


def credited_wh(delivered: int, cap_wh: int) -> int:
    """``clamp(delivered, 0, cap_wh)``: what a delivery is paid for."""
    return min(max(delivered, 0), cap_wh)


def shortfall_wh(delivered: int, lower: int) -> int:
    """``max(0, lower - delivered)``: what is missing beyond the tolerance."""
    return max(0, lower - delivered)


def delivered_wh(direction: Direction | int, baseline_wh: int, metered_wh: int) -> int:
    """Flexibility delivered in the requested direction: ``baseline - metered`` (UP) or
    ``metered - baseline`` (DOWN); meter values are net import, Wh."""
    if Direction(int(direction)) == Direction.UP:
        return baseline_wh - metered_wh
    return metered_wh - baseline_wh


def meter_before_baseline(before_wh: Sequence[int]) -> int:
    """The meter-before baseline level: ``div_round(sum(before), len(before))`` (the
    ``METER_BEFORE_AFTER`` method of :mod:`settlement.baselines`, the one the market settles
    with on-chain)."""
    if not before_wh:
        raise InvalidQuantity("meter-before readings", before_wh)
    return div_round(sum(int(v) for v in before_wh), len(before_wh))


# ---------------------------------------------------------------------------- DSO requests


def required_escrow(quantities_wh: Sequence[int], tolerance_bp: int, price_cap_per_kwh: int) -> int:
    """The least escrow a request needs: ``sum_t energy_cost(upper_wh(q_t), cap)``."""
    cap = price_cap_per_kwh
    return sum(energy_cost(upper_wh(int(q), tolerance_bp), cap) for q in quantities_wh)


def member_max_payout(targets_wh: Sequence[int], tolerance_bp: int, price_per_kwh: int) -> int:
    """The most one member's targets can earn: ``sum_t energy_cost(upper_wh(T_t), price)``."""
    return sum(energy_cost(upper_wh(int(t), tolerance_bp), price_per_kwh) for t in targets_wh)


def max_payout(targets: Mapping[str, Sequence[int]], tolerance_bp: int, price_per_kwh: int) -> int:
    """The most a coalition's targets can earn (the escrow must cover it)."""
    return sum(member_max_payout(row, tolerance_bp, price_per_kwh) for row in targets.values())


def interval_points(
    credited: int, shortfall: int, points_per_kwh: int, penalty_points_per_kwh: int
) -> int:
    """Reputation points of one interval: ``energy_cost(C, points) - energy_cost(S, penalty)``."""
    return energy_cost(credited, points_per_kwh) - energy_cost(shortfall, penalty_points_per_kwh)


@dataclass(frozen=True)
class MemberMoney:
    """One member's money from its per-interval credits and shortfalls (token base units)."""

    reward: tuple[int, ...]
    penalty: tuple[int, ...]
    reward_total: int
    penalty_total: int
    payout: int
    """``max(0, reward_total - penalty_total)``: paid from the escrow."""
    penalty_uncovered: int
    """``max(0, penalty_total - reward_total)``: reported, not collected."""


def member_money(
    credited: Sequence[int], shortfall: Sequence[int], price_per_kwh: int, penalty_per_kwh: int
) -> MemberMoney:
    """Rewards, penalties and the netted payout of one member of a request (see the module)."""
    reward = tuple(energy_cost(int(c), price_per_kwh) for c in credited)
    penalty = tuple(energy_cost(int(s), penalty_per_kwh) for s in shortfall)
    r, p = sum(reward), sum(penalty)
    return MemberMoney(reward, penalty, r, p, max(0, r - p), max(0, p - r))


@dataclass(frozen=True)
class FlexRequest:
    """A DSO's flexibility request: its terms as fixed on-chain (the one request type).

    Parameters
    ----------
    request_id
        On-chain id.
    window_start_s
        Start of the first delivery interval, unix seconds (multiple of 900).
    quantity_wh
        Requested flexibility per interval, Wh; its length is the window's length.
    tolerance_bp
        Accepted deviation of the coalition's total from the quantity, basis points
        (0..9999; the specification's 10 % is 1000).
    price_cap_per_kwh
        The most the DSO pays, token base units per kWh.
    escrow
        What the DSO locked, token base units.
    direction
        :class:`Direction` (UP = load reduction).
    penalty_per_kwh
        Penalty per kWh of shortfall beyond the tolerance, token base units per kWh.
    baseline_method_id, baseline_params
        The baseline fixed at request time (see :mod:`settlement.baselines`): method id and
        its canonical parameter encoding. Default: the meter-before baseline (4), the one
        FlexCoordination can recompute on-chain and so the only one it accepts.
    price_per_kwh
        The agreed price (<= cap); ``None`` pays the cap.
    grid_area
        The area whose members may opt in ("" admits every area).
    opt_in_deadline_s
        Opt-ins after this time are refused (``None``: not known / no deadline).
    """

    request_id: int
    window_start_s: int
    quantity_wh: tuple[int, ...]
    tolerance_bp: int = 1000
    price_cap_per_kwh: int = 0
    escrow: int = 0
    direction: Direction = Direction.UP
    penalty_per_kwh: int = 0
    baseline_method_id: int = 4
    baseline_params: tuple[int, ...] = ()
    price_per_kwh: int | None = None
    grid_area: str = ""
    opt_in_deadline_s: int | None = None

    def __post_init__(self) -> None:
        check_aligned(f"request {self.request_id} window start", self.window_start_s)
        if len(self.quantity_wh) == 0:
            raise EmptyWindow(self.request_id)
        qty = tuple(as_int("quantity_wh", q) for q in self.quantity_wh)
        tol = self.tolerance_bp
        if isinstance(tol, bool) or not isinstance(tol, numbers.Integral) or not 0 <= tol < BP:
            raise ImpossibleTolerance(tol)
        cap = as_int("price_cap_per_kwh", self.price_cap_per_kwh, 0, MAX_PRICE_PER_KWH)
        price = (
            cap
            if self.price_per_kwh is None
            else as_int("price_per_kwh", self.price_per_kwh, 0, MAX_PRICE_PER_KWH)
        )
        if price > cap:
            raise PriceAboveCap(price, cap)
        object.__setattr__(self, "window_start_s", int(self.window_start_s))
        object.__setattr__(self, "quantity_wh", qty)
        object.__setattr__(self, "tolerance_bp", int(tol))
        object.__setattr__(self, "price_cap_per_kwh", cap)
        object.__setattr__(self, "price_per_kwh", price)
        object.__setattr__(self, "escrow", as_int("escrow", self.escrow, 0, 2**255))
        object.__setattr__(
            self, "penalty_per_kwh", as_int("penalty_per_kwh", self.penalty_per_kwh, 0, 10**12)
        )
        object.__setattr__(self, "direction", Direction(int(self.direction)))
        object.__setattr__(self, "baseline_params", tuple(int(v) for v in self.baseline_params))
        if self.opt_in_deadline_s is not None:
            object.__setattr__(self, "opt_in_deadline_s", int(self.opt_in_deadline_s))

    @property
    def intervals(self) -> int:
        """Number of delivery intervals."""
        return len(self.quantity_wh)

    @property
    def window_end_s(self) -> int:
        """End of the last interval (exclusive), unix seconds."""
        return self.window_start_s + INTERVAL_S * self.intervals

    def interval_start_s(self, k: int) -> int:
        """Start of interval ``k`` of the window, unix seconds."""
        return self.window_start_s + INTERVAL_S * k

    def interval_index(self, interval_start_s: int) -> int:
        """Position of an interval in the window (may be out of range)."""
        return (interval_start_s - self.window_start_s) // INTERVAL_S

    @property
    def paid_price_per_kwh(self) -> int:
        """The price paid per credited kWh (the agreed price, else the cap)."""
        assert self.price_per_kwh is not None  # set in __post_init__
        return self.price_per_kwh

    def bounds_wh(self) -> list[tuple[int, int]]:
        """Per interval, the accepted total of the targets (:func:`tolerance_bounds`)."""
        return [tolerance_bounds(q, self.tolerance_bp) for q in self.quantity_wh]

    def required_escrow(self) -> int:
        """:func:`required_escrow` of these terms."""
        return required_escrow(self.quantity_wh, self.tolerance_bp, self.price_cap_per_kwh)


# ---------------------------------------------------------------------------- market sessions


class PricingRule(IntEnum):
    """How a session's clearing price(s) are set (CBFM-8). Values match the contract's enum;
    :mod:`matching.engine` specifies the rules."""

    UNIFORM = 0
    """Competitive uniform price, pay-as-clear: the lowest market-clearing price."""
    PAY_AS_BID = 1
    """Each bid pays its own limit price (sellers share what the bids paid, see the module)."""
    COOPERATIVE = 2
    """One community price in the middle of the clearing range; same-area trades first."""


class Side(IntEnum):
    """Which way an order trades flexibility. Values match the contract's enum."""

    BID = 0
    """Buys flexibility."""
    OFFER = 1
    """Sells flexibility."""


def bid_lock(qty_wh: int, limit_per_kwh: int, order_bond: int) -> int:
    """What a bid locks when it enters a book: ``energy_cost(qty, limit) + order_bond``."""
    return energy_cost(qty_wh, limit_per_kwh) + order_bond


def offer_bond(qty_wh: int, penalty_per_kwh: int) -> int:
    """An offer's delivery bond: ``energy_cost(qty, penalty_per_kwh)`` (covers its penalty)."""
    return energy_cost(qty_wh, penalty_per_kwh)


def offer_lock(qty_wh: int, penalty_per_kwh: int, order_bond: int) -> int:
    """What an offer locks when it enters a book: its delivery bond plus ``order_bond``."""
    return offer_bond(qty_wh, penalty_per_kwh) + order_bond


def bid_cost(fill_wh: int, limit_per_kwh: int, rule: PricingRule | int, price_per_kwh: int) -> int:
    """What a filled bid pays: ``energy_cost(fill, p)``, ``p`` the clearing price (UNIFORM,
    COOPERATIVE) or the bid's limit (PAY_AS_BID). Per order, rounded once: every pairing of
    the same fills pays the same."""
    p = limit_per_kwh if PricingRule(int(rule)) == PricingRule.PAY_AS_BID else price_per_kwh
    return energy_cost(fill_wh, p)


@dataclass(frozen=True)
class TableRow:
    """One filled order of a cleared session, as the settlement table carries it."""

    order_id: int
    trader: str
    side: Side
    fill_wh: int
    price_per_kwh: int
    """The order's limit price."""


@dataclass(frozen=True)
class SessionTerms:
    """What a market session fixes on-chain that its money depends on."""

    rule: PricingRule
    product: Direction
    price_per_kwh: int
    """The clearing price (0 when nothing traded)."""
    penalty_per_kwh: int
    tolerance_bp: int
    order_bond: int
    duration_intervals: int = 1


def clearing_money(terms: SessionTerms, table: Sequence[TableRow]) -> tuple[int, int]:
    """``(escrow E, volume V)`` of a cleared session: what its filled bids pay, and the filled
    demand in Wh (= filled supply)."""
    escrow = sum(
        bid_cost(r.fill_wh, r.price_per_kwh, terms.rule, terms.price_per_kwh)
        for r in table
        if r.side == Side.BID
    )
    volume = sum(r.fill_wh for r in table if r.side == Side.BID)
    return escrow, volume


@dataclass(frozen=True)
class SellerSettlement:
    """One seller's settlement: all its filled offers of the session together."""

    trader: str
    filled_wh: int
    delivered_wh: int
    credited_wh: int
    shortfall_wh: int
    earned: int
    """``pro_rata(E, credited, V)``."""
    bond: int
    """Its delivery bonds (``offer_bond(fill)`` per filled offer)."""
    penalty: int
    """``min(energy_cost(shortfall, penalty_per_kwh), bond)``, taken from the bond."""
    missing_data: bool


@dataclass(frozen=True)
class BuyerRefund:
    """What one filled bid gets back: its share of the pot, pro rata to what it paid."""

    order_id: int
    trader: str
    paid: int
    refund: int


@dataclass(frozen=True)
class SessionSettlement:
    """A session settled on delivery. Money is conserved exactly:
    ``escrow + bonds == earned + (bonds - penalties) + refunds + dust``."""

    escrow: int
    volume_wh: int
    sellers: tuple[SellerSettlement, ...]
    buyers: tuple[BuyerRefund, ...]
    earned: int
    penalties: int
    refunds: int
    dust: int
    """What rounding leaves of the buyers' pot: to the market's treasury."""

    def seller(self, trader: str) -> SellerSettlement:
        for s in self.sellers:
            if s.trader.lower() == trader.lower():
                return s
        raise KeyError(trader)


def needed_intervals(
    delivery_start_s: int, duration_s: int, baseline_intervals: int, gap_intervals: int
) -> tuple[list[int], list[int]]:
    """The interval starts a seller's delivery is measured on: the meter-before baseline's
    ``baseline_intervals`` (ending ``gap_intervals`` before the delivery), and the delivery's."""
    first = delivery_start_s - INTERVAL_S * (baseline_intervals + gap_intervals)
    before = [first + INTERVAL_S * k for k in range(baseline_intervals)]
    during = [delivery_start_s + INTERVAL_S * k for k in range(duration_s // INTERVAL_S)]
    return before, during


def seller_delivered_wh(
    product: Direction | int, before_net_wh: Sequence[int], during_net_wh: Sequence[int]
) -> int:
    """A seller's delivery over a session: against the meter-before baseline (the mean of
    ``before_net_wh``, :func:`meter_before_baseline`), summed over the delivery intervals."""
    baseline = meter_before_baseline(before_net_wh)
    return sum(delivered_wh(product, baseline, int(m)) for m in during_net_wh)


def settle_session(
    terms: SessionTerms,
    table: Sequence[TableRow],
    delivered: Mapping[str, int | None],
) -> SessionSettlement:
    """Settle a cleared session on delivery (see the module docstring).

    Parameters
    ----------
    terms
        The session's rule, product, clearing price, penalty rate, tolerance and bond.
    table
        Its filled orders (:class:`TableRow`), in order-id order.
    delivered
        Per seller (trader address), the flexibility it delivered over the delivery period,
        Wh (:func:`delivered_wh` of its meter-before baseline and its metered values), or
        ``None`` when its meter data is missing (then nothing is credited and the whole
        ``lower_wh(F)`` is its shortfall).

    Returns
    -------
    SessionSettlement
        Sellers sorted by address, buyers in order-id order.
    """
    escrow, volume = clearing_money(terms, table)
    filled: dict[str, int] = {}
    bonds: dict[str, int] = {}
    names: dict[str, str] = {}
    for r in table:
        if r.side == Side.OFFER:
            key = r.trader.lower()
            names.setdefault(key, r.trader)
            filled[key] = filled.get(key, 0) + r.fill_wh
            bonds[key] = bonds.get(key, 0) + offer_bond(r.fill_wh, terms.penalty_per_kwh)
    given = {k.lower(): v for k, v in delivered.items()}
    unknown = set(given) - set(filled)
    if unknown:
        raise InvalidQuantity("delivery of a trader who sold nothing", sorted(unknown))
    sellers = []
    for key in sorted(filled, key=lambda k: int(k, 16)):
        if key not in given:
            raise InvalidQuantity(f"delivery of seller {names[key]}", None)
        f, d = filled[key], given[key]
        missing = d is None
        dv = 0 if d is None else int(d)
        c = 0 if missing else credited_wh(dv, f)
        s = shortfall_wh(dv, lower_wh(f, terms.tolerance_bp))
        earned = pro_rata(escrow, c, volume)
        penalty = min(energy_cost(s, terms.penalty_per_kwh), bonds[key])
        sellers.append(
            SellerSettlement(names[key], f, dv, c, s, earned, bonds[key], penalty, missing)
        )
    earned_total = sum(s.earned for s in sellers)
    penalties = sum(s.penalty for s in sellers)
    pot = escrow - earned_total + penalties
    bids = [
        (r, bid_cost(r.fill_wh, r.price_per_kwh, terms.rule, terms.price_per_kwh))
        for r in table
        if r.side == Side.BID
    ]
    # Shares by what each bid paid; when nothing was paid (a clearing price of 0), by what
    # each bought.
    weights = [paid if escrow else r.fill_wh for r, paid in bids]
    whole = sum(weights)
    buyers = [
        BuyerRefund(r.order_id, r.trader, paid, pro_rata(pot, w, whole))
        for (r, paid), w in zip(bids, weights, strict=True)
    ]
    refunds = sum(b.refund for b in buyers)
    return SessionSettlement(
        escrow=escrow,
        volume_wh=volume,
        sellers=tuple(sellers),
        buyers=tuple(buyers),
        earned=earned_total,
        penalties=penalties,
        refunds=refunds,
        dust=pot - refunds,
    )
