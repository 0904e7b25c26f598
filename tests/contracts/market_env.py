"""A FlexMarket with its registry, token, MeterOracle and libraries under brownie, and the
book keeping a client does off-chain (running hash, cancel proofs, clearings from the pure
Python reference engine, meter commitments with their Merkle proofs)."""

from __future__ import annotations

from dataclasses import dataclass, field

from brownie import chain, web3
from eth_abi import encode as abi_encode
from eth_account import Account

from core.oracle_codec import leaf_hash, merkle_proof, pack_reading
from core.rules import PricingRule, Side, TableRow
from matching.domain import Order
from matching.reference import clear_reference
from tests.contracts.helpers import MARKET_OPERATOR, ORACLE, PROSUMER, b32

Q = 900
BID, OFFER = 0, 1
ORACLE_KEY = "0x" + "44" * 32
DEPOSIT = 10**12
ZERO32 = b"\0" * 32


def params(
    start,
    gate=None,
    duration=Q,
    product=0,
    rule=0,
    sealed=False,
    reveal=0,
    area=ZERO32,
    tol=1000,
    penalty=50_000,
    bond=100_000,
    baseline=1,
    gap=0,
    delay=0,
):
    """A ``SessionParams`` tuple."""
    gate = start - 600 if gate is None else gate
    return (start, duration, gate, reveal, product, rule, sealed, area, tol, penalty, bond,
            baseline, gap, delay)


def record_word(trader, side, qty, price):
    return (int(str(trader), 16) << 96) | (side << 80) | (qty << 40) | price


def chain_hash(prior, order_id, word, area):
    data = abi_encode(["bytes24", "uint256", "uint256", "bytes32"], [prior, order_id, word, area])
    return bytes(web3.keccak(data))[:24]


