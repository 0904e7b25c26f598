"""Typed client of the ``FlexMarket`` contract: sessions, deposits, orders, cancellations,
clearing, voiding and settlement on delivery.

Orders reach the book three ways (direct transaction, EIP-712 signed orders relayed in a batch
by the operator, sealed commit-reveal); all end as ``OrderPlaced`` events. :meth:`book`
rebuilds a session's book from those events; the clearing, the void and each cancellation's
proof are built from it (the contract keeps only the book's running hash, with a checkpoint
every 32 orders). The client speaks the contract's own records (:class:`BookOrder`); the
matching engine's types stay in :mod:`matching`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import IntEnum

from eth_abi import encode as abi_encode
from eth_account.signers.local import LocalAccount
from eth_utils import keccak, to_checksum_address
from web3.types import TxReceipt

from chain.contracts import ContractClient
from core.codec import ZERO_BYTES32, bytes32_to_text, text_to_bytes32
from core.errors import MarketError
from core.rules import PricingRule, Side, TableRow

CHECKPOINT_EVERY = 32
"""The contract keeps the book's running hash after every 32nd order (cancel proofs)."""


class Product(IntEnum):
    UPWARD = 0
    DOWNWARD = 1


class SessionStatus(IntEnum):
    """Where a session stands (the contract's ``Status``)."""

    OPEN = 0
    CLEARED = 1
    SETTLED = 2
    VOIDED = 3


@dataclass(frozen=True)
class MarketTerms:
    """What a session fixes besides its times (see ``IFlexMarket.SessionParams``).

    Parameters
    ----------
    tolerance_bp
        A seller's shortfall is penalised below its fill minus this share (basis points).
    penalty_per_kwh
        Penalty per kWh of shortfall, token base units; an offer bonds its quantity at it.
    order_bond
        Locked by every order (and sealed commitment) until its life ends, base units.
    baseline_intervals, baseline_gap_intervals
        The meter-before baseline: intervals averaged (1..3) and left out (0..3) before the
        delivery.
    settle_delay_s
        Settlement opens this long after the delivery ends (time for the meter data).
    """

    tolerance_bp: int = 1000
    penalty_per_kwh: int = 0
    order_bond: int = 0
    baseline_intervals: int = 1
    baseline_gap_intervals: int = 0
    settle_delay_s: int = 0


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
    status: SessionStatus
    grid_area: str
    order_count: int
    commit_count: int
    clearing_price_per_kwh: int
    escrowed: int
    volume_wh: int
    terms: MarketTerms
    book_hash: bytes
    """Running hash of the book (192 bits); after clearing, of the filled-orders table."""

    @property
    def cleared(self) -> bool:
        """Cleared, settled or voided: the book is no longer open."""
        return self.status != SessionStatus.OPEN

    @property
    def closes_at_s(self) -> int:
        """When the book is final: gate closure, or the reveal deadline of a sealed session."""
        return self.reveal_deadline_s if self.sealed else self.gate_closure_s

    @property
    def delivery_end_s(self) -> int:
        return self.delivery_start_s + self.duration_s

    @property
    def settle_opens_s(self) -> int:
        """From when anyone may settle it."""
        return self.delivery_end_s + self.terms.settle_delay_s


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
class BookOrder:
    """An order as the contract's book holds it (from its ``OrderPlaced`` event)."""

    order_id: int
    trader: str
    side: Side
    qty_wh: int
    price_per_kwh: int
    area: bytes
    """The trader's grid area, ``bytes32``."""

    @property
    def area_text(self) -> str:
        return bytes32_to_text(self.area)

    @property
    def word(self) -> int:
        """The record word the running hash is built from (no area index)."""
        return (
            int(self.trader, 16) << 96
            | int(self.side) << 80
            | self.qty_wh << 40
            | self.price_per_kwh
        )


