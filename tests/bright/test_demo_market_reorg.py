"""The demo market through reorgs (anvil's ``anvil_reorg``): a reorg that drops the market
operator's clearing does not stall it (its nonce is freed, the next round clears the session
again), whether the market runs round by round or in its thread as ``bright up`` runs it; the
chain ends right (one session per interval, each cleared once with the engine's matches, the
money adds up); and stopping the market while it waits for a receipt is prompt."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from web3.types import RPCEndpoint

from bright.demo import bring_up
from bright.demo_market import MARKET_DEPOSIT, DemoMarket
from chain.anvil import free_port
from chain.market import SessionStatus
from core.settings import ChainSettings
from matching.engine import clear
from matching.service import engine_orders

TX_TIMEOUT_S = 5.0  # the old behaviour (waiting for a receipt that never comes) fails fast


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    settings = ChainSettings(
        state_dir=tmp_path_factory.mktemp("state"), chain_port=free_port(),
        tx_timeout_s=TX_TIMEOUT_S,
    )
    running = bring_up(settings, quiet=True)
    yield running
    running.stop()


@pytest.fixture()
def snapshot(demo):
    from chain.tx import NonceManager

    w3 = demo.platform.w3
    snap = w3.provider.make_request(RPCEndpoint("evm_snapshot"), [])["result"]
    yield
    w3.provider.make_request(RPCEndpoint("anvil_dropAllTransactions"), [])
    w3.provider.make_request(RPCEndpoint("evm_setAutomine"), [True])
    w3.provider.make_request(RPCEndpoint("evm_revert"), [snap])
    NonceManager.reset_all()


def rpc(w3: Any, method: str, *params: Any) -> Any:
    response = w3.provider.make_request(RPCEndpoint(method), list(params))
    assert "error" not in response, response
    return response.get("result")


def known(w3: Any, tx_hash: str) -> bool:
    try:
        w3.eth.get_transaction(tx_hash)
    except Exception:
        return False
    return True


def drop(w3: Any, tx_hash: str) -> None:
    """Reorg the chain from the block of ``tx_hash`` (again, if the running demo mined more
    blocks meanwhile), until the chain no longer holds it."""
    block = w3.eth.get_transaction(tx_hash)["blockNumber"]
    for _ in range(5):
        rpc(w3, "anvil_reorg", w3.eth.block_number - block + 1, [])
        if not known(w3, tx_hash):
            return
    raise AssertionError(f"{tx_hash} is still on the chain")


def assert_the_chain_is_right(demo: Any, market: DemoMarket) -> list[int]:
    """One session per delivery interval, each cleared at most once and with the engine's
    matches for its book, none left open past its delivery; the deposits all accounted for.
    Returns the cleared (or settled) sessions."""
    client = demo.platform.market()
    w3 = demo.platform.w3
    now = int(w3.eth.get_block("latest")["timestamp"])
    sessions = [client.session(s) for s in range(1, client.session_count() + 1)]
    starts = [s.delivery_start_s for s in sessions]
    assert len(starts) == len(set(starts)), "two sessions for one interval"
    cleared_logs = client.contract.events.SessionCleared.get_logs(from_block=0)
    cleared_ids = [int(e.args.sessionId) for e in cleared_logs]
    assert len(cleared_ids) == len(set(cleared_ids)), "a session cleared twice"
    done = []
    for info in sessions:
        if info.delivery_start_s <= now:
            assert info.status is not SessionStatus.OPEN, f"session {info.session_id} left open"
        if info.status in (SessionStatus.CLEARED, SessionStatus.SETTLED):
            assert info.session_id in cleared_ids
            book = client.book(info.session_id)
            expected = clear(engine_orders(book), info.rule)
            on_chain = client.contract.events.OrderMatched.get_logs(
                from_block=0, argument_filters={"sessionId": info.session_id}
            )
            assert [
                (e.args.bidId, e.args.offerId, e.args.qtyWh, e.args.pricePerKwh)
                for e in on_chain
            ] == [(m.bid_id, m.offer_id, m.qty_wh, m.price_per_kwh) for m in expected.matches]
            done.append(info.session_id)
    accounts = [m.address for m in market.homes] + [market.aggregator.address]
    balances = sum(sum(client.account(a)[:2]) for a in accounts)
    escrowed = sum(s.escrowed for s in sessions if s.status == SessionStatus.CLEARED)
    treasury = client.account(client.treasury())[0]
    assert balances + escrowed + treasury == len(accounts) * MARKET_DEPOSIT
    return done


def test_a_reorg_dropping_the_operators_clearing_is_cleared_again_next_round(demo, snapshot):
    market = DemoMarket(demo.platform, demo.members)
    market.fund()
    w3 = demo.platform.w3
    market.round()
    [last], _ = market.round()
    drop(w3, last.tx_hash)
    client = demo.platform.market()
    assert client.session(last.session_id).status is SessionStatus.OPEN
    t0 = time.monotonic()
    cleared, _ = market.round()
    assert time.monotonic() - t0 < TX_TIMEOUT_S  # no wait for a receipt that never comes
    # The dropped clearing first (its gate passed, its delivery has not started), then the
    # round's own session.
    assert [c.session_id for c in cleared] == [last.session_id, last.session_id + 1]
    again = cleared[0]
    assert (again.matches, again.volume_wh, again.price_per_kwh) == (
        last.matches, last.volume_wh, last.price_per_kwh
    )
    for _ in range(2):
        market.round()
    done = assert_the_chain_is_right(demo, market)
    assert done == list(range(1, last.session_id + 4))


def test_a_void_a_reorg_dropped_is_voided_again_not_taken_from_the_cache(demo, snapshot):
    """The operator caches voided and settled sessions (they no longer change) until a reorg
    takes a block it relied on."""
    market = DemoMarket(demo.platform, demo.members)
    market.fund()
    w3 = demo.platform.w3
    operator = market.operator
    [sid] = operator.open_due(market._now())
    market.trade(sid)
    market._advance_to(operator.market.session(sid).delivery_start_s + 1)  # nobody cleared
    assert operator.void_due(market._now()) == [sid]
    assert operator.sessions()[sid - 1].status is SessionStatus.VOIDED  # cached now
    [voided] = operator.market.contract.events.SessionVoided.get_logs(from_block=0)
    drop(w3, voided.transactionHash.to_0x_hex())
    assert operator.market.session(sid).status is SessionStatus.OPEN
    assert operator.void_due(market._now()) == [sid]
    assert demo.platform.market().session(sid).status is SessionStatus.VOIDED
    assert len(operator.market.contract.events.SessionVoided.get_logs(from_block=0)) == 1


def test_the_running_demo_market_recovers_from_a_reorg(demo, snapshot):
    market = DemoMarket(demo.platform, demo.members)
    market.fund()
    w3 = demo.platform.w3
    cleared: list[Any] = []
    errors: list[Exception] = []
    stop = threading.Event()
    thread = threading.Thread(
        target=market.run, args=(stop, 0.05, cleared.append, errors.append), daemon=True
    )
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while len(cleared) < 2:
            assert time.monotonic() < deadline and not errors, errors
            time.sleep(0.05)
        victim = cleared[-1]
        drop(w3, victim.tx_hash)
        deadline = time.monotonic() + 60
        while len({c.session_id for c in cleared} - {victim.session_id}) < 4:
            assert time.monotonic() < deadline, f"the market stalled after the reorg: {errors}"
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join(5)
    assert not thread.is_alive()
    # The round the reorg hit may fail once (e.g. an order for a session the reorg took).
    assert len(errors) <= 2, errors
    assert not [e for e in errors if "no receipt" in str(e)], errors
    done = assert_the_chain_is_right(demo, market)
    assert len(done) >= 5
    assert market.operator.market.session(victim.session_id).status is not SessionStatus.OPEN


def test_stopping_the_demo_market_while_it_waits_for_a_receipt_is_prompt(demo, snapshot):
    market = DemoMarket(demo.platform, demo.members)
    market.fund()
    w3 = demo.platform.w3
    operator = market.operator.market.sender.address
    errors: list[Exception] = []
    stop = threading.Event()
    rpc(w3, "evm_setAutomine", False)  # nothing is mined any more: every send waits
    thread = threading.Thread(
        target=market.run, args=(stop, 0.05, lambda c: None, errors.append), daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 20
    while w3.eth.get_transaction_count(operator, "pending") == w3.eth.get_transaction_count(
        operator
    ):
        assert time.monotonic() < deadline, "the operator sent nothing"
        time.sleep(0.05)
    time.sleep(0.5)  # waiting for its receipt now
    t0 = time.monotonic()
    stop.set()
    thread.join(4)
    assert not thread.is_alive(), "still waiting for the receipt"
    assert time.monotonic() - t0 < 2
    assert errors == []  # a stop is not an error


def test_stopping_the_market_operator_service_while_it_waits_for_a_receipt_is_prompt(
    demo, snapshot
):
    """``MarketOperator.run`` (the operator without the demo's traders) alike."""
    market = DemoMarket(demo.platform, demo.members)
    w3 = demo.platform.w3
    operator = market.operator
    stop = threading.Event()
    rpc(w3, "evm_setAutomine", False)
    thread = threading.Thread(target=operator.run, args=(stop,), daemon=True)
    thread.start()
    address = operator.market.sender.address
    deadline = time.monotonic() + 20
    while w3.eth.get_transaction_count(address, "pending") == w3.eth.get_transaction_count(
        address
    ):
        assert time.monotonic() < deadline, "the operator sent nothing"
        time.sleep(0.05)
    time.sleep(0.5)
    t0 = time.monotonic()
    stop.set()
    thread.join(4)
    assert not thread.is_alive(), "still waiting for the receipt"
    assert time.monotonic() - t0 < 2
