"""Errors of the clearing engine and of the clearing verifier.

Two families, both under :class:`core.errors.MarketError` and :class:`ValueError` (the caller
passed something wrong):

* :class:`InvalidOrder` and its subclasses: an order or an order book is malformed
  (``InvalidOrderQuantity(order_id, qty_wh)``, ``DuplicateOrderId(order_id)``, ...).
* :class:`ClearingError` and its subclasses: a submitted clearing result is not the correct
  result of the session's pricing rule. Each names the rule it broke and the values that broke
  it, like the custom errors of the ``FlexMarket`` contract that mirrors
  :func:`matching.verify.check_clearing` (``ClearingOverfill(order_id, fill_wh, qty_wh)``
  corresponds to ``FlexMarketClearingOverfill(orderId, fill, qty)``).
"""

from __future__ import annotations

from core.errors import MarketError


class MatchingError(MarketError, ValueError):
    """Base of every error of the clearing engine and its verifier."""


# --------------------------------------------------------------------------- order book input


class InvalidOrder(MatchingError):
    """An order or an order book is malformed."""


class InvalidOrderType(InvalidOrder):
    """A field has the wrong Python type (a bool or a float where an int is required, ...)."""

    def __init__(self, order_id: object, field: str, value: object, expected: str) -> None:
        self.order_id = order_id
        self.field = field
        self.value = value
        self.expected = expected
        super().__init__(
            f"order {order_id!r}: {field} must be {expected}, got {type(value).__name__} {value!r}"
        )


class InvalidOrderId(InvalidOrder):
    """An order id is negative or does not fit in 63 bits."""

    def __init__(self, order_id: int, max_id: int) -> None:
        self.order_id = order_id
        self.max_id = max_id
        super().__init__(f"order id {order_id} is out of range 0..{max_id}")


class InvalidOrderSide(InvalidOrder):
    """The side is neither BID (0) nor OFFER (1)."""

    def __init__(self, order_id: int, side: object) -> None:
        self.order_id = order_id
        self.side = side
        super().__init__(f"order {order_id}: side must be BID (0) or OFFER (1), got {side!r}")


class InvalidOrderQuantity(InvalidOrder):
    """The quantity is not positive or is absurdly large."""

    def __init__(self, order_id: int, qty_wh: int, max_qty_wh: int) -> None:
        self.order_id = order_id
        self.qty_wh = qty_wh
        self.max_qty_wh = max_qty_wh
        super().__init__(f"order {order_id}: qty_wh must be in 1..{max_qty_wh} Wh, got {qty_wh}")


class InvalidOrderPrice(InvalidOrder):
    """The limit price is negative or absurdly large."""

    def __init__(self, order_id: int, price_per_kwh: int, max_price_per_kwh: int) -> None:
        self.order_id = order_id
        self.price_per_kwh = price_per_kwh
        self.max_price_per_kwh = max_price_per_kwh
        super().__init__(
            f"order {order_id}: price_per_kwh must be in 0..{max_price_per_kwh} "
            f"token base units per kWh, got {price_per_kwh}"
        )


class DuplicateOrderId(InvalidOrder):
    """Two orders of one book share an id."""

    def __init__(self, order_id: int) -> None:
        self.order_id = order_id
        super().__init__(f"order id {order_id} appears more than once in the book")


class BookTooLarge(InvalidOrder):
    """The book has more orders than cumulative quantities can be summed for in 64 bits."""

    def __init__(self, orders: int, max_orders: int) -> None:
        self.orders = orders
        self.max_orders = max_orders
        super().__init__(f"order book has {orders} orders, at most {max_orders} are allowed")


class InvalidOrderArrays(InvalidOrder):
    """The column-oriented input (numpy arrays) is malformed: shape or dtype."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"invalid order arrays: {reason}")


class UnknownPricingRule(MatchingError):
    """The pricing rule is not one of UNIFORM (0), PAY_AS_BID (1), COOPERATIVE (2)."""

    def __init__(self, rule: object) -> None:
        self.rule = rule
        super().__init__(
            f"unknown pricing rule {rule!r}: expected UNIFORM (0), PAY_AS_BID (1) "
            "or COOPERATIVE (2)"
        )


# --------------------------------------------------------------------- clearing verification


class ClearingError(MatchingError):
    """A submitted clearing result is not the correct result of the session's pricing rule."""


class ClearingWrongRule(ClearingError):
    """The result was computed under another pricing rule than the session's."""

    def __init__(self, expected: object, got: object) -> None:
        self.expected = expected
        self.got = got
        super().__init__(f"clearing result is for rule {got!r}, the session's rule is {expected!r}")


class ClearingUnknownOrder(ClearingError):
    """A fill or a match names an order id that is not in the book."""

    def __init__(self, order_id: int) -> None:
        self.order_id = order_id
        super().__init__(f"clearing result names order {order_id}, which is not in the book")


class ClearingFillsNotSorted(ClearingError):
    """Fills are not strictly ascending by order id (this also rejects a repeated fill)."""

    def __init__(self, order_id: int, previous_id: int) -> None:
        self.order_id = order_id
        self.previous_id = previous_id
        super().__init__(
            f"fill of order {order_id} follows the fill of order {previous_id}: fills must be "
            "strictly ascending by order id"
        )


