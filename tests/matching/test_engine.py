"""The vectorised clearing engine against hand-computed books and the literal reference."""

from __future__ import annotations

import random
from collections import defaultdict

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.rules import PricingRule, Side
from matching.domain import MAX_PRICE_PER_KWH, MAX_QTY_WH, ClearingResult, Fill, Match, Order
from matching.engine import (
    clear,
    clear_arrays,
    clear_cooperative,
    clear_pay_as_bid,
    clear_uniform_price,
    orders_to_arrays,
)
from matching.reference import clear_reference

BID, OFFER = Side.BID, Side.OFFER
RULES = list(PricingRule)


def bid(i: int, qty: int, price: int, area: str = "a") -> Order:
    return Order(i, BID, qty, price, f"0xb{i}", area)


def offer(i: int, qty: int, price: int, area: str = "a") -> Order:
    return Order(i, OFFER, qty, price, f"0xo{i}", area)


@st.composite
def books(draw: st.DrawFn, max_orders: int = 24, big: bool = False) -> list[Order]:
    """Random books: small prices (many ties), several areas, either side possibly empty."""
    n = draw(st.integers(0, max_orders))
    ids = draw(st.lists(st.integers(0, 10_000), min_size=n, max_size=n, unique=True))
    if big:
        qty = st.integers(1, MAX_QTY_WH)
        price = st.integers(0, MAX_PRICE_PER_KWH)
    else:
        qty = st.one_of(st.integers(1, 40), st.sampled_from([10, 20, 50]))
        price = st.integers(0, 12)
    sides = draw(st.sampled_from(["both", "both", "both", "bids", "offers"]))
    orders = []
    for i in ids:
        fixed = BID if sides == "bids" else OFFER
        side = draw(st.sampled_from([BID, OFFER])) if sides == "both" else fixed
        area = draw(st.sampled_from(["north", "south", "east"]))
        orders.append(Order(i, side, draw(qty), draw(price), f"0x{i:x}", area))
    return orders


def fills_of(result: ClearingResult) -> dict[int, int]:
    return {f.order_id: f.qty_wh for f in result.fills}


# ------------------------------------------------------------------------ hand-computed books


def test_uniform_price_is_set_by_the_marginal_offer() -> None:
    # Bids 1@50x100, 2@40x50, 5@40x30; offers 3@30x80, 4@45x100.
    # Walk: 1-3 80, 1-4 20; then bid 2@40 < offer 4@45 stops. a_b=50, a_o=45, r_b=40,
    # r_o=45 -> lo = hi = 45.
    orders = [bid(1, 100, 50), bid(2, 50, 40), offer(3, 80, 30), offer(4, 100, 45), bid(5, 30, 40)]
    result = clear_uniform_price(orders)
    assert result == ClearingResult(
        rule=PricingRule.UNIFORM,
        price_per_kwh=45,
        volume_wh=100,
        fills=(Fill(1, 100), Fill(3, 80), Fill(4, 20)),
        matches=(Match(1, 3, 80, 45), Match(1, 4, 20, 45)),
        welfare=50 * 100 - 30 * 80 - 45 * 20,
    )


def test_three_rules_on_a_book_with_a_wide_clearing_range() -> None:
    # Bid 1 60x100 (x), offer 2 20x100 (y); bid 3 10x50 (x) and offer 4 70x50 (y) do not trade.
    # a_b=60, a_o=20, r_b=10, r_o=70 -> lo=20, hi=60.
    orders = [bid(1, 100, 60, "x"), offer(2, 100, 20, "y"), bid(3, 50, 10, "x"), offer(4, 50, 70)]
    uniform = clear_uniform_price(orders)
    pab = clear_pay_as_bid(orders)
    coop = clear_cooperative(orders)
    assert (uniform.price_per_kwh, pab.price_per_kwh, coop.price_per_kwh) == (20, 20, 40)
    assert uniform.matches == (Match(1, 2, 100, 20),)
    assert pab.matches == (Match(1, 2, 100, 60),)
    assert coop.matches == (Match(1, 2, 100, 40),)
    for r in (uniform, pab, coop):
        assert r.fills == (Fill(1, 100), Fill(2, 100))
        assert r.volume_wh == 100
        assert r.welfare == 60 * 100 - 20 * 100


