"""The engine's welfare equals the optimum of an independent LP (OR-Tools GLOP) on random books."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.rules import PricingRule, Side
from matching.domain import Order
from matching.engine import clear, clear_arrays
from matching.lp import solve_welfare_lp, solve_welfare_lp_arrays

BID, OFFER = Side.BID, Side.OFFER


@st.composite
def books(draw: st.DrawFn) -> list[Order]:
    n = draw(st.integers(0, 30))
    ids = draw(st.lists(st.integers(0, 10_000), min_size=n, max_size=n, unique=True))
    price = draw(st.sampled_from([st.integers(0, 10), st.integers(0, 10**6)]))
    qty = draw(st.sampled_from([st.integers(1, 50), st.integers(1, 10**7)]))
    return [
        Order(
            i,
            draw(st.sampled_from([BID, OFFER])),
            draw(qty),
            draw(price),
            "0x0",
            draw(st.sampled_from(["a", "b", "c"])),
        )
        for i in ids
    ]


def lp_tolerance(orders: list[Order]) -> float:
    scale = sum(o.qty_wh * max(o.price_per_kwh, 1) for o in orders)
    return 1e-9 * scale + 1e-6


def test_hand_book() -> None:
    # Bid 60x100 vs offer 20x100, bid 10x50 and offer 70x50 cannot add welfare.
    orders = [
        Order(1, BID, 100, 60, "0x1", "x"),
        Order(2, OFFER, 100, 20, "0x2", "y"),
        Order(3, BID, 50, 10, "0x3", "x"),
        Order(4, OFFER, 50, 70, "0x4", "y"),
    ]
    lp = solve_welfare_lp(orders)
    assert lp.status == "Optimal"
    assert lp.welfare == pytest.approx(4000.0)
    assert lp.volume_wh == pytest.approx(100.0)


def test_one_sided_and_empty_books() -> None:
    assert solve_welfare_lp([]).welfare == 0.0
    assert solve_welfare_lp([Order(1, BID, 10, 5, "0x1", "a")]).volume_wh == 0.0


@settings(max_examples=150, deadline=None)
@given(books(), st.sampled_from(list(PricingRule)))
def test_engine_welfare_equals_lp_optimum(orders: list[Order], rule: PricingRule) -> None:
    result = clear(orders, rule)
    lp = solve_welfare_lp(orders)
    assert result.welfare == pytest.approx(lp.welfare, abs=lp_tolerance(orders))
    # The LP's volume is one optimal volume; trades at zero surplus may differ, so the engine's
    # volume (maximal by the walk) is at least the LP's.
    assert result.volume_wh >= lp.volume_wh - 1e-6 * max(1.0, lp.volume_wh)


def test_engine_welfare_equals_lp_on_a_large_book() -> None:
    rng = np.random.default_rng(3)
    n = 20_000
    sides = rng.integers(0, 2, n)
    qty = rng.integers(1, 10_000, n)
    price = rng.integers(0, 200, n)
    res = clear_arrays(np.arange(n), sides, qty, price, np.zeros(n, dtype=np.int64), 0)
    lp = solve_welfare_lp_arrays(sides, qty, price)
    assert res.welfare > 0
    assert res.welfare == pytest.approx(lp.welfare, rel=1e-9)
