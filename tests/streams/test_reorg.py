"""Reorgs on a private anvil (never the shared session chain): ``anvil_reorg`` at several
depths, ``evm_snapshot``/``evm_revert`` with a longer or shorter new branch, a reorg deeper than
the remembered blocks, and reorgs while the runner follows a chain that keeps getting events.
After each, the read models must equal the contracts' state and a rebuild from block 0."""

from __future__ import annotations

import threading
import time

import pytest

from chain.anvil import Anvil
from chain.deploy import deploy_platform
from chain.domain import Role
from chain.indexer import web3_rpc
from chain.platform import Platform, connect, dev_accounts, make_sender
from chain.tx import NonceManager
from core.codec import text_to_bytes32
from core.settings import DEV_MNEMONIC
from streams.db import open_database
from streams.runner import EmbeddedRunner
from streams.store import ReadModelStore
from tests.streams.helpers import assert_matches_chain, read_models

N_ACCOUNTS = 40


@pytest.fixture(scope="module")
def chain(artifacts):
    node = Anvil(accounts=N_ACCOUNTS)
    node.start()
    w3 = connect(node.url)
    accounts = dev_accounts(DEV_MNEMONIC, N_ACCOUNTS)
    deployment = deploy_platform(w3, make_sender(w3, accounts[0], artifacts), artifacts)
    yield node, w3, Platform(w3, deployment, artifacts), accounts
    node.stop()


@pytest.fixture()
def fresh(chain):
    """The private chain as it was after deployment, again after the test."""
    _node, w3, platform, accounts = chain
    snap = w3.provider.make_request("evm_snapshot", [])["result"]
    NonceManager.reset_all()
    yield w3, platform, accounts
    w3.provider.make_request("evm_revert", [snap])
    NonceManager.reset_all()


def _rpc(w3, method, params):
    resp = w3.provider.make_request(method, params)
    assert "error" not in resp, resp
    return resp.get("result")


def _register_tx(platform, admin, account, i):
    data = platform.registry().contract.encode_abi(
        "register",
        args=[
            account,
            int(Role.PROSUMER),
            text_to_bytes32(f"area-{i % 3}"),
            text_to_bytes32(f"m-{i}"),
        ],
    )
    return {
        "from": admin.address,
        "to": platform.deployment.address("ParticipantRegistry"),
        "data": data,
        "gas": hex(400_000),
    }


def _mint_tx(platform, admin, account, amount):
    data = platform.token().contract.encode_abi("mint", args=[account, amount])
    return {
        "from": admin.address,
        "to": platform.deployment.address("FlexToken"),
        "data": data,
        "gas": hex(200_000),
    }


def _activity(platform, accounts, lo, hi):
    """One transaction (one block) per account in lo..hi: registrations and mints."""
    reg = platform.registry(accounts[0])
    tok = platform.token(accounts[0])
    for i in range(lo, hi):
        reg.register(accounts[i].address, Role.PROSUMER, f"area-{i % 3}", f"m-{i}")
        tok.mint(accounts[i].address, 1000 * i + 7)


def _runner(w3, platform, store, artifacts):
    return EmbeddedRunner.build(web3_rpc(w3), platform.deployment, store, artifacts, chunk_blocks=4)


def _rebuilt(tmp_path, w3, platform, artifacts, name="rebuild"):
    store = ReadModelStore(open_database(f"sqlite:///{tmp_path / (name + '.sqlite')}"))
    _runner(w3, platform, store, artifacts).poll_once()
    return store


def _check(store, tmp_path, w3, platform, accounts, artifacts):
    chain_id = platform.deployment.chain_id
    assert_matches_chain(store, platform, [a.address for a in accounts])
    rebuilt = _rebuilt(tmp_path, w3, platform, artifacts)
    assert read_models(store, chain_id) == read_models(rebuilt, chain_id)
    mine = [(e.block_number, e.log_index, e.block_hash) for e in store.events(chain_id)]
    assert mine == [(e.block_number, e.log_index, e.block_hash) for e in rebuilt.events(chain_id)]
    cp = store.checkpoint(chain_id)
    assert (
        cp is not None
        and cp.hash == _rpc(w3, "eth_getBlockByNumber", [hex(cp.number), False])["hash"]
    )


