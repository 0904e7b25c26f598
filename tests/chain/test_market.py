"""FlexMarket through its typed client: sessions, the three ways to place orders, deposits,
cancellations with their proofs, the on-chain check of clearing results, voiding, settlement
on delivery from committed meter data (the market settler and its verification), and every
rejection as a typed error."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chain.domain import Role
from chain.errors import revert_error
from chain.market import MarketTerms, SessionStatus, order_commitment
from core.errors import MarketError
from core.rules import PricingRule, Side, bid_lock, energy_cost
from matching.domain import ClearingResult, Match
from matching.engine import clear
from matching.service import engine_orders
from matching.verify import check_clearing

TERMS = MarketTerms(tolerance_bp=1000, penalty_per_kwh=40, order_bond=100, settle_delay_s=60)

DEPOSIT = 10**12
OPERATOR, TRADERS, OUTSIDER, ORACLE = 1, range(2, 10), 25, 24


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
    rows.append((dev_accounts[ORACLE].address, Role.ORACLE, "feeder-1", ""))
    registry.register_batch(rows)
    platform.registry(admin).grant_role("METER_ADMIN_ROLE", dev_accounts[ORACLE].address)
    meters(platform, dev_accounts).enrol_meters([f"meter-{i}" for i in TRADERS])
    platform.token(admin).mint_batch([(dev_accounts[i].address, 10 * DEPOSIT) for i in TRADERS])
    for i in TRADERS:
        platform.token(dev_accounts[i]).approve(
            platform.deployment.address("FlexMarket"), 10 * DEPOSIT
        )
        platform.market(dev_accounts[i]).deposit(DEPOSIT)
    return platform


def meters(platform, dev_accounts):
    from chain.oracles import MeterOracleClient

    return MeterOracleClient(
        platform.w3,
        platform.deployment.address("MeterOracle"),
        platform.artifacts["MeterOracle"],
        platform.sender(dev_accounts[ORACLE]),
    )


@pytest.fixture()
def op(env, dev_accounts, snapshot):
    return env.market(dev_accounts[OPERATOR])


def trader(env, dev_accounts, k: int):
    return env.market(dev_accounts[TRADERS[k]])


def open_session(op, rule=PricingRule.UNIFORM, sealed=False, lead_s=1800, terms=TERMS):
    start = (now_s(op.w3) // 900 + 4) * 900
    gate = start - lead_s
    reveal = gate + 600 if sealed else 0
    return op.open_session(
        start, 900, gate, rule=rule, sealed=sealed, reveal_deadline_s=reveal, terms=terms
    )[1]


def close_gate(op, sid):
    info = op.session(sid)
    advance(op.w3, info.closes_at_s - now_s(op.w3) + 1)


def market_balances(env, dev_accounts):
    m = env.market()
    return sum(sum(m.account(dev_accounts[i].address)[:2]) for i in TRADERS)


def args_of(op, book, result):
    """The clearing of ``result`` (the engine's) over ``book`` (the chain's)."""
    matches = [(m.bid_id, m.offer_id, m.qty_wh) for m in result.matches]
    return op.clearing_args(book, matches, result.price_per_kwh)


def clear_with_engine(op, sid, rule):
    book = op.book(sid)
    active = engine_orders(book)
    result = clear(active, rule)
    check_clearing(active, rule, result)
    op.clear_session(sid, args_of(op, book, result))
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
    assert locked0 == bid_lock(2000, 140, TERMS.order_bond)
    close_gate(op, sid)
    _, result = clear_with_engine(op, sid, rule)
    info = op.session(sid)
    assert info.cleared and info.clearing_price_per_kwh == result.price_per_kwh
    assert result.volume_wh == 3000 and info.volume_wh == 3000
    # Every bid's lock is released; what the bids pay sits in the session's escrow, per order;
    # a filled offer keeps its delivery bond locked until the settlement.
    assert all(env.market().account(dev_accounts[TRADERS[k]].address)[1] == 0 for k in (0, 2, 4))
    price = {o.order_id: o.price_per_kwh for o in engine_orders(op.book(sid))}
    fills = {f.order_id: f.qty_wh for f in result.fills}
    paid = sum(
        energy_cost(fills[i], price[i] if rule == PricingRule.PAY_AS_BID else result.price_per_kwh)
        for i in (0, 2, 4)
        if i in fills
    )
    assert info.escrowed == paid
    bonds = sum(energy_cost(fills.get(i, 0), TERMS.penalty_per_kwh) for i in (1, 3, 5))
    assert market_balances(env, dev_accounts) + info.escrowed == len(TRADERS) * DEPOSIT
    assert (
        sum(env.market().account(dev_accounts[TRADERS[k]].address)[1] for k in (1, 3, 5)) == bonds
    )
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
        op.clear_session(sid, args_of(op, book, clear(engine_orders(book), PricingRule.UNIFORM)))
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
        op.clear_session(sid, args_of(op, book, clear(engine_orders(book), PricingRule.UNIFORM)))
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
    assert op.is_cancelled(sid, bid)
    with pytest.raises(err("FlexMarketAlreadyCancelled")):
        a.cancel_order(sid, bid)
    with pytest.raises(MarketError):  # no such order: the client cannot prove it
        a.cancel_order(sid, 5)
    b.cancel_order(sid, 1)  # b cancels its own offer too ...
    _, bid2 = a.place_order(sid, Side.BID, 400, 150)
    _, offer2 = b.place_order(sid, Side.OFFER, 400, 60)
    with pytest.raises(err("FlexMarketNotTrader")) as info:  # ... a stranger cannot
        trader(env, dev_accounts, 2).cancel_order(sid, offer2)
    assert info.value.args_by_name["trader"] == b.sender.address
    book = op.book(sid)
    assert [o.order_id for o in book.active_orders] == [bid2, offer2]
    close_gate(op, sid)
    _, result = clear_with_engine(op, sid, PricingRule.UNIFORM)
    assert result.volume_wh == 400
    assert env.market().account(a.sender.address)[1] == 0  # the cancelled bid's lock is released


def test_a_signed_cancel_is_relayed_and_a_deactivated_traders_order_cancelled_by_the_operator(
    env, op, admin, dev_accounts
):
    from matching.service import MarketOperator

    sid = open_session(op)
    a, b = dev_accounts[TRADERS[0]], dev_accounts[TRADERS[1]]
    _, mine = env.market(a).place_order(sid, Side.BID, 300, 120)
    _, theirs = env.market(b).place_order(sid, Side.OFFER, 300, 60)
    op.cancel_order_by_sig(sid, mine, op.sign_cancel(a, sid, mine))  # relayed by the operator
    assert op.is_cancelled(sid, mine)
    env.registry(admin).deactivate(b.address)
    try:
        info = op.session(sid)
        done = MarketOperator(op, registry=env.registry()).cancel_inactive(info)
        assert done == [(sid, theirs)] and op.is_cancelled(sid, theirs)
    finally:
        env.registry(admin).reactivate(b.address)


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
    good = clear(engine_orders(book), PricingRule.UNIFORM)
    args = args_of(op, book, good)

    def submit(clearing):
        op.clear_session(sid, clearing)

    wrong_price = (*args[:3], good.price_per_kwh + 1)
    with pytest.raises(err("FlexMarketWrongPrice")) as info:
        submit(wrong_price)
    assert info.value.args_by_name["expected"] == good.price_per_kwh
    with pytest.raises(err("FlexMarketOrderLeftOut")):
        submit((args[0], args[1], [], 0))  # nothing traded although prices cross
    dropped = [m for m in good.matches if m.bid_id != 0]
    smaller = ClearingResult(
        good.rule, good.price_per_kwh, good.volume_wh, good.fills, tuple(dropped), good.welfare
    )
    # Dropping the best bid's matches keeps supply = demand but leaves out a better order.
    with pytest.raises(err("FlexMarketOrderLeftOut")) as info:
        submit(args_of(op, book, smaller))
    assert info.value.args_by_name["orderId"] == 0
    one_sided = (args[0], args[1], [args[2][0] + 1], args[3])  # one Wh more on a match
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
        submit(args_of(op, book, doubled))
    bid_to_bid = replace(good, matches=(Match(0, 2, 10, good.price_per_kwh),))
    with pytest.raises(err("FlexMarketBadMatch")):
        submit(args_of(op, book, bid_to_bid))
    with pytest.raises(err("FlexMarketOrderBookMismatch")):
        submit((args[0][:-1], *args[1:]))
    forged_book = list(args[0])
    forged_book[1] = forged_book[1] - 1  # the offer's price lowered by one
    with pytest.raises(err("FlexMarketOrderBookMismatch")):
        submit((forged_book, *args[1:]))
    with pytest.raises(err("FlexMarketNotOperator")):
        trader(env, dev_accounts, 0).clear_session(sid, args)
    submit(args)
    with pytest.raises(err("FlexMarketWrongStatus")):
        submit(args)


def test_aggregator_places_for_its_member(env, op, admin, dev_accounts):
    agg = dev_accounts[20]
    env.registry(admin).register(agg.address, Role.AGGREGATOR, "feeder-1")
    member = dev_accounts[TRADERS[0]]
    env.registry(member).delegate_to(agg.address)
    sid = open_session(op)
    env.market(agg).place_order_for(member.address, sid, Side.OFFER, 300, 70)
    assert op.book(sid).orders[0].trader == member.address
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
    active = engine_orders(chain_book)
    result = clear(active, rule)
    args = args_of(op, chain_book, result)
    if result.volume_wh:
        with pytest.raises(err("FlexMarketWrongPrice")):
            op.clear_session(sid, (*args[:3], args[3] + 1))
    op.clear_session(sid, args)
    info = op.session(sid)
    fills = {f.order_id: f.qty_wh for f in result.fills}
    limit = {o.order_id: o.price_per_kwh for o in active}
    assert info.cleared and info.escrowed == sum(
        energy_cost(q, limit[i] if rule == PricingRule.PAY_AS_BID else result.price_per_kwh or 0)
        for i, q in fills.items()
        if active[i].side == Side.BID
    )
    assert market_balances(env, dev_accounts) + sum(
        op.session(s).escrowed for s in range(1, op.session_count() + 1)
    ) == env.token().balance_of(env.deployment.address("FlexMarket"))


def test_a_session_is_settled_on_delivery_from_the_committed_meter_data(env, op, dev_accounts):
    """Sellers are paid for what their meters show they delivered; a seller whose meter
    sent nothing is credited nothing; the buyers get back the rest; the settlement is
    recomputed from chain data by ``verify``; the market keeps exactly what it owes."""
    from core.oracle_codec import MeterValue
    from settlement.market import MarketSettler

    sid = open_session(op)
    buyer, good, silent = (trader(env, dev_accounts, k) for k in (0, 1, 3))
    buyer.place_order(sid, Side.BID, 2000, 150)
    good.place_order(sid, Side.OFFER, 1000, 80)
    silent.place_order(sid, Side.OFFER, 1000, 90)
    close_gate(op, sid)
    _, result = clear_with_engine(op, sid, PricingRule.UNIFORM)
    assert result.volume_wh == 2000
    info = op.session(sid)
    m = meters(env, dev_accounts)
    settler = MarketSettler(op, m, env.registry())
    with pytest.raises(err("FlexMarketSettlementNotOpen")):
        settler.settle(sid)
    advance(op.w3, info.settle_opens_s - now_s(op.w3) + 1)
    t0, t1 = info.delivery_start_s - 900, info.delivery_start_s
    oracle = dev_accounts[ORACLE]
    m.commit(oracle, [MeterValue("meter-3", t0, 1500, 0), MeterValue("meter-5", t0, 900, 0)], 1)
    m.commit(oracle, [MeterValue("meter-3", t1, 700, 0)], 2)  # meter-5 sent nothing
    good_addr, silent_addr = good.sender.address, silent.sender.address
    settled = settler.settle(sid)
    assert settled is not None and op.session(sid).status == SessionStatus.SETTLED
    g, s_ = settled.sellers[good_addr], settled.sellers[silent_addr]
    assert (g.delivered_wh, g.credited_wh, g.shortfall_wh) == (800, 800, 100)
    assert s_.missing_data and s_.credited_wh == 0 and s_.shortfall_wh == 900
    assert settled.earned == energy_cost(800, result.price_per_kwh)
    report = settler.verify(sid)
    assert report.ok, report.differences
    assert settler.settle(sid) is None  # settled once, whoever tries again
    assert market_balances(env, dev_accounts) + env.market().account(env.market().treasury())[
        0
    ] == env.token().balance_of(env.deployment.address("FlexMarket"))
    # A correction after the settlement does not change what was paid: verify flags it.
    m.commit(oracle, [MeterValue("meter-3", t1, 100, 0)], 3, correction=True)
    report = settler.verify(sid)
    assert not report.ok and any(good_addr in d for d in report.differences)


def test_a_session_nobody_cleared_is_voided_and_releases_every_lock(env, op, dev_accounts):
    from matching.service import MarketOperator

    sid = open_session(op)
    a, b = trader(env, dev_accounts, 0), trader(env, dev_accounts, 1)
    before = [env.market().account(x.sender.address)[:2] for x in (a, b)]
    a.place_order(sid, Side.BID, 1000, 150)
    b.place_order(sid, Side.OFFER, 1000, 50)
    operator = MarketOperator(op)
    info = op.session(sid)
    assert operator.void_due(info.delivery_start_s - 1) == []  # not yet: it may still clear
    advance(op.w3, info.delivery_start_s - now_s(op.w3) + 1)
    assert operator.void_due(now_s(op.w3)) == [sid]
    assert op.session(sid).status == SessionStatus.VOIDED
    assert [env.market().account(x.sender.address)[:2] for x in (a, b)] == before


@pytest.mark.parametrize("rule", [PricingRule.UNIFORM, PricingRule.COOPERATIVE])
def test_a_full_session_of_orders_from_as_many_grid_areas_clears(
    env, op, admin, dev_accounts, rule
):
    """The old contract could not clear a book of more than 128 grid areas yet took such
    orders; now a full session (MAX_ORDERS_PER_SESSION orders), every offer from its own
    area, clears, and under the cooperative rule with its area priority checked."""
    from eth_account import Account

    cap = env.market().contract.functions.MAX_ORDERS_PER_SESSION().call()
    sellers = [Account.create(f"area-seller-{i}") for i in range(cap - 1)]
    registry = env.registry(admin)
    for chunk in range(0, len(sellers), 100):
        registry.register_batch(
            [
                (s.address, Role.PROSUMER, f"area-{i}", f"area-meter-{i}")
                for i, s in enumerate(sellers[chunk : chunk + 100], start=chunk)
            ]
        )
    free = replace(TERMS, penalty_per_kwh=0, order_bond=0)  # offers then lock nothing
    sid = open_session(op, rule, terms=free)
    buyer = trader(env, dev_accounts, 0)
    buyer.place_order(sid, Side.BID, 10 * (cap - 1), 1000)
    signed = [op.sign_order(s, sid, Side.OFFER, 10, 100 + i) for i, s in enumerate(sellers)]
    for chunk in range(0, len(signed), 64):
        op.place_signed_orders(sid, signed[chunk : chunk + 64])
    assert op.session(sid).order_count == cap
    close_gate(op, sid)
    book, result = clear_with_engine(op, sid, rule)
    assert len({o.area for o in book.orders}) == cap > 128
    info = op.session(sid)
    assert info.cleared and info.volume_wh == result.volume_wh == 10 * (cap - 1)
