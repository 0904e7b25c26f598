"""Re-check a submitted clearing result the way the ``FlexMarket`` contract will.

:func:`check_clearing` does not re-run the engine: it takes the session's orders and the
operator's result and checks, in one pass over the orders and one over the matches (what a
contract can afford; no sorting), that the result is *the* result of the rule specified in
:mod:`matching.engine`. Each violation raises its own :class:`~matching.errors.ClearingError`,
in this order:

1. ``ClearingWrongRule``: the result's rule is the session's.
2. Fills: every id is in the book (``ClearingUnknownOrder``), strictly ascending
   (``ClearingFillsNotSorted``), positive (``ClearingNonPositiveFill``), at most the order's
   quantity (``ClearingOverfill``).
3. Supply equals demand (``ClearingSupplyDemandMismatch``) and equals the reported volume
   (``ClearingWrongVolume``).
4. Nothing traded: then no bid may cross an offer (``ClearingOrderLeftOut``), the price is
   ``None`` (``ClearingWrongPrice``), there are no matches and the welfare is 0.
5. Prices cross for every fill: the lowest filled bid ``a_b`` >= the highest filled offer
   ``a_o`` (``ClearingPriceNotCrossed``). Since the clearing price lies in [a_o, a_b] (step 8),
   every filled bid pays at most its limit and every filled offer gets at least its limit.
6. Fills are prefixes of the priority lists: a bid priced above ``a_b`` (an offer priced
   below ``a_o``) that is not fully filled was left out (``ClearingOrderLeftOut``); at the
   marginal price, an order not fully filled may not have an earlier id than a filled one
   (``ClearingPriorityViolated``).
7. The volume is maximal: the best remaining bid ``r_b`` must be below the best remaining
   offer ``r_o`` when both exist, else they should have traded (``ClearingOrderLeftOut``).
   With 5-7, the fills are exactly the walk's fills.
8. The price is the rule's (``ClearingWrongPrice``) with ``lo = max(a_o, r_b)``,
   ``hi = min(a_b, r_o)``: UNIFORM ``lo``; PAY_AS_BID ``lo`` (reference); COOPERATIVE
   ``lo + (hi - lo) // 2``.
9. Matches: the bid is a bid and the offer an offer (``ClearingUnknownOrder``,
   ``ClearingMatchSideMismatch``), quantities are positive (``ClearingNonPositiveFill``), each
   is priced by the rule (``ClearingWrongMatchPrice``: the clearing price, or the bid's price
   under PAY_AS_BID), and each order's matches add up to its fill
   (``ClearingPairsDoNotSumToFill``).
10. COOPERATIVE: for each area, the volume matched inside it is min(filled demand, filled
    supply) of the area (``ClearingAreaPriorityViolated``).
11. The welfare is sum(bid price * fill) - sum(offer price * fill) (``ClearingWrongWelfare``).

Which of the many pairings that satisfy 9-10 is not checked: any of them settles the same
money and energy per order; :mod:`matching.engine` documents the canonical one.
"""

from __future__ import annotations

from collections.abc import Iterable

from core.rules import PricingRule, Side
from matching.domain import ClearingResult, Order, coerce_rule, validate_book
from matching.errors import (
    ClearingAreaPriorityViolated,
    ClearingFillsNotSorted,
    ClearingMatchSideMismatch,
    ClearingNonPositiveFill,
    ClearingOrderLeftOut,
    ClearingOverfill,
    ClearingPairsDoNotSumToFill,
    ClearingPriceNotCrossed,
    ClearingPriorityViolated,
    ClearingSupplyDemandMismatch,
    ClearingUnknownOrder,
    ClearingWrongMatchPrice,
    ClearingWrongPrice,
    ClearingWrongRule,
    ClearingWrongVolume,
    ClearingWrongWelfare,
)

__all__ = ["check_clearing", "expected_price"]


def expected_price(rule: PricingRule, lo: int, hi: int) -> int:
    """The clearing price of ``rule`` for the clearing range [lo, hi] (per kWh)."""
    if rule is PricingRule.COOPERATIVE:
        return lo + (hi - lo) // 2
    return lo


