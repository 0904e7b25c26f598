"""check_clearing accepts the engine's results and rejects each kind of tampering by name."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from core.rules import PricingRule, Side
from matching.domain import ClearingResult, Fill, Match, Order
from matching.engine import clear
from matching.errors import (
    ClearingAreaPriorityViolated,
    ClearingError,
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
    DuplicateOrderId,
)
from matching.verify import check_clearing

BID, OFFER = Side.BID, Side.OFFER
RULES = list(PricingRule)

# Bids 1@50x100 (x), 2@40x50 (y), 5@40x30 (x); offers 3@30x80 (y), 6@35x40 (x), 4@45x100 (x).
# Engine: fills 1:100, 2:20, 3:80, 6:40; price 40 for every rule (lo = hi = 40).
BOOK = [
    Order(1, BID, 100, 50, "0x1", "x"),
    Order(2, BID, 50, 40, "0x2", "y"),
    Order(3, OFFER, 80, 30, "0x3", "y"),
    Order(4, OFFER, 100, 45, "0x4", "x"),
    Order(5, BID, 30, 40, "0x5", "x"),
    Order(6, OFFER, 40, 35, "0x6", "x"),
]


def with_fills(result: ClearingResult, fills: dict[int, int], **kw: object) -> ClearingResult:
    new = tuple(Fill(i, q) for i, q in sorted(fills.items()) if q)
    return dataclasses.replace(result, fills=new, **kw)  # type: ignore[arg-type]


def base(rule: PricingRule = PricingRule.UNIFORM) -> ClearingResult:
    result = clear(BOOK, rule)
    assert {f.order_id: f.qty_wh for f in result.fills} == {1: 100, 2: 20, 3: 80, 6: 40}
    return result


@pytest.mark.parametrize("rule", RULES)
def test_engine_result_passes(rule: PricingRule) -> None:
    check_clearing(BOOK, rule, base(rule))


def test_wrong_rule() -> None:
    with pytest.raises(ClearingWrongRule):
        check_clearing(BOOK, PricingRule.COOPERATIVE, base(PricingRule.UNIFORM))


def test_unknown_order_in_fills() -> None:
    bad = dataclasses.replace(base(), fills=(*base().fills, Fill(999, 1)))
    with pytest.raises(ClearingUnknownOrder) as info:
        check_clearing(BOOK, PricingRule.UNIFORM, bad)
    assert info.value.order_id == 999


def test_fills_not_sorted_or_repeated() -> None:
    r = base()
    with pytest.raises(ClearingFillsNotSorted):
        check_clearing(BOOK, PricingRule.UNIFORM, dataclasses.replace(r, fills=r.fills[::-1]))
    with pytest.raises(ClearingFillsNotSorted):
        repeated = (r.fills[0], *r.fills)
        check_clearing(BOOK, PricingRule.UNIFORM, dataclasses.replace(r, fills=repeated))


def test_zero_fill_listed() -> None:
    r = base()
    fills = (r.fills[0], r.fills[1], r.fills[2], Fill(4, 0), r.fills[3])  # ids 1, 2, 3, 4, 6
    with pytest.raises(ClearingNonPositiveFill) as info:
        check_clearing(BOOK, PricingRule.UNIFORM, dataclasses.replace(r, fills=fills))
    assert info.value.order_id == 4


def test_overfill() -> None:
    bad = with_fills(base(), {1: 110, 2: 10, 3: 80, 6: 40})
    with pytest.raises(ClearingOverfill) as info:
        check_clearing(BOOK, PricingRule.UNIFORM, bad)
    assert (info.value.order_id, info.value.fill_wh, info.value.qty_wh) == (1, 110, 100)


def test_supply_differs_from_demand() -> None:
    bad = with_fills(base(), {1: 100, 2: 15, 3: 80, 6: 40})
    with pytest.raises(ClearingSupplyDemandMismatch) as info:
        check_clearing(BOOK, PricingRule.UNIFORM, bad)
    assert (info.value.bid_volume_wh, info.value.offer_volume_wh) == (115, 120)


def test_wrong_volume() -> None:
    r = base()
    with pytest.raises(ClearingWrongVolume):
        check_clearing(BOOK, PricingRule.UNIFORM, dataclasses.replace(r, volume_wh=121))


def test_prices_not_crossed() -> None:
    book = [Order(1, BID, 10, 10, "0x1", "a"), Order(2, OFFER, 10, 20, "0x2", "a")]
    r = clear(book, PricingRule.UNIFORM)
    assert r.volume_wh == 0
    check_clearing(book, PricingRule.UNIFORM, r)
    bad = ClearingResult(
        PricingRule.UNIFORM, 15, 10, (Fill(1, 10), Fill(2, 10)), (Match(1, 2, 10, 15),), -100
    )
    with pytest.raises(ClearingPriceNotCrossed) as info:
        check_clearing(book, PricingRule.UNIFORM, bad)
    assert (info.value.bid_id, info.value.offer_id) == (1, 2)


def test_better_bid_left_out() -> None:
    # Bid 1 (price 50) gives 20 Wh to bid 2 (price 40): 1 is better and not fully filled.
    bad = with_fills(base(), {1: 80, 2: 40, 3: 80, 6: 40})
    with pytest.raises(ClearingOrderLeftOut) as info:
        check_clearing(BOOK, PricingRule.UNIFORM, bad)
    assert info.value.order_id == 1


def test_better_offer_left_out() -> None:
    # Offer 3 (price 20) is served instead of the cheaper offer 2 (price 10).
    book = [
        Order(1, BID, 10, 50, "0x1", "a"),
        Order(2, OFFER, 10, 10, "0x2", "a"),
        Order(3, OFFER, 10, 20, "0x3", "a"),
    ]
    r = clear(book, PricingRule.UNIFORM)
    check_clearing(book, PricingRule.UNIFORM, r)
    bad = with_fills(r, {1: 10, 3: 10}, price_per_kwh=20, welfare=300)
    with pytest.raises(ClearingOrderLeftOut) as info:
        check_clearing(book, PricingRule.UNIFORM, bad)
    assert info.value.order_id == 2


def test_marginal_priority_by_order_id() -> None:
    # Bids 2 and 5 share the marginal price 40; 2 is earlier and must be served first.
    bad = with_fills(base(), {1: 100, 5: 20, 3: 80, 6: 40})
    with pytest.raises(ClearingPriorityViolated) as info:
        check_clearing(BOOK, PricingRule.UNIFORM, bad)
    assert (info.value.order_id, info.value.later_id) == (2, 5)


def test_crossing_remainders_left_out() -> None:
    # 10 Wh less between bid 2 (40) and offer 6 (35): they still cross, so they should trade.
    bad = with_fills(base(), {1: 100, 2: 10, 3: 80, 6: 30}, volume_wh=110)
    with pytest.raises(ClearingOrderLeftOut) as info:
        check_clearing(BOOK, PricingRule.UNIFORM, bad)
    assert info.value.order_id == 2


def test_nothing_traded_although_orders_cross() -> None:
    bad = ClearingResult(PricingRule.UNIFORM, None, 0, (), (), 0)
    with pytest.raises(ClearingOrderLeftOut) as info:
        check_clearing(BOOK, PricingRule.UNIFORM, bad)
    assert info.value.order_id == 1


@pytest.mark.parametrize("rule", RULES)
def test_wrong_price(rule: PricingRule) -> None:
    r = base(rule)
    with pytest.raises(ClearingWrongPrice) as info:
        check_clearing(BOOK, rule, dataclasses.replace(r, price_per_kwh=41))
    assert (info.value.expected, info.value.got) == (40, 41)


def test_cooperative_price_must_be_the_midpoint() -> None:
    book = [Order(1, BID, 100, 60, "0x1", "x"), Order(2, OFFER, 100, 20, "0x2", "y")]
    r = clear(book, PricingRule.COOPERATIVE)
    assert r.price_per_kwh == 40
    fake = dataclasses.replace(
        r,
        price_per_kwh=20,
        matches=tuple(dataclasses.replace(m, price_per_kwh=20) for m in r.matches),
    )
    with pytest.raises(ClearingWrongPrice) as info:
        check_clearing(book, PricingRule.COOPERATIVE, fake)
    assert (info.value.expected, info.value.got) == (40, 20)


def test_price_on_an_empty_clearing() -> None:
    book = [Order(1, BID, 10, 10, "0x1", "a")]
    with pytest.raises(ClearingWrongPrice):
        check_clearing(book, 0, ClearingResult(PricingRule.UNIFORM, 10, 0, (), (), 0))


@pytest.mark.parametrize("rule", [PricingRule.UNIFORM, PricingRule.PAY_AS_BID])
def test_wrong_match_price(rule: PricingRule) -> None:
    r = base(rule)
    first = r.matches[0]
    bad = dataclasses.replace(
        r,
        matches=(dataclasses.replace(first, price_per_kwh=first.price_per_kwh + 1), *r.matches[1:]),
    )
    with pytest.raises(ClearingWrongMatchPrice) as info:
        check_clearing(BOOK, rule, bad)
    assert info.value.expected == (50 if rule is PricingRule.PAY_AS_BID else 40)


def test_pay_as_bid_matches_at_the_uniform_price_rejected() -> None:
    r = base(PricingRule.PAY_AS_BID)
    bad = dataclasses.replace(
        r, matches=tuple(dataclasses.replace(m, price_per_kwh=40) for m in r.matches)
    )
    with pytest.raises(ClearingWrongMatchPrice):
        check_clearing(BOOK, PricingRule.PAY_AS_BID, bad)


def test_match_with_sides_swapped() -> None:
    r = base()
    m = r.matches[0]
    swapped = Match(m.offer_id, m.bid_id, m.qty_wh, m.price_per_kwh)
    with pytest.raises(ClearingMatchSideMismatch):
        check_clearing(BOOK, 0, dataclasses.replace(r, matches=(swapped, *r.matches[1:])))


def test_match_naming_an_unknown_order() -> None:
    r = base()
    m = r.matches[0]
    with pytest.raises(ClearingUnknownOrder):
        bad = (dataclasses.replace(m, offer_id=12345), *r.matches[1:])
        check_clearing(BOOK, 0, dataclasses.replace(r, matches=bad))


def test_non_positive_match() -> None:
    r = base()
    zero = Match(5, 4, 0, 40)
    with pytest.raises(ClearingNonPositiveFill):
        check_clearing(BOOK, 0, dataclasses.replace(r, matches=(*r.matches, zero)))


def test_pairs_do_not_sum_to_fills() -> None:
    r = base()
    with pytest.raises(ClearingPairsDoNotSumToFill) as info:
        check_clearing(BOOK, 0, dataclasses.replace(r, matches=r.matches[:-1]))
    last = r.matches[-1]
    assert info.value.order_id in (last.bid_id, last.offer_id)


def test_cooperative_area_priority() -> None:
    r = base(PricingRule.COOPERATIVE)
    check_clearing(BOOK, PricingRule.COOPERATIVE, r)
    # Same per-order sums, but only 20 Wh inside area x where 40 are possible.
    repaired = (Match(1, 3, 80, 40), Match(2, 6, 20, 40), Match(1, 6, 20, 40))
    bad = dataclasses.replace(r, matches=repaired)
    with pytest.raises(ClearingAreaPriorityViolated) as info:
        check_clearing(BOOK, PricingRule.COOPERATIVE, bad)
    assert (info.value.area, info.value.matched_wh, info.value.expected_wh) == ("x", 20, 40)
    # The uniform rule does not care who delivers to whom.
    check_clearing(
        BOOK,
        PricingRule.UNIFORM,
        dataclasses.replace(base(), matches=repaired),
    )


def test_wrong_welfare() -> None:
    r = base()
    with pytest.raises(ClearingWrongWelfare) as info:
        check_clearing(BOOK, 0, dataclasses.replace(r, welfare=r.welfare + 1))
    assert info.value.expected == r.welfare


def test_bad_book_is_rejected() -> None:
    with pytest.raises(DuplicateOrderId):
        check_clearing([*BOOK, BOOK[0]], 0, base())


# ------------------------------------------------------------------------ properties


@st.composite
def books(draw: st.DrawFn) -> list[Order]:
    n = draw(st.integers(0, 20))
    ids = draw(st.lists(st.integers(0, 500), min_size=n, max_size=n, unique=True))
    return [
        Order(
            i,
            draw(st.sampled_from([BID, OFFER])),
            draw(st.integers(1, 30)),
            draw(st.integers(0, 8)),
            "0x0",
            draw(st.sampled_from(["a", "b", "c"])),
        )
        for i in ids
    ]


@settings(max_examples=200, deadline=None)
@given(books(), st.sampled_from(RULES))
def test_every_engine_result_passes(orders: list[Order], rule: PricingRule) -> None:
    check_clearing(orders, rule, clear(orders, rule))


ALLOCATION_ERRORS = (
    ClearingOrderLeftOut,
    ClearingPriorityViolated,
    ClearingPriceNotCrossed,
    ClearingOverfill,
)


@settings(max_examples=200, deadline=None)
@given(books(), st.sampled_from(RULES), st.data())
def test_any_other_allocation_is_rejected(
    orders: list[Order], rule: PricingRule, data: st.DataObject
) -> None:
    """Moving volume between two orders of one side (supply still equals demand) or trading
    less on both sides yields a different allocation, which the verifier must reject."""
    result = clear(orders, rule)
    fills = {f.order_id: f.qty_wh for f in result.fills}
    by_id = {o.order_id: o for o in orders}
    side = data.draw(st.sampled_from([BID, OFFER]))
    same_side = sorted(o.order_id for o in orders if o.side is side)
    mode = data.draw(st.sampled_from(["move", "shrink"]))
    if mode == "move":
        assume(len(same_side) >= 2)
        src, dst = data.draw(
            st.lists(st.sampled_from(same_side), min_size=2, max_size=2, unique=True)
        )
        room = min(fills.get(src, 0), by_id[dst].qty_wh - fills.get(dst, 0))
        assume(room > 0)
        delta = data.draw(st.integers(1, room))
        fills[src] = fills.get(src, 0) - delta
        fills[dst] = fills.get(dst, 0) + delta
        volume = result.volume_wh
    else:
        bids = [i for i, q in fills.items() if by_id[i].side is BID]
        offers = [i for i, q in fills.items() if by_id[i].side is OFFER]
        assume(bids and offers)
        b = data.draw(st.sampled_from(bids))
        o = data.draw(st.sampled_from(offers))
        delta = data.draw(st.integers(1, min(fills[b], fills[o])))
        fills[b] -= delta
        fills[o] -= delta
        volume = result.volume_wh - delta
    tampered = with_fills(result, fills, volume_wh=volume)
    with pytest.raises(ALLOCATION_ERRORS):
        check_clearing(orders, rule, tampered)


@settings(max_examples=100, deadline=None)
@given(books(), st.sampled_from(RULES), st.integers(-3, 3))
def test_any_other_price_is_rejected(orders: list[Order], rule: PricingRule, shift: int) -> None:
    result = clear(orders, rule)
    assume(result.price_per_kwh is not None and shift != 0)
    assert result.price_per_kwh is not None
    bad = dataclasses.replace(result, price_per_kwh=result.price_per_kwh + shift)
    with pytest.raises(ClearingWrongPrice):
        check_clearing(orders, rule, bad)


@settings(max_examples=100, deadline=None)
@given(books(), st.sampled_from(RULES))
def test_any_dropped_match_is_rejected(orders: list[Order], rule: PricingRule) -> None:
    result = clear(orders, rule)
    assume(result.matches)
    with pytest.raises(ClearingError):
        check_clearing(orders, rule, dataclasses.replace(result, matches=result.matches[1:]))
