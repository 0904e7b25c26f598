"""FlexMarket under brownie: order entry and its refusals, cancellations that only the trader
can make, sealed commitments bound to their trader, the clearing checks on a book worked out by
hand, money that does not depend on the pairing, the session cap, and voiding a session nobody
cleared (every lock released)."""

import pytest
from brownie import chain, web3
from eth_abi import encode as abi_encode

from tests.contracts.helpers import b32, reverts
from tests.contracts.market_env import (
    BID,
    OFFER,
    Book,
    Q,
    deploy_market_env,
    params,
    record_word,
)


@pytest.fixture(scope="module")
def env(market_env):
    return market_env


def goto(t):
    """Move the chain's clock to ``t`` (and mine a block there)."""
    chain.sleep(max(0, t - chain.time()))
    chain.mine()


def free_locked(env, who):
    free, locked, _ = env.market.account(who)
    return free, locked


def test_constructor_refuses_zero_addresses(FlexMarket, MarketBook, MarketSettlement, env, admin):
    zero = "0x" + "00" * 20
    with reverts("FlexMarketZeroAddress"):
        FlexMarket.deploy(env.registry, env.token, env.oracle, zero, {"from": admin})
    with reverts("FlexMarketZeroAddress"):
        FlexMarket.deploy(zero, env.token, env.oracle, admin, {"from": admin})


def test_order_reverts(env, accounts):
    sid, _ = env.open()
    m, t = env.market, env.traders[0]
    with reverts("FlexMarketNotParticipant", accounts[9].address):
        m.placeOrder(sid, BID, 100, 100, {"from": accounts[9]})
    with reverts("FlexMarketQuantityOutOfRange"):
        m.placeOrder(sid, BID, 0, 100, {"from": t})
    with reverts("FlexMarketPriceOutOfRange"):
        m.placeOrder(sid, BID, 10, 10**12 + 1, {"from": t})
    with reverts("FlexMarketUnknownSide", 2):
        m.placeOrder(sid, 2, 10, 10, {"from": t})
    with reverts("FlexMarketInsufficientDeposit"):
        m.placeOrder(sid, BID, 10**12, 10**6, {"from": t})
    with reverts("FlexMarketUnknownSession", sid + 1):
        m.placeOrder(sid + 1, BID, 10, 10, {"from": t})
    chain.sleep(3600)
    chain.mine()
    with reverts("FlexMarketGateClosed"):
        m.placeOrder(sid, BID, 10, 10, {"from": t})


