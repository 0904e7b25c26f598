"""Typed client of the ``FlexMarket`` contract: sessions, deposits, orders, clearing.

Orders reach the book three ways (direct transaction, EIP-712 signed orders relayed in a batch
by the operator, sealed commit-reveal); all end as ``OrderPlaced`` events. :meth:`book`
rebuilds a session's book from those events, which is what the operator clears and resubmits.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum

from eth_abi import encode as abi_encode
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_utils import keccak, to_checksum_address
from web3.types import TxReceipt

from chain.contracts import ContractClient
from core.codec import bytes32_to_text, text_to_bytes32
from core.errors import MarketError
from core.rules import PricingRule, Side
from matching.domain import ClearingResult, Order


class Product(IntEnum):
    UPWARD = 0
    DOWNWARD = 1


SESSION_OPEN, SESSION_CLEARED = 0, 1


@dataclass(frozen=True)
class SessionInfo:
    session_id: int
    delivery_start_s: int
    duration_s: int
    gate_closure_s: int
    reveal_deadline_s: int
    product: Product
    rule: PricingRule
    sealed: bool
    cleared: bool
    grid_area: str
    order_count: int
    cancel_count: int
    clearing_price_per_kwh: int
    escrowed: int
    book_hash: bytes
    """Running hash of the book (192 bits); after clearing, of the book and the matches."""

    @property
    def closes_at_s(self) -> int:
        """When the book is final: gate closure, or the reveal deadline of a sealed session."""
        return self.reveal_deadline_s if self.sealed else self.gate_closure_s


@dataclass(frozen=True)
class SignedOrder:
    """An order signed by its trader (EIP-712), to be relayed by the operator."""

    trader: str
    side: Side
    qty_wh: int
    price_per_kwh: int
    nonce: int
    r: bytes
    vs: bytes

    def as_tuple(self) -> tuple[object, ...]:
        return (
            self.trader,
            int(self.side),
            self.qty_wh,
            self.price_per_kwh,
            self.nonce,
            self.r,
            self.vs,
        )


@dataclass(frozen=True)
class SessionBook:
    """A session's book as the chain has it: orders in placement order and cancellations."""

    session_id: int
    orders: list[Order]
    area_bytes: dict[int, bytes]
    cancelled_by: dict[int, str]

    @property
    def active_orders(self) -> list[Order]:
        """Orders that trade: all but those cancelled by their own trader."""
        return [o for o in self.orders if self.cancelled_by.get(o.order_id) != o.owner]

    def records(self) -> list[tuple[object, ...]]:
        return [
            (o.owner, int(o.side), o.qty_wh, o.price_per_kwh, self.area_bytes[o.order_id])
            for o in self.orders
        ]


def order_commitment(
    session_id: int, trader: str, side: Side, qty_wh: int, price_per_kwh: int, salt: bytes
) -> bytes:
    """The commitment of a sealed order, as the contract computes it."""
    return keccak(
        abi_encode(
            ["uint256", "address", "uint8", "uint48", "uint40", "bytes32"],
            [session_id, to_checksum_address(trader), int(side), qty_wh, price_per_kwh, salt],
        )
    )


def new_salt() -> bytes:
    return os.urandom(32)


