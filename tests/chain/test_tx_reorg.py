"""Sending through reorgs and dropped transactions (anvil's ``anvil_reorg`` and
``anvil_dropTransaction``): a dropped transaction frees its nonce and the next one takes it, a
transaction dropped while its sender waits is sent again (or, if its call is done meanwhile,
ends in the call's typed error), a wait ends promptly when the service stops, and a
:class:`ChainWatch` tells a service when blocks it relied on left the chain."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from web3.types import RPCEndpoint

from chain.domain import Role
from chain.errors import TransactionFailed, revert_error
from chain.platform import make_sender
from chain.tx import ChainWatch, TransactionInterrupted, TxSender, stoppable

pytestmark = pytest.mark.usefixtures("snapshot")

TIMEOUT_S = 5.0  # a wait that would hang (the old behaviour) fails the test quickly


def rpc(w3: Any, method: str, *params: Any) -> Any:
    response = w3.provider.make_request(RPCEndpoint(method), list(params))
    assert "error" not in response, response
    return response.get("result")


def reorg_from(w3: Any, block: int) -> None:
    """Replace the chain from ``block`` on with as many empty blocks."""
    rpc(w3, "anvil_reorg", w3.eth.block_number - block + 1, [])


def known(w3: Any, tx_hash: bytes) -> bool:
    try:
        w3.eth.get_transaction(tx_hash)
    except Exception:
        return False
    return True


@pytest.fixture()
def no_automine(w3) -> Iterator[None]:
    """Transactions wait in the pool until mined by hand (or automine is on again)."""
    rpc(w3, "evm_setAutomine", False)
    try:
        yield
    finally:
        rpc(w3, "anvil_dropAllTransactions")
        rpc(w3, "evm_setAutomine", True)


def sender_for(w3: Any, account: Any, artifacts: Any) -> TxSender:
    return make_sender(w3, account, artifacts, timeout_s=TIMEOUT_S)


def test_a_reorg_that_drops_a_mined_transaction_frees_its_nonce(platform, w3, artifacts, admin):
    token = platform.token()
    sender = sender_for(w3, admin, artifacts)
    who = platform.w3.eth.accounts[5]
    supply = token.total_supply()
    first = sender.transact(token.contract.functions.mint(who, 7))
    nonce = w3.eth.get_transaction(first["transactionHash"])["nonce"]
    reorg_from(w3, first["blockNumber"])
    assert not known(w3, first["transactionHash"])
    assert token.total_supply() == supply
    # The next transaction takes the freed nonce; it does not queue behind a gap forever.
    t0 = time.monotonic()
    second = sender.transact(token.contract.functions.mint(who, 11))
    assert time.monotonic() - t0 < 2
    assert w3.eth.get_transaction(second["transactionHash"])["nonce"] == nonce
    assert token.total_supply() == supply + 11
    assert sender.nonces.freed >= 1


def test_a_transaction_dropped_while_waiting_is_sent_again(
    platform, w3, artifacts, admin, no_automine
):
    token = platform.token()
    sender = sender_for(w3, admin, artifacts)
    who = platform.w3.eth.accounts[6]
    supply = token.total_supply()
    tx = sender.build(token.contract.functions.mint(who, 5))
    dropped = sender.send(tx)
    nonce = w3.eth.get_transaction(dropped)["nonce"]
    rpc(w3, "anvil_dropTransaction", "0x" + dropped.hex())
    rpc(w3, "evm_setAutomine", True)
    receipt = sender.wait(dropped, tx)
    # The same call with the same (freed) nonce: here even the same transaction.
    assert receipt["status"] == 1
    assert w3.eth.get_transaction(receipt["transactionHash"])["nonce"] == nonce
    assert token.total_supply() == supply + 5  # once


def test_a_dropped_call_that_was_done_meanwhile_ends_in_its_typed_error(
    platform, w3, artifacts, admin, dev_accounts, no_automine
):
    """Sending it again would only revert: the caller gets the error it treats as "done"."""
    registry = platform.registry()
    sender = sender_for(w3, admin, artifacts)
    who = dev_accounts[21].address
    fn = registry.contract.functions.register(
        who, int(Role.DSO), b"feeder-1".ljust(32, b"\0"), b"\0" * 32
    )
    tx = sender.build(fn)
    dropped = sender.send(tx)
    rpc(w3, "anvil_dropTransaction", "0x" + dropped.hex())
    # Meanwhile another sender of the same account registers it (taking the freed nonce; with
    # another gas limit, so it is not the very same transaction).
    other = sender_for(w3, admin, artifacts)
    other.send(other.build(fn, gas=int(tx["gas"]) + 1))
    rpc(w3, "evm_mine")
    rpc(w3, "evm_setAutomine", True)
    sent_before = w3.eth.get_transaction_count(admin.address)
    with pytest.raises(revert_error("ParticipantRegistryAlreadyRegistered")):
        sender.wait(dropped, tx)
    assert w3.eth.get_transaction_count(admin.address, "pending") == sent_before  # not re-sent
    assert registry.participant(who).active


def test_a_transaction_queued_behind_a_freed_nonce_gets_the_gap_filled(
    platform, w3, artifacts, admin
):
    """A nonce handed out just before a reorg freed a lower one: the transaction would wait
    behind the gap for ever; the sender fills the gap and it goes through."""
    token = platform.token()
    sender = sender_for(w3, admin, artifacts)
    who = platform.w3.eth.accounts[7]
    supply = token.total_supply()
    first = sender.transact(token.contract.functions.mint(who, 3))
    tx = sender.build(token.contract.functions.mint(who, 4), gas=200_000)
    nonce = sender.nonces.take()  # handed out ...
    reorg_from(w3, first["blockNumber"])  # ... then a reorg frees the nonce below it
    tx["nonce"] = nonce  # type: ignore[typeddict-unknown-key]
    queued = bytes(w3.eth.send_raw_transaction(admin.sign_transaction(tx).raw_transaction))
    sender.nonces.sent(nonce, queued)
    receipt = sender.wait(queued, tx)
    assert receipt["status"] == 1 and bytes(receipt["transactionHash"]) == queued
    assert token.total_supply() == supply + 4  # the dropped mint is gone, this one counts
    # The nonce below went to an empty transfer to itself.
    [filler] = [
        tx
        for n in range(first["blockNumber"], receipt["blockNumber"] + 1)
        for tx in w3.eth.get_block(n, full_transactions=True)["transactions"]
        if tx["from"] == admin.address and tx["nonce"] == nonce - 1
    ]
    assert filler["to"] == admin.address and filler["value"] == 0


@pytest.mark.parametrize("how", ["sender", "stoppable"])
def test_a_stopped_service_stops_waiting_for_a_receipt(
    how, platform, w3, artifacts, admin, no_automine
):
    token = platform.token()
    stop = threading.Event()
    sender = make_sender(w3, admin, artifacts, timeout_s=60.0)
    if how == "sender":
        sender.stop = stop
    outcome: list[BaseException | None] = []

    def service() -> None:
        try:
            if how == "stoppable":
                with stoppable(stop):
                    sender.transact(token.contract.functions.mint(admin.address, 1))
            else:
                sender.transact(token.contract.functions.mint(admin.address, 1))
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=service, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while w3.eth.get_transaction_count(admin.address, "pending") == w3.eth.get_transaction_count(
        admin.address
    ):
        assert time.monotonic() < deadline, "nothing was sent"
        time.sleep(0.05)
    time.sleep(0.3)  # it is waiting for the receipt now
    t0 = time.monotonic()
    stop.set()
    thread.join(5)
    assert not thread.is_alive() and time.monotonic() - t0 < 2
    assert isinstance(outcome[0], TransactionInterrupted)
    assert isinstance(outcome[0], TransactionFailed)  # what services already catch


def test_chain_watch_tells_when_a_block_relied_on_left_the_chain(platform, w3, artifacts, admin):
    token = platform.token()
    sender = sender_for(w3, admin, artifacts)
    watch = ChainWatch(w3).follow(sender)
    assert not watch.reorged()  # nothing relied on yet
    receipt = sender.transact(token.contract.functions.mint(admin.address, 1))
    watch.mark()
    assert not watch.reorged()
    assert not watch.reorged()
    # A block above what it relied on leaves: nothing it knew changed.
    rpc(w3, "evm_mine")
    rpc(w3, "anvil_reorg", 1, [])
    assert not watch.reorged()
    # Its own transaction's block leaves (no mark after it): it is told once.
    receipt = sender.transact(token.contract.functions.mint(admin.address, 2))
    reorg_from(w3, receipt["blockNumber"])
    assert watch.reorged()
    assert not watch.reorged()
    # A marked head that leaves (a block with a transaction: an empty block mined again on
    # the same parent in the same second would be the very same block).
    h = w3.eth.send_transaction({"from": w3.eth.accounts[1], "to": w3.eth.accounts[2], "value": 1})
    w3.eth.wait_for_transaction_receipt(h)
    watch.mark()
    rpc(w3, "anvil_reorg", 1, [])
    assert watch.reorged()
