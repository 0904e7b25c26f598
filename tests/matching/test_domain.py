"""Order-book types and input validation: bad input is rejected with an error that names it."""

from __future__ import annotations

import numpy as np
import pytest

from core.errors import MarketError
from core.rules import PricingRule, Side
from matching.domain import MAX_PRICE_PER_KWH, MAX_QTY_WH, Order, coerce_rule, validate_book
from matching.engine import clear, clear_arrays
from matching.errors import (
    DuplicateOrderId,
    InvalidOrderArrays,
    InvalidOrderId,
    InvalidOrderPrice,
    InvalidOrderQuantity,
    InvalidOrderSide,
    InvalidOrderType,
    UnknownPricingRule,
)


def make(**kw: object) -> Order:
    fields: dict[str, object] = dict(
        order_id=7, side=Side.BID, qty_wh=100, price_per_kwh=20, owner="0xabc", area="north"
    )
    fields.update(kw)
    return Order(**fields)  # type: ignore[arg-type]


def test_enum_values_match_the_contract() -> None:
    assert (Side.BID, Side.OFFER) == (0, 1)
    assert (PricingRule.UNIFORM, PricingRule.PAY_AS_BID, PricingRule.COOPERATIVE) == (0, 1, 2)


def test_valid_order_is_normalised() -> None:
    order = make(order_id=np.int64(3), side=1, qty_wh=np.int32(5), price_per_kwh=np.uint8(0))
    assert order == Order(3, Side.OFFER, 5, 0, "0xabc", "north")
    assert type(order.order_id) is int and type(order.qty_wh) is int
    assert order.side is Side.OFFER
    with pytest.raises(AttributeError):
        order.qty_wh = 1  # type: ignore[misc]


@pytest.mark.parametrize("qty", [0, -1, MAX_QTY_WH + 1, 10**30])
def test_non_positive_or_absurd_quantity(qty: int) -> None:
    with pytest.raises(InvalidOrderQuantity) as info:
        make(qty_wh=qty)
    assert info.value.order_id == 7 and info.value.qty_wh == qty
    assert "order 7" in str(info.value) and str(qty) in str(info.value)


def test_limits_are_inclusive() -> None:
    assert make(qty_wh=MAX_QTY_WH, price_per_kwh=MAX_PRICE_PER_KWH).qty_wh == MAX_QTY_WH
    assert make(qty_wh=1, price_per_kwh=0).price_per_kwh == 0


@pytest.mark.parametrize("price", [-1, MAX_PRICE_PER_KWH + 1])
def test_negative_or_absurd_price(price: int) -> None:
    with pytest.raises(InvalidOrderPrice) as info:
        make(price_per_kwh=price)
    assert info.value.price_per_kwh == price
    assert "order 7" in str(info.value) and str(price) in str(info.value)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("qty_wh", True),
        ("qty_wh", 1.0),
        ("qty_wh", "10"),
        ("price_per_kwh", False),
        ("price_per_kwh", 2.5),
        ("price_per_kwh", np.float64(3)),
        ("order_id", True),
        ("order_id", 1.0),
        ("owner", None),
        ("area", 3),
    ],
)
def test_wrong_types_are_refused(field: str, value: object) -> None:
    with pytest.raises(InvalidOrderType) as info:
        make(**{field: value})
    assert info.value.field == field
    assert field in str(info.value) and type(value).__name__ in str(info.value)


@pytest.mark.parametrize("side", [2, -1, True, 0.0, "BID", None])
def test_bad_side(side: object) -> None:
    with pytest.raises(InvalidOrderSide) as info:
        make(side=side)
    assert "order 7" in str(info.value)


@pytest.mark.parametrize("order_id", [-1, 2**63])
def test_order_id_out_of_range(order_id: int) -> None:
    with pytest.raises(InvalidOrderId) as info:
        make(order_id=order_id)
    assert str(order_id) in str(info.value)


def test_duplicate_ids_in_a_book() -> None:
    orders = [make(order_id=1), make(order_id=2, side=Side.OFFER), make(order_id=1, qty_wh=3)]
    with pytest.raises(DuplicateOrderId) as info:
        validate_book(orders)
    assert info.value.order_id == 1 and "1" in str(info.value)
    with pytest.raises(DuplicateOrderId):
        clear(orders, PricingRule.UNIFORM)


def test_a_book_of_non_orders_is_refused() -> None:
    with pytest.raises(InvalidOrderType):
        validate_book([(1, 0, 10, 5, "x", "a")])  # type: ignore[list-item]


@pytest.mark.parametrize("rule", [3, -1, True, "UNIFORM", 1.0, None])
def test_unknown_pricing_rule(rule: object) -> None:
    with pytest.raises(UnknownPricingRule) as info:
        coerce_rule(rule)
    assert repr(rule) in str(info.value)
    with pytest.raises(UnknownPricingRule):
        clear([], rule)  # type: ignore[arg-type]


def test_errors_are_market_errors_and_value_errors() -> None:
    for exc in (InvalidOrderQuantity, DuplicateOrderId, UnknownPricingRule, InvalidOrderArrays):
        assert issubclass(exc, MarketError) and issubclass(exc, ValueError)


# ------------------------------------------------------------------------ column input


def columns(**kw: object) -> dict[str, object]:
    cols: dict[str, object] = dict(
        order_id=np.array([1, 2, 3]),
        side=np.array([0, 1, 0]),
        qty_wh=np.array([10, 10, 10]),
        price_per_kwh=np.array([5, 4, 3]),
        area_code=np.array([0, 0, 1]),
    )
    cols.update(kw)
    return cols


def test_column_input_valid() -> None:
    res = clear_arrays(**columns(), rule=PricingRule.UNIFORM)  # type: ignore[arg-type]
    assert res.volume_wh == 10 and list(res.fill_wh) == [10, 10, 0]


@pytest.mark.parametrize(
    ("kw", "error", "needle"),
    [
        ({"qty_wh": np.array([10, 0, 10])}, InvalidOrderQuantity, "order 2"),
        ({"qty_wh": np.array([10, 10, MAX_QTY_WH + 1])}, InvalidOrderQuantity, "order 3"),
        ({"price_per_kwh": np.array([-5, 4, 3])}, InvalidOrderPrice, "order 1"),
        ({"side": np.array([0, 2, 0])}, InvalidOrderSide, "order 2"),
        ({"order_id": np.array([1, 2, 1])}, DuplicateOrderId, "1"),
        ({"order_id": np.array([1, -2, 3])}, InvalidOrderId, "-2"),
        ({"qty_wh": np.array([10.0, 10.0, 10.0])}, InvalidOrderArrays, "float64"),
        ({"side": np.array([True, False, True])}, InvalidOrderArrays, "bool"),
        ({"price_per_kwh": np.array([5, 4])}, InvalidOrderArrays, "2 rows"),
        ({"area_code": np.array([[0, 0, 1]])}, InvalidOrderArrays, "one-dimensional"),
        ({"order_id": np.array([1, 2, 2**64 - 1], dtype=np.uint64)}, InvalidOrderArrays, "int64"),
    ],
)
def test_column_input_rejected(kw: dict[str, object], error: type[Exception], needle: str) -> None:
    with pytest.raises(error) as info:
        clear_arrays(**columns(**kw), rule=PricingRule.UNIFORM)  # type: ignore[arg-type]
    assert needle in str(info.value)


def test_empty_columns_clear_to_nothing() -> None:
    res = clear_arrays([], [], [], [], [], PricingRule.COOPERATIVE)
    assert res.volume_wh == 0 and res.price_per_kwh is None and res.fill_wh.size == 0
