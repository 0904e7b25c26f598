"""faust-streaming agents that apply the projections to the read models from ``chain.events``.

``make_app(broker, database_url)`` builds the faust app; its agent ``project`` takes the
records in batches (up to 500, or what arrived within 0.2 s) and hands them to
:func:`apply_records`, which calls the same :class:`~streams.store.ReadModelStore` as the
embedded runner. Offsets are committed after processing, so delivery is at-least-once: a
restarted worker sees a few records again, which the store's idempotency absorbs. Several
workers in one consumer group (the app id) share the partitions.

Run a worker: ``python -m streams.kafka.agents worker -l warn`` with ``BRIGHT_KAFKA_URL``
(``kafka://127.0.0.1:9092``) and ``BRIGHT_DATABASE_URL`` set.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import faust

from chain.indexer import ChainEvent
from core.settings import state_dir
from streams.db import open_database
from streams.errors import ReadModelError
from streams.kafka.publisher import CHAIN_EVENTS_TOPIC
from streams.store import ReadModelStore

BATCH = 500
BATCH_WITHIN_S = 0.2


def apply_records(store: ReadModelStore, records: Iterable[Mapping[str, Any]]) -> int:
    """Apply ``chain.events`` records in order: runs of events in one transaction each,
    rollbacks as they come. Returns the new events applied."""
    new = 0
    run: list[ChainEvent] = []
    for rec in records:
        kind = rec.get("kind", "event")
        if kind == "event":
            run.append(ChainEvent.from_dict(rec))
            continue
        if run:
            new += store.apply_events(run)
            run = []
        if kind == "rollback":
            store.rollback_blocks(int(rec["chain_id"]), list(rec.get("orphaned", [])))
        else:
            raise ReadModelError(f"unknown chain.events record kind {kind!r}")
    if run:
        new += store.apply_events(run)
    return new


def make_app(
    broker: str,
    database_url: str,
    app_id: str = "bright-read-models",
    datadir: Path | None = None,
) -> faust.App:
    """The faust app with the projection agent (``app.agents['...project']``)."""
    datadir = datadir or state_dir() / "faust"
    datadir.mkdir(parents=True, exist_ok=True)  # faust does not create the parent folder
    app = faust.App(
        app_id,
        broker=broker,
        store="memory://",
        datadir=str(datadir),
        web_enabled=False,
        topic_partitions=4,
        consumer_auto_offset_reset="earliest",
        # a killed worker's partitions move to the others within seconds, not a minute
        broker_session_timeout=6.0,
        broker_heartbeat_interval=1.0,
    )
    topic = app.topic(CHAIN_EVENTS_TOPIC, value_serializer="json", key_serializer="raw")
    state: dict[str, ReadModelStore] = {}

    def store() -> ReadModelStore:
        if "store" not in state:
            state["store"] = ReadModelStore(open_database(database_url))
        return state["store"]

    @app.agent(topic, name="project")
    async def project(stream: Any) -> Any:
        async for batch in stream.take(BATCH, within=BATCH_WITHIN_S):
            n = apply_records(store(), batch)
            yield n

    app.read_model_store = store  # type: ignore[attr-defined]
    return app


def _app_from_env() -> faust.App:
    broker = os.environ.get("BRIGHT_KAFKA_URL", "kafka://127.0.0.1:9092")
    from streams.settings import StreamsSettings

    datadir = os.environ.get("BRIGHT_FAUST_DATADIR")
    return make_app(
        broker, StreamsSettings().database_url, datadir=Path(datadir) if datadir else None
    )


if __name__ == "__main__":
    _app_from_env().main()
