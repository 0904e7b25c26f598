"""Pure types of the flexibility market's order book and clearing result.

Units: quantities in Wh (``qty_wh``), prices in FlexToken base units per kWh
(``price_per_kwh``), both plain ints as on-chain. Welfare is in price*Wh (``price_per_kwh * Wh``),
an exact int; divide by 1000 for money only when presenting it.

Everything is a frozen dataclass; an :class:`Order` validates itself on construction and
:func:`validate_book` checks what only a whole book can get wrong (duplicate ids).
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable
from dataclasses import dataclass

from core.rules import PricingRule, Side
from matching.errors import (
    DuplicateOrderId,
    InvalidOrderId,
    InvalidOrderPrice,
    InvalidOrderQuantity,
    InvalidOrderSide,
    InvalidOrderType,
    UnknownPricingRule,
)

#: Largest quantity of one order, Wh (1 TWh: far beyond any community's 15-minute flexibility).
MAX_QTY_WH = 10**12
#: Largest limit price, token base units per kWh.
MAX_PRICE_PER_KWH = 10**12
#: Largest order id: ids are int64 in the vectorised engine.
MAX_ORDER_ID = 2**63 - 1
#: Largest book: keeps every cumulative quantity (at most orders * MAX_QTY_WH) inside int64.
MAX_ORDERS = (2**63 - 1) // MAX_QTY_WH


def coerce_rule(rule: object) -> PricingRule:
    """``rule`` as a :class:`PricingRule`; raises :class:`UnknownPricingRule` otherwise."""
    if isinstance(rule, PricingRule):
        return rule
    if isinstance(rule, bool) or not isinstance(rule, numbers.Integral):
        raise UnknownPricingRule(rule)
    try:
        return PricingRule(int(rule))
    except ValueError:
        raise UnknownPricingRule(rule) from None


def _as_int(order_id: object, field: str, value: object) -> int:
    # bool is an int subclass and numpy.bool_ is not Integral: both refused; numpy ints accepted.
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InvalidOrderType(order_id, field, value, "an int")
    return int(value)


@dataclass(frozen=True, slots=True)
class Order:
    """One bid or offer of a market session.

    Parameters
    ----------
    order_id
        Placement sequence number inside the session: unique, smaller = placed earlier.
        0..2**63-1.
    side
        :attr:`Side.BID` (buy) or :attr:`Side.OFFER` (sell); 0 / 1 are accepted.
    qty_wh
        Quantity, Wh, 1..10**12.
    price_per_kwh
        Limit price, token base units per kWh, 0..10**12. A bid pays at most this, an offer
        receives at least this.
    owner
        The participant (wallet address); not used by the clearing.
    area
        Grid area; the cooperative rule matches inside an area first.
    """

    order_id: int
    side: Side
    qty_wh: int
    price_per_kwh: int
    owner: str
    area: str

    def __post_init__(self) -> None:
        order_id = _as_int(self.order_id, "order_id", self.order_id)
        if not 0 <= order_id <= MAX_ORDER_ID:
            raise InvalidOrderId(order_id, MAX_ORDER_ID)
        side = self.side
        if isinstance(side, bool) or not isinstance(side, numbers.Integral):
            raise InvalidOrderSide(order_id, side)
        if int(side) not in (Side.BID, Side.OFFER):
            raise InvalidOrderSide(order_id, side)
        qty_wh = _as_int(order_id, "qty_wh", self.qty_wh)
        if not 0 < qty_wh <= MAX_QTY_WH:
            raise InvalidOrderQuantity(order_id, qty_wh, MAX_QTY_WH)
        price = _as_int(order_id, "price_per_kwh", self.price_per_kwh)
        if not 0 <= price <= MAX_PRICE_PER_KWH:
            raise InvalidOrderPrice(order_id, price, MAX_PRICE_PER_KWH)
        if not isinstance(self.owner, str):
            raise InvalidOrderType(order_id, "owner", self.owner, "a str")
        if not isinstance(self.area, str):
            raise InvalidOrderType(order_id, "area", self.area, "a str")
        # Normalise numpy ints and plain 0/1 sides to the canonical Python types.
        object.__setattr__(self, "order_id", order_id)
        object.__setattr__(self, "side", Side(int(side)))
        object.__setattr__(self, "qty_wh", qty_wh)
        object.__setattr__(self, "price_per_kwh", price)


@dataclass(frozen=True, slots=True)
class Fill:
    """How much of one order traded, Wh (listed only when > 0)."""

    order_id: int
    qty_wh: int


@dataclass(frozen=True, slots=True)
class Match:
    """One delivery: ``qty_wh`` Wh from ``offer_id`` to ``bid_id`` at ``price_per_kwh``."""

    bid_id: int
    offer_id: int
    qty_wh: int
    price_per_kwh: int


@dataclass(frozen=True, slots=True)
class ClearingResult:
    """The clearing of one session.

    Attributes
    ----------
    rule
        The pricing rule applied.
    price_per_kwh
        The clearing price (pay-as-bid: the reference price, the uniform price of the same
        allocation); ``None`` when nothing traded.
    volume_wh
        Traded volume, Wh (= filled demand = filled supply).
    fills
        Orders with a fill > 0, ascending by order id.
    matches
        Who delivers to whom, in the engine's canonical pairing order.
    welfare
        sum(bid price * fill) - sum(offer price * fill), price*Wh.
    """

    rule: PricingRule
    price_per_kwh: int | None
    volume_wh: int
    fills: tuple[Fill, ...]
    matches: tuple[Match, ...]
    welfare: int


def validate_book(orders: Iterable[Order]) -> dict[int, Order]:
    """The orders by id; raises :class:`DuplicateOrderId` or :class:`InvalidOrderType`.

    Each :class:`Order` validated itself when built; this adds what only the whole book can
    get wrong.
    """
    book: dict[int, Order] = {}
    for order in orders:
        if not isinstance(order, Order):
            raise InvalidOrderType(None, "order", order, "a matching.domain.Order")
        if order.order_id in book:
            raise DuplicateOrderId(order.order_id)
        book[order.order_id] = order
    return book
