"""The market's money as a property over random sequences of actions (brownie + hypothesis).

Each sequence mixes deposits, withdrawals, sessions (uniform, pay-as-bid, cooperative,
sealed), orders of all three kinds (direct, EIP-712 signed and relayed, sealed commit-reveal),
cancels by anyone (the trader, a stranger, an inactive trader's order), clearings, voids, meter
commitments, settlements on delivery, forfeits and time jumps. A model written with the Python
specification (core.rules) predicts every balance. After every step:

* the market's token balance equals every account's free and locked deposit plus the escrow of
  the cleared, unsettled sessions;
* each account's free and locked deposit is exactly what the model predicts, so no account
  holds more than it put in plus what it earned;

and at the end of each sequence every session is settled or voided, every unrevealed commitment
forfeited, and then every trader (and the treasury) withdraws everything: the market holds
nothing and nothing stays locked. ``BRIGHT_MARKET_SEQUENCES`` sets the number of sequences
(default 200).
"""

import os
from dataclasses import dataclass, field

import pytest
from brownie import chain, web3
from eth_account import Account
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from core.rules import (
    Direction,
    PricingRule,
    SessionTerms,
    Side,
    bid_cost,
    bid_lock,
    needed_intervals,
    offer_bond,
    offer_lock,
    seller_delivered_wh,
    settle_session,
)
from tests.contracts.helpers import reverts
from tests.contracts.market_env import (
    Book,
    Q,
    deploy_market_env,
    params,
    seller_of,
    table_words,
)

SEQUENCES = int(os.environ.get("BRIGHT_MARKET_SEQUENCES", "120"))
MNEMONIC = "test test test test test test test test test test test junk"
ORDERS = st.lists(
    st.tuples(
        st.integers(0, 5),  # trader
        st.integers(0, 1),  # side
        st.integers(1, 4000),  # Wh
        st.integers(0, 300_000),  # price per kWh
        st.integers(0, 1),  # direct or signed
    ),
    min_size=1,
    max_size=6,
)
SEEN: dict[str, int] = {}  # how often each kind of action happened, over all sequences


def seen(what):
    SEEN[what] = SEEN.get(what, 0) + 1


OPEN, CLEARED, SETTLED, VOIDED = 0, 1, 2, 3


@pytest.fixture(scope="module")
def env(market_env):
    return market_env


def keys(n):
    Account.enable_unaudited_hdwallet_features()
    return [
        Account.from_mnemonic(MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}").key.hex()
        for i in range(n)
    ]


@dataclass
class Model:
    """What a session holds that its money depends on."""

    sid: int
    start: int
    gate: int
    reveal: int
    rule: int
    sealed: bool
    penalty: int
    bond: int
    tol: int
    book: Book
    status: int = OPEN
    escrow: int = 0
    table: list = field(default_factory=list)
    price: int = 0
    commits: dict = field(default_factory=dict)  # (trader, hash) -> (side, qty, price, salt, state)


