"""The at-scale read side on one machine: indexer -> Kafka ``chain.events`` -> faust workers.

What ``bright up --bus kafka`` (``make demo BUS=kafka``) runs: a local KRaft broker, the
indexer publishing each chunk through :class:`~streams.kafka.publisher.KafkaSink` (its own
ledger database keeps its checkpoint), and ``workers`` faust worker processes in one consumer
group applying the same projections to the read models.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from chain.compiler import Artifact
from chain.deploy import Deployment
from chain.indexer import Indexer, RpcCall
from core.paths import ROOT
from streams.db import open_database
from streams.errors import ReadModelError
from streams.kafka.broker import KafkaBroker
from streams.kafka.publisher import KafkaPublisher, KafkaSink
from streams.projection import ProjectionRegistry
from streams.store import ReadModelStore


class KafkaReadSide:
    """Broker, publishing indexer and faust workers; ``stop()`` stops what it started."""

    def __init__(
        self,
        rpc: RpcCall,
        deployment: Deployment,
        artifacts: dict[str, Artifact],
        database_url: str,
        state_dir: Path,
        workers: int = 2,
        confirmations: int = 0,
    ) -> None:
        self.rpc = rpc
        self.deployment = deployment
        self.artifacts = artifacts
        self.database_url = database_url
        self.state_dir = state_dir
        self.workers = workers
        self.confirmations = confirmations
        self.broker: KafkaBroker | None = None
        self.publisher: KafkaPublisher | None = None
        self.indexer: Indexer | None = None
        self._procs: list[subprocess.Popen[bytes]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, poll_interval_s: float = 0.5) -> KafkaReadSide:
        self.broker = KafkaBroker(self.state_dir / "kafka").start()
        self.publisher = KafkaPublisher(self.broker.bootstrap)
        ledger = ReadModelStore(
            open_database(f"sqlite:///{self.state_dir / 'kafka_ledger.sqlite'}"),
            registry=ProjectionRegistry(),
        )
        self.indexer = Indexer.for_deployment(
            self.rpc,
            self.deployment,
            self.artifacts,
            KafkaSink(self.publisher, ledger),
            confirmations=self.confirmations,
        )
        self.indexer.poll_once()
        # migrated here, once, before the workers open it (two workers migrating a fresh
        # PostgreSQL database at the same time would collide on its first CREATE TABLE)
        models = ReadModelStore(open_database(self.database_url))
        for n in range(self.workers):
            env = {
                **os.environ,
                "BRIGHT_KAFKA_URL": self.broker.url,
                "BRIGHT_DATABASE_URL": self.database_url,
                "BRIGHT_FAUST_DATADIR": str(self.state_dir / f"faust-{n}"),
            }
            self.state_dir.mkdir(parents=True, exist_ok=True)
            log = (self.state_dir / f"faust-{n}.log").open("ab")
            self._procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "streams.kafka.agents",
                        "worker",
                        "-l",
                        "warn",
                        "--without-web",
                    ],
                    cwd=ROOT,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
            log.close()
        try:
            self._wait_caught_up(ledger, models)
        finally:
            models.engine.dispose()
        indexer = self.indexer
        self._thread = threading.Thread(
            target=indexer.run,
            args=(self._stop, poll_interval_s),
            name="kafka-indexer",
            daemon=True,
        )
        self._thread.start()
        return self

    def _wait_caught_up(
        self, ledger: ReadModelStore, models: ReadModelStore, timeout_s: float = 120.0
    ) -> None:
        """Return once the workers have projected what the indexer published so far (they
        need a few seconds to join their consumer group), so the read side starts complete."""
        chain_id = self.deployment.chain_id
        published = ledger.event_count(chain_id)
        deadline = time.monotonic() + timeout_s
        while models.event_count(chain_id) < published:
            if time.monotonic() > deadline:
                raise ReadModelError(
                    f"the faust workers projected {models.event_count(chain_id)} of {published} "
                    f"events in {timeout_s:.0f} s; see `bright kafka status`"
                )
            for n, p in enumerate(self._procs):
                if p.poll() is not None:
                    log = self.state_dir / f"faust-{n}.log"
                    tail = log.read_text(errors="replace")[-1500:] if log.exists() else ""
                    raise ReadModelError(f"faust worker {n} exited at start ({log}):\n{tail}")
            time.sleep(0.2)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        for proc in self._procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
        if self.publisher is not None:
            self.publisher.close()
        if self.broker is not None:
            self.broker.stop()
