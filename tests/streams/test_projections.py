"""Projection properties (hypothesis): duplicates change nothing, a rollback plus re-apply and a
rebuild from the stored events equal incremental application; plus the registry's rules."""

from __future__ import annotations

import itertools
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chain.indexer import BlockRef, ChainEvent
from streams.db import open_database
from streams.errors import StaleEventError, UnknownProjectionError
from streams.projection import Projection, ProjectionRegistry
from streams.registry import default_registry
from streams.store import ReadModelStore
from tests.streams.helpers import (
    ACCOUNTS,
    MARKET_KINDS,
    TOKEN,
    ZERO,
    _chain,
    _hash,
    read_models,
)

_chain_ids = itertools.count(1000)
KINDS = [
    "register",
    "deactivate",
    "reactivate",
    "delegate",
    "revoke",
    "mint",
    "burn",
    "transfer",
    *MARKET_KINDS,
]
ops = st.lists(
    st.tuples(
        st.sampled_from(KINDS),
        st.integers(0, 4),
        st.integers(0, 4),
        st.one_of(st.integers(1, 10**6), st.integers(2**60, 2**200)),
        st.booleans(),
    ),  # True: the event starts a new block
    min_size=1,
    max_size=25,
)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def prop_store(request, tmp_path_factory):
    """One database per backend for all examples; each example uses fresh chain ids."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('props') / 'p.sqlite'}"
    else:
        url = request.getfixturevalue("pg_server").create_database()
    store = ReadModelStore(open_database(url))
    yield store
    store.engine.dispose()


def _apply_in_order(store, events):
    """One chunk per block, like the indexer."""
    for block, group in itertools.groupby(events, key=lambda e: e.block_number):
        group = list(group)
        store.apply_chunk(group[0].chain_id, group, BlockRef(block, group[0].block_hash))


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(spec=ops, data=st.data())
def test_duplicates_change_nothing(prop_store, spec, data):
    once_id, dup_id = next(_chain_ids), next(_chain_ids)
    _apply_in_order(prop_store, _chain(once_id, spec))
    events = _chain(dup_id, spec)
    # at-least-once delivery: each event one or more times, in batches of any size
    repeats = data.draw(st.lists(st.integers(1, 3), min_size=len(events), max_size=len(events)))
    delivered = [e for e, n in zip(events, repeats, strict=True) for _ in range(n)]
    cut = data.draw(st.integers(0, len(delivered)))
    prop_store.apply_events(delivered[:cut])
    prop_store.apply_events(delivered[cut:])
    prop_store.apply_events(delivered)  # and the whole stream once more
    once, dup = read_models(prop_store, once_id), read_models(prop_store, dup_id)
    assert once == dup
    assert prop_store.event_count(dup_id) == len(events)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(spec=ops, other=ops, data=st.data())
def test_rollback_and_rebuild_equal_incremental(prop_store, spec, other, data):
    inc_id, reorg_id = next(_chain_ids), next(_chain_ids)
    main = _chain(inc_id, spec)
    _apply_in_order(prop_store, main)
    # the same history, but with an orphaned branch applied first and rolled back
    base = _chain(reorg_id, spec)
    keep_upto = data.draw(st.integers(0, base[-1].block_number))
    kept = [e for e in base if e.block_number <= keep_upto]
    _apply_in_order(prop_store, kept)
    orphan = _chain(reorg_id, other, branch=7, first_block=keep_upto + 1)
    _apply_in_order(prop_store, orphan)
    ancestor = BlockRef(keep_upto, _hash(keep_upto)) if keep_upto else None
    prop_store.rollback(reorg_id, ancestor)
    _apply_in_order(prop_store, [e for e in base if e.block_number > keep_upto])
    assert read_models(prop_store, reorg_id) == read_models(prop_store, inc_id)
    assert [e.position for e in prop_store.events(reorg_id)] == [e.position for e in main]
    # rebuild of every projection from the stored events equals incremental
    for name in prop_store.registry.names:
        prop_store.replay_projection(name, inc_id)
    assert read_models(prop_store, inc_id) == read_models(prop_store, reorg_id)


def test_balances_are_exact_beyond_64_bits(store):
    big = 2**200 + 12345
    evs = [
        ChainEvent(
            1,
            1,
            _hash(1),
            _hash(1, 9),
            0,
            TOKEN,
            "FlexToken",
            "Transfer",
            {"from": ZERO, "to": ACCOUNTS[0], "value": str(big)},
        ),
        ChainEvent(
            1,
            1,
            _hash(1),
            _hash(1, 9),
            1,
            TOKEN,
            "FlexToken",
            "Transfer",
            {"from": ACCOUNTS[0], "to": ACCOUNTS[1], "value": 5},
        ),
    ]
    store.apply_chunk(1, evs, BlockRef(1, _hash(1)))
    models = read_models(store, 1)
    assert models["balances"][(TOKEN, ACCOUNTS[0])] == big - 5
    assert models["balances"][(TOKEN, ACCOUNTS[1])] == 5
    assert models["supplies"][TOKEN] == big


def test_event_from_another_branch_at_a_stored_position_is_refused(store):
    ev = _chain(1, [("mint", 0, 0, 5, False)])[0]
    store.apply_chunk(1, [ev], BlockRef(1, ev.block_hash))
    other = ChainEvent(**{**ev.to_dict(), "block_hash": _hash(1, 3)})
    # its block is remembered with another hash: an orphaned event, skipped
    assert store.apply_events([other]) == 0
    # a position stored with a hash that is not the remembered one: refused
    with store.sessions.begin() as s:
        from sqlalchemy import delete

        from streams.models import IndexedBlock

        s.execute(delete(IndexedBlock))
        s.add(IndexedBlock(chain_id=1, number=1, hash=_hash(1, 4)))
    with pytest.raises(StaleEventError, match="block 1 log 0"):
        store.apply_events([other])


def test_registry_rules():
    p = Projection("things", tables=("participants",))

    @p.on("FlexMarket", "BidPlaced")
    def handler(event, session):  # pragma: no cover - only registered
        pass

    with pytest.raises(ValueError, match="already handles"):
        p.on("FlexMarket", "BidPlaced")(handler)
    reg = ProjectionRegistry([p])
    with pytest.raises(ValueError, match="registered already"):
        reg.register(Projection("things", tables=()))
    with pytest.raises(ValueError, match="no read-model table"):
        reg.register(Projection("other", tables=("no_such_table",)))
    with pytest.raises(UnknownProjectionError, match="things"):
        reg.get("nope")
    assert [x.name for x in reg.affected_by([("FlexMarket", "BidPlaced")])] == ["things"]
    assert default_registry().names == [
        "participants",
        "token_balances",
        "market",
        "oracles",
        "coordination",
    ]


def test_concurrent_writers_apply_each_event_once(store):
    """Kafka workers of one consumer group write at the same time, and after a rebalance two of
    them may hold the same events: four writers each apply the whole stream (in chain order,
    in batches of their own size) at once. Every event counts once, no additive update is
    lost, the checkpoint ends at the last event, and no writer fails."""
    chain_id, expected_id = next(_chain_ids), next(_chain_ids)
    spec = [("register", a, 0, 3, False) for a in range(5)]
    spec += [
        (("mint", "transfer", "burn")[i % 3], i % 5, (i * 3 + 1) % 5, 2**61 + i, i % 4 == 0)
        for i in range(150)
    ]
    events = _chain(chain_id, spec)
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def writer(batch: int) -> None:
        try:
            start.wait()
            for lo in range(0, len(events), batch):
                store.apply_events(events[lo : lo + batch])
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in (5, 7, 11, 40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    _apply_in_order(store, _chain(expected_id, spec))
    got = read_models(store, chain_id)
    assert got == read_models(store, expected_id)
    assert got["balances"] and got["supplies"]
    assert store.event_count(chain_id) == len(events)
    assert store.checkpoint(chain_id) == BlockRef(events[-1].block_number, events[-1].block_hash)
