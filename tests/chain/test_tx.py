"""Nonce-safe sending, receipts, and recovering the error of a mined failed transaction."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from chain.domain import Role
from chain.errors import revert_error

pytestmark = pytest.mark.usefixtures("snapshot")


def test_concurrent_senders_of_one_account_never_reuse_a_nonce(platform, admin, dev_accounts):
    token = platform.token(admin)
    recipients = [a.address for a in dev_accounts[1:9]]

    def pay(i: int):
        # Each thread builds its own client: they share the account's nonce manager.
        return platform.token(admin).mint(recipients[i % len(recipients)], 1 + i)

    with ThreadPoolExecutor(max_workers=4) as pool:
        receipts = list(pool.map(pay, range(24)))
    assert all(r["status"] == 1 for r in receipts)
    nonces = [platform.w3.eth.get_transaction(r["transactionHash"])["nonce"] for r in receipts]
    assert len(set(nonces)) == 24
    assert token.total_supply() == sum(1 + i for i in range(24))


def test_transact_many_sends_back_to_back(platform, admin, dev_accounts):
    token = platform.token(admin)
    sender = token.sender
    fns = [token.contract.functions.mint(a.address, 10) for a in dev_accounts[1:6]]
    receipts = sender.transact_many(fns, gas=200_000)
    assert [r["status"] for r in receipts] == [1] * 5


def test_failed_mined_transaction_is_decoded(platform, admin, dev_accounts):
    """Sent with a fixed gas limit (no estimate), the revert is recovered from the receipt."""
    registry = platform.registry(admin)
    who = dev_accounts[22].address
    registry.register(who, Role.DSO, "feeder-1")
    fn = registry.contract.functions.register(who, int(Role.DSO), b"a".ljust(32, b"\0"), b"\0" * 32)
    with pytest.raises(revert_error("ParticipantRegistryAlreadyRegistered")):
        registry.sender.transact(fn, gas=300_000)
    # The failed transaction used a nonce; the next one still goes through.
    registry.register(dev_accounts[23].address, Role.DSO, "feeder-1")
