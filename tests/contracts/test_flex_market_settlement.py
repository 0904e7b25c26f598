"""Settlement on delivery under brownie: a session cleared, its sellers' meters committed by
the oracle, then settled by anyone with the readings and their Merkle proofs. The contract's
figures and balances are compared with the Python specification (core.rules.settle_session),
and every refusal of a wrong settlement is checked."""

import pytest
from brownie import chain

from core.rules import Direction, PricingRule, SessionTerms, settle_session
from tests.contracts.helpers import reverts
from tests.contracts.market_env import (
    BID,
    OFFER,
    Book,
    Q,
    deploy_market_env,
    seller_of,
    table_words,
)

PENALTY, BOND, TOL = 50_000, 100_000, 1000


@pytest.fixture(scope="module")
def env(market_env):
    return market_env


def goto(t):
    chain.sleep(max(0, t - chain.time()))
    chain.mine()


def accounts_of(env, who):
    return {str(w): tuple(env.market.account(w)[:2]) for w in who}


def cleared_session(env, rule=0):
    """Bids of a; offers of b, c (filled) and d (not filled): cleared."""
    a, b, c, d = env.traders[:4]
    sid, start = env.open(rule=rule, penalty=PENALTY, bond=BOND, tol=TOL, delay=300)
    book = Book(sid)
    book.add(env.market.placeOrder(sid, BID, 2000, 200_000, {"from": a}))
    book.add(env.market.placeOrder(sid, OFFER, 1000, 100_000, {"from": b}))
    book.add(env.market.placeOrder(sid, OFFER, 1000, 120_000, {"from": c}))
    book.add(env.market.placeOrder(sid, OFFER, 500, 300_000, {"from": d}))
    goto(start - 599)
    result = book.result(rule)
    tx = env.market.clearSession(sid, book.clearing(rule), {"from": env.operator})
    fills = {f.order_id: f.qty_wh for f in result.fills}
    return sid, start, book, book.table(fills), tx.events["SessionCleared"]["pricePerKwh"]


def evidence(env, trader, intervals):
    meter = env.meter_of[str(trader)]
    return (str(trader), 0, [env.meters.reading(meter, t) for t in intervals])