def chain_hash(prior: bytes, order_id: int, word: int, area: bytes) -> bytes:
    """The book's running hash after one order (``MarketBook.chain``), 24 bytes."""
    return keccak(
        abi_encode(["bytes24", "uint256", "uint256", "bytes32"], [prior, order_id, word, area])
    )[:24]


@dataclass(frozen=True)
class SessionBook:
    """A session's book as the chain has it: orders in placement order and cancellations."""

    session_id: int
    orders: list[BookOrder]
    cancelled: frozenset[int] = field(default_factory=frozenset)

    @property
    def active_orders(self) -> list[BookOrder]:
        """Orders that trade: all but the cancelled ones."""
        return [o for o in self.orders if o.order_id not in self.cancelled]

    def hash_before(self, order_id: int) -> bytes:
        """The running hash after orders ``0 .. order_id - 1``."""
        h = bytes(24)
        for o in self.orders[:order_id]:
            h = chain_hash(h, o.order_id, o.word, o.area)
        return h

    def proof(self, order_id: int) -> tuple[bytes, list[int], list[bytes]]:
        """The ``OrderProof`` of ``order_id``: the hash before it and the records through the
        end of its checkpoint group (or the book's last order)."""
        if not 0 <= order_id < len(self.orders):
            raise MarketError(f"session {self.session_id} has no order {order_id}")
        end = min((order_id // CHECKPOINT_EVERY + 1) * CHECKPOINT_EVERY, len(self.orders))
        group = self.orders[order_id:end]
        return self.hash_before(order_id), [o.word for o in group], [o.area for o in group]

    def clearing_words(self) -> tuple[list[int], list[bytes]]:
        """The book as ``Clearing.orders`` and ``Clearing.areas`` (areas ascending)."""
        areas = sorted({o.area for o in self.orders}, key=lambda a: int.from_bytes(a, "big"))
        if len(areas) > 2**15:
            raise MarketError("a clearing can name at most 32,768 grid areas")
        index = {a: i for i, a in enumerate(areas)}
        words = [o.word | index[o.area] << 81 for o in self.orders]
        return words, areas


@dataclass(frozen=True)
class Reading:
    """A committed meter reading of one interval with its Merkle proof."""

    import_wh: int
    export_wh: int
    root: bytes
    proof: Sequence[bytes]

    def as_tuple(self) -> tuple[object, ...]:
        return (self.import_wh, self.export_wh, self.root, list(self.proof))


@dataclass(frozen=True)
class SellerEvidence:
    """One seller's meter evidence (see ``IFlexMarket.SellerEvidence``): every needed
    reading, or ``missing`` = 1 + the position of an interval without a committed reading."""

    trader: str
    readings: Sequence[Reading] = ()
    missing: int = 0

    def as_tuple(self) -> tuple[object, ...]:
        return (
            to_checksum_address(self.trader),
            self.missing,
            [r.as_tuple() for r in self.readings],
        )


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


def table_words(rows: Sequence[TableRow]) -> list[int]:
    """The settlement table as the contract takes it (its hash is the clearing's result)."""
    return [
        int(r.trader, 16) << 96
        | r.order_id << 81
        | int(r.side) << 80
        | r.fill_wh << 40
        | r.price_per_kwh
        for r in rows
    ]


def seller_index_words(rows: Sequence[TableRow], sellers: Sequence[str]) -> list[int]:
    """``sellerOf``: per table row (16 to a word) the 1-based index of an offer's seller."""
    index = {to_checksum_address(s): k + 1 for k, s in enumerate(sellers)}
    words = [0] * ((len(rows) + 15) // 16)
    for i, r in enumerate(rows):
        if r.side == Side.OFFER:
            words[i // 16] |= index[to_checksum_address(r.trader)] << (16 * (i % 16))
    return words


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
        terms: MarketTerms | None = None,
    ) -> tuple[TxReceipt, int]:
        """Open a session (market operator only); returns the receipt and the session id."""
        t = terms or MarketTerms()
        params = (
            delivery_start_s,
            duration_s,
            gate_closure_s,
            reveal_deadline_s,
            int(product),
            int(rule),
            sealed,
            text_to_bytes32(grid_area, "grid area") if grid_area else ZERO_BYTES32,
            t.tolerance_bp,
            t.penalty_per_kwh,
            t.order_bond,
            t.baseline_intervals,
            t.baseline_gap_intervals,
            t.settle_delay_s,
        )
        receipt = self._transact("openSession", params)
        [event] = self.events(receipt, "SessionOpened")
        return receipt, int(event["args"]["sessionId"])

    def session(self, session_id: int) -> SessionInfo:
        (
            start,
            dur,
            gate,
            reveal,
            product,
            rule,
            sealed,
            status,
            penalty,
            bond,
            area,
            book_hash,
            count,
            commits,
            price,
            escrowed,
            volume,
            tol,
            baseline,
            gap,
            delay,
        ) = self._call("session", session_id)
        return SessionInfo(
            session_id=session_id,
            delivery_start_s=int(start),
            duration_s=int(dur),
            gate_closure_s=int(gate),
            reveal_deadline_s=int(reveal),
            product=Product(product),
            rule=PricingRule(rule),
            sealed=bool(sealed),
            status=SessionStatus(status),
            grid_area=bytes32_to_text(area),
            order_count=int(count),
            commit_count=int(commits),
            clearing_price_per_kwh=int(price),
            escrowed=int(escrowed),
            volume_wh=int(volume),
            terms=MarketTerms(
                int(tol), int(penalty), int(bond), int(baseline), int(gap), int(delay)
            ),
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

    def treasury(self) -> str:
        """Where forfeited commitment bonds and settlement rounding dust go."""
        return to_checksum_address(self.contract.functions.treasury().call())

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
        r, vs = self.sign_typed(
            trader,
            "Order",
            [
                ("sessionId", "uint256"),
                ("side", "uint8"),
                ("qtyWh", "uint48"),
                ("pricePerKwh", "uint40"),
                ("trader", "address"),
                ("nonce", "uint64"),
            ],
            {
                "sessionId": session_id,
                "side": int(side),
                "qtyWh": qty_wh,
                "pricePerKwh": price_per_kwh,
                "trader": trader.address,
                "nonce": nonce,
            },
        )
        return SignedOrder(trader.address, side, qty_wh, price_per_kwh, nonce, r, vs)

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

    def forfeit_commitment(self, session_id: int, trader: str, commitment: bytes) -> TxReceipt:
        """Move an unrevealed commitment's bond to the treasury (anyone, after the reveal)."""
        return self._transact(
            "forfeitCommitment", session_id, to_checksum_address(trader), commitment
        )

    def cancel_order(
        self, session_id: int, order_id: int, book: SessionBook | None = None
    ) -> TxReceipt:
        """Cancel one of the sender's orders (or any order of an inactive trader), proving its
        record from the book (read from the events unless given)."""
        book = book or self.book(session_id)
        return self._transact("cancelOrder", session_id, order_id, book.proof(order_id))

    def sign_cancel(
        self, trader: LocalAccount, session_id: int, order_id: int
    ) -> tuple[bytes, bytes]:
        """``trader``'s EIP-712 signed cancel of ``order_id``, for anyone to relay."""
        return self.sign_typed(
            trader,
            "Cancel",
            [("sessionId", "uint256"), ("orderId", "uint256")],
            {"sessionId": session_id, "orderId": order_id},
        )

    def cancel_order_by_sig(
        self,
        session_id: int,
        order_id: int,
        signature: tuple[bytes, bytes],
        book: SessionBook | None = None,
    ) -> TxReceipt:
        """Relay a trader's signed cancel (:meth:`sign_cancel`)."""
        book = book or self.book(session_id)
        r, vs = signature
        return self._transact("cancelOrderBySig", session_id, order_id, book.proof(order_id), r, vs)

    def is_cancelled(self, session_id: int, order_id: int) -> bool:
        return bool(self.contract.functions.isCancelled(session_id, order_id).call())

    # ------------------------------------------------------------ book
    def book(self, session_id: int, from_block: int = 0) -> SessionBook:
        """The session's orders and cancellations, from the contract's events."""
        orders: list[BookOrder] = []
        placed = self.contract.events.OrderPlaced.get_logs(
            from_block=from_block, argument_filters={"sessionId": session_id}
        )
        for ev in sorted(placed, key=lambda e: int(e["args"]["orderId"])):
            a = ev["args"]
            oid = int(a["orderId"])
            if oid != len(orders):
                raise MarketError(f"session {session_id}: order ids are not contiguous at {oid}")
            orders.append(
                BookOrder(
                    order_id=oid,
                    trader=to_checksum_address(a["trader"]),
                    side=Side(a["side"]),
                    qty_wh=int(a["qtyWh"]),
                    price_per_kwh=int(a["pricePerKwh"]),
                    area=bytes(a["gridArea"]),
                )
            )
        cancelled = frozenset(
            int(e["args"]["orderId"])
            for e in self.contract.events.OrderCancelled.get_logs(
                from_block=from_block, argument_filters={"sessionId": session_id}
            )
        )
        return SessionBook(session_id, orders, cancelled)

    # ------------------------------------------------------------ clearing
    def clearing_args(
        self,
        book: SessionBook,
        matches: Iterable[tuple[int, int, int]],
        price_per_kwh: int | None,
    ) -> tuple[object, ...]:
        """The packed ``Clearing`` struct: the book, the matches ``(bid id, offer id, Wh)``
        and the price (see IFlexMarket.sol)."""
        words, areas = book.clearing_words()
        packed = [(b << 80) | (o << 48) | q for b, o, q in matches]
        return (words, areas, packed, price_per_kwh or 0)

    def clear_session(
        self, session_id: int, clearing: tuple[object, ...], gas: int | None = None
    ) -> TxReceipt:
        """Submit a clearing (market operator only); the contract re-checks it."""
        return self._transact("clearSession", session_id, clearing, gas=gas)

    def void_session(self, session_id: int, book: SessionBook | None = None) -> TxReceipt:
        """Void a session that was not cleared before its delivery (anyone): every lock is
        released."""
        words, areas = (book or self.book(session_id)).clearing_words()
        return self._transact("voidSession", session_id, words, areas)

    # ------------------------------------------------------------ settlement
    def fills(self, session_id: int, from_block: int = 0) -> dict[int, int]:
        """``{order id: filled Wh}`` of a cleared session (its ``OrderMatched`` events)."""
        out: dict[int, int] = {}
        for ev in self.contract.events.OrderMatched.get_logs(
            from_block=from_block, argument_filters={"sessionId": session_id}
        ):
            a = ev["args"]
            q = int(a["qtyWh"])
            out[int(a["bidId"])] = out.get(int(a["bidId"]), 0) + q
            out[int(a["offerId"])] = out.get(int(a["offerId"]), 0) + q
        return out

    def settlement_table(self, session_id: int, from_block: int = 0) -> list[TableRow]:
        """The cleared session's filled orders, in order-id order (what settlement resupplies)."""
        book = self.book(session_id, from_block)
        fills = self.fills(session_id, from_block)
        return [
            TableRow(o.order_id, o.trader, o.side, fills[o.order_id], o.price_per_kwh)
            for o in book.orders
            if fills.get(o.order_id, 0) > 0
        ]

    def settle_session(
        self,
        session_id: int,
        table: Sequence[TableRow],
        sellers: Sequence[SellerEvidence],
        gas: int | None = None,
    ) -> TxReceipt:
        """Settle a cleared session on delivery (anyone, once its settlement opens); the
        contract computes every figure from the evidence."""
        ordered = sorted(sellers, key=lambda e: int(e.trader, 16))
        return self._transact(
            "settleSession",
            session_id,
            table_words(table),
            seller_index_words(table, [e.trader for e in ordered]),
            [e.as_tuple() for e in ordered],
            gas=gas,
        )
