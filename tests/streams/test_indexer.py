"""The indexer against the session anvil: decoding, projection into SQLite and PostgreSQL,
resuming after a crash, duplicate delivery."""

from __future__ import annotations

import pytest
from eth_abi import decode, encode
from eth_utils import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from chain.domain import Role
from chain.indexer import (
    MAX_SAFE_INT,
    ChainEvent,
    EventDecoder,
    Indexer,
    IndexerError,
    json_safe,
    web3_rpc,
)
from streams.bus import BatchBus, InProcessBus
from streams.runner import BusSink, EmbeddedRunner, Projector
from streams.store import ReadModelStore
from tests.streams.helpers import assert_matches_chain, read_models


def test_json_safe_values():
    assert json_safe({"type": "uint256"}, 2**53) == 2**53
    assert json_safe({"type": "uint256"}, 2**53 + 1) == str(2**53 + 1)
    assert json_safe({"type": "int256"}, -(2**60)) == str(-(2**60))
    assert json_safe({"type": "bytes32"}, b"\x01" * 32) == "0x" + "01" * 32
    addr = "0x5fbdb2315678afecb367f032d93f642f64180aa3"
    assert json_safe({"type": "address"}, addr) == "0x5FbDB2315678afecb367f032d93F642f64180aa3"
    assert json_safe({"type": "uint8[]"}, (1, 2)) == [1, 2]
    tup = {
        "type": "tuple",
        "components": [{"name": "a", "type": "uint256"}, {"name": "b", "type": "bool"}],
    }
    assert json_safe(tup, (3, True)) == {"a": 3, "b": True}


def _artifact_with(abi):
    from chain.compiler import Artifact

    return Artifact("Thing", "contracts/Thing.sol", abi, "0x", "0x", "x")


def test_decoder_picks_up_any_artifact_and_large_values():
    """A contract the indexer was never told about is decoded from its ABI alone."""
    abi = [
        {
            "type": "event",
            "name": "Measured",
            "anonymous": False,
            "inputs": [
                {"name": "meter", "type": "bytes32", "indexed": True},
                {"name": "whenS", "type": "uint64", "indexed": False},
                {"name": "qtyWh", "type": "uint256", "indexed": False},
                {"name": "note", "type": "string", "indexed": False},
            ],
        }
    ]
    addr = "0x" + "ab" * 20
    dec = EventDecoder({"Thing": _artifact_with(abi)}, {addr: "MeterOracle"})
    topic0 = "0x" + keccak(text="Measured(bytes32,uint64,uint256,string)").hex()
    raw = {
        "address": addr,
        "topics": [topic0, "0x" + "11" * 32],
        "data": "0x" + encode(["uint64", "uint256", "string"], [900, 2**200, "hi"]).hex(),
        "blockNumber": "0x7",
        "blockHash": "0x" + "22" * 32,
        "transactionHash": "0x" + "33" * 32,
        "logIndex": "0x2",
    }
    ev = dec.decode(5, raw)
    assert ev is not None
    assert (ev.contract, ev.event, ev.block_number, ev.log_index) == (
        "MeterOracle",
        "Measured",
        7,
        2,
    )
    assert ev.args == {"meter": "0x" + "11" * 32, "whenS": 900, "qtyWh": str(2**200), "note": "hi"}
    assert ChainEvent.from_dict(ev.to_dict()) == ev
    # unknown topic: skipped, not an error; a topic that does not fit the data: an error
    assert dec.decode(5, {**raw, "topics": ["0x" + "00" * 32]}) is None
    with pytest.raises(IndexerError, match="Measured"):
        dec.decode(5, {**raw, "data": "0x1234"})
    assert MAX_SAFE_INT == 2**53


def _populate(platform, accounts):
    admin = accounts[0]
    reg = platform.registry(admin)
    tok = platform.token(admin)
    reg.register_batch(
        [
            (a.address, Role.PROSUMER, f"feeder-{i % 2}", f"meter-{i}")
            for i, a in enumerate(accounts[1:7])
        ]
    )
    reg.register(accounts[7].address, Role.AGGREGATOR, "feeder-0")
    platform.registry(accounts[1]).delegate_to(accounts[7].address)
    platform.registry(accounts[2]).delegate_to(accounts[7].address)
    platform.registry(accounts[2]).revoke_delegation()
    reg.deactivate(accounts[3].address)
    reg.deactivate(accounts[4].address)
    reg.reactivate(accounts[4].address)
    tok.mint_batch([(a.address, 1_000_000 * (i + 1)) for i, a in enumerate(accounts[1:7])])
    tok.mint(accounts[8].address, 2**70)  # beyond int64 and 2**53: stored exactly
    platform.token(accounts[1]).transfer(accounts[2].address, 250_000)
    platform.token(accounts[8]).transfer(accounts[1].address, 2**65 + 1)


