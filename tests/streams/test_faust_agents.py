"""The faust agent (``agent.test_context()``, no broker) and the whole Kafka path on a real
broker: indexer -> Kafka ``chain.events`` -> two faust workers -> read models in SQLite or in
PostgreSQL, with a worker killed mid-stream, the broker stopped and started, and a reorg; the
result must equal a rebuild from block 0."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid

import pytest

from chain.anvil import Anvil
from chain.deploy import deploy_platform
from chain.domain import Role
from chain.indexer import BlockRef, Indexer, web3_rpc
from chain.platform import Platform, connect, dev_accounts, make_sender
from chain.tx import NonceManager
from core.paths import ROOT
from core.settings import DEV_MNEMONIC
from streams.db import open_database
from streams.kafka.agents import apply_records, make_app
from streams.kafka.broker import KafkaBroker
from streams.kafka.publisher import KafkaPublisher, KafkaSink, event_record
from streams.projection import ProjectionRegistry
from streams.runner import EmbeddedRunner
from streams.store import ReadModelStore
from tests.streams.helpers import _chain, read_models


def _records(chain_id):
    spec = [
        ("register", 0, 1, 1, False),
        ("mint", 0, 0, 2**70, True),
        ("transfer", 0, 1, 5, False),
        ("delegate", 1, 0, 1, True),
        ("burn", 1, 0, 2, False),
        ("deactivate", 0, 0, 1, True),
    ]
    return _chain(chain_id, spec)


def test_agent_with_test_context(tmp_path):
    url = f"sqlite:///{tmp_path / 'faust.sqlite'}"
    app = make_app(
        "kafka://127.0.0.1:1", url, app_id=f"t-{uuid.uuid4().hex[:6]}", datadir=tmp_path / "faust"
    )
    agent = app.agents["project"]
    events = _records(7)

    async def deliver():
        async with agent.test_context() as a:
            for e in events:
                await a.put(event_record(e))
            for e in events[2:5]:  # redelivered after a restart
                await a.put(event_record(e))
            return dict(a.results)

    results = asyncio.run(deliver())
    assert sum(results.values()) == len(events)  # the redeliveries applied nothing
    expected = ReadModelStore(open_database(f"sqlite:///{tmp_path / 'direct.sqlite'}"))
    for e in events:
        expected.apply_chunk(7, [e], BlockRef(e.block_number, e.block_hash))
    assert read_models(app.read_model_store(), 7) == read_models(expected, 7)
    assert read_models(expected, 7)["supplies"]  # not trivially empty


def test_rollback_record_removes_exactly_the_orphaned_blocks(store):
    events = _records(9)
    apply_records(store, [event_record(e) for e in events])
    last = events[-1]
    orphan = {"kind": "rollback", "chain_id": 9, "orphaned": [last.block_hash], "ancestor": None}
    apply_records(store, [orphan, orphan])  # one copy per partition
    kept = [e for e in events if e.block_hash != last.block_hash]
    assert [x.position for x in store.events(9)] == [x.position for x in kept]
    fresh = ReadModelStore(store.engine)
    assert read_models(fresh, 9)["participants"][kept[0].args["account"]][3] is True


def _worker(env):
    return subprocess.Popen(
        [sys.executable, "-m", "streams.kafka.agents", "worker", "-l", "warn", "--without-web"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def _wait_equal(store, expected_store, chain_id, timeout_s=60):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if read_models(store, chain_id) == read_models(
            expected_store, chain_id
        ) and store.event_count(chain_id) == expected_store.event_count(chain_id):
            return
        time.sleep(0.3)
    assert read_models(store, chain_id) == read_models(expected_store, chain_id)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_kafka_path_end_to_end(backend, request, tmp_path, artifacts):
    """Two faust workers project into SQLite, or into the test PostgreSQL server (where they
    write at the same time); after each disturbance the read models equal a rebuild from
    block 0 into a fresh database of the same kind."""
    import tempfile
    from pathlib import Path

    def new_database(name):
        if backend == "sqlite":
            return f"sqlite:///{tmp_path / name}.sqlite"
        return request.getfixturevalue("pg_server").create_database()

    state = Path(tempfile.mkdtemp(prefix="bright-kafka-test-"))
    broker = KafkaBroker(state).start()
    node = Anvil(accounts=12).start()
    publisher = None
    workers = []
    try:
        w3 = connect(node.url)
        accounts = dev_accounts(DEV_MNEMONIC, 12)
        deployment = deploy_platform(w3, make_sender(w3, accounts[0], artifacts), artifacts)
        platform = Platform(w3, deployment, artifacts)
        reg, tok = platform.registry(accounts[0]), platform.token(accounts[0])
        reg.register_batch(
            [(a.address, Role.PROSUMER, "f-1", f"m-{i}") for i, a in enumerate(accounts[1:5])]
        )
        tok.mint_batch([(a.address, 10**6 + i) for i, a in enumerate(accounts[1:5])])

        publisher = KafkaPublisher(broker.bootstrap)
        ledger = ReadModelStore(
            open_database(f"sqlite:///{tmp_path / 'ledger.sqlite'}"), registry=ProjectionRegistry()
        )
        indexer = Indexer.for_deployment(
            web3_rpc(w3), deployment, artifacts, KafkaSink(publisher, ledger)
        )
        indexer.poll_once()

        db_url = new_database("kafka_models")
        models = ReadModelStore(open_database(db_url))  # migrated before the workers start

        def env(n):
            return {
                **os.environ,
                "BRIGHT_KAFKA_URL": broker.url,
                "BRIGHT_DATABASE_URL": db_url,
                "BRIGHT_FAUST_DATADIR": str(tmp_path / f"faust-{n}"),
            }

        # two workers in one consumer group share the partitions
        workers = [_worker(env(1)), _worker(env(2))]

        def rebuilt(name):
            s = ReadModelStore(open_database(new_database(name)))
            EmbeddedRunner.build(web3_rpc(w3), deployment, s, artifacts).poll_once()
            return s

        _wait_equal(models, rebuilt("r1"), deployment.chain_id)

        # kill a worker mid-stream: the other takes its partitions; then it comes back
        os.killpg(workers[0].pid, signal.SIGKILL)
        workers[0].wait()
        for a in accounts[5:9]:
            reg.register(a.address, Role.PROSUMER, "f-2", "m-x" + a.address[-4:])
            tok.mint(a.address, 77)
        indexer.poll_once()
        workers[0] = _worker(env(1))
        _wait_equal(models, rebuilt("r2"), deployment.chain_id)

        # stop the broker mid-stream and start it again on the same log
        broker.stop()
        tok.mint(accounts[10].address, 11)
        broker.start()
        indexer.poll_once()
        _wait_equal(models, rebuilt("r3"), deployment.chain_id)

        # a reorg: the rollback record reaches every partition, the new branch follows
        w3.provider.make_request("anvil_reorg", [3, []])
        NonceManager.reset_all()
        tok.mint(accounts[9].address, 5)
        indexer.poll_once()
        assert indexer.stats.reorgs == 1
        _wait_equal(models, rebuilt("r4"), deployment.chain_id)
    finally:
        if publisher is not None:
            publisher.close()
        for w in workers:
            if w.poll() is None:
                os.killpg(w.pid, signal.SIGKILL)
                w.wait()
        node.stop()
        broker.stop()