def test_cooperative_price_rounds_down_between_marginal_orders() -> None:
    # lo = 21 (offer), hi = 24 (bid): 21 + 3 // 2 = 22.
    orders = [bid(1, 10, 24), offer(2, 10, 21)]
    assert clear_cooperative(orders).price_per_kwh == 22
    assert clear_uniform_price(orders).price_per_kwh == 21


def test_partially_filled_marginal_bid_sets_both_bounds() -> None:
    # Bids 1@50x100, 2@40x50, 5@40x30; offers 3@30x80, 6@35x40, 4@45x100.
    # Walk: 1-3 80, 1-6 20, 2-6 20 (bid 2 partial at 40), then 2@40 < 4@45.
    # a_b=40, a_o=35, r_b=40 (bid 2), r_o=45 -> lo=hi=40.
    orders = [
        bid(1, 100, 50, "x"),
        bid(2, 50, 40, "y"),
        offer(3, 80, 30, "y"),
        offer(4, 100, 45, "x"),
        bid(5, 30, 40, "x"),
        offer(6, 40, 35, "x"),
    ]
    uniform = clear_uniform_price(orders)
    assert uniform.price_per_kwh == 40
    assert uniform.fills == (Fill(1, 100), Fill(2, 20), Fill(3, 80), Fill(6, 40))
    assert uniform.matches == (Match(1, 3, 80, 40), Match(1, 6, 20, 40), Match(2, 6, 20, 40))
    pab = clear_pay_as_bid(orders)
    assert pab.matches == (Match(1, 3, 80, 50), Match(1, 6, 20, 50), Match(2, 6, 20, 40))
    coop = clear_cooperative(orders)
    # Area x: demand 100 (bid 1), supply 40 (offer 6) -> 40 inside; area y: demand 20 (bid 2),
    # supply 80 (offer 3) -> 20 inside; the rest, 60 Wh of bid 1, comes from offer 3 across.
    assert coop.matches == (Match(1, 6, 40, 40), Match(2, 3, 20, 40), Match(1, 3, 60, 40))
    assert coop.welfare == uniform.welfare == 50 * 100 + 40 * 20 - 30 * 80 - 35 * 40


def test_marginal_ties_fill_the_earlier_order_first() -> None:
    # Three bids at the marginal price 10; 25 Wh of supply: id 3 full (10), id 7 partial (15),
    # id 9 nothing. The input order does not matter.
    orders = [bid(9, 10, 10), bid(7, 20, 10), offer(1, 25, 5), bid(3, 10, 10)]
    result = clear(orders, PricingRule.UNIFORM)
    assert fills_of(result) == {3: 10, 7: 15, 1: 25}
    assert result.price_per_kwh == 10  # lo = max(a_o=5, r_b=10)


def test_offer_ties_fill_the_earlier_offer_first() -> None:
    orders = [offer(4, 10, 7), offer(2, 10, 7), bid(6, 15, 9)]
    result = clear(orders, PricingRule.UNIFORM)
    assert fills_of(result) == {2: 10, 4: 5, 6: 15}
    assert result.matches == (Match(6, 2, 10, 7), Match(6, 4, 5, 7))


def test_no_crossing_means_no_trade() -> None:
    orders = [bid(1, 10, 5), offer(2, 10, 6)]
    for rule in RULES:
        assert clear(orders, rule) == ClearingResult(rule, None, 0, (), (), 0)


@pytest.mark.parametrize("orders", [[], [bid(1, 10, 5)], [offer(1, 10, 5), offer(2, 3, 0)]])
def test_empty_side_means_no_trade(orders: list[Order]) -> None:
    for rule in RULES:
        assert clear(orders, rule) == ClearingResult(rule, None, 0, (), (), 0)


def test_equal_prices_trade() -> None:
    result = clear([bid(1, 10, 7), offer(2, 4, 7)], PricingRule.COOPERATIVE)
    assert result.volume_wh == 4 and result.price_per_kwh == 7 and result.welfare == 0


