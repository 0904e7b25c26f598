"""FlexMarket through its typed client: sessions, the three ways to place orders, deposits,
the on-chain check of clearing results, and every rejection as a typed error."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chain.domain import Role
from chain.errors import revert_error
from chain.market import order_commitment
from core.rules import PricingRule, Side
from matching.domain import ClearingResult, Match
from matching.engine import clear
from matching.verify import check_clearing

DEPOSIT = 10**12
OPERATOR, TRADERS, OUTSIDER = 1, range(2, 10), 25


def err(name):
    return revert_error(name)


def now_s(w3) -> int:
    return int(w3.eth.get_block("latest")["timestamp"])


def advance(w3, seconds: int) -> None:
    w3.provider.make_request("evm_increaseTime", [seconds])
    w3.provider.make_request("evm_mine", [])


@pytest.fixture(scope="module")
def env(platform, admin, dev_accounts):
    """A market operator and eight traders on two feeders, each with a deposit."""
    registry = platform.registry(admin)
    rows = [(dev_accounts[OPERATOR].address, Role.MARKET_OPERATOR, "feeder-1", "")]
    rows += [
        (dev_accounts[i].address, Role.PROSUMER, f"feeder-{1 + i % 2}", f"meter-{i}")
        for i in TRADERS
    ]
    registry.register_batch(rows)
    platform.token(admin).mint_batch([(dev_accounts[i].address, 10 * DEPOSIT) for i in TRADERS])
    for i in TRADERS:
        platform.token(dev_accounts[i]).approve(
            platform.deployment.address("FlexMarket"), 10 * DEPOSIT
        )
        platform.market(dev_accounts[i]).deposit(DEPOSIT)
    return platform


@pytest.fixture()
def op(env, dev_accounts, snapshot):
    return env.market(dev_accounts[OPERATOR])


def trader(env, dev_accounts, k: int):
    return env.market(dev_accounts[TRADERS[k]])


def open_session(op, rule=PricingRule.UNIFORM, sealed=False, lead_s=1800):
    start = (now_s(op.w3) // 900 + 4) * 900
    gate = start - lead_s
    reveal = gate + 600 if sealed else 0
    return op.open_session(start, 900, gate, rule=rule, sealed=sealed, reveal_deadline_s=reveal)[1]


def close_gate(op, sid):
    info = op.session(sid)
    advance(op.w3, info.closes_at_s - now_s(op.w3) + 1)


def market_balances(env, dev_accounts):
    m = env.market()
    return sum(sum(m.account(dev_accounts[i].address)[:2]) for i in TRADERS)


def clear_with_engine(op, sid, rule):
    book = op.book(sid)
    result = clear(book.active_orders, rule)
    check_clearing(book.active_orders, rule, result)
    op.clear_session(sid, op.clearing_args(book, result))
    return book, result


@pytest.mark.parametrize("rule", list(PricingRule))
def test_direct_orders_clear_under_each_rule_and_money_adds_up(env, op, dev_accounts, rule):
    sid = open_session(op, rule)
    orders = [
        (0, Side.BID, 2000, 140),
        (1, Side.OFFER, 1500, 80),
        (2, Side.BID, 1000, 120),
        (3, Side.OFFER, 2500, 100),
        (4, Side.BID, 500, 90),
        (5, Side.OFFER, 800, 130),
    ]
    for k, side, qty, price in orders:
        trader(env, dev_accounts, k).place_order(sid, side, qty, price)
    _, locked0, _ = env.market().account(dev_accounts[TRADERS[0]].address)
    assert locked0 == (2000 * 140 + 999) // 1000
    close_gate(op, sid)
    _, result = clear_with_engine(op, sid, rule)
    info = op.session(sid)
    assert info.cleared and info.clearing_price_per_kwh == result.price_per_kwh
    assert result.volume_wh == 3000
    # Every bid's lock is released; what matched buyers pay sits in the session's escrow.
    assert all(env.market().account(dev_accounts[i].address)[1] == 0 for i in TRADERS)
    paid = sum(m.qty_wh * m.price_per_kwh // 1000 for m in result.matches)
    assert info.escrowed == paid
    assert market_balances(env, dev_accounts) + info.escrowed == len(TRADERS) * DEPOSIT
    assert env.token().balance_of(env.deployment.address("FlexMarket")) == len(TRADERS) * DEPOSIT
    # The matches on the chain are the engine's.
    receipt_matches = op.contract.events.OrderMatched.get_logs(
        from_block=0, argument_filters={"sessionId": sid}
    )
    assert [
        (e.args.bidId, e.args.offerId, e.args.qtyWh, e.args.pricePerKwh) for e in receipt_matches
    ] == [(m.bid_id, m.offer_id, m.qty_wh, m.price_per_kwh) for m in result.matches]


def test_signed_orders_are_relayed_in_a_batch_and_cannot_be_replayed(env, op, dev_accounts):
    sid = open_session(op)
    a, b = dev_accounts[TRADERS[0]], dev_accounts[TRADERS[1]]
    signed = [
        op.sign_order(a, sid, Side.BID, 1000, 120),
        op.sign_order(b, sid, Side.OFFER, 1000, 90),
    ]
    op.place_signed_orders(sid, signed)
    assert op.session(sid).order_count == 2
    assert env.market().account(a.address)[2] == 1
    with pytest.raises(err("FlexMarketWrongNonce")) as info:
        op.place_signed_orders(sid, signed[:1])
    assert info.value.args_by_name["expected"] == 1
    forged = replace(op.sign_order(a, sid, Side.BID, 5, 120), trader=b.address, nonce=1)
    with pytest.raises(err("FlexMarketBadSignature")) as info:
        op.place_signed_orders(sid, [forged])
    assert info.value.args_by_name["trader"] == b.address
    with pytest.raises(err("FlexMarketNotOperator")):
        trader(env, dev_accounts, 2).place_signed_orders(
            sid, [op.sign_order(a, sid, Side.BID, 5, 1)]
        )


def test_orders_are_refused_after_gate_closure_and_clearing_before_it(env, op, dev_accounts):
    sid = open_session(op)
    trader(env, dev_accounts, 0).place_order(sid, Side.BID, 100, 100)
    book = op.book(sid)
    with pytest.raises(err("FlexMarketGateOpen")):
        op.clear_session(
            sid, op.clearing_args(book, clear(book.active_orders, PricingRule.UNIFORM))
        )
    close_gate(op, sid)
    with pytest.raises(err("FlexMarketGateClosed")) as info:
        trader(env, dev_accounts, 1).place_order(sid, Side.OFFER, 100, 50)
    assert info.value.args_by_name["sessionId"] == sid


def test_bad_orders_get_their_own_errors(env, op, dev_accounts):
    sid = open_session(op)
    t = trader(env, dev_accounts, 0)
    with pytest.raises(err("FlexMarketQuantityOutOfRange")):
        t.place_order(sid, Side.BID, 0, 100)
    with pytest.raises(err("FlexMarketQuantityOutOfRange")):
        t.place_order(sid, Side.OFFER, 10**12 + 1, 100)
    with pytest.raises(err("FlexMarketPriceOutOfRange")):
        t.place_order(sid, Side.OFFER, 100, 10**12 + 1)
    with pytest.raises(err("FlexMarketUnknownSide")):
        t.place_order_raw(sid, 7, 100, 100)
    with pytest.raises(err("FlexMarketUnknownSession")):
        t.place_order(sid + 99, Side.BID, 100, 100)
    with pytest.raises(err("FlexMarketInsufficientDeposit")) as info:
        t.place_order(sid, Side.BID, 10**11, 10**6)
    assert info.value.args_by_name["available"] == DEPOSIT
    with pytest.raises(err("FlexMarketNotParticipant")):
        env.market(dev_accounts[OUTSIDER]).place_order(sid, Side.OFFER, 100, 100)


def test_bad_sessions_are_refused(env, op, dev_accounts):
    start = (now_s(op.w3) // 900 + 4) * 900
    with pytest.raises(err("FlexMarketBadSessionTimes")):
        op.open_session(start + 1, 900, start - 60)  # not aligned to 15 minutes
    with pytest.raises(err("FlexMarketBadSessionTimes")):
        op.open_session(start, 900, start + 60)  # gate after delivery start
    with pytest.raises(err("FlexMarketBadSessionTimes")):
        op.open_session(start, 900, now_s(op.w3) - 10)  # gate in the past
    with pytest.raises(err("FlexMarketNotOperator")):
        trader(env, dev_accounts, 0).open_session(start, 900, start - 60)


def test_sealed_orders_trade_only_when_revealed(env, op, dev_accounts):
    sid = open_session(op, sealed=True)
    buyer, seller, shy = (trader(env, dev_accounts, k) for k in (0, 1, 2))
    salts = [b"\x01" * 32, b"\x02" * 32, b"\x03" * 32]
    buyer.commit_order(
        sid, order_commitment(sid, buyer.sender.address, Side.BID, 1000, 120, salts[0])
    )
    seller.commit_order(
        sid, order_commitment(sid, seller.sender.address, Side.OFFER, 600, 80, salts[1])
    )
    shy.commit_order(sid, order_commitment(sid, shy.sender.address, Side.OFFER, 900, 10, salts[2]))
    with pytest.raises(err("FlexMarketWrongOrderMode")):
        buyer.place_order(sid, Side.BID, 10, 10)
    with pytest.raises(err("FlexMarketGateOpen")):
        buyer.reveal_order(sid, Side.BID, 1000, 120, salts[0])
    advance(op.w3, op.session(sid).gate_closure_s - now_s(op.w3) + 1)
    with pytest.raises(err("FlexMarketUnknownCommitment")):
        buyer.reveal_order(sid, Side.BID, 1000, 120, b"\x09" * 32)  # wrong salt
    buyer.reveal_order(sid, Side.BID, 1000, 120, salts[0])
    with pytest.raises(err("FlexMarketCommitmentUsed")):
        buyer.reveal_order(sid, Side.BID, 1000, 120, salts[0])
    seller.reveal_order(sid, Side.OFFER, 600, 80, salts[1])
    book = op.book(sid)
    with pytest.raises(err("FlexMarketGateOpen")):  # reveals are still possible
        op.clear_session(
            sid, op.clearing_args(book, clear(book.active_orders, PricingRule.UNIFORM))
        )
    close_gate(op, sid)
    _, result = clear_with_engine(op, sid, PricingRule.UNIFORM)
    # The unrevealed (and cheapest) offer did not trade.
    assert result.volume_wh == 600 and {m.offer_id for m in result.matches} == {1}


def test_cancellation_by_the_trader_removes_the_order(env, op, dev_accounts):
    sid = open_session(op)
    a, b = trader(env, dev_accounts, 0), trader(env, dev_accounts, 1)
    _, bid = a.place_order(sid, Side.BID, 1000, 150)
    b.place_order(sid, Side.OFFER, 1000, 50)
    a.cancel_order(sid, bid)
    with pytest.raises(err("FlexMarketAlreadyCancelled")):
        a.cancel_order(sid, bid)
    with pytest.raises(err("FlexMarketUnknownOrder")):
        a.cancel_order(sid, 5)
    b.cancel_order(sid, 1 - 1 + 1)  # b cancels its own offer too ...
    _, bid2 = a.place_order(sid, Side.BID, 400, 150)
    _, offer2 = b.place_order(sid, Side.OFFER, 400, 60)
    trader(env, dev_accounts, 2).cancel_order(sid, offer2)  # ... a stranger's "cancel" is void
    book = op.book(sid)
    assert [o.order_id for o in book.active_orders] == [bid2, offer2]
    close_gate(op, sid)
    _, result = clear_with_engine(op, sid, PricingRule.UNIFORM)
    assert result.volume_wh == 400
    assert env.market().account(a.sender.address)[1] == 0  # the cancelled bid's lock is released


def test_tampered_clearings_are_rejected_on_chain(env, op, dev_accounts):
    sid = open_session(op)
    for k, side, qty, price in [
        (0, Side.BID, 1000, 150),
        (1, Side.OFFER, 600, 80),
        (2, Side.BID, 500, 120),
        (3, Side.OFFER, 900, 100),
    ]:
        trader(env, dev_accounts, k).place_order(sid, side, qty, price)
    close_gate(op, sid)
    book = op.book(sid)
    good = clear(book.active_orders, PricingRule.UNIFORM)
    args = op.clearing_args(book, good)

    def submit(clearing):
        op.clear_session(sid, clearing)

    wrong_price = (*args[:4], good.price_per_kwh + 1)
    with pytest.raises(err("FlexMarketWrongPrice")) as info:
        submit(wrong_price)
    assert info.value.args_by_name["expected"] == good.price_per_kwh
    with pytest.raises(err("FlexMarketOrderLeftOut")):
        submit((args[0], args[1], args[2], [], 0))  # nothing traded although prices cross
    dropped = [m for m in good.matches if m.bid_id != 0]
    smaller = ClearingResult(
        good.rule, good.price_per_kwh, good.volume_wh, good.fills, tuple(dropped), good.welfare
    )
    # Dropping the best bid's matches keeps supply = demand but leaves out a better order.
    with pytest.raises(err("FlexMarketOrderLeftOut")) as info:
        submit(op.clearing_args(book, smaller))
    assert info.value.args_by_name["orderId"] == 0
    one_sided = (args[0], args[1], args[2], [args[3][0] + 1], args[4])  # one Wh more on a match
    with pytest.raises(err("FlexMarketOverfill")):
        submit(one_sided)
    doubled = ClearingResult(
        good.rule,
        good.price_per_kwh,
        good.volume_wh,
        good.fills,
        (*good.matches, *good.matches),
        good.welfare,
    )
    with pytest.raises(err("FlexMarketOverfill")):
        submit(op.clearing_args(book, doubled))
    bid_to_bid = replace(good, matches=(Match(0, 2, 10, good.price_per_kwh),))
    with pytest.raises(err("FlexMarketBadMatch")):
        submit(op.clearing_args(book, bid_to_bid))
    with pytest.raises(err("FlexMarketOrderBookMismatch")):
        submit((args[0][:-1], *args[1:]))
    forged_book = list(args[0])
    forged_book[1] = forged_book[1] - 1  # the offer's price lowered by one
    with pytest.raises(err("FlexMarketOrderBookMismatch")):
        submit((forged_book, *args[1:]))
    with pytest.raises(err("FlexMarketNotOperator")):
        trader(env, dev_accounts, 0).clear_session(sid, args)
    submit(args)
    with pytest.raises(err("FlexMarketAlreadyCleared")):
        submit(args)


def test_aggregator_places_for_its_member(env, op, admin, dev_accounts):
    agg = dev_accounts[20]
    env.registry(admin).register(agg.address, Role.AGGREGATOR, "feeder-1")
    member = dev_accounts[TRADERS[0]]
    env.registry(member).delegate_to(agg.address)
    sid = open_session(op)
    env.market(agg).place_order_for(member.address, sid, Side.OFFER, 300, 70)
    assert op.book(sid).orders[0].owner == member.address
    with pytest.raises(err("FlexMarketNotParticipant")):
        env.market(agg).place_order_for(dev_accounts[TRADERS[1]].address, sid, Side.OFFER, 300, 70)


def test_deposit_and_withdraw(env, op, dev_accounts):
    t = trader(env, dev_accounts, 3)
    with pytest.raises(err("FlexMarketZeroAmount")):
        t.deposit(0)
    with pytest.raises(err("FlexMarketInsufficientDeposit")):
        t.withdraw(DEPOSIT + 1)
    before = env.token().balance_of(t.sender.address)
    t.withdraw(1000)
    assert env.token().balance_of(t.sender.address) == before + 1000
    assert env.market().account(t.sender.address)[0] == DEPOSIT - 1000


book_strategy = st.lists(
    st.tuples(
        st.integers(0, 7),
        st.sampled_from([Side.BID, Side.OFFER]),
        st.integers(1, 5000),
        st.integers(40, 160),
    ),
    min_size=2,
    max_size=14,
)


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(book=book_strategy, rule=st.sampled_from(list(PricingRule)))
def test_contract_accepts_exactly_the_engine_result(env, op, dev_accounts, book, rule):
    """Random books: the engine's result is accepted; the same result at another price is not."""
    sid = open_session(op, rule)
    signed = []
    nonces = {}
    for k, side, qty, price in book:
        acct = dev_accounts[TRADERS[k]]
        nonce = nonces.setdefault(acct.address, env.market().account(acct.address)[2])
        signed.append(op.sign_order(acct, sid, side, qty, price, nonce=nonce))
        nonces[acct.address] += 1
    op.place_signed_orders(sid, signed)
    close_gate(op, sid)
    chain_book = op.book(sid)
    result = clear(chain_book.active_orders, rule)
    args = op.clearing_args(chain_book, result)
    if result.volume_wh:
        with pytest.raises(err("FlexMarketWrongPrice")):
            op.clear_session(sid, (*args[:4], args[4] + 1))
    op.clear_session(sid, args)
    info = op.session(sid)
    assert info.cleared and info.escrowed == sum(
        m.qty_wh * m.price_per_kwh // 1000 for m in result.matches
    )
    assert market_balances(env, dev_accounts) + sum(
        op.session(s).escrowed for s in range(1, op.session_count() + 1)
    ) == env.token().balance_of(env.deployment.address("FlexMarket"))
