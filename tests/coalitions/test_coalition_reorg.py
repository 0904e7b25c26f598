"""The coordination service through reorgs (anvil's ``anvil_reorg``): a proposal or a
settlement a reorg drops is made again (the service's memory of having done it is not
trusted over the chain), exactly once; and stopping the service while it waits for a
receipt is prompt."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from web3.types import RPCEndpoint

from chain.coordination import RequestStatus
from tests.coalitions.coordination_env import (
    AGG,
    MEMBERS,
    CoordEnv,
    finish_window,
    kinds,
    make_env,
    run_to_replacement,
)

TX_TIMEOUT_S = 5.0  # the old behaviour (waiting for a receipt that never comes) fails fast


@pytest.fixture(scope="module")
def env(w3, artifacts, admin, dev_accounts) -> CoordEnv:
    return make_env(w3, artifacts, admin, dev_accounts)


def rpc(w3: Any, method: str, *params: Any) -> Any:
    response = w3.provider.make_request(RPCEndpoint(method), list(params))
    assert "error" not in response, response
    return response.get("result")


def known(w3: Any, tx_hash: Any) -> bool:
    try:
        w3.eth.get_transaction(tx_hash)
    except Exception:
        return False
    return True


def drop(w3: Any, tx_hash: Any) -> None:
    """Reorg the chain from the block of ``tx_hash`` (again if more blocks came meanwhile)
    until the chain no longer holds it."""
    block = w3.eth.get_transaction(tx_hash)["blockNumber"]
    for _ in range(5):
        rpc(w3, "anvil_reorg", w3.eth.block_number - block + 1, [])
        if not known(w3, tx_hash):
            return
    raise AssertionError(f"{tx_hash} is still on the chain")


def service_for(env: CoordEnv, **config: Any) -> Any:
    service = env.service(**config)
    assert service.coordination.sender is not None
    service.coordination.sender.timeout_s = TX_TIMEOUT_S
    return service


def test_a_proposal_a_reorg_dropped_is_proposed_again_by_the_running_service(env, snapshot):
    rid, start = env.publish(n=2, q=400)
    env.opt_in(rid, MEMBERS[:3])
    env.commit_flat([start - 8100])
    service = service_for(env, poll_s=0.2)
    errors: list[Exception] = []
    stop = threading.Event()
    thread = threading.Thread(target=service.run, args=(stop, errors.append), daemon=True)
    thread.start()
    try:
        env.advance(start - 1800)  # the opt-in deadline passed: it proposes
        deadline = time.monotonic() + 30
        while not env.events("CoalitionProposed", rid):
            assert time.monotonic() < deadline, f"no proposal: {errors}"
            time.sleep(0.1)
        [first] = env.events("CoalitionProposed", rid)
        drop(env.w3, first.transactionHash)
        assert env.client().request(rid).status is RequestStatus.OPEN
        deadline = time.monotonic() + 30
        while env.client().request(rid).status is not RequestStatus.PROPOSED:
            assert time.monotonic() < deadline, f"not proposed again: {errors}"
            time.sleep(0.1)
        time.sleep(1.0)  # a few more ticks: nothing more is sent
    finally:
        stop.set()
        thread.join(5)
    assert not thread.is_alive()
    assert errors == []
    assert len(env.events("CoalitionProposed", rid)) == 1  # proposed once on this chain
    rows = env.client().coalition_rows(rid)
    assert [sum(r.targets_wh[k] for r in rows) for k in range(2)] == [400, 400]


def test_a_settlement_proposal_a_reorg_dropped_is_sent_again(env, snapshot):
    service = service_for(env)
    flow = run_to_replacement(env, service)
    rid, start, failing = flow["rid"], flow["start"], flow["failing"]
    assert kinds(flow["steps"]) == ["replaced"]
    finish_window(env, rid, start, failing)
    [proposed] = [s for s in service.tick() if s.request_id == rid]
    assert proposed.kind == "settlement_proposed"
    drop(env.w3, proposed.tx_hash)
    assert env.client().request(rid).status is RequestStatus.ACCEPTED
    [again] = [s for s in service.tick() if s.request_id == rid]
    assert again.kind == "settlement_proposed"
    assert (again.detail["payout_total"], again.detail["penalty_total"]) == (
        proposed.detail["payout_total"], proposed.detail["penalty_total"]
    )
    assert env.client().request(rid).status is RequestStatus.SETTLING
    assert len(env.events("SettlementProposed", rid)) == 1
    assert [s for s in service.tick() if s.request_id == rid] == []


def test_stopping_the_service_while_it_waits_for_a_receipt_is_prompt(env, snapshot):
    rid, start = env.publish(n=2, q=400)
    env.opt_in(rid, MEMBERS[:3])
    env.commit_flat([start - 8100])
    env.advance(start - 1800)
    service = service_for(env, poll_s=0.2)
    aggregator = env.addr(AGG)
    stop = threading.Event()
    rpc(env.w3, "evm_setAutomine", False)  # its proposal waits in the pool
    try:
        thread = threading.Thread(target=service.run, args=(stop,), daemon=True)
        thread.start()
        deadline = time.monotonic() + 30
        while env.w3.eth.get_transaction_count(
            aggregator, "pending"
        ) == env.w3.eth.get_transaction_count(aggregator):
            assert time.monotonic() < deadline, "the service sent nothing"
            time.sleep(0.05)
        time.sleep(0.5)  # waiting for the receipt now
        t0 = time.monotonic()
        stop.set()
        thread.join(4)
        assert not thread.is_alive(), "still waiting for the receipt"
        assert time.monotonic() - t0 < 2
    finally:
        rpc(env.w3, "anvil_dropAllTransactions")
        rpc(env.w3, "evm_setAutomine", True)