class MarketMachine(RuleBasedStateMachine):
    env = None  # set by the test
    stranger = None
    keys: tuple = ()

    def __init__(self):
        super().__init__()
        chain.revert()
        self.setup()

    def setup(self):
        e = self.env
        self.sessions = {}
        self.who = [*e.traders, e.treasury]
        self.model = {str(w): list(e.market.account(w)[:2]) for w in self.who}
        self.nonce = {str(t): e.market.account(t)[2] for t in e.traders}
        self.committed = set()  # (meter, interval) the oracle committed
        self.salt = 0
        self.seed = 0

    # -------------------------------------------------------------- helpers
    def _now(self):
        # The chain's clock, which here advances one second a block (and by the jumps), so a
        # sequence replays to the same times whatever the wall clock does.
        return int(web3.eth.get_block("latest")["timestamp"])

    def _goto(self, t):
        web3.provider.make_request("evm_mine", [max(t, self._now() + 1)])

    def _lock(self, who, amount):
        m = self.model[str(who)]
        m[0] -= amount
        m[1] += amount

    def _release(self, who, amount, to_free=None):
        m = self.model[str(who)]
        m[1] -= amount
        m[0] += amount if to_free is None else to_free

    def _session(self, pick, status=OPEN):
        live = [s for s in self.sessions.values() if s.status == status]
        return live[pick % len(live)] if live else None

    def _lock_of(self, s, side, qty, price):
        if side == Side.BID:
            return bid_lock(qty, price, s.bond)
        return offer_lock(qty, s.penalty, s.bond)

    # -------------------------------------------------------------- money in and out
    @rule(st_trader=st.integers(0, 5), st_amount=st.integers(1, 2 * 10**8))
    def deposit(self, st_trader, st_amount):
        t = self.env.traders[st_trader]
        self.env.token.approve(self.env.market, st_amount, {"from": t})
        self.env.market.deposit(st_amount, {"from": t})
        self.model[str(t)][0] += st_amount

    @rule(st_trader=st.integers(0, 5), st_pick=st.integers(0, 2**16))
    def withdraw(self, st_trader, st_pick):
        t = self.env.traders[st_trader]
        free = self.model[str(t)][0]
        if free == 0:
            return
        amount = max(1, free * (st_pick % 100 + 1) // 100)
        self.env.market.withdraw(amount, {"from": t})
        self.model[str(t)][0] -= amount

    # -------------------------------------------------------------- sessions and orders
    def _open_session(self, sealed, pick):
        now = self._now()
        start = (now // Q + 3 + pick % 2) * Q
        rule = pick % 3
        gate = start - (1200 if sealed else 600)
        reveal = start - 600 if sealed else 0
        penalty, bond, tol = (pick * 7) % 90_000, 1 + (pick * 13) % 50_000, pick % 3000
        tx = self.env.market.openSession(
            params(
                start,
                gate=gate,
                rule=rule,
                sealed=sealed,
                reveal=reveal,
                penalty=penalty,
                bond=bond,
                tol=tol,
            ),
            {"from": self.env.operator},
        )
        sid = tx.events["SessionOpened"]["sessionId"]
        self.sessions[sid] = Model(
            sid, start, gate, reveal, rule, sealed, penalty, bond, tol, Book(sid)
        )

    @initialize(st_pick=st.integers(0, 2**16), st_orders=ORDERS, st_sealed=ORDERS)
    def two_sessions_with_orders(self, st_pick, st_orders, st_sealed):
        """Every sequence starts with an open and a sealed session that hold orders (at its
        end, each session still open is cleared, or voided, and every cleared one settled)."""
        self._open_session(False, st_pick)
        self._open_session(True, st_pick // 3)
        self.place(0, st_orders)
        self.commit_sealed(0, st_sealed)
        self.seed = st_pick

    @rule(st_kind=st.integers(0, 3), st_pick=st.integers(0, 2**16))
    def open(self, st_kind, st_pick):
        self._open_session(st_kind == 3, st_pick)

    def _taking_orders(self, sealed):
        now = self._now()
        return [
            s
            for s in self.sessions.values()
            if s.status == OPEN and s.sealed == sealed and now < s.gate - 60
        ]

    @precondition(lambda self: self._taking_orders(False))
    @rule(st_pick=st.integers(0, 2**16), st_orders=ORDERS)
    def place(self, st_pick, st_orders):
        live = self._taking_orders(False)
        s = live[st_pick % len(live)]
        for trader, side, qty, raw, kind in st_orders:
            price = raw % 200_000 + (100_000 if side == Side.BID else 0)  # books that cross
            t = self.env.traders[trader]
            lock = self._lock_of(s, side, qty, price)
            if lock > self.model[str(t)][0] or len(s.book.orders) >= 48:
                continue
            if kind == 0:  # direct
                tx = self.env.market.placeOrder(s.sid, side, qty, price, {"from": t})
                seen("direct order")
            else:  # EIP-712 signed, relayed by the operator
                n = self.nonce[str(t)]
                digest = self.env.market.orderDigest(s.sid, side, qty, price, t, n)
                sig = Account.unsafe_sign_hash(digest, self.keys[2 + trader])
                vs = (sig.s | ((sig.v - 27) << 255)).to_bytes(32, "big")
                order = (str(t), side, qty, price, n, sig.r.to_bytes(32, "big"), vs)
                tx = self.env.market.placeSignedOrders(s.sid, [order], {"from": self.env.operator})
                self.nonce[str(t)] = n + 1
                seen("signed order")
            s.book.add(tx)
            self._lock(t, lock)

    @precondition(lambda self: self._taking_orders(True))
    @rule(st_pick=st.integers(0, 2**16), st_orders=ORDERS)
    def commit_sealed(self, st_pick, st_orders):
        live = self._taking_orders(True)
        s = live[st_pick % len(live)]
        for trader, side, qty, raw, _ in st_orders:
            price = raw % 200_000 + (100_000 if side == Side.BID else 0)
            t = self.env.traders[trader]
            if self.model[str(t)][0] < self._lock_of(s, side, qty, price):
                continue
            self.salt += 1
            salt = self.salt.to_bytes(32, "big")
            h = web3.keccak(
                web3.codec.encode(
                    ["uint256", "address", "uint8", "uint48", "uint40", "bytes32"],
                    [s.sid, str(t), side, qty, price, salt],
                )
            )
            self.env.market.commitOrder(s.sid, h, {"from": t})
            s.commits[(str(t), bytes(h))] = [side, qty, price, salt, "committed"]
            self._lock(t, s.bond)

    def _revealable(self):
        now = self._now()
        return [
            s
            for s in self.sessions.values()
            if s.sealed
            and s.status == OPEN
            and now < s.reveal - 30
            and any(c[4] == "committed" for c in s.commits.values())
        ]

    @precondition(lambda self: self._revealable())
    @rule(st_pick=st.integers(0, 2**16))
    def reveal(self, st_pick):
        live = self._revealable()
        self._reveal(live[st_pick % len(live)], st_pick)

    def _reveal(self, s, st_pick):
        self._goto(max(s.gate + 1, self._now()))
        for k, ((trader, _), c) in enumerate(list(s.commits.items())):
            if c[4] != "committed" or (st_pick >> k) & 1:  # some stay unrevealed
                continue
            side, qty, price, salt, _ = c
            extra = self._lock_of(s, side, qty, price) - s.bond
            if extra > self.model[trader][0]:
                continue  # it cannot afford its own order any more: it stays unrevealed
            tx = self.env.market.revealOrder(s.sid, side, qty, price, salt, {"from": trader})
            s.book.add(tx)
            self._lock(trader, extra)
            c[4] = "revealed"
            seen("sealed reveal")

    def _cancellable(self):
        now = self._now()
        return [
            s
            for s in self.sessions.values()
            if s.status == OPEN and now < s.gate - 30 and len(s.book.orders) > len(s.book.cancelled)
        ]

    @precondition(lambda self: self._cancellable())
    @rule(st_pick=st.integers(0, 2**16), st_caller=st.integers(0, 6))
    def cancel(self, st_pick, st_caller):
        sessions = self._cancellable()
        s = sessions[st_pick % len(sessions)]
        live = [i for i in range(len(s.book.orders)) if i not in s.book.cancelled]
        oid = live[st_pick % len(live)]
        trader = s.book.orders[oid][0]
        if st_caller < 3:  # half the time its own trader, else another trader or a stranger
            caller = next(t for t in self.env.traders if str(t) == trader)
        else:
            caller = self.stranger if st_caller == 6 else self.env.traders[st_caller]
        if str(caller) != trader:
            with reverts("FlexMarketNotTrader"):
                self.env.market.cancelOrder(s.sid, oid, s.book.proof(oid), {"from": caller})
            seen("cancel refused to a stranger")
            return
        self.env.market.cancelOrder(s.sid, oid, s.book.proof(oid), {"from": caller})
        s.book.cancelled.add(oid)
        seen("cancel by the trader")
        t, side, qty, price, _ = s.book.orders[oid]
        self._release(t, self._lock_of(s, side, qty, price))

    # -------------------------------------------------------------- clearing and after
    def _clearable(self):
        return [
            s for s in self.sessions.values() if s.status == OPEN and self._now() < s.start - 60
        ]

    @precondition(lambda self: self._clearable())
    @rule(st_pick=st.integers(0, 2**16))
    def clear(self, st_pick):
        live = self._clearable()
        self._clear(live[st_pick % len(live)])

    def _clear(self, s):
        closes = s.reveal if s.sealed else s.gate
        self._goto(max(closes + 1, self._now()))
        result = s.book.result(s.rule)
        tx = self.env.market.clearSession(
            s.sid, s.book.clearing(s.rule), {"from": self.env.operator}
        )
        s.price = int(tx.events["SessionCleared"]["pricePerKwh"])
        fills = {f.order_id: f.qty_wh for f in result.fills}
        for i, (t, side, qty, price, _) in enumerate(s.book.orders):
            if i in s.book.cancelled:
                continue
            lock, f = self._lock_of(s, side, qty, price), fills.get(i, 0)
            if side == Side.BID:
                cost = bid_cost(f, price, PricingRule(s.rule), s.price)
                self._release(t, lock, to_free=lock - cost)
                s.escrow += cost
            else:
                self._release(t, lock - offer_bond(f, s.penalty))
        assert int(tx.events["SessionCleared"]["escrowed"]) == s.escrow
        s.table = s.book.table(fills)
        s.status = CLEARED
        seen(f"clearing ({PricingRule(s.rule).name.lower()}, {len(s.table)} filled)")

    def _late(self):
        now = self._now()
        return [s for s in self.sessions.values() if s.status == OPEN and now >= s.start - 60]

    @precondition(lambda self: self._late())
    @rule(st_pick=st.integers(0, 2**16))
    def void(self, st_pick):
        late = self._late()
        self._void(late[st_pick % len(late)])

    def _void(self, s):
        self._goto(max(s.start, self._now()))
        self.env.market.voidSession(s.sid, s.book.words(), s.book.areas(), {"from": self.stranger})
        for i, (t, side, qty, price, _) in enumerate(s.book.orders):
            if i not in s.book.cancelled:
                self._release(t, self._lock_of(s, side, qty, price))
        s.status = VOIDED
        seen("void")

    @rule()
    def forfeit(self):
        for s in self.sessions.values():
            if not s.sealed or self._now() < s.reveal:
                continue
            for (trader, h), c in s.commits.items():
                if c[4] == "committed":
                    self.env.market.forfeitCommitment(s.sid, trader, h, {"from": self.stranger})
                    self._release(trader, s.bond, to_free=0)
                    self.model[str(self.env.treasury)][0] += s.bond
                    c[4] = "forfeited"
                    seen("forfeit")

    @rule(st_pick=st.integers(0, 2**16), st_value=st.integers(0, 3000))
    def meters(self, st_pick, st_value):
        """The oracle commits readings of the intervals the sessions' settlements read (some
        meters stay silent: their sellers have no data)."""
        now = self._now()
        for s in self.sessions.values():
            before, during = needed_intervals(s.start, Q, 1, 0)
            for t in before + during:
                if t + Q > now:
                    continue
                values = {}
                for k, trader in enumerate(self.env.traders):
                    meter = self.env.meter_of[str(trader)]
                    if (meter, t) in self.committed or (st_pick >> k) & 1:
                        continue
                    values[meter] = ((st_value * (k + 3) + t // Q) % 3000, (st_value * k) % 700)
                if values:
                    self.env.meters.commit(t, values)
                    self.committed.update((m, t) for m in values)

    @precondition(lambda self: self._session(0, CLEARED) is not None)
    @rule(st_pick=st.integers(0, 2**16))
    def settle(self, st_pick):
        s = self._session(st_pick, CLEARED)
        self._goto(max(s.start + Q + 1, self._now()))
        self._settle(s)

    def _settle(self, s):
        before, during = needed_intervals(s.start, Q, 1, 0)
        sellers = sorted(
            {r.trader for r in s.table if r.side == Side.OFFER}, key=lambda a: int(a, 16)
        )
        evidence, delivered = [], {}
        for trader in sellers:
            meter = self.env.meter_of[trader]
            missing = next(
                (k + 1 for k, t in enumerate(before + during) if (meter, t) not in self.committed),
                0,
            )
            if missing:
                evidence.append((trader, missing, []))
                delivered[trader] = None
                continue
            readings = [self.env.meters.reading(meter, t) for t in before + during]
            net = [i - e for i, e, *_ in readings]
            delivered[trader] = seller_delivered_wh(Direction.UP, net[:1], net[1:])
            evidence.append((trader, 0, readings))
        terms = SessionTerms(PricingRule(s.rule), Direction.UP, s.price, s.penalty, s.tol, s.bond)
        out = settle_session(terms, s.table, delivered)
        tx = self.env.market.settleSession(
            s.sid,
            table_words(s.table),
            seller_of(s.table, sellers),
            evidence,
            {"from": self.stranger},
        )
        ev = tx.events["SessionSettled"]
        assert (ev["earned"], ev["penalties"], ev["refunds"], ev["dust"]) == (
            out.earned,
            out.penalties,
            out.refunds,
            out.dust,
        )
        for x in out.sellers:
            self._release(x.trader, x.bond, to_free=x.earned + x.bond - x.penalty)
        for b in out.buyers:
            self.model[b.trader][0] += b.refund
        self.model[str(self.env.treasury)][0] += out.dust
        s.status = SETTLED
        seen("settlement with sellers" if out.sellers else "settlement without trades")
        if any(x.missing_data for x in out.sellers):
            seen("seller without meter data")
        if out.penalties:
            seen("penalty")

    @rule(st_jump=st.integers(60, 2400))
    def jump(self, st_jump):
        self._goto(self._now() + st_jump)

    # -------------------------------------------------------------- invariants
    @invariant()
    def the_market_holds_exactly_what_it_owes(self):
        e = self.env
        owed = sum(sum(e.market.account(w)[:2]) for w in self.who)
        escrow = sum(s.escrow for s in self.sessions.values() if s.status == CLEARED)
        assert e.token.balanceOf(e.market) == owed + escrow

    @invariant()
    def every_balance_is_what_the_rules_say(self):
        for w in self.who:
            assert list(self.env.market.account(w)[:2]) == self.model[str(w)], str(w)

    def teardown(self):
        """Settle or void everything, forfeit the unrevealed, then everyone withdraws all."""
        e = self.env
        for s in sorted(self.sessions.values(), key=lambda s: s.start):
            # Most sessions still open are cleared while they can be, a few left to the void.
            if s.status == OPEN and self._now() < s.start - 60 and (s.sid + self.seed) % 4:
                if s.sealed and self._now() < s.reveal - 30:
                    self._reveal(s, self.seed)
                self._clear(s)
        last = max([s.start for s in self.sessions.values()], default=self._now())
        self._goto(max(last + 2 * Q + 1, self._now()))
        self.forfeit()
        self.meters(self.seed & 0b100001, self.seed % 3000)  # at most two meters silent
        for s in self.sessions.values():
            if s.status == OPEN:
                self._void(s)
            elif s.status == CLEARED:
                self._settle(s)
        for w in self.who:
            free, locked, _ = e.market.account(w)
            assert locked == 0, f"{w} keeps {locked} locked after every session ended"
            if free:
                e.market.withdraw(free, {"from": w})
        assert e.token.balanceOf(e.market) == 0


def test_market_money_over_random_sequences(env, accounts):
    MarketMachine.env = env
    MarketMachine.stranger = accounts[10]  # never registered
    MarketMachine.keys = tuple(keys(10))
    for t in env.traders:  # tokens in the wallets, to deposit more during the sequences
        env.token.mint(t, 10**12, {"from": accounts[0]})
    web3.provider.make_request("anvil_setBlockTimestampInterval", [1])
    chain.snapshot()
    try:
        run_state_machine_as_test(
            MarketMachine,
            settings=settings(max_examples=SEQUENCES, stateful_step_count=15, deadline=None),
        )
    finally:
        web3.provider.make_request("anvil_removeBlockTimestampInterval", [])
    print("actions over all sequences:", dict(sorted(SEEN.items())))
    kinds = " ".join(SEEN)
    for needed in (
        "direct order",
        "signed order",
        "sealed reveal",
        "cancel by the trader",
        "cancel refused to a stranger",
        "forfeit",
        "void",
        "settlement with sellers",
        "penalty",
        "seller without meter data",
        "pay_as_bid",
        "cooperative",
        "uniform",
    ):
        assert needed in kinds, f"no sequence had a {needed}: the test does not cover it"