def test_sellers_are_paid_for_what_they_delivered_and_buyers_get_back_the_rest(env, accounts):
    a, b, c, d = env.traders[:4]
    sid, start, _, table, price = cleared_session(env)
    assert price == 120_000
    # Baseline interval (before the delivery) and the delivery interval: b sheds 1,000 Wh of
    # its 1,500, c only 400 of its 800 (short beyond the tolerance).
    goto(start + Q + 1)
    env.meters.commit(start - Q, {"m1": (1500, 0), "m2": (800, 0), "m0": (100, 0)})
    env.meters.commit(start, {"m1": (500, 0), "m2": (400, 0), "m0": (100, 0)})
    sellers = sorted([str(b), str(c)], key=lambda s: int(s, 16))
    ev = [evidence(env, s, [start - Q, start]) for s in sellers]
    words, index = table_words(table), seller_of(table, sellers)
    with reverts("FlexMarketSettlementNotOpen"):
        env.market.settleSession(sid, words, index, ev, {"from": accounts[9]})
    goto(start + Q + 301)
    # Refusals: a table that is not the cleared one, a row naming the wrong seller, a reading
    # that is not the committed one, and a seller claimed to have no data while it has some.
    with reverts("FlexMarketSettlementTableMismatch", sid):
        env.market.settleSession(sid, words[:-1], index, ev, {"from": accounts[9]})
    with reverts("FlexMarketBadSeller"):
        env.market.settleSession(
            sid, words, seller_of(table, sellers[::-1]), ev, {"from": accounts[9]}
        )
    bad = [(ev[0][0], 0, [ev[0][2][0], (ev[0][2][1][0] + 1, *ev[0][2][1][1:])]), ev[1]]
    with reverts("FlexMarketBadReading", ev[0][0], start):
        env.market.settleSession(sid, words, index, bad, {"from": accounts[9]})
    with reverts("FlexMarketReadingPresent", ev[0][0], start - Q):
        env.market.settleSession(
            sid, words, index, [(ev[0][0], 1, []), ev[1]], {"from": accounts[9]}
        )
    expected = settle_session(
        SessionTerms(PricingRule.UNIFORM, Direction.UP, price, PENALTY, TOL, BOND),
        table,
        {str(b): 1000, str(c): 400},
    )
    before = accounts_of(env, [a, b, c, d, env.treasury])
    market_tokens = env.token.balanceOf(env.market)
    tx = env.market.settleSession(sid, words, index, ev, {"from": accounts[9]})  # anyone
    s = tx.events["SessionSettled"]
    assert (s["earned"], s["penalties"], s["refunds"], s["dust"]) == (
        expected.earned,
        expected.penalties,
        expected.refunds,
        expected.dust,
    )
    logged = {e["seller"]: e for e in tx.events["SellerSettled"]}
    for want in expected.sellers:
        got = logged[want.trader]
        assert (
            got["filledWh"],
            got["deliveredWh"],
            got["creditedWh"],
            got["shortfallWh"],
            got["earned"],
            got["penalty"],
            got["missingData"],
        ) == (
            want.filled_wh,
            want.delivered_wh,
            want.credited_wh,
            want.shortfall_wh,
            want.earned,
            want.penalty,
            want.missing_data,
        )
    after = accounts_of(env, [a, b, c, d, env.treasury])
    # b: paid 1,000 Wh at 0.12 and its bond back; c: 400 Wh and its bond less the penalty.
    sb, sc = expected.seller(str(b)), expected.seller(str(c))
    assert after[str(b)] == (before[str(b)][0] + sb.earned + sb.bond, before[str(b)][1] - sb.bond)
    assert after[str(c)] == (
        before[str(c)][0] + sc.earned + sc.bond - sc.penalty,
        before[str(c)][1] - sc.bond,
    )
    assert sb.earned == 120_000 and sc.earned == 48_000 and sc.penalty == 25_000
    [refund] = expected.buyers
    assert after[str(a)][0] == before[str(a)][0] + refund.refund == before[str(a)][0] + 97_000
    assert after[str(d)] == before[str(d)]  # d's unfilled offer was released at clearing
    assert after[str(env.treasury)][0] == before[str(env.treasury)][0] + expected.dust
    assert env.token.balanceOf(env.market) == market_tokens  # money moved inside the market
    with reverts("FlexMarketWrongStatus"):
        env.market.settleSession(sid, words, index, ev, {"from": accounts[9]})


def test_a_seller_without_committed_data_is_credited_nothing(env, accounts):
    b, c = env.traders[1], env.traders[2]
    sid, start, _, table, price = cleared_session(env, rule=1)  # pay-as-bid
    goto(start + Q + 301)
    env.meters.commit(start - Q, {"m1": (900, 0), "m2": (900, 0)})
    env.meters.commit(start, {"m2": (0, 200)})  # b's meter sent nothing for the delivery
    sellers = sorted([str(b), str(c)], key=lambda s: int(s, 16))
    ev = {str(c): evidence(env, c, [start - Q, start]), str(b): (str(b), 2, [])}
    tx = env.market.settleSession(
        sid,
        table_words(table),
        seller_of(table, sellers),
        [ev[s] for s in sellers],
        {"from": accounts[9]},
    )
    got = {e["seller"]: e for e in tx.events["SellerSettled"]}
    assert got[str(b)]["missingData"] and got[str(b)]["earned"] == 0
    assert got[str(b)]["shortfallWh"] == 900  # the whole 1,000 Wh less the tolerance
    assert got[str(c)]["deliveredWh"] == 1100 and got[str(c)]["creditedWh"] == 1000
    expected = settle_session(
        SessionTerms(PricingRule.PAY_AS_BID, Direction.UP, price, PENALTY, TOL, BOND),
        table,
        {str(b): None, str(c): 1100},
    )
    s = tx.events["SessionSettled"]
    assert (s["earned"], s["penalties"], s["refunds"], s["dust"]) == (
        expected.earned,
        expected.penalties,
        expected.refunds,
        expected.dust,
    )