def test_session_terms_are_checked(env):
    start = (chain.time() // Q + 4) * Q
    m, op = env.market, {"from": env.operator}
    with reverts("FlexMarketBadSessionTerms"):
        m.openSession(params(start, tol=10_000), op)
    with reverts("FlexMarketBadSessionTerms"):
        m.openSession(params(start, baseline=0), op)
    with reverts("FlexMarketBadSessionTerms"):
        m.openSession(params(start, baseline=4), op)
    with reverts("FlexMarketBadSessionTerms"):  # 3 + 2 readings: more than a seller may need
        m.openSession(params(start, baseline=3, duration=2 * Q), op)
    with reverts("FlexMarketBadSessionTerms"):  # a sealed session needs a commitment bond
        m.openSession(params(start, gate=start - 1200, sealed=True, reveal=start - 600, bond=0), op)
    with reverts("FlexMarketBadSessionTimes"):
        m.openSession(params(start, duration=5 * Q), op)
    with reverts("FlexMarketUnknownRule", 3):
        m.openSession(params(start, rule=3), op)
    with reverts("FlexMarketUnknownProduct", 2):
        m.openSession(params(start, product=2), op)


def test_orders_lock_their_bond_and_offers_their_delivery_bond(env):
    sid, _ = env.open(penalty=40_000, bond=100_000)
    a, b = env.traders[0], env.traders[1]
    free_a, locked_a = free_locked(env, a)
    env.market.placeOrder(sid, BID, 2000, 150_000, {"from": a})
    assert free_locked(env, a) == (free_a - 400_000, locked_a + 400_000)  # 300,000 + bond
    free_b, locked_b = free_locked(env, b)
    env.market.placeOrder(sid, OFFER, 2000, 90_000, {"from": b})
    assert free_locked(env, b) == (free_b - 180_000, locked_b + 180_000)  # 80,000 + bond


def test_a_deposit_beyond_96_bits_is_refused_and_takes_nothing(env, accounts, admin):
    who = accounts[0]
    env.token.mint(who, 2**96 + 5, {"from": admin})
    env.token.approve(env.market, 2**96 + 5, {"from": who})
    before = env.token.balanceOf(who)
    with reverts("SafeCastOverflowedUintDowncast"):
        env.market.deposit(2**96 + 5, {"from": who})
    assert env.token.balanceOf(who) == before and env.market.account(who)[0] == 0


def test_only_the_trader_cancels_and_a_strangers_attempt_blocks_nothing(env, accounts):
    sid, _ = env.open()
    m, a, stranger = env.market, env.traders[0], env.traders[1]
    book = Book(sid)
    free0, locked0 = free_locked(env, a)
    book.add(m.placeOrder(sid, BID, 1000, 200_000, {"from": a}))
    book.add(m.placeOrder(sid, OFFER, 500, 100_000, {"from": stranger}))
    with reverts("FlexMarketNotTrader", sid, 0, stranger.address, a.address):
        m.cancelOrder(sid, 0, book.proof(0), {"from": stranger})
    with reverts("FlexMarketNotTrader", sid, 0, accounts[9].address, a.address):
        m.cancelOrder(sid, 0, book.proof(0), {"from": accounts[9]})
    # A proof of another record (here: claiming the order is the stranger's) is refused.
    prior, words, areas = book.proof(0)
    forged = (prior, [record_word(stranger, BID, 1000, 200_000), *words[1:]], areas)
    with reverts("FlexMarketBadOrderProof", sid, 0):
        m.cancelOrder(sid, 0, forged, {"from": stranger})
    tx = m.cancelOrder(sid, 0, book.proof(0), {"from": a})
    assert tx.events["OrderCancelled"]["by"] == a
    assert m.isCancelled(sid, 0) and free_locked(env, a) == (free0, locked0)  # lock released
    with reverts("FlexMarketAlreadyCancelled", sid, 0):
        m.cancelOrder(sid, 0, book.proof(0), {"from": a})


def test_a_signed_cancel_is_relayed_by_anyone(env, accounts):
    from eth_account import Account

    key = "0x" + "55" * 32
    trader = Account.from_key(key)
    env.registry.register(
        trader.address, 1, b32("feeder-1"), b32("m-signed"), {"from": accounts[0]}
    )
    accounts[0].transfer(trader.address, 10**18)
    env.token.mint(trader.address, 10**9, {"from": accounts[0]})
    sid, _ = env.open()
    book = Book(sid)
    signed = accounts.add(key)
    env.token.approve(env.market, 10**9, {"from": signed})
    env.market.deposit(10**9, {"from": signed})
    book.add(env.market.placeOrder(sid, BID, 100, 1000, {"from": signed}))
    digest = env.market.cancelDigest(sid, 0)
    sig = Account.unsafe_sign_hash(digest, key)
    vs = sig.s | ((sig.v - 27) << 255)
    r = sig.r.to_bytes(32, "big")
    wrong = env.market.cancelDigest(sid, 1)
    bad = Account.unsafe_sign_hash(wrong, key)
    with reverts("FlexMarketNotTrader"):
        env.market.cancelOrderBySig(sid, 0, book.proof(0), bad.r.to_bytes(32, "big"),
                                    (bad.s | ((bad.v - 27) << 255)).to_bytes(32, "big"),
                                    {"from": accounts[9]})
    tx = env.market.cancelOrderBySig(sid, 0, book.proof(0), r, vs.to_bytes(32, "big"),
                                     {"from": accounts[9]})
    assert tx.events["OrderCancelled"]["by"] == trader.address


def test_anyone_cancels_the_order_of_a_deactivated_trader(env, admin):
    sid, _ = env.open()
    a, other = env.traders[2], env.traders[3]
    book = Book(sid)
    book.add(env.market.placeOrder(sid, OFFER, 100, 10, {"from": a}))
    env.registry.deactivate(a, {"from": admin})
    tx = env.market.cancelOrder(sid, 0, book.proof(0), {"from": other})
    assert tx.events["OrderCancelled"]["by"] == other
    env.registry.reactivate(a, {"from": admin})


def test_cancel_proofs_use_the_checkpoint_of_each_32_orders(env):
    sid, _ = env.open(bond=0)
    book = Book(sid)
    a, b = env.traders[0], env.traders[1]
    for i in range(40):
        book.add(env.market.placeOrder(sid, i % 2, 10 + i, 100, {"from": a if i % 2 else b}))
    assert bytes(env.market.checkpoint(sid, 0)) == book.proof(32)[0]  # the hash after order 31
    prior, words, areas = book.proof(3)
    assert len(words) == 29  # orders 3..31: to the checkpoint
    env.market.cancelOrder(sid, 3, (prior, words, areas), {"from": a})
    prior, words, areas = book.proof(35)
    assert len(words) == 5  # orders 35..39: to the book's head
    env.market.cancelOrder(sid, 35, (prior, words, areas), {"from": a})
    with reverts("FlexMarketBadOrderProof"):
        env.market.cancelOrder(sid, 7, (prior, words, areas), {"from": a})


def commitment(sid, trader, side, qty, price, salt):
    return web3.keccak(
        abi_encode(
            ["uint256", "address", "uint8", "uint48", "uint40", "bytes32"],
            [sid, str(trader), side, qty, price, salt],
        )
    )


def test_a_sealed_commitment_cannot_be_squatted_and_an_unrevealed_one_forfeits_its_bond(env):
    start = (chain.time() // Q + 4) * Q
    tx = env.market.openSession(
        params(start, gate=start - 1200, sealed=True, reveal=start - 600, bond=250_000),
        {"from": env.operator},
    )
    sid = tx.events["SessionOpened"]["sessionId"]
    a, b, c = env.traders[0], env.traders[1], env.traders[2]
    salt = b"\x07" * 32
    mine = commitment(sid, a, BID, 100, 120, salt)
    # Someone else commits the same hash first: it is theirs, and blocks nothing.
    env.market.commitOrder(sid, mine, {"from": b})
    free_a = free_locked(env, a)[0]
    env.market.commitOrder(sid, mine, {"from": a})
    assert free_locked(env, a)[0] == free_a - 250_000
    unrevealed = commitment(sid, c, OFFER, 50, 10, salt)
    env.market.commitOrder(sid, unrevealed, {"from": c})
    goto(start - 1199)
    with reverts("FlexMarketUnknownCommitment"):
        env.market.revealOrder(sid, BID, 100, 120, b"\x08" * 32, {"from": a})
    tx = env.market.revealOrder(sid, BID, 100, 120, salt, {"from": a})
    assert tx.events["OrderPlaced"]["trader"] == a
    with reverts("FlexMarketNotForfeitable"):  # the reveal window is still open
        env.market.forfeitCommitment(sid, c, unrevealed, {"from": b})
    goto(start - 599)
    treasury_before = env.market.account(env.treasury)[0]
    locked_c = free_locked(env, c)[1]
    tx = env.market.forfeitCommitment(sid, c, unrevealed, {"from": b})
    assert tx.events["CommitmentForfeited"]["bond"] == 250_000
    assert env.market.account(env.treasury)[0] == treasury_before + 250_000
    assert free_locked(env, c)[1] == locked_c - 250_000
    with reverts("FlexMarketNotForfeitable"):
        env.market.forfeitCommitment(sid, c, unrevealed, {"from": b})


def test_clearing_checks(env):
    sid, start = env.open(bond=0)
    a, b, c, d = env.traders[:4]  # feeders 1, 2, 1, 2
    m, op = env.market, {"from": env.operator}
    book = Book(sid)
    book.add(m.placeOrder(sid, BID, 1000, 150, {"from": a}))
    book.add(m.placeOrder(sid, OFFER, 600, 80, {"from": b}))
    book.add(m.placeOrder(sid, BID, 500, 120, {"from": c}))
    book.add(m.placeOrder(sid, OFFER, 900, 100, {"from": d}))
    goto(start - 599)
    # By hand: bids 150 (1000 Wh) then 120 (500); offers 80 (600) then 100 (900). All 1,500 Wh
    # of demand meet 1,500 Wh of supply, every order is filled, and the uniform price is the
    # marginal (highest filled) offer's: 100.
    matches = [(0, 1, 600), (0, 3, 400), (2, 3, 500)]
    words, areas = book.words(), book.areas()
    pack = lambda ms: [(x << 80) | (y << 48) | q for x, y, q in ms]  # noqa: E731
    with reverts("FlexMarketWrongPrice", 100, 101):
        m.clearSession(sid, (words, areas, pack(matches), 101), op)
    with reverts("FlexMarketOrderLeftOut", 0):
        m.clearSession(sid, (words, areas, pack(matches[2:]), 100), op)
    with reverts("FlexMarketOverfill"):
        m.clearSession(sid, (words, areas, pack([(0, 1, 601), *matches[1:]]), 100), op)
    with reverts("FlexMarketOrderBookMismatch"):
        m.clearSession(sid, (words[:3], areas, pack(matches), 100), op)
    with reverts("FlexMarketBadAreaTable", 1):  # areas must ascend
        m.clearSession(sid, (words, areas[::-1], pack(matches), 100), op)
    with reverts("FlexMarketNotOperator"):
        m.clearSession(sid, (words, areas, pack(matches), 100), {"from": a})
    tx = m.clearSession(sid, (words, areas, pack(matches), 100), op)
    assert tx.events["SessionCleared"]["volumeWh"] == 1500
    assert tx.events["SessionCleared"]["escrowed"] == (1000 + 500) * 100 // 1000
    assert len(tx.events["OrderMatched"]) == 3
    with reverts("FlexMarketWrongStatus"):
        m.clearSession(sid, (words, areas, pack(matches), 100), op)


def test_a_cooperative_clearing_that_leaves_out_an_order_names_it(env):
    # The review's case: the bare Panic (underflow of hi - lo) is now FlexMarketOrderLeftOut.
    sid, start = env.open(rule=2, bond=0)
    a, b, c = env.traders[:3]
    book = Book(sid)
    book.add(env.market.placeOrder(sid, BID, 100, 200, {"from": a}))
    book.add(env.market.placeOrder(sid, BID, 100, 150, {"from": c}))
    book.add(env.market.placeOrder(sid, OFFER, 100, 100, {"from": b}))
    goto(start - 599)
    # The lower bid filled instead of the higher one.
    with reverts("FlexMarketOrderLeftOut"):
        env.market.clearSession(
            sid, (book.words(), book.areas(), [(1 << 80) | (2 << 48) | 100], 125),
            {"from": env.operator},
        )


@pytest.mark.parametrize("pieces", [1, 100])
def test_pay_as_bid_escrow_does_not_depend_on_the_pairing(env, pieces):
    # A bid of 100 Wh at 999/kWh against an offer at 1: as one match the old contract escrowed
    # 99, as a hundred 1-Wh matches 0. Per order it is 99 either way.
    sid, start = env.open(rule=1, bond=0)
    a, b = env.traders[0], env.traders[1]
    book = Book(sid)
    book.add(env.market.placeOrder(sid, BID, 100, 999, {"from": a}))
    book.add(env.market.placeOrder(sid, OFFER, 100, 1, {"from": b}))
    goto(start - 599)
    matches = [(0, 1, 100 // pieces)] * pieces
    tx = env.market.clearSession(sid, book.clearing(1, matches=matches), {"from": env.operator})
    assert tx.events["SessionCleared"]["escrowed"] == 99


def test_a_session_holds_at_most_the_orders_that_fit_a_block(env):
    sid, _ = env.open(bond=0, penalty=0)
    cap = env.market.MAX_ORDERS_PER_SESSION()
    for i in range(cap):
        env.market.placeOrder(sid, OFFER, 1, 1, {"from": env.traders[i % 6]})
    with reverts("FlexMarketSessionFull", sid, cap):
        env.market.placeOrder(sid, BID, 1, 1, {"from": env.traders[0]})


def test_a_session_nobody_cleared_is_voided_by_anyone_and_releases_every_lock(env, accounts):
    sid, start = env.open(penalty=30_000, bond=77_000)
    book = Book(sid)
    before = {t: free_locked(env, t) for t in env.traders[:3]}
    book.add(env.market.placeOrder(sid, BID, 3000, 180_000, {"from": env.traders[0]}))
    book.add(env.market.placeOrder(sid, OFFER, 2000, 90_000, {"from": env.traders[1]}))
    book.add(env.market.placeOrder(sid, OFFER, 1000, 95_000, {"from": env.traders[2]}))
    book.add(env.market.placeOrder(sid, BID, 500, 100_000, {"from": env.traders[2]}))
    env.market.cancelOrder(sid, 3, book.proof(3), {"from": env.traders[2]})
    goto(start - 60)
    with reverts("FlexMarketNotVoidable"):
        env.market.voidSession(sid, book.words(), book.areas(), {"from": accounts[9]})
    goto(start + 60)
    with reverts("FlexMarketClearingClosed"):  # too late to clear: the delivery has started
        env.market.clearSession(sid, book.clearing(0), {"from": env.operator})
    tx = env.market.voidSession(sid, book.words(), book.areas(), {"from": accounts[9]})
    assert tx.events["SessionVoided"]["released"] == (540_000 + 77_000) + (60_000 + 77_000) + (
        30_000 + 77_000
    )
    for t, was in before.items():
        assert free_locked(env, t) == was
    with reverts("FlexMarketWrongStatus"):
        env.market.voidSession(sid, book.words(), book.areas(), {"from": accounts[9]})


def test_deposit_and_withdraw_everything(env):
    t = env.traders[5]
    free, locked = free_locked(env, t)
    assert locked == 0
    with reverts("FlexMarketInsufficientDeposit"):
        env.market.withdraw(free + 1, {"from": t})
    before = env.token.balanceOf(t)
    env.market.withdraw(free, {"from": t})
    assert env.token.balanceOf(t) == before + free and free_locked(env, t) == (0, 0)
    env.token.approve(env.market, free, {"from": t})
    env.market.deposit(free, {"from": t})
    assert free_locked(env, t) == (free, 0)
