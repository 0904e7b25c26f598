"""The embedded read side: indexer, in-process bus and projections in one process.

::

    chain --eth_getLogs--> Indexer --BusSink--> bus "chain.events" (one message per log,
                                                  keyed by aggregate)
                                           --> bus "chain.blocks" (chunk tips, rollbacks)
                                                  |
                                              Projector --> ReadModelStore (SQL)

On a :class:`~streams.bus.BatchBus` (the in-process one) a chunk's event messages travel in
batches of :data:`BUS_BATCH`, one dispatch each; on any other bus, one by one.

The indexer reads its checkpoint from the store, so whatever the projector committed is where
it resumes. The projector buffers a chunk's events until the chunk's tip message and applies
them with the checkpoint in one transaction. A Kafka bus replaces the in-process one without
changes here (the messages are JSON); its consumers call the same store.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from chain.compiler import Artifact, load_artifacts
from chain.deploy import Deployment
from chain.indexer import BlockRef, ChainEvent, Indexer, IndexerSink, RpcCall
from streams.bus import BatchBus, Bus, InProcessBus
from streams.errors import ReadModelError
from streams.store import ReadModelStore

log = logging.getLogger(__name__)

CHAIN_EVENTS_TOPIC = "chain.events"
CHAIN_BLOCKS_TOPIC = "chain.blocks"
BUS_BATCH = 1000
"""Events per ``chain.events`` batch on a :class:`~streams.bus.BatchBus`: one dispatch per
thousand events, and a batch's message dicts are gone before the next batch is built (a
50,000-event chunk's messages alive at once would cost the garbage collector several full
passes)."""


class BusSink(IndexerSink):
    """An :class:`IndexerSink` that publishes chunks on a bus; the checkpoint and the block
    hashes are read back from the store the projector writes."""

    def __init__(self, bus: Bus, store: ReadModelStore) -> None:
        self.bus = bus
        self.store = store

    def checkpoint(self, chain_id: int) -> BlockRef | None:
        return self.store.checkpoint(chain_id)

    def recent_blocks(self, chain_id: int) -> list[BlockRef]:
        return self.store.recent_blocks(chain_id)

    def apply_chunk(
        self, chain_id: int, events: Sequence[ChainEvent], tip: BlockRef, blocks: Sequence[BlockRef]
    ) -> None:
        if isinstance(self.bus, BatchBus):  # one dispatch per BUS_BATCH events
            for lo in range(0, len(events), BUS_BATCH):
                self.bus.publish_batch(
                    CHAIN_EVENTS_TOPIC,
                    [(e.aggregate_key, e.to_dict()) for e in events[lo : lo + BUS_BATCH]],
                )
        else:
            for e in events:
                self.bus.publish(CHAIN_EVENTS_TOPIC, e.aggregate_key, e.to_dict())
        self.bus.publish(
            CHAIN_BLOCKS_TOPIC,
            str(chain_id),
            {
                "kind": "tip",
                "chain_id": chain_id,
                "number": tip.number,
                "hash": tip.hash,
                "blocks": [[b.number, b.hash] for b in blocks],
            },
        )

    def rollback(self, chain_id: int, ancestor: BlockRef | None) -> None:
        self.bus.publish(
            CHAIN_BLOCKS_TOPIC,
            str(chain_id),
            {
                "kind": "rollback",
                "chain_id": chain_id,
                "ancestor": None if ancestor is None else [ancestor.number, ancestor.hash],
            },
        )


class Projector:
    """Subscribes to the chain topics of a bus and applies them to a store."""

    def __init__(self, bus: Bus, store: ReadModelStore) -> None:
        self.store = store
        self._pending: dict[int, list[ChainEvent]] = {}
        self._lock = threading.Lock()
        self.last_error: BaseException | None = None
        if isinstance(bus, BatchBus):
            bus.subscribe_batch(CHAIN_EVENTS_TOPIC, self._on_events)
        else:
            bus.subscribe(CHAIN_EVENTS_TOPIC, self._on_event)
        bus.subscribe(CHAIN_BLOCKS_TOPIC, self._on_block)

    def _on_event(self, _key: str, value: dict[str, Any]) -> None:
        event = ChainEvent.from_dict(value)
        with self._lock:
            self._pending.setdefault(event.chain_id, []).append(event)

    def _on_events(self, messages: Sequence[tuple[str, dict[str, Any]]]) -> None:
        events = [ChainEvent.from_dict(value) for _key, value in messages]
        with self._lock:
            for event in events:
                self._pending.setdefault(event.chain_id, []).append(event)

    def _on_block(self, _key: str, value: dict[str, Any]) -> None:
        chain_id = int(value["chain_id"])
        with self._lock:
            events = self._pending.pop(chain_id, [])
        try:
            if value["kind"] == "tip":
                blocks = [BlockRef(int(n), str(h)) for n, h in value.get("blocks", [])]
                self.store.apply_chunk(
                    chain_id, events, BlockRef(int(value["number"]), str(value["hash"])), blocks
                )
            elif value["kind"] == "rollback":
                anc = value.get("ancestor")
                self.store.rollback(
                    chain_id, None if anc is None else BlockRef(int(anc[0]), anc[1])
                )
            else:
                raise ReadModelError(f"unknown chain.blocks message kind {value['kind']!r}")
        except Exception as exc:
            self.last_error = exc
            raise


@dataclass
class EmbeddedRunner:
    """Indexer + in-process bus + projector for one deployment.

    ``poll_once()`` indexes up to the head now; ``start()`` follows the chain in a thread
    until ``stop()``.
    """

    indexer: Indexer
    store: ReadModelStore
    bus: InProcessBus
    projector: Projector

    @classmethod
    def build(
        cls,
        rpc: RpcCall,
        deployment: Deployment,
        store: ReadModelStore,
        artifacts: Mapping[str, Artifact] | None = None,
        confirmations: int = 0,
        chunk_blocks: int = 2000,
        bus: InProcessBus | None = None,
    ) -> EmbeddedRunner:
        # ChainEvent records are JSON-safe by construction: skip the bus's per-message check.
        bus = bus or InProcessBus(check_json=False)
        projector = Projector(bus, store)
        indexer = Indexer.for_deployment(
            rpc,
            deployment,
            artifacts if artifacts is not None else load_artifacts(),
            BusSink(bus, store),
            confirmations=confirmations,
            chunk_blocks=chunk_blocks,
        )
        runner = cls(indexer, store, bus, projector)
        runner._stop = threading.Event()
        runner._thread = None
        return runner

    _stop: threading.Event | None = None
    _thread: threading.Thread | None = None
    error: BaseException | None = None

    def poll_once(self) -> int:
        try:
            return self.indexer.poll_once()
        except Exception as exc:
            if self.projector.last_error is not None:
                raise ReadModelError(f"projector failed: {self.projector.last_error}") from exc
            raise

    def start(self, poll_interval_s: float = 0.5) -> EmbeddedRunner:
        if self._thread is not None:
            return self
        self._stop = threading.Event()

        def loop() -> None:
            assert self._stop is not None
            try:
                self.indexer.run(self._stop, poll_interval_s)
            except BaseException as exc:
                self.error = exc
                log.exception("indexer stopped")

        self._thread = threading.Thread(target=loop, name="bright-indexer", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        if self._stop is not None:
            self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None