class FlexMarketClient(ContractClient):
    contract_name = "FlexMarket"

    # ------------------------------------------------------------ sessions
    def open_session(
        self,
        delivery_start_s: int,
        duration_s: int,
        gate_closure_s: int,
        product: Product = Product.UPWARD,
        rule: PricingRule = PricingRule.UNIFORM,
        sealed: bool = False,
        reveal_deadline_s: int = 0,
        grid_area: str = "",
    ) -> tuple[TxReceipt, int]:
        """Open a session (market operator only); returns the receipt and the session id."""
        receipt = self._transact(
            "openSession",
            delivery_start_s,
            duration_s,
            gate_closure_s,
            int(product),
            int(rule),
            sealed,
            reveal_deadline_s,
            text_to_bytes32(grid_area, "grid area") if grid_area else b"\0" * 32,
        )
        [event] = self.events(receipt, "SessionOpened")
        return receipt, int(event["args"]["sessionId"])

    def session(self, session_id: int) -> SessionInfo:
        s = self.contract.functions.session(session_id).call()
        (
            start,
            dur,
            gate,
            reveal,
            product,
            rule,
            sealed,
            status,
            area,
            book_hash,
            count,
            cancels,
            price,
            escrowed,
        ) = s
        return SessionInfo(
            session_id=session_id,
            delivery_start_s=start,
            duration_s=dur,
            gate_closure_s=gate,
            reveal_deadline_s=reveal,
            product=Product(product),
            rule=PricingRule(rule),
            sealed=bool(sealed),
            cleared=status == SESSION_CLEARED,
            grid_area=bytes32_to_text(area),
            order_count=count,
            cancel_count=cancels,
            clearing_price_per_kwh=price,
            escrowed=escrowed,
            book_hash=bytes(book_hash),
        )

    def session_count(self) -> int:
        return int(self.contract.functions.sessionCount().call())

    # ------------------------------------------------------------ deposits
    def deposit(self, amount: int) -> TxReceipt:
        """Move ``amount`` base units into the market (approve the market on the token first)."""
        return self._transact("deposit", amount)

    def withdraw(self, amount: int) -> TxReceipt:
        return self._transact("withdraw", amount)

    def account(self, who: str) -> tuple[int, int, int]:
        """(free deposit, locked deposit, next signed-order nonce) of ``who``."""
        free, locked, nonce = self.contract.functions.account(to_checksum_address(who)).call()
        return int(free), int(locked), int(nonce)

    # ------------------------------------------------------------ orders
    def place_order(
        self, session_id: int, side: Side, qty_wh: int, price_per_kwh: int
    ) -> tuple[TxReceipt, int]:
        receipt = self._transact("placeOrder", session_id, int(side), qty_wh, price_per_kwh)
        [event] = self.events(receipt, "OrderPlaced")
        return receipt, int(event["args"]["orderId"])

    def place_order_raw(
        self, session_id: int, side: int, qty_wh: int, price_per_kwh: int
    ) -> TxReceipt:
        """Unvalidated values straight to the contract (it checks them; for tools and tests)."""
        return self._transact("placeOrder", session_id, side, qty_wh, price_per_kwh)

    def place_order_for(
        self, trader: str, session_id: int, side: Side, qty_wh: int, price_per_kwh: int
    ) -> TxReceipt:
        return self._transact(
            "placeOrderFor",
            to_checksum_address(trader),
            session_id,
            int(side),
            qty_wh,
            price_per_kwh,
        )

    def sign_order(
        self,
        trader: LocalAccount,
        session_id: int,
        side: Side,
        qty_wh: int,
        price_per_kwh: int,
        nonce: int | None = None,
    ) -> SignedOrder:
        """Sign an order as ``trader`` (EIP-712); ``nonce`` defaults to the trader's next one."""
        if nonce is None:
            nonce = self.account(trader.address)[2]
        message = {
            "types": {
                "EIP712Domain": [
                    {"name": "name", "type": "string"},
                    {"name": "version", "type": "string"},
                    {"name": "chainId", "type": "uint256"},
                    {"name": "verifyingContract", "type": "address"},
                ],
                "Order": [
                    {"name": "sessionId", "type": "uint256"},
                    {"name": "side", "type": "uint8"},
                    {"name": "qtyWh", "type": "uint48"},
                    {"name": "pricePerKwh", "type": "uint40"},
                    {"name": "trader", "type": "address"},
                    {"name": "nonce", "type": "uint64"},
                ],
            },
            "primaryType": "Order",
            "domain": {
                "name": "BRIGHT FlexMarket",
                "version": "1",
                "chainId": int(self.w3.eth.chain_id),
                "verifyingContract": self.address,
            },
            "message": {
                "sessionId": session_id,
                "side": int(side),
                "qtyWh": qty_wh,
                "pricePerKwh": price_per_kwh,
                "trader": trader.address,
                "nonce": nonce,
            },
        }
        signed = trader.sign_message(encode_typed_data(full_message=message))
        vs = (signed.s | ((signed.v - 27) << 255)).to_bytes(32, "big")
        return SignedOrder(
            trader.address, side, qty_wh, price_per_kwh, nonce, signed.r.to_bytes(32, "big"), vs
        )

    def place_signed_orders(self, session_id: int, orders: Sequence[SignedOrder]) -> TxReceipt:
        """Relay signed orders in one transaction (market operator only)."""
        return self._transact("placeSignedOrders", session_id, [o.as_tuple() for o in orders])

    def commit_order(self, session_id: int, commitment: bytes) -> TxReceipt:
        return self._transact("commitOrder", session_id, commitment)

    def reveal_order(
        self, session_id: int, side: Side, qty_wh: int, price_per_kwh: int, salt: bytes
    ) -> tuple[TxReceipt, int]:
        receipt = self._transact("revealOrder", session_id, int(side), qty_wh, price_per_kwh, salt)
        [event] = self.events(receipt, "OrderPlaced")
        return receipt, int(event["args"]["orderId"])

    def cancel_order(self, session_id: int, order_id: int) -> TxReceipt:
        return self._transact("cancelOrder", session_id, order_id)

    # ------------------------------------------------------------ clearing
    def book(self, session_id: int, from_block: int = 0) -> SessionBook:
        """The session's orders and cancellations, from the contract's events."""
        orders: list[Order] = []
        areas: dict[int, bytes] = {}
        placed = self.contract.events.OrderPlaced.get_logs(
            from_block=from_block, argument_filters={"sessionId": session_id}
        )
        for ev in sorted(placed, key=lambda e: int(e["args"]["orderId"])):
            a = ev["args"]
            oid = int(a["orderId"])
            if oid != len(orders):
                raise MarketError(f"session {session_id}: order ids are not contiguous at {oid}")
            areas[oid] = bytes(a["gridArea"])
            orders.append(
                Order(
                    order_id=oid,
                    side=Side(a["side"]),
                    qty_wh=int(a["qtyWh"]),
                    price_per_kwh=int(a["pricePerKwh"]),
                    owner=to_checksum_address(a["trader"]),
                    area=bytes32_to_text(a["gridArea"]) or "-",
                )
            )
        cancelled: dict[int, str] = {
            int(e["args"]["orderId"]): to_checksum_address(e["args"]["by"])
            for e in self.contract.events.OrderCancelled.get_logs(
                from_block=from_block, argument_filters={"sessionId": session_id}
            )
        }
        return SessionBook(session_id, orders, areas, cancelled)

    def clearing_args(self, book: SessionBook, result: ClearingResult) -> tuple[object, ...]:
        """The packed ``Clearing`` struct for ``result`` over ``book`` (see IFlexMarket.sol)."""
        areas: list[bytes] = []
        index: dict[bytes, int] = {}
        words = []
        for o in book.orders:
            area = book.area_bytes[o.order_id]
            if area not in index:
                if len(areas) == 128:
                    raise MarketError("a clearing can name at most 128 grid areas")
                index[area] = len(areas)
                areas.append(area)
            words.append(
                (int(o.owner, 16) << 96)
                | (index[area] << 89)
                | (int(o.side) << 88)
                | (o.qty_wh << 40)
                | o.price_per_kwh
            )
        matches = [(m.bid_id << 80) | (m.offer_id << 48) | m.qty_wh for m in result.matches]
        return (words, areas, sorted(book.cancelled_by), matches, result.price_per_kwh or 0)

    def clear_session(
        self, session_id: int, clearing: tuple[object, ...], gas: int | None = None
    ) -> TxReceipt:
        """Submit a clearing (market operator only); the contract re-checks it."""
        return self._transact("clearSession", session_id, clearing, gas=gas)
