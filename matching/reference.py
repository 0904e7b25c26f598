"""A literal, loop-by-loop implementation of the clearing spec, for cross-checking.

It follows the words of :mod:`matching.engine`'s docstring step by step in plain Python
(sorted lists, a two-pointer walk, per-area merges) and shares no code with the vectorised
engine, so the tests can compare the two on random books. It is also the easiest place to
produce test vectors for the Solidity verifier. Slow (pure Python, one pass per area):
use it on small books only.
"""

from __future__ import annotations

from collections.abc import Sequence

from core.rules import PricingRule, Side
from matching.domain import ClearingResult, Fill, Match, Order, coerce_rule, validate_book

__all__ = ["clear_reference", "merge_reference"]


def merge_reference(
    bids: list[tuple[int, int]], offers: list[tuple[int, int]]
) -> tuple[list[tuple[int, int, int]], list[tuple[int, int]], list[tuple[int, int]]]:
    """Two-pointer merge of (order_id, qty_wh) lists as far as both go.

    Returns the pieces (bid_id, offer_id, qty_wh) and what is left of each list.
    """
    rem_b: list[list[int]] = [[i, q] for i, q in bids if q > 0]
    rem_o: list[list[int]] = [[i, q] for i, q in offers if q > 0]
    pieces: list[tuple[int, int, int]] = []
    i = j = 0
    while i < len(rem_b) and j < len(rem_o):
        qty = min(rem_b[i][1], rem_o[j][1])
        pieces.append((rem_b[i][0], rem_o[j][0], qty))
        rem_b[i][1] -= qty
        rem_o[j][1] -= qty
        if rem_b[i][1] == 0:
            i += 1
        if rem_o[j][1] == 0:
            j += 1
    left_b = [(b[0], b[1]) for b in rem_b if b[1] > 0]
    left_o = [(o[0], o[1]) for o in rem_o if o[1] > 0]
    return pieces, left_b, left_o


def clear_reference(orders: Sequence[Order], rule: PricingRule | int) -> ClearingResult:
    """Clear ``orders`` under ``rule`` exactly as the spec words it (slow, obvious)."""
    pricing = coerce_rule(rule)
    validate_book(orders)
    bids = sorted(
        (o for o in orders if o.side is Side.BID), key=lambda o: (-o.price_per_kwh, o.order_id)
    )
    offers = sorted(
        (o for o in orders if o.side is Side.OFFER), key=lambda o: (o.price_per_kwh, o.order_id)
    )

    # The walk.
    fill: dict[int, int] = {o.order_id: 0 for o in orders}
    rem_b = [b.qty_wh for b in bids]
    rem_o = [o.qty_wh for o in offers]
    i = j = 0
    while i < len(bids) and j < len(offers) and bids[i].price_per_kwh >= offers[j].price_per_kwh:
        qty = min(rem_b[i], rem_o[j])
        fill[bids[i].order_id] += qty
        fill[offers[j].order_id] += qty
        rem_b[i] -= qty
        rem_o[j] -= qty
        if rem_b[i] == 0:
            i += 1
        if rem_o[j] == 0:
            j += 1
    volume = sum(fill[b.order_id] for b in bids)
    if volume == 0:
        return ClearingResult(pricing, None, 0, (), (), 0)

    # The price.
    a_b = min(b.price_per_kwh for b in bids if fill[b.order_id] > 0)
    a_o = max(o.price_per_kwh for o in offers if fill[o.order_id] > 0)
    unfull_b = [b.price_per_kwh for b in bids if fill[b.order_id] < b.qty_wh]
    unfull_o = [o.price_per_kwh for o in offers if fill[o.order_id] < o.qty_wh]
    lo = max([a_o, *([max(unfull_b)] if unfull_b else [])])
    hi = min([a_b, *([min(unfull_o)] if unfull_o else [])])
    price = lo + (hi - lo) // 2 if pricing is PricingRule.COOPERATIVE else lo

    # The pairing.
    filled_b = [(b.order_id, fill[b.order_id]) for b in bids if fill[b.order_id] > 0]
    filled_o = [(o.order_id, fill[o.order_id]) for o in offers if fill[o.order_id] > 0]
    if pricing is PricingRule.COOPERATIVE:
        area_of = {o.order_id: o.area for o in orders}
        pieces: list[tuple[int, int, int]] = []
        left_b: list[tuple[int, int]] = []
        left_o: list[tuple[int, int]] = []
        for area in sorted({area_of[i] for i, _ in filled_b + filled_o}):
            got, lb, lo_ = merge_reference(
                [b for b in filled_b if area_of[b[0]] == area],
                [o for o in filled_o if area_of[o[0]] == area],
            )
            pieces += got
            left_b += lb
            left_o += lo_
        # Leftovers back into global priority order.
        rank_b = {b.order_id: k for k, b in enumerate(bids)}
        rank_o = {o.order_id: k for k, o in enumerate(offers)}
        left_b.sort(key=lambda x: rank_b[x[0]])
        left_o.sort(key=lambda x: rank_o[x[0]])
        cross, rest_b, rest_o = merge_reference(left_b, left_o)
        assert not rest_b and not rest_o
        pieces += cross
    else:
        pieces, rest_b, rest_o = merge_reference(filled_b, filled_o)
        assert not rest_b and not rest_o
    price_of_bid = {b.order_id: b.price_per_kwh for b in bids}
    matches = tuple(
        Match(b, o, q, price_of_bid[b] if pricing is PricingRule.PAY_AS_BID else price)
        for b, o, q in pieces
    )
    welfare = sum(b.price_per_kwh * fill[b.order_id] for b in bids) - sum(
        o.price_per_kwh * fill[o.order_id] for o in offers
    )
    fills = tuple(Fill(i, q) for i, q in sorted(fill.items()) if q > 0)
    return ClearingResult(pricing, price, volume, fills, matches, welfare)