class ClearingNonPositiveFill(ClearingError):
    """A listed fill or match has a quantity <= 0 (unfilled orders are simply not listed)."""

    def __init__(self, order_id: int, qty_wh: int) -> None:
        self.order_id = order_id
        self.qty_wh = qty_wh
        super().__init__(f"order {order_id}: listed quantity must be positive, got {qty_wh} Wh")


class ClearingOverfill(ClearingError):
    """An order is filled beyond its quantity."""

    def __init__(self, order_id: int, fill_wh: int, qty_wh: int) -> None:
        self.order_id = order_id
        self.fill_wh = fill_wh
        self.qty_wh = qty_wh
        super().__init__(f"order {order_id} is filled {fill_wh} Wh, beyond its {qty_wh} Wh")


class ClearingSupplyDemandMismatch(ClearingError):
    """Filled bid volume differs from filled offer volume."""

    def __init__(self, bid_volume_wh: int, offer_volume_wh: int) -> None:
        self.bid_volume_wh = bid_volume_wh
        self.offer_volume_wh = offer_volume_wh
        super().__init__(
            f"filled demand {bid_volume_wh} Wh differs from filled supply {offer_volume_wh} Wh"
        )


class ClearingWrongVolume(ClearingError):
    """The reported volume is not the sum of the fills of one side."""

    def __init__(self, expected_wh: int, got_wh: int) -> None:
        self.expected_wh = expected_wh
        self.got_wh = got_wh
        super().__init__(f"reported volume {got_wh} Wh, the fills add up to {expected_wh} Wh")


class ClearingPriceNotCrossed(ClearingError):
    """A filled bid is priced below a filled offer: they cannot both trade at one price."""

    def __init__(
        self, bid_id: int, bid_price_per_kwh: int, offer_id: int, offer_price_per_kwh: int
    ) -> None:
        self.bid_id = bid_id
        self.bid_price_per_kwh = bid_price_per_kwh
        self.offer_id = offer_id
        self.offer_price_per_kwh = offer_price_per_kwh
        super().__init__(
            f"filled bid {bid_id} (price {bid_price_per_kwh}) is below filled offer {offer_id} "
            f"(price {offer_price_per_kwh}): prices do not cross"
        )


class ClearingOrderLeftOut(ClearingError):
    """An order that should have traded (fully, or more) was left out."""

    def __init__(self, order_id: int, price_per_kwh: int, reason: str) -> None:
        self.order_id = order_id
        self.price_per_kwh = price_per_kwh
        self.reason = reason
        super().__init__(f"order {order_id} (price {price_per_kwh}) was left out: {reason}")


class ClearingPriorityViolated(ClearingError):
    """At the marginal price, a later order traded while an earlier one was not fully filled."""

    def __init__(self, order_id: int, later_id: int) -> None:
        self.order_id = order_id
        self.later_id = later_id
        super().__init__(
            f"order {order_id} is not fully filled while the later order {later_id} at the same "
            "marginal price traded: marginal fills go in order_id order"
        )


class ClearingWrongPrice(ClearingError):
    """The clearing price is not the one the pricing rule gives for these fills."""

    def __init__(self, expected: int | None, got: int | None) -> None:
        self.expected = expected
        self.got = got
        super().__init__(f"clearing price must be {expected}, got {got}")


class ClearingMatchSideMismatch(ClearingError):
    """A match names an offer as its bid or a bid as its offer."""

    def __init__(self, order_id: int, expected_side: str) -> None:
        self.order_id = order_id
        self.expected_side = expected_side
        super().__init__(f"match names order {order_id} as its {expected_side}, it is not one")


class ClearingWrongMatchPrice(ClearingError):
    """A match is priced otherwise than the rule says."""

    def __init__(self, bid_id: int, offer_id: int, expected: int, got: int) -> None:
        self.bid_id = bid_id
        self.offer_id = offer_id
        self.expected = expected
        self.got = got
        super().__init__(
            f"match of bid {bid_id} with offer {offer_id} must be priced {expected}, got {got}"
        )


class ClearingPairsDoNotSumToFill(ClearingError):
    """The matches of an order do not add up to its fill."""

    def __init__(self, order_id: int, matched_wh: int, fill_wh: int) -> None:
        self.order_id = order_id
        self.matched_wh = matched_wh
        self.fill_wh = fill_wh
        super().__init__(
            f"matches of order {order_id} add up to {matched_wh} Wh, its fill is {fill_wh} Wh"
        )


class ClearingAreaPriorityViolated(ClearingError):
    """Cooperative rule: trades inside an area were not served first."""

    def __init__(self, area: str, matched_wh: int, expected_wh: int) -> None:
        self.area = area
        self.matched_wh = matched_wh
        self.expected_wh = expected_wh
        super().__init__(
            f"area {area!r}: {matched_wh} Wh matched inside the area, the cooperative rule "
            f"requires min(filled demand, filled supply) = {expected_wh} Wh"
        )


class ClearingWrongWelfare(ClearingError):
    """The reported welfare is not sum(bid price * fill) - sum(offer price * fill)."""

    def __init__(self, expected: int, got: int) -> None:
        self.expected = expected
        self.got = got
        super().__init__(f"welfare must be {expected} (price*Wh), got {got}")