def test_index_platform_into_read_models(platform, dev_accounts, snapshot, store, w3, artifacts):
    _populate(platform, dev_accounts)
    runner = EmbeddedRunner.build(
        web3_rpc(w3), platform.deployment, store, artifacts, chunk_blocks=3
    )
    n = runner.poll_once()
    assert n == store.event_count(platform.deployment.chain_id) > 20
    assert runner.indexer.stats.chunks > 1  # several eth_getLogs chunks
    assert_matches_chain(store, platform, [a.address for a in dev_accounts[:10]])
    cp = store.checkpoint(platform.deployment.chain_id)
    assert cp is not None and cp.number == w3.eth.block_number
    assert cp.hash == "0x" + bytes(w3.eth.get_block(cp.number)["hash"]).hex()
    kinds = {(e.contract, e.event) for e in store.events(platform.deployment.chain_id)}
    assert ("ParticipantRegistry", "AggregatorDelegationRevoked") in kinds
    assert ("FlexToken", "BatchMinted") in kinds and ("FlexToken", "RoleGranted") in kinds
    # nothing new: a second poll applies nothing and changes nothing
    before = read_models(store, platform.deployment.chain_id)
    assert runner.poll_once() == 0
    assert read_models(store, platform.deployment.chain_id) == before


def test_resume_after_crash_and_duplicate_delivery(
    platform, dev_accounts, snapshot, store, w3, artifacts
):
    _populate(platform, dev_accounts)
    chain_id = platform.deployment.chain_id
    first = EmbeddedRunner.build(
        web3_rpc(w3), platform.deployment, store, artifacts, chunk_blocks=2
    )
    first.indexer.poll_once(max_chunks=3)  # then the process "dies"
    cp = store.checkpoint(chain_id)
    assert cp is not None and cp.number < w3.eth.block_number
    partial = store.event_count(chain_id)
    # a new process with a new store object on the same database resumes from the checkpoint
    again = ReadModelStore(store.engine, keep_blocks=64)
    second = EmbeddedRunner.build(
        web3_rpc(w3), platform.deployment, again, artifacts, chunk_blocks=2
    )
    n = second.poll_once()
    assert n == again.event_count(chain_id) - partial > 0
    assert_matches_chain(again, platform, [a.address for a in dev_accounts[:10]])
    # every event delivered again (Kafka-style at-least-once): nothing changes
    before = read_models(again, chain_id)
    events = list(again.events(chain_id))
    assert again.apply_events(events) == 0
    assert again.apply_events(events[5:9] + events[:3]) == 0
    assert read_models(again, chain_id) == before
    assert again.event_count(chain_id) == len(events)


def test_bus_batches_reach_batch_and_per_message_subscribers():
    bus = InProcessBus()
    batches: list[list[tuple[str, dict]]] = []
    singles: list[tuple[str, dict]] = []
    bus.subscribe_batch("t", lambda msgs: batches.append(list(msgs)))
    bus.subscribe("t", lambda k, v: singles.append((k, v)))
    bus.subscribe_batch("other", lambda msgs: pytest.fail("wrong topic"))
    bus.publish_batch("t", [(f"k{i}", {"i": i}) for i in range(3)])
    bus.publish("t", "k3", {"i": 3})  # a single message is a batch of one
    bus.publish_batch("t", [])
    assert batches == [[(f"k{i}", {"i": i}) for i in range(3)], [("k3", {"i": 3})]]
    assert singles == [(f"k{i}", {"i": i}) for i in range(4)]
    assert bus.published["t"] == 4
    with pytest.raises(TypeError):  # the same checks as publish, before anything is delivered
        bus.publish_batch("t", [("k", {"ok": 1}), ("k", {"when": object()})])
    assert bus.published["t"] == 4

    def broken(msgs):
        raise RuntimeError("subscriber bug")

    bus.subscribe_batch("t", broken)
    bus.publish_batch("t", [("k", {"i": 5})])
    assert bus.handler_errors == 1 and singles[-1] == ("k", {"i": 5})