def test_cooperative_serves_areas_in_lexicographic_order_then_across() -> None:
    # Area "a": bid 1 30, offer 4 10. Area "b": bid 2 10, offer 5 30. Area "c": bid 3 5 only.
    # Prices all cross; everything trades (45 Wh demand vs 40 Wh supply: bid 3 partial).
    orders = [
        bid(1, 30, 100, "a"),
        bid(2, 10, 90, "b"),
        bid(3, 5, 80, "c"),
        offer(4, 10, 10, "a"),
        offer(5, 30, 20, "b"),
    ]
    coop = clear_cooperative(orders)
    assert fills_of(coop) == {1: 30, 2: 10, 4: 10, 5: 30}
    assert coop.matches == (
        Match(1, 4, 10, 85),  # inside a
        Match(2, 5, 10, 85),  # inside b
        Match(1, 5, 20, 85),  # across
    )
    # lo = max(a_o=20, r_b=80) = 80; hi = min(a_b=90, no unfilled offer) = 90 -> 85.
    assert coop.price_per_kwh == 85
    uniform = clear_uniform_price(orders)
    assert uniform.matches == (Match(1, 4, 10, 80), Match(1, 5, 20, 80), Match(2, 5, 10, 80))


def test_rule_given_as_int_and_named_functions_agree() -> None:
    orders = [bid(1, 10, 9), offer(2, 10, 1)]
    assert clear(orders, 0) == clear_uniform_price(orders)
    assert clear(orders, 1) == clear_pay_as_bid(orders)
    assert clear(orders, 2) == clear_cooperative(orders)


def test_welfare_is_exact_beyond_int64() -> None:
    # 10**12 Wh at a spread of 10**12 per kWh: 10**24 price*Wh, far beyond int64.
    orders = [bid(1, MAX_QTY_WH, MAX_PRICE_PER_KWH), offer(2, MAX_QTY_WH, 0)]
    result = clear_uniform_price(orders)
    assert result.welfare == 10**24
    assert type(result.welfare) is int


def test_result_fields_are_python_ints() -> None:
    result = clear_pay_as_bid([bid(1, 10, 9), offer(2, 10, 1)])
    values = [result.price_per_kwh, result.volume_wh, result.welfare]
    values += [v for f in result.fills for v in (f.order_id, f.qty_wh)]
    values += [v for m in result.matches for v in (m.bid_id, m.offer_id, m.qty_wh, m.price_per_kwh)]
    assert all(type(v) is int for v in values)


# ------------------------------------------------------------------------ properties


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(books(), st.sampled_from(RULES))
def test_engine_equals_the_literal_reference(orders: list[Order], rule: PricingRule) -> None:
    assert clear(orders, rule) == clear_reference(orders, rule)


@settings(max_examples=60, deadline=None)
@given(books(max_orders=12, big=True), st.sampled_from(RULES))
def test_engine_equals_the_reference_on_huge_values(orders: list[Order], rule: PricingRule) -> None:
    assert clear(orders, rule) == clear_reference(orders, rule)


@settings(max_examples=200, deadline=None)
@given(books(), st.sampled_from(RULES))
def test_invariants(orders: list[Order], rule: PricingRule) -> None:
    result = clear(orders, rule)
    by_id = {o.order_id: o for o in orders}
    fills = fills_of(result)
    ids = [f.order_id for f in result.fills]
    assert ids == sorted(ids) and all(q > 0 for q in fills.values())
    demand = sum(q for i, q in fills.items() if by_id[i].side is BID)
    supply = sum(q for i, q in fills.items() if by_id[i].side is OFFER)
    assert demand == supply == result.volume_wh  # supply equals demand
    assert all(q <= by_id[i].qty_wh for i, q in fills.items())  # no overfill
    if result.volume_wh == 0:
        assert result.price_per_kwh is None and not result.matches
        return
    price = result.price_per_kwh
    assert price is not None
    for i in fills:  # no price violation
        o = by_id[i]
        assert o.price_per_kwh >= price if o.side is BID else o.price_per_kwh <= price
    matched: dict[int, int] = defaultdict(int)
    for m in result.matches:
        assert by_id[m.bid_id].side is BID and by_id[m.offer_id].side is OFFER and m.qty_wh > 0
        assert by_id[m.bid_id].price_per_kwh >= m.price_per_kwh >= by_id[m.offer_id].price_per_kwh
        matched[m.bid_id] += m.qty_wh
        matched[m.offer_id] += m.qty_wh
    assert dict(matched) == fills  # pairs sum to fills
    pairs = [(m.bid_id, m.offer_id) for m in result.matches]
    assert len(pairs) == len(set(pairs))
    if rule is PricingRule.COOPERATIVE:
        for area in {o.area for o in orders}:
            inside = sum(
                m.qty_wh
                for m in result.matches
                if by_id[m.bid_id].area == area == by_id[m.offer_id].area
            )
            dem = sum(q for i, q in fills.items() if by_id[i].side is BID and by_id[i].area == area)
            sup = sum(
                q for i, q in fills.items() if by_id[i].side is OFFER and by_id[i].area == area
            )
            assert inside == min(dem, sup)


