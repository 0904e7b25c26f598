"""The indexer's Kafka side: chunks published to ``chain.events``, keyed by aggregate.

:class:`KafkaPublisher` is a synchronous face on an aiokafka producer (its own event loop in a
thread) that waits for the broker's acks (``acks=all``, idempotent producer). :class:`KafkaSink`
is the indexer's sink: it publishes a chunk's events, then records them with the checkpoint in
its *ledger*, a :class:`~streams.store.ReadModelStore` without projections (the publisher's own
event log). A crash between the two re-publishes the chunk: the consumers are idempotent.

Reorgs: the sink publishes a ``rollback`` record, carrying the orphaned blocks' hashes, to every
partition, so each partition's consumer sees it in order with that partition's events; the
consumers then delete exactly those blocks' events (``ReadModelStore.rollback_blocks``), which
is safe in any order relative to the new branch's events (their block hashes differ).
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaProducer

from chain.indexer import BlockRef, ChainEvent, IndexerSink
from streams.errors import ReadModelError
from streams.store import ReadModelStore

CHAIN_EVENTS_TOPIC = "chain.events"


class KafkaPublisher:
    """Blocking publish of keyed JSON records to Kafka."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="kafka-publisher", daemon=True
        )
        self._thread.start()
        self._producer: AIOKafkaProducer | None = None
        self._run(self._start())

    def _run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=120)

    async def _start(self) -> None:
        self._producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap,
            acks="all",
            enable_idempotence=True,
            linger_ms=5,
            max_batch_size=1 << 20,
            key_serializer=lambda k: k.encode(),
            value_serializer=lambda v: json.dumps(v).encode(),
        )
        await self._producer.start()

    def partitions(self, topic: str) -> list[int]:
        async def get() -> list[int]:
            assert self._producer is not None
            parts = await self._producer.partitions_for(topic)
            return sorted(parts)

        return list(self._run(get()))

    def send_many(
        self, topic: str, records: Sequence[tuple[str, dict[str, Any], int | None]]
    ) -> None:
        """Send ``(key, value, partition or None)`` records and wait until all are acked."""

        async def send() -> None:
            assert self._producer is not None
            futures = [
                await self._producer.send(topic, value=v, key=k, partition=p) for k, v, p in records
            ]
            await asyncio.gather(*futures)

        try:
            self._run(send())
        except Exception as exc:
            raise ReadModelError(
                f"publishing {len(records)} records to {topic} failed: {exc}"
            ) from exc

    def close(self) -> None:
        if self._producer is not None:
            self._run(self._producer.stop())
            self._producer = None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


def event_record(event: ChainEvent) -> dict[str, Any]:
    return {"kind": "event", **event.to_dict()}


class KafkaSink(IndexerSink):
    """An indexer sink that publishes to Kafka and keeps its position in ``ledger``."""

    def __init__(
        self, publisher: KafkaPublisher, ledger: ReadModelStore, topic: str = CHAIN_EVENTS_TOPIC
    ):
        if ledger.registry.names:
            raise ValueError("the publisher's ledger must have no projections")
        self.publisher = publisher
        self.ledger = ledger
        self.topic = topic

    def checkpoint(self, chain_id: int) -> BlockRef | None:
        return self.ledger.checkpoint(chain_id)

    def recent_blocks(self, chain_id: int) -> list[BlockRef]:
        return self.ledger.recent_blocks(chain_id)

    def apply_chunk(
        self, chain_id: int, events: Sequence[ChainEvent], tip: BlockRef, blocks: Sequence[BlockRef]
    ) -> None:
        self.publisher.send_many(
            self.topic, [(e.aggregate_key, event_record(e), None) for e in events]
        )
        self.ledger.apply_chunk(chain_id, events, tip, blocks)

    def rollback(self, chain_id: int, ancestor: BlockRef | None) -> None:
        orphaned = self.ledger.hashes_above(chain_id, ancestor.number if ancestor else -1)
        record = {
            "kind": "rollback",
            "chain_id": chain_id,
            "orphaned": orphaned,
            "ancestor": None if ancestor is None else [ancestor.number, ancestor.hash],
        }
        parts = self.publisher.partitions(self.topic)
        self.publisher.send_many(self.topic, [(f"rollback:{chain_id}", record, p) for p in parts])
        self.ledger.rollback(chain_id, ancestor)