class _PlainBus:
    """A bus with per-message delivery only (what a Kafka-like bus offers)."""

    def __init__(self) -> None:
        self.inner = InProcessBus()

    def publish(self, topic, key, value):
        self.inner.publish(topic, key, value)

    def subscribe(self, topic, handler):
        self.inner.subscribe(topic, handler)


def test_runner_projects_the_same_on_a_bus_without_batches(
    platform, dev_accounts, snapshot, store, w3, artifacts
):
    _populate(platform, dev_accounts)
    bus = _PlainBus()
    assert not isinstance(bus, BatchBus) and isinstance(InProcessBus(), BatchBus)
    projector = Projector(bus, store)
    indexer = Indexer.for_deployment(
        web3_rpc(w3), platform.deployment, artifacts, BusSink(bus, store), chunk_blocks=4
    )
    assert indexer.poll_once() == store.event_count(platform.deployment.chain_id) > 20
    assert projector.last_error is None
    assert_matches_chain(store, platform, [a.address for a in dev_accounts[:10]])


def test_indexer_refuses_wrong_chain(platform, store, w3, artifacts):
    with pytest.raises(IndexerError, match="chain 999"):
        Indexer(web3_rpc(w3), 999, {}, artifacts, store)


def test_confirmations_hold_back_recent_blocks(
    platform, dev_accounts, snapshot, store, w3, artifacts
):
    _populate(platform, dev_accounts)
    runner = EmbeddedRunner.build(
        web3_rpc(w3), platform.deployment, store, artifacts, confirmations=3
    )
    runner.poll_once()
    cp = store.checkpoint(platform.deployment.chain_id)
    assert cp is not None and cp.number == w3.eth.block_number - 3


@settings(max_examples=60, deadline=None)
@given(
    who=st.binary(min_size=20, max_size=20),
    amount=st.integers(0, 2**256 - 1),
    signed=st.integers(-(2**255), 2**255 - 1),
    flag=st.booleans(),
    tag=st.binary(min_size=4, max_size=4),
)
def test_fast_word_decoding_equals_eth_abi(who, amount, signed, flag, tag):
    """The one-word fast path gives what eth_abi gives (made JSON-safe)."""
    inputs = [
        {"name": "who", "type": "address", "indexed": True},
        {"name": "amount", "type": "uint256", "indexed": True},
        {"name": "signed", "type": "int256", "indexed": False},
        {"name": "flag", "type": "bool", "indexed": False},
        {"name": "tag", "type": "bytes4", "indexed": False},
    ]
    abi = [{"type": "event", "name": "E", "anonymous": False, "inputs": inputs}]
    dec = EventDecoder({"Thing": _artifact_with(abi)}, {})
    topic0 = "0x" + keccak(text="E(address,uint256,int256,bool,bytes4)").hex()
    raw = {
        "address": "0x" + "cd" * 20,
        "topics": [
            topic0,
            "0x" + encode(["address"], [who]).hex(),
            "0x" + encode(["uint256"], [amount]).hex(),
        ],
        "data": "0x" + encode(["int256", "bool", "bytes4"], [signed, flag, tag]).hex(),
        "blockNumber": "0x1",
        "blockHash": "0x" + "22" * 32,
        "transactionHash": "0x" + "33" * 32,
        "logIndex": "0x0",
    }
    ev = dec.decode(1, raw)
    values = decode(
        ["address", "uint256", "int256", "bool", "bytes4"],
        bytes.fromhex(raw["topics"][1][2:] + raw["topics"][2][2:] + raw["data"][2:]),
    )
    expected = {p["name"]: json_safe(p, v) for p, v in zip(inputs, values, strict=True)}
    assert ev is not None and ev.args == expected
    # a malformed word (address with dirty padding) is refused like eth_abi refuses it
    bad = {**raw, "topics": [topic0, "0x" + "ff" * 32, raw["topics"][2]]}
    with pytest.raises(IndexerError):
        dec.decode(1, bad)