@settings(max_examples=200, deadline=None)
@given(books(), st.sampled_from(RULES))
def test_clearing_range_is_never_empty(orders: list[Order], rule: PricingRule) -> None:
    ids, sides, qty, price, area, _ = orders_to_arrays(orders)
    res = clear_arrays(ids, sides, qty, price, area, rule)
    if res.volume_wh == 0:
        assert res.price_lo_per_kwh is None and res.price_hi_per_kwh is None
        return
    assert res.price_lo_per_kwh is not None and res.price_hi_per_kwh is not None
    assert res.price_lo_per_kwh <= res.price_per_kwh <= res.price_hi_per_kwh  # type: ignore[operator]


@settings(max_examples=100, deadline=None)
@given(books(), st.sampled_from(RULES), st.randoms(use_true_random=False))
def test_result_does_not_depend_on_input_order(
    orders: list[Order], rule: PricingRule, rnd: random.Random
) -> None:
    shuffled = list(orders)
    rnd.shuffle(shuffled)
    assert clear(shuffled, rule) == clear(orders, rule)


@settings(max_examples=100, deadline=None)
@given(books(), st.sampled_from(RULES))
def test_column_api_matches_object_api(orders: list[Order], rule: PricingRule) -> None:
    ids, sides, qty, price, area, _ = orders_to_arrays(orders)
    res = clear_arrays(ids, sides, qty, price, area, rule)
    obj = clear(orders, rule)
    assert {int(i): int(q) for i, q in zip(ids, res.fill_wh, strict=True) if q} == fills_of(obj)
    cols = zip(
        res.match_bid_id, res.match_offer_id, res.match_qty_wh, res.match_price_per_kwh, strict=True
    )
    assert tuple(Match(int(b), int(o), int(q), int(p)) for b, o, q, p in cols) == obj.matches
    assert (res.price_per_kwh, res.volume_wh, res.welfare) == (
        obj.price_per_kwh,
        obj.volume_wh,
        obj.welfare,
    )


def test_column_api_on_a_large_random_book_matches_the_reference() -> None:
    rng = np.random.default_rng(7)
    n = 3_000
    ids = rng.permutation(n * 3)[:n].astype(np.int64)
    sides = rng.integers(0, 2, n)
    qty = rng.integers(1, 500, n)
    price = rng.integers(50, 150, n)
    area = rng.integers(0, 4, n)
    names = ["a", "b", "c", "d"]
    orders = [
        Order(int(i), Side(int(s)), int(q), int(p), "0x0", names[int(a)])
        for i, s, q, p, a in zip(ids, sides, qty, price, area, strict=True)
    ]
    for rule in RULES:
        res = clear_arrays(ids, sides, qty, price, area, rule)
        ref = clear_reference(orders, rule)
        assert res.volume_wh == ref.volume_wh > 0
        assert res.welfare == ref.welfare
        assert res.price_per_kwh == ref.price_per_kwh
        got = tuple(
            Match(int(b), int(o), int(q), int(p))
            for b, o, q, p in zip(
                res.match_bid_id,
                res.match_offer_id,
                res.match_qty_wh,
                res.match_price_per_kwh,
                strict=True,
            )
        )
        assert got == ref.matches