def _better_bid(a: Order, b: Order | None) -> bool:
    """``a`` ranks before ``b`` in bid priority (price desc, id asc)."""
    return b is None or (a.price_per_kwh, -a.order_id) > (b.price_per_kwh, -b.order_id)


def _better_offer(a: Order, b: Order | None) -> bool:
    """``a`` ranks before ``b`` in offer priority (price asc, id asc)."""
    return b is None or (a.price_per_kwh, a.order_id) < (b.price_per_kwh, b.order_id)


def check_clearing(
    orders: Iterable[Order], rule: PricingRule | int, result: ClearingResult
) -> None:
    """Raise the specific :class:`~matching.errors.ClearingError` if ``result`` is wrong.

    Parameters
    ----------
    orders
        All the session's orders.
    rule
        The session's pricing rule.
    result
        The clearing result submitted for the session.

    Raises
    ------
    matching.errors.ClearingError
        The first violated check, in the order of the module docstring.
    matching.errors.InvalidOrder
        The book itself is malformed.
    """
    book = validate_book(orders)
    pricing = coerce_rule(rule)
    if result.rule != pricing:
        raise ClearingWrongRule(pricing, result.rule)

    # 2. fills
    fill: dict[int, int] = {}
    previous: int | None = None
    for f in result.fills:
        order = book.get(f.order_id)
        if order is None:
            raise ClearingUnknownOrder(f.order_id)
        if previous is not None and f.order_id <= previous:
            raise ClearingFillsNotSorted(f.order_id, previous)
        previous = f.order_id
        if f.qty_wh <= 0:
            raise ClearingNonPositiveFill(f.order_id, f.qty_wh)
        if f.qty_wh > order.qty_wh:
            raise ClearingOverfill(f.order_id, f.qty_wh, order.qty_wh)
        fill[f.order_id] = f.qty_wh

    # 3. supply == demand == volume; one pass collecting the marginal orders of each side.
    demand = supply = 0
    welfare = 0
    low_bid: Order | None = None  # filled bid of lowest priority (price a_b)
    high_offer: Order | None = None  # filled offer of lowest priority (price a_o)
    best_bid: Order | None = None  # best bid of all (for the nothing-traded case)
    best_offer: Order | None = None
    for order in book.values():
        f_wh = fill.get(order.order_id, 0)
        if order.side is Side.BID:
            demand += f_wh
            welfare += order.price_per_kwh * f_wh
            if _better_bid(order, best_bid):
                best_bid = order
            if f_wh and (low_bid is None or _better_bid(low_bid, order)):
                low_bid = order
        else:
            supply += f_wh
            welfare -= order.price_per_kwh * f_wh
            if _better_offer(order, best_offer):
                best_offer = order
            if f_wh and (high_offer is None or _better_offer(high_offer, order)):
                high_offer = order
    if demand != supply:
        raise ClearingSupplyDemandMismatch(demand, supply)
    if result.volume_wh != demand:
        raise ClearingWrongVolume(demand, result.volume_wh)

    # 4. nothing traded
    if demand == 0:
        if (
            best_bid is not None
            and best_offer is not None
            and best_bid.price_per_kwh >= best_offer.price_per_kwh
        ):
            raise ClearingOrderLeftOut(
                best_bid.order_id,
                best_bid.price_per_kwh,
                f"it crosses offer {best_offer.order_id} (price {best_offer.price_per_kwh}) "
                "and nothing traded",
            )
        if result.price_per_kwh is not None:
            raise ClearingWrongPrice(None, result.price_per_kwh)
        for m in result.matches:
            raise ClearingPairsDoNotSumToFill(m.bid_id, m.qty_wh, 0)
        if result.welfare != 0:
            raise ClearingWrongWelfare(0, result.welfare)
        return
    assert low_bid is not None and high_offer is not None
    a_b, a_o = low_bid.price_per_kwh, high_offer.price_per_kwh

    # 5. prices cross
    if a_b < a_o:
        raise ClearingPriceNotCrossed(low_bid.order_id, a_b, high_offer.order_id, a_o)

    # 6. prefixes of the priority lists; 7. collect the best remainders.
    rest_bid: Order | None = None  # best bid with fill < qty (price r_b)
    rest_offer: Order | None = None
    for order in book.values():
        f_wh = fill.get(order.order_id, 0)
        if f_wh == order.qty_wh:
            continue
        if order.side is Side.BID:
            if order.price_per_kwh > a_b:
                raise ClearingOrderLeftOut(
                    order.order_id,
                    order.price_per_kwh,
                    f"bid {low_bid.order_id} priced {a_b} traded while it was not fully filled",
                )
            if order.price_per_kwh == a_b and order.order_id < low_bid.order_id:
                raise ClearingPriorityViolated(order.order_id, low_bid.order_id)
            if _better_bid(order, rest_bid):
                rest_bid = order
        else:
            if order.price_per_kwh < a_o:
                raise ClearingOrderLeftOut(
                    order.order_id,
                    order.price_per_kwh,
                    f"offer {high_offer.order_id} priced {a_o} traded while it was not fully "
                    "filled",
                )
            if order.price_per_kwh == a_o and order.order_id < high_offer.order_id:
                raise ClearingPriorityViolated(order.order_id, high_offer.order_id)
            if _better_offer(order, rest_offer):
                rest_offer = order
    if (
        rest_bid is not None
        and rest_offer is not None
        and rest_bid.price_per_kwh >= rest_offer.price_per_kwh
    ):
        raise ClearingOrderLeftOut(
            rest_bid.order_id,
            rest_bid.price_per_kwh,
            f"its remainder crosses the remainder of offer {rest_offer.order_id} "
            f"(price {rest_offer.price_per_kwh})",
        )

    # 8. the rule's price
    lo = a_o if rest_bid is None else max(a_o, rest_bid.price_per_kwh)
    hi = a_b if rest_offer is None else min(a_b, rest_offer.price_per_kwh)
    assert lo <= hi  # follows from 5-7 (proof in matching.engine)
    price = expected_price(pricing, lo, hi)
    if result.price_per_kwh != price:
        raise ClearingWrongPrice(price, result.price_per_kwh)

    # 9. matches
    matched: dict[int, int] = {}
    intra: dict[str, int] = {}
    for m in result.matches:
        bid = book.get(m.bid_id)
        offer = book.get(m.offer_id)
        if bid is None:
            raise ClearingUnknownOrder(m.bid_id)
        if offer is None:
            raise ClearingUnknownOrder(m.offer_id)
        if bid.side is not Side.BID:
            raise ClearingMatchSideMismatch(m.bid_id, "bid")
        if offer.side is not Side.OFFER:
            raise ClearingMatchSideMismatch(m.offer_id, "offer")
        if m.qty_wh <= 0:
            raise ClearingNonPositiveFill(m.bid_id, m.qty_wh)
        match_price = bid.price_per_kwh if pricing is PricingRule.PAY_AS_BID else price
        if m.price_per_kwh != match_price:
            raise ClearingWrongMatchPrice(m.bid_id, m.offer_id, match_price, m.price_per_kwh)
        matched[m.bid_id] = matched.get(m.bid_id, 0) + m.qty_wh
        matched[m.offer_id] = matched.get(m.offer_id, 0) + m.qty_wh
        if bid.area == offer.area:
            intra[bid.area] = intra.get(bid.area, 0) + m.qty_wh
    for order_id in sorted(fill.keys() | matched.keys()):
        if matched.get(order_id, 0) != fill.get(order_id, 0):
            raise ClearingPairsDoNotSumToFill(
                order_id, matched.get(order_id, 0), fill.get(order_id, 0)
            )

    # 10. cooperative: same-area trades first
    if pricing is PricingRule.COOPERATIVE:
        demand_in: dict[str, int] = {}
        supply_in: dict[str, int] = {}
        for order_id, f_wh in fill.items():
            order = book[order_id]
            target = demand_in if order.side is Side.BID else supply_in
            target[order.area] = target.get(order.area, 0) + f_wh
        for area in sorted(demand_in.keys() | supply_in.keys()):
            expected = min(demand_in.get(area, 0), supply_in.get(area, 0))
            if intra.get(area, 0) != expected:
                raise ClearingAreaPriorityViolated(area, intra.get(area, 0), expected)

    # 11. welfare
    if result.welfare != welfare:
        raise ClearingWrongWelfare(welfare, result.welfare)
