"""Off-chain clearing engine of the flexibility market: one session's order book, three rules.

This docstring is the SPEC that the ``FlexMarket`` contract re-checks on-chain (see
:func:`matching.verify.check_clearing`, its Python reference). Quantities are Wh, prices token
base units per kWh, all ints.

Allocation (identical for every rule)
-------------------------------------
1. Priority. Bids are ranked by (price descending, order_id ascending); offers by
   (price ascending, order_id ascending). A smaller order_id was placed earlier.
2. Walk. Take the first bid and the first offer in priority; while the current bid's price >=
   the current offer's price, trade min(remaining bid, remaining offer) between them and move
   past whichever is exhausted (both, if both are). Stop when one side is exhausted or the
   current pair does not cross.
3. Result. The traded volume V is the largest possible; each side's fills are a prefix of its
   priority list: every order strictly better than the marginal price is fully filled, and at
   the marginal price orders are filled in order_id order (earlier first; at most one order per
   side is partially filled).

   Vectorised form (what :func:`clear_arrays` computes): with ``CB[i]`` the cumulative bid
   quantity up to and including bid ``i`` in priority order and ``S(p)`` the total quantity of
   offers priced <= p, ``V = max_i min(CB[i], S(price of bid i))`` (0 for an empty side); then
   the fill of the k-th order of a side is ``clip(V - cumulative quantity before k, 0, qty)``.

Price
-----
If V = 0 the price is ``None``, there are no fills and no matches. Otherwise

* ``a_b`` = lowest price among bids with fill > 0, ``a_o`` = highest price among offers with
  fill > 0;
* ``r_b`` = highest price among bids with fill < qty (absent if all bids are filled), ``r_o`` =
  lowest price among offers with fill < qty;
* ``lo = max(a_o, r_b if present)``, ``hi = min(a_b, r_o if present)``.

``lo <= hi`` always holds. Proof: the walk's last step traded the last filled bid with the last
filled offer, so ``a_o <= a_b``. An unfilled-or-partial bid is the marginal one or ranks after
it, so ``r_b <= a_b``; likewise ``r_o >= a_o``. If both ``r_b`` and ``r_o`` exist the walk
stopped because the next pair did not cross, i.e. ``r_b < r_o``. Every price in [lo, hi]
clears the market: each filled bid is willing to pay it, each filled offer to accept it, and no
unfilled remainder on one side crosses an unfilled remainder on the other at it.

* UNIFORM (competitive pay-as-clear): ``price = lo``, the lowest market-clearing price, set by
  the marginal offer (merit order). Every match is priced ``lo``.
* COOPERATIVE: ``price = lo + (hi - lo) // 2``, one community price halfway between the
  marginal bid and offer (rounded down): the surplus is shared. Every match uses that price.
* PAY_AS_BID: the reported ``price_per_kwh`` is ``lo`` (the reference price); each match is
  priced at its bid's limit price.

Pairing into matches (settlement needs who delivers to whom)
------------------------------------------------------------
``merge(A, B)`` of two lists of filled quantities with equal totals lays both end to end on one
volume axis and cuts it at every boundary of either list; each piece is one match between the
bid and the offer that cover it, in axis order (the walk above, restricted to fills). Pieces of
zero length do not exist; a (bid, offer) pair appears at most once.

* UNIFORM and PAY_AS_BID: ``merge(filled bids in bid priority, filled offers in offer
  priority)``.
* COOPERATIVE: trades inside one grid area come first. For each area in lexicographic order of
  its name, ``merge`` that area's filled bids against that area's filled offers (both in
  priority order) as far as they go, i.e. for ``min(area's filled demand, area's filled
  supply)`` Wh. Then ``merge`` all remainders (bids in bid priority vs offers in offer
  priority), which are necessarily across areas. Property: for each area, the volume matched
  inside it equals min(filled demand in the area, filled supply in the area).

Matches appear in that order (UNIFORM / PAY_AS_BID: axis order; COOPERATIVE: intra-area pieces
by area, then the cross-area pieces).

Welfare
-------
``sum(bid price * fill) - sum(offer price * fill)`` in price*Wh, an exact int, the same for
every rule (the rules share one allocation and differ only in how the surplus is split). The
allocation maximises welfare: see :mod:`matching.lp`.

Entry points
------------
:func:`clear_arrays` takes numpy columns (no Python object per order) and is what the service
and the benchmark call; :func:`clear`, :func:`clear_uniform_price`, :func:`clear_pay_as_bid` and
:func:`clear_cooperative` wrap it for lists of :class:`~matching.domain.Order`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from core.rules import PricingRule, Side
from matching.domain import (
    MAX_ORDER_ID,
    MAX_ORDERS,
    MAX_PRICE_PER_KWH,
    MAX_QTY_WH,
    ClearingResult,
    Fill,
    Match,
    Order,
    coerce_rule,
    validate_book,
)
from matching.errors import (
    BookTooLarge,
    DuplicateOrderId,
    InvalidOrderArrays,
    InvalidOrderId,
    InvalidOrderPrice,
    InvalidOrderQuantity,
    InvalidOrderSide,
)

IntArray = npt.NDArray[np.int64]

__all__ = [
    "ClearingArrays",
    "clear",
    "clear_arrays",
    "clear_cooperative",
    "clear_pay_as_bid",
    "clear_uniform_price",
]


@dataclass(frozen=True, eq=False)
class ClearingArrays:
    """Column-oriented clearing result of :func:`clear_arrays`.

    Attributes
    ----------
    rule
        The pricing rule applied.
    price_per_kwh
        Clearing price (pay-as-bid: reference price ``lo``); ``None`` when nothing traded.
    price_lo_per_kwh, price_hi_per_kwh
        The clearing range [lo, hi] of the module docstring; ``None`` when nothing traded.
    volume_wh
        Traded volume, Wh.
    fill_wh
        Fill of each input row, Wh, aligned with the input arrays (0 = did not trade).
    match_bid_id, match_offer_id, match_qty_wh, match_price_per_kwh
        The matches, one row each, in the canonical pairing order.
    welfare
        sum(bid price * fill) - sum(offer price * fill), price*Wh.
    """

    rule: PricingRule
    price_per_kwh: int | None
    price_lo_per_kwh: int | None
    price_hi_per_kwh: int | None
    volume_wh: int
    fill_wh: IntArray
    match_bid_id: IntArray
    match_offer_id: IntArray
    match_qty_wh: IntArray
    match_price_per_kwh: IntArray
    welfare: int


# ------------------------------------------------------------------------------ validation


def _int_column(name: str, values: npt.ArrayLike) -> IntArray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise InvalidOrderArrays(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.integer):
        if arr.size == 0 and arr.dtype == np.float64:
            return np.zeros(0, dtype=np.int64)  # np.asarray([]) is float64: an empty column
        raise InvalidOrderArrays(f"{name} must have an integer dtype, got {arr.dtype}")
    if arr.dtype == np.uint64 and arr.size and int(arr.max()) > MAX_ORDER_ID:
        bad = int(np.argmax(arr > MAX_ORDER_ID))
        raise InvalidOrderArrays(f"{name}[{bad}] = {int(arr[bad])} does not fit in int64")
    return arr.astype(np.int64, copy=False)


def _validate_columns(
    order_id: npt.ArrayLike,
    side: npt.ArrayLike,
    qty_wh: npt.ArrayLike,
    price_per_kwh: npt.ArrayLike,
    area_code: npt.ArrayLike,
) -> tuple[IntArray, IntArray, IntArray, IntArray, IntArray]:
    ids = _int_column("order_id", order_id)
    sides = _int_column("side", side)
    qty = _int_column("qty_wh", qty_wh)
    price = _int_column("price_per_kwh", price_per_kwh)
    area = _int_column("area_code", area_code)
    n = ids.size
    for name, arr in (("side", sides), ("qty_wh", qty), ("price_per_kwh", price), ("area", area)):
        if arr.size != n:
            raise InvalidOrderArrays(f"{name} has {arr.size} rows, order_id has {n}")
    if n > MAX_ORDERS:
        raise BookTooLarge(n, MAX_ORDERS)
    if n == 0:
        return ids, sides, qty, price, area
    bad = np.flatnonzero(ids < 0)
    if bad.size:
        raise InvalidOrderId(int(ids[bad[0]]), MAX_ORDER_ID)
    bad = np.flatnonzero((sides != Side.BID) & (sides != Side.OFFER))
    if bad.size:
        raise InvalidOrderSide(int(ids[bad[0]]), int(sides[bad[0]]))
    bad = np.flatnonzero((qty <= 0) | (qty > MAX_QTY_WH))
    if bad.size:
        raise InvalidOrderQuantity(int(ids[bad[0]]), int(qty[bad[0]]), MAX_QTY_WH)
    bad = np.flatnonzero((price < 0) | (price > MAX_PRICE_PER_KWH))
    if bad.size:
        raise InvalidOrderPrice(int(ids[bad[0]]), int(price[bad[0]]), MAX_PRICE_PER_KWH)
    sorted_ids = np.sort(ids)
    dup = np.flatnonzero(sorted_ids[1:] == sorted_ids[:-1])
    if dup.size:
        raise DuplicateOrderId(int(sorted_ids[dup[0]]))
    return ids, sides, qty, price, area


# ------------------------------------------------------------------------------ primitives


def _merge(qty_a: IntArray, qty_b: IntArray) -> tuple[IntArray, IntArray, IntArray]:
    """Pair two quantity sequences with equal totals on one volume axis.

    Returns (index into ``qty_a``, index into ``qty_b``, quantity) of each piece, in axis
    order. Zero quantities are skipped.
    """
    cum_a = np.cumsum(qty_a)
    cum_b = np.cumsum(qty_b)
    if cum_a.size == 0 or cum_b.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    assert cum_a[-1] == cum_b[-1], "merge of sequences with different totals"
    ends = np.union1d(cum_a, cum_b)
    ends = ends[ends > 0]
    starts = np.empty_like(ends)
    starts[:1] = 0
    starts[1:] = ends[:-1]
    idx_a = np.searchsorted(cum_a, starts, side="right")
    idx_b = np.searchsorted(cum_b, starts, side="right")
    return idx_a.astype(np.int64), idx_b.astype(np.int64), ends - starts


def _dot_exact(price: IntArray, fill: IntArray) -> int:
    """sum(price * fill) without int64 overflow."""
    if price.size == 0:
        return 0
    bound = int(price.max()) * int(fill.sum())
    if bound < 2**63:
        return int(np.dot(price, fill))
    return sum(p * f for p, f in zip(price.tolist(), fill.tolist(), strict=True))


def _cooperative_pairs(
    fill_b: IntArray, area_b: IntArray, fill_o: IntArray, area_o: IntArray
) -> tuple[IntArray, IntArray, IntArray]:
    """Cooperative pairing of filled bids and offers (both in priority order, fills > 0)."""
    # Stable sorts keep priority order inside each area.
    perm_b = np.argsort(area_b, kind="stable")
    perm_o = np.argsort(area_o, kind="stable")
    sa_b, sq_b = area_b[perm_b], fill_b[perm_b]
    sa_o, sq_o = area_o[perm_o], fill_o[perm_o]
    areas = np.union1d(sa_b, sa_o)
    cum_b = np.concatenate(([0], np.cumsum(sq_b)))
    cum_o = np.concatenate(([0], np.cumsum(sq_o)))
    start_b = np.searchsorted(sa_b, areas, side="left")
    end_b = np.searchsorted(sa_b, areas, side="right")
    start_o = np.searchsorted(sa_o, areas, side="left")
    end_o = np.searchsorted(sa_o, areas, side="right")
    intra = np.minimum(cum_b[end_b] - cum_b[start_b], cum_o[end_o] - cum_o[start_o])
    # Per order: how much of it trades inside its area (a prefix of the area's priority list).
    rank_b = np.searchsorted(areas, sa_b)
    rank_o = np.searchsorted(areas, sa_o)
    before_b = cum_b[:-1] - cum_b[start_b][rank_b]
    before_o = cum_o[:-1] - cum_o[start_o][rank_o]
    intra_b = np.clip(intra[rank_b] - before_b, 0, sq_b)
    intra_o = np.clip(intra[rank_o] - before_o, 0, sq_o)
    # Areas are laid end to end on one axis; both sides reach each area boundary together.
    ib, io, q_in = _merge(intra_b, intra_o)
    ib, io = perm_b[ib], perm_o[io]
    left_b = fill_b.copy()
    left_b[perm_b] -= intra_b
    left_o = fill_o.copy()
    left_o[perm_o] -= intra_o
    jb, jo, q_x = _merge(left_b, left_o)
    return (
        np.concatenate((ib, jb)).astype(np.int64),
        np.concatenate((io, jo)).astype(np.int64),
        np.concatenate((q_in, q_x)).astype(np.int64),
    )


# ------------------------------------------------------------------------------ engine


def clear_arrays(
    order_id: npt.ArrayLike,
    side: npt.ArrayLike,
    qty_wh: npt.ArrayLike,
    price_per_kwh: npt.ArrayLike,
    area_code: npt.ArrayLike,
    rule: PricingRule | int,
    *,
    validate: bool = True,
) -> ClearingArrays:
    """Clear one session given as numpy columns, under ``rule`` (spec: module docstring).

    Parameters
    ----------
    order_id
        Placement sequence numbers, unique, int, >= 0.
    side
        0 = BID, 1 = OFFER.
    qty_wh
        Quantities, Wh, 1..10**12.
    price_per_kwh
        Limit prices, token base units per kWh, 0..10**12.
    area_code
        Grid area of each order as an int whose ascending order is the lexicographic order of
        the area names (used by the cooperative rule only).
    rule
        The session's :class:`~matching.domain.PricingRule`.
    validate
        Check the columns (dtypes, ranges, unique ids); only callers that validated already
        (the object API) pass False.

    Returns
    -------
    ClearingArrays
        Fills aligned with the input rows, the matches, price, volume and welfare.

    Raises
    ------
    matching.errors.InvalidOrder
        A malformed column or order (the error names the order id and value).
    matching.errors.UnknownPricingRule
        ``rule`` is not a pricing rule.
    """
    pricing = coerce_rule(rule)
    if validate:
        ids, sides, qty, price, area = _validate_columns(
            order_id, side, qty_wh, price_per_kwh, area_code
        )
    else:
        ids, sides, qty, price, area = (
            np.asarray(a, dtype=np.int64)
            for a in (order_id, side, qty_wh, price_per_kwh, area_code)
        )
    n = ids.size
    fill = np.zeros(n, dtype=np.int64)
    empty = np.zeros(0, dtype=np.int64)

    is_bid = sides == Side.BID
    bid_rows = np.flatnonzero(is_bid)
    off_rows = np.flatnonzero(~is_bid)
    # Priority: lexsort sorts by the last key first.
    bid_rows = bid_rows[np.lexsort((ids[bid_rows], -price[bid_rows]))]
    off_rows = off_rows[np.lexsort((ids[off_rows], price[off_rows]))]
    price_b, qty_b = price[bid_rows], qty[bid_rows]
    price_o, qty_o = price[off_rows], qty[off_rows]

    volume = 0
    if bid_rows.size and off_rows.size:
        cum_b = np.cumsum(qty_b)
        cum_o0 = np.concatenate(([0], np.cumsum(qty_o)))
        supply_at_bid = cum_o0[np.searchsorted(price_o, price_b, side="right")]
        volume = int(np.max(np.minimum(cum_b, supply_at_bid)))

    if volume == 0:
        return ClearingArrays(pricing, None, None, None, 0, fill, empty, empty, empty, empty, 0)

    fill_b = np.clip(volume - (np.cumsum(qty_b) - qty_b), 0, qty_b)
    fill_o = np.clip(volume - (np.cumsum(qty_o) - qty_o), 0, qty_o)
    nb = int(np.count_nonzero(fill_b))  # fills are prefixes of the priority lists
    no = int(np.count_nonzero(fill_o))
    fill[bid_rows] = fill_b
    fill[off_rows] = fill_o

    a_b = int(price_b[nb - 1])
    a_o = int(price_o[no - 1])
    rest_b = nb - 1 if fill_b[nb - 1] < qty_b[nb - 1] else nb  # first bid with fill < qty
    rest_o = no - 1 if fill_o[no - 1] < qty_o[no - 1] else no
    lo = max(a_o, int(price_b[rest_b])) if rest_b < price_b.size else a_o
    hi = min(a_b, int(price_o[rest_o])) if rest_o < price_o.size else a_b
    assert lo <= hi, "clearing range is empty: the allocation is wrong"

    if pricing is PricingRule.COOPERATIVE:
        clearing_price = lo + (hi - lo) // 2
        pb, po, mq = _cooperative_pairs(
            fill_b[:nb], area[bid_rows[:nb]], fill_o[:no], area[off_rows[:no]]
        )
    else:
        clearing_price = lo
        pb, po, mq = _merge(fill_b[:nb], fill_o[:no])
    if pricing is PricingRule.PAY_AS_BID:
        match_price = price_b[pb]
    else:
        match_price = np.full(mq.size, clearing_price, dtype=np.int64)

    welfare = _dot_exact(price_b[:nb], fill_b[:nb]) - _dot_exact(price_o[:no], fill_o[:no])
    return ClearingArrays(
        rule=pricing,
        price_per_kwh=clearing_price,
        price_lo_per_kwh=lo,
        price_hi_per_kwh=hi,
        volume_wh=volume,
        fill_wh=fill,
        match_bid_id=ids[bid_rows[pb]],
        match_offer_id=ids[off_rows[po]],
        match_qty_wh=mq,
        match_price_per_kwh=match_price,
        welfare=welfare,
    )


# ------------------------------------------------------------------------------ object API


def orders_to_arrays(
    orders: Sequence[Order],
) -> tuple[IntArray, IntArray, IntArray, IntArray, IntArray, list[str]]:
    """Columns of a validated book: ids, sides, qty, prices, area codes, and the area names.

    Area codes index the returned, lexicographically sorted list of area names.
    """
    n = len(orders)
    ids = np.fromiter((o.order_id for o in orders), dtype=np.int64, count=n)
    sides = np.fromiter((o.side for o in orders), dtype=np.int64, count=n)
    qty = np.fromiter((o.qty_wh for o in orders), dtype=np.int64, count=n)
    price = np.fromiter((o.price_per_kwh for o in orders), dtype=np.int64, count=n)
    names = sorted({o.area for o in orders})
    code = {name: i for i, name in enumerate(names)}
    area = np.fromiter((code[o.area] for o in orders), dtype=np.int64, count=n)
    return ids, sides, qty, price, area, names


def clear(orders: Sequence[Order], rule: PricingRule | int) -> ClearingResult:
    """Clear one session's order book under ``rule`` (spec: module docstring).

    Parameters
    ----------
    orders
        The session's orders (bids and offers, any order, either side may be empty).
    rule
        The session's pricing rule.

    Returns
    -------
    ClearingResult
        Price (token base units per kWh, ``None`` if nothing traded), volume (Wh), fills sorted
        by order id, matches, welfare (price*Wh).

    Raises
    ------
    matching.errors.InvalidOrder
        Duplicate ids or a malformed order.
    matching.errors.UnknownPricingRule
        ``rule`` is not a pricing rule.
    """
    pricing = coerce_rule(rule)
    orders = list(orders)
    validate_book(orders)
    if len(orders) > MAX_ORDERS:
        raise BookTooLarge(len(orders), MAX_ORDERS)
    ids, sides, qty, price, area, _ = orders_to_arrays(orders)
    res = clear_arrays(ids, sides, qty, price, area, pricing, validate=False)
    filled = np.flatnonzero(res.fill_wh)
    filled = filled[np.argsort(ids[filled])]
    fills = tuple(
        Fill(i, q) for i, q in zip(ids[filled].tolist(), res.fill_wh[filled].tolist(), strict=True)
    )
    matches = tuple(
        Match(b, o, q, p)
        for b, o, q, p in zip(
            res.match_bid_id.tolist(),
            res.match_offer_id.tolist(),
            res.match_qty_wh.tolist(),
            res.match_price_per_kwh.tolist(),
            strict=True,
        )
    )
    return ClearingResult(
        rule=pricing,
        price_per_kwh=res.price_per_kwh,
        volume_wh=res.volume_wh,
        fills=fills,
        matches=matches,
        welfare=res.welfare,
    )


def clear_uniform_price(orders: Sequence[Order]) -> ClearingResult:
    """Competitive uniform-price (pay-as-clear) clearing: every match at ``lo``."""
    return clear(orders, PricingRule.UNIFORM)


def clear_pay_as_bid(orders: Sequence[Order]) -> ClearingResult:
    """Pay-as-bid clearing: each match at its bid's price; reported reference price ``lo``."""
    return clear(orders, PricingRule.PAY_AS_BID)


def clear_cooperative(orders: Sequence[Order]) -> ClearingResult:
    """Cooperative clearing: one price ``lo + (hi - lo) // 2``, same-area trades first."""
    return clear(orders, PricingRule.COOPERATIVE)