@pytest.mark.parametrize("depth", [1, 3, 6])
def test_anvil_reorg_at_depth(depth, fresh, store, tmp_path, artifacts):
    w3, platform, accounts = fresh
    admin = accounts[0]
    _activity(platform, accounts, 1, 6)  # 10 blocks with events
    runner = _runner(w3, platform, store, artifacts)
    runner.poll_once()
    chain_id = platform.deployment.chain_id
    head = w3.eth.block_number
    orphaned = {
        (e.block_hash, e.log_index) for e in store.events(chain_id) if e.block_number > head - depth
    }
    assert orphaned
    # Replace the last `depth` blocks: their registrations and mints vanish, others appear.
    replacement = [
        [_register_tx(platform, admin, accounts[20].address, 20), 0],
        [_mint_tx(platform, admin, accounts[21].address, 2**64 + 3), depth - 1],
    ]
    _rpc(w3, "anvil_reorg", [depth, replacement])
    NonceManager.reset_all()
    _activity(platform, accounts, 22, 24)  # events keep arriving after the reorg
    runner.poll_once()
    assert runner.indexer.stats.reorgs == 1
    assert runner.indexer.stats.reorg_depths == [depth]
    assert not orphaned & {(e.block_hash, e.log_index) for e in store.events(chain_id)}
    _check(store, tmp_path, w3, platform, accounts, artifacts)
    assert platform.registry().participant(accounts[20].address).role is Role.PROSUMER


@pytest.mark.parametrize("new_branch", ["longer", "shorter", "empty"])
def test_snapshot_revert_to_another_branch(new_branch, fresh, store, tmp_path, artifacts):
    w3, platform, accounts = fresh
    _activity(platform, accounts, 1, 3)
    runner = _runner(w3, platform, store, artifacts)
    runner.poll_once()
    snap = _rpc(w3, "evm_snapshot", [])
    _activity(platform, accounts, 3, 7)  # branch A: 8 blocks
    runner.poll_once()
    _rpc(w3, "evm_revert", [snap])
    NonceManager.reset_all()
    if new_branch == "longer":
        _activity(platform, accounts, 10, 16)  # branch B: 12 blocks, other accounts
    elif new_branch == "shorter":
        _activity(platform, accounts, 10, 11)  # branch B: 2 blocks
    else:
        _rpc(w3, "evm_mine", [])  # branch B: one empty block
    runner.poll_once()
    assert runner.indexer.stats.reorgs == 1
    _check(store, tmp_path, w3, platform, accounts, artifacts)
    # branch A's participants are gone from the read models
    assert (
        accounts[4].address not in read_models(store, platform.deployment.chain_id)["participants"]
    )


def test_reorg_deeper_than_remembered_blocks(fresh, db_url, tmp_path, artifacts):
    w3, platform, accounts = fresh
    store = ReadModelStore(open_database(db_url), keep_blocks=2)
    _activity(platform, accounts, 1, 6)
    runner = EmbeddedRunner.build(
        web3_rpc(w3), platform.deployment, store, artifacts, chunk_blocks=1
    )
    runner.poll_once()
    assert len(store.recent_blocks(platform.deployment.chain_id)) <= 4
    _rpc(
        w3, "anvil_reorg", [8, [[_register_tx(platform, accounts[0], accounts[30].address, 30), 3]]]
    )
    NonceManager.reset_all()
    runner.poll_once()
    assert runner.indexer.stats.reorgs == 1
    _check(store, tmp_path, w3, platform, accounts, artifacts)


def test_reorgs_while_events_keep_arriving(fresh, store, tmp_path, artifacts, chain):
    """The runner follows the chain in its thread while transactions and reorgs happen."""
    w3, platform, accounts = fresh
    node = chain[0]
    runner = EmbeddedRunner.build(
        web3_rpc(connect(node.url)), platform.deployment, store, artifacts, chunk_blocks=3
    ).start(poll_interval_s=0.02)
    try:
        _activity(platform, accounts, 1, 4)
        for depth, lo, hi in ((2, 4, 7), (4, 7, 10), (1, 10, 12)):
            deadline = time.monotonic() + 10
            while store.checkpoint(platform.deployment.chain_id) is None or (
                store.checkpoint(platform.deployment.chain_id).number < w3.eth.block_number
            ):
                assert time.monotonic() < deadline, "the runner did not catch up"
                time.sleep(0.02)
            replacement = [[_mint_tx(platform, accounts[0], accounts[35].address, depth), 0]]
            _rpc(w3, "anvil_reorg", [depth, replacement])
            NonceManager.reset_all()
            sender = threading.Thread(target=_activity, args=(platform, accounts, lo, hi))
            sender.start()
            sender.join()
        time.sleep(0.2)
    finally:
        runner.stop()
    assert runner.error is None
    runner.poll_once()
    assert runner.indexer.stats.reorgs >= 1
    _check(store, tmp_path, w3, platform, accounts, artifacts)