@dataclass
class Book:
    """A session's book as a client rebuilds it from ``OrderPlaced`` events."""

    session: int
    orders: list = field(default_factory=list)  # (trader, side, qty, price, area)
    cancelled: set = field(default_factory=set)

    def add(self, tx):
        for e in tx.events["OrderPlaced"]:
            assert e["orderId"] == len(self.orders)
            self.orders.append(
                (str(e["trader"]), int(e["side"]), int(e["qtyWh"]), int(e["pricePerKwh"]),
                 bytes(e["gridArea"]))
            )

    def proof(self, order_id):
        h = bytes(24)
        for i, (t, s, q, p, a) in enumerate(self.orders[:order_id]):
            h = chain_hash(h, i, record_word(t, s, q, p), a)
        end = min((order_id // 32 + 1) * 32, len(self.orders))
        group = self.orders[order_id:end]
        return (h, [record_word(t, s, q, p) for t, s, q, p, _ in group], [a for *_, a in group])

    def areas(self):
        return sorted({o[4] for o in self.orders}, key=lambda a: int.from_bytes(a, "big"))

    def words(self):
        index = {a: i for i, a in enumerate(self.areas())}
        return [record_word(t, s, q, p) | index[a] << 81 for t, s, q, p, a in self.orders]

    def result(self, rule):
        active = [
            Order(i, Side(s), q, p, t, a.rstrip(b"\0").decode() or "-")
            for i, (t, s, q, p, a) in enumerate(self.orders)
            if i not in self.cancelled
        ]
        return clear_reference(active, PricingRule(rule))

    def clearing(self, rule, matches=None, price=None):
        """The ``Clearing`` tuple of the reference result (or of the matches given)."""
        r = self.result(rule)
        if matches is None:
            matches = [(m.bid_id, m.offer_id, m.qty_wh) for m in r.matches]
        packed = [(b << 80) | (o << 48) | q for b, o, q in matches]
        if price is None:
            price = r.price_per_kwh or 0
        return (self.words(), self.areas(), packed, price)

    def table(self, fills):
        """The settlement table rows of the filled orders (``fills``: id -> Wh)."""
        return [
            TableRow(i, t, Side(s), fills[i], p)
            for i, (t, s, q, p, a) in enumerate(self.orders)
            if fills.get(i, 0) > 0
        ]


def table_words(rows):
    return [
        int(r.trader, 16) << 96 | r.order_id << 81 | int(r.side) << 80 | r.fill_wh << 40
        | r.price_per_kwh
        for r in rows
    ]


def seller_of(rows, sellers):
    index = {s.lower(): k + 1 for k, s in enumerate(sellers)}
    words = [0] * ((len(rows) + 15) // 16)
    for i, r in enumerate(rows):
        if r.side == Side.OFFER:
            words[i // 16] |= index[r.trader.lower()] << (16 * (i % 16))
    return words


class Meters:
    """The MeterOracle's commitments and their proofs, as an off-chain client keeps them."""

    def __init__(self, oracle, meter_ids):
        self.oracle = oracle
        self.index = {m: i for i, m in enumerate(meter_ids)}
        self.batches = {}  # root -> (interval, words)
        self.where = {}  # (meter, interval) -> (root, import, export)
        self.nonce = 0

    def commit(self, interval, values):
        """Commit ``{meter id: (import Wh, export Wh)}`` for one interval."""
        words = sorted(pack_reading(self.index[m], i, e) for m, (i, e) in values.items())
        self.nonce += 1
        digest = self.oracle.batchDigest(interval, words, self.nonce, False)
        signature = Account.unsafe_sign_hash(digest, ORACLE_KEY).signature
        tx = self.oracle.commitReadings(interval, words, self.nonce, signature)
        root = bytes(tx.events["MeterReadingsCommitted"]["root"])
        self.batches[root] = (interval, words)
        for m, (i, e) in values.items():
            self.where[(m, interval)] = (root, i, e)
        return root

    def reading(self, meter, interval):
        root, i, e = self.where[(meter, interval)]
        start, words = self.batches[root]
        leaves = [leaf_hash(start, w) for w in words]
        proof = merkle_proof(leaves, words.index(pack_reading(self.index[meter], i, e)))
        return (i, e, root, proof)


@dataclass
class MarketEnv:
    market: object
    registry: object
    token: object
    oracle: object
    meters: Meters
    operator: object
    traders: list
    treasury: object
    meter_of: dict

    def open(self, **kw):
        start = kw.pop("start", None) or (chain.time() // Q + 4) * Q
        tx = self.market.openSession(params(start, **kw), {"from": self.operator})
        return tx.events["SessionOpened"]["sessionId"], start


def deploy_market_env(a, FlexMarket, MarketBook, MarketSettlement, MeterOracle, registry, token,
                      admin, n_traders=6):
    """Registry roles, a funded market with ``n_traders`` prosumers on two feeders, each with an
    enrolled meter, an operator, an oracle and a treasury."""
    MarketBook.deploy({"from": admin})
    MarketSettlement.deploy({"from": admin})
    oracle = MeterOracle.deploy(registry, {"from": admin})
    treasury = a[9]
    market = FlexMarket.deploy(registry, token, oracle, treasury, {"from": admin})
    operator = a[1]
    registry.register(operator, MARKET_OPERATOR, b32("feeder-1"), ZERO32, {"from": admin})
    oracle_account = Account.from_key(ORACLE_KEY)
    registry.register(oracle_account.address, ORACLE, b32("feeder-1"), ZERO32, {"from": admin})
    registry.register(a[8], ORACLE, b32("feeder-1"), ZERO32, {"from": admin})
    traders = [a[2 + i] for i in range(n_traders)]  # accounts 2..7
    meter_of = {}
    for i, t in enumerate(traders):
        meter_of[str(t)] = f"m{i}"
        registry.register(t, PROSUMER, b32(f"feeder-{i % 2 + 1}"), b32(f"m{i}"), {"from": admin})
        token.mint(t, DEPOSIT, {"from": admin})
        token.approve(market, DEPOSIT, {"from": t})
        market.deposit(DEPOSIT, {"from": t})
    ids = [f"m{i}" for i in range(len(traders))]
    oracle.enrolMeters([b32(m) for m in ids], {"from": a[8]})
    return MarketEnv(market, registry, token, oracle, Meters(oracle, ids), operator, traders,
                     treasury, meter_of)
