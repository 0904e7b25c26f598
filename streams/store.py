"""The read-model store: applies chain events with their checkpoint, rolls back reorgs.

:class:`ReadModelStore` is the indexer's :class:`~chain.indexer.IndexerSink`, and what the bus
projector (and a Kafka consumer) calls. Every call is one database transaction that holds the
events, the read-model updates and the checkpoint together.

Idempotency. An event is applied only if ``chain_events`` has no row with the same chain, block
hash and log index; the row is inserted in the same transaction as the projection's updates.
Delivering an event twice (Kafka's at-least-once, a crash between publish and commit, a chunk
read twice) therefore changes nothing. An event from a block whose remembered hash differs is
from an orphaned branch and is skipped.

Reorg rollback (the approach chosen): the applied events are kept (``chain_events`` is the
event store). ``rollback(ancestor)`` deletes the events and block hashes above the common
ancestor, then, for each projection that handles any of the deleted events' kinds, deletes its
rows and replays its remaining stored events in chain order. Projections that the orphaned
blocks did not touch are left alone. This is correct for any handler whose result depends only
on the events (see :mod:`streams.projections`), including additive ones like balances, needs no
inverse operations or undo log, and is the same code path as adding a projection
(:meth:`ReadModelStore.replay_projection`). Its cost is a replay of the affected projections'
events: reorgs are rare and shallow, so this is paid seldom; a projection with a very long
history would move to per-aggregate replay later.

Throughput. A chunk's events reach ``chain_events`` in one bulk write (PostgreSQL ``COPY``,
SQLite ``executemany``, both on the driver connection, see :func:`insert_events`); handlers
accumulate their writes in the session (:func:`~streams.projections.written_behind`) and send
them once per chunk. ``bright bench indexer`` measures it.

Concurrent writers (Kafka workers of one consumer group on one database). The remembered
blocks and the checkpoint are upserts (the checkpoint moves forward only, decided in the
statement); additive read models add in SQL; rows are written in key order. Two workers may
still hold the same event after a rebalance: the second one's insert then hits the unique keys
(or PostgreSQL picks a deadlock victim), and the whole transaction is tried again, when its
duplicate check skips what the other stored (``ATTEMPTS``).
"""

from __future__ import annotations

import json
import logging
import random
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, cast

import psycopg
from sqlalchemy import Engine, Table, and_, delete, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from chain.indexer import BlockRef, ChainEvent
from streams.db import session_factory
from streams.errors import ReadModelError, StaleEventError
from streams.models import ChainEventRow, IndexCheckpoint, IndexedBlock
from streams.projection import Projection, ProjectionRegistry, flush_pending
from streams.registry import default_registry

log = logging.getLogger(__name__)

_E = cast(Table, ChainEventRow.__table__)
_B = cast(Table, IndexedBlock.__table__)
_C = cast(Table, IndexCheckpoint.__table__)


_EVENT_COLUMNS = (
    "chain_id",
    "block_number",
    "log_index",
    "block_hash",
    "tx_hash",
    "address",
    "contract",
    "event",
    "args",
)
_COPY_EVENTS = f"COPY chain_events ({', '.join(_EVENT_COLUMNS)}) FROM STDIN"
_INSERT_EVENTS = (
    f"INSERT INTO chain_events ({', '.join(_EVENT_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in _EVENT_COLUMNS)})"
)


def insert_events(s: Session, events: Sequence[ChainEvent]) -> None:
    """Store ``events`` in ``chain_events`` inside the session's transaction, in bulk.

    The callers have already left out the events that are stored (the duplicate check of
    :meth:`ReadModelStore._apply`); the table's keys still refuse a duplicate that a concurrent
    writer stored meanwhile (the transaction then fails as a whole and is retried by its
    caller). PostgreSQL gets one ``COPY ... FROM STDIN`` (rows streamed by psycopg's C dumpers,
    the arguments as JSON text the server parses into JSONB); SQLite one ``executemany`` of
    plain tuples on the driver connection. Both skip SQLAlchemy's per-row parameter
    processing, which cost more than the database's work."""
    if not events:
        return
    conn = s.connection()
    raw: Any = conn.connection.driver_connection
    dumps = json.dumps
    rows = (  # streamed: no row outlives its write
        (
            e.chain_id,
            e.block_number,
            e.log_index,
            e.block_hash,
            e.tx_hash,
            e.address,
            e.contract,
            e.event,
            dumps(e.args),
        )
        for e in events
    )
    if conn.dialect.name == "postgresql":
        with raw.cursor() as cur, cur.copy(_COPY_EVENTS) as copy:
            write = copy.write_row
            for row in rows:
                write(row)
    elif conn.dialect.name == "sqlite":
        raw.executemany(_INSERT_EVENTS, rows)
    else:  # make_engine accepts only these two
        raise ReadModelError(f"no bulk insert for {conn.dialect.name}")


ATTEMPTS = 8
"""Tries of a write transaction that met a concurrent writer (see ``_transaction``); between
tries a short random pause, so writers that collided do not collide again in lock step."""

_RETRY_SQLSTATES = {"23505", "40P01", "40001"}  # unique violation, deadlock, serialization


_DB_ERRORS = (SQLAlchemyError, sqlite3.Error, psycopg.Error)


def _concurrent_conflict(exc: Exception) -> bool:
    """A duplicate key or a deadlock: what a concurrent writer of the same rows causes."""
    orig = getattr(exc, "orig", exc)  # SQLAlchemy wraps the driver's error
    state = getattr(orig, "sqlstate", None)
    if state is not None:  # psycopg
        return state in _RETRY_SQLSTATES
    if isinstance(orig, sqlite3.IntegrityError):
        return "UNIQUE constraint failed" in str(orig)
    return False


def _dialect_insert(s: Session) -> Callable[[Table], Any]:
    """INSERT with ``on_conflict_do_*`` for the session's database."""
    return postgresql.insert if s.get_bind().dialect.name == "postgresql" else sqlite.insert


def _position(e: ChainEvent) -> tuple[int, int]:
    return (e.block_number, e.log_index)


def row_to_event(row: Any) -> ChainEvent:
    return ChainEvent(
        chain_id=int(row.chain_id),
        block_number=int(row.block_number),
        block_hash=row.block_hash,
        tx_hash=row.tx_hash,
        log_index=int(row.log_index),
        address=row.address,
        contract=row.contract,
        event=row.event,
        args=dict(row.args),
    )


class ReadModelStore:
    """Read models in one database (SQLite or PostgreSQL), fed by chain events.

    Parameters
    ----------
    engine:
        Engine on a migrated database (:func:`streams.db.open_database`).
    registry:
        The projections to apply (default: :func:`~streams.projections.default_registry`).
    keep_blocks:
        Block hashes remembered below the checkpoint for reorg detection.
    """

    def __init__(
        self,
        engine: Engine,
        registry: ProjectionRegistry | None = None,
        keep_blocks: int = 1024,
    ) -> None:
        self.engine = engine
        self.registry = registry or default_registry()
        self.keep_blocks = keep_blocks
        self.sessions = session_factory(engine)

    # -- reading the bookkeeping --

    def checkpoint(self, chain_id: int) -> BlockRef | None:
        with self.sessions() as s:
            row = s.get(IndexCheckpoint, chain_id)
            return None if row is None else BlockRef(row.block_number, row.block_hash)

    def checkpoint_row(self, chain_id: int) -> IndexCheckpoint | None:
        with self.sessions() as s:
            return s.get(IndexCheckpoint, chain_id)

    def recent_blocks(self, chain_id: int) -> list[BlockRef]:
        with self.sessions() as s:
            rows = s.execute(
                select(_B.c.number, _B.c.hash)
                .where(_B.c.chain_id == chain_id)
                .order_by(_B.c.number.desc())
            )
            return [BlockRef(int(n), h) for n, h in rows]

    def event_count(self, chain_id: int | None = None) -> int:
        with self.sessions() as s:
            q = select(func.count()).select_from(_E)
            if chain_id is not None:
                q = q.where(_E.c.chain_id == chain_id)
            return int(s.execute(q).scalar_one())

    def events(self, chain_id: int) -> Iterator[ChainEvent]:
        """The stored events of ``chain_id`` in chain order."""
        with self.sessions() as s:
            rows = s.execute(
                select(_E)
                .where(_E.c.chain_id == chain_id)
                .order_by(_E.c.block_number, _E.c.log_index)
            )
            for row in rows:
                yield row_to_event(row)

    # -- writing --

    def apply_chunk(
        self,
        chain_id: int,
        events: Sequence[ChainEvent],
        tip: BlockRef,
        blocks: Sequence[BlockRef] = (),
    ) -> int:
        """Apply ``events`` (blocks up to ``tip``) and move the checkpoint to ``tip``, in one
        transaction; returns how many events were new."""

        def work(s: Session) -> int:
            new = self._apply(s, chain_id, events)
            self._remember_blocks(s, chain_id, [*blocks, tip])
            last_log = max(
                (e.log_index for e in events if e.block_number == tip.number), default=-1
            )
            self._move_checkpoint(s, chain_id, tip, last_log)
            return new

        return self._transaction(f"applying blocks up to {tip.number}", work)

    def apply_events(self, events: Sequence[ChainEvent]) -> int:
        """Apply events delivered one by one (a Kafka consumer): each event's block becomes the
        checkpoint (with its log index); duplicates and orphaned events change nothing."""
        by_chain: dict[int, list[ChainEvent]] = {}
        for e in events:
            by_chain.setdefault(e.chain_id, []).append(e)

        def work(s: Session) -> int:
            new = 0
            for chain_id, evs in by_chain.items():
                new += self._apply(s, chain_id, evs)
                last = max(evs, key=_position)
                ref = BlockRef(last.block_number, last.block_hash)
                self._remember_blocks(s, chain_id, [ref])
                self._move_checkpoint(s, chain_id, ref, last.log_index)
            return new

        return self._transaction(f"applying {len(events)} events", work)

    def _transaction(self, what: str, work: Callable[[Session], int]) -> int:
        """Run ``work`` in one transaction; again (up to :data:`ATTEMPTS` times) when a
        concurrent writer got in the way: another Kafka worker stored one of these events
        first (the unique keys refuse the second copy, and the next attempt's duplicate check
        skips it) or PostgreSQL chose this transaction as a deadlock's victim."""
        for attempt in range(1, ATTEMPTS + 1):
            try:
                with self.sessions.begin() as s:
                    return work(s)
            except _DB_ERRORS as exc:  # the bulk inserts raise the drivers' own errors
                if attempt < ATTEMPTS and _concurrent_conflict(exc):
                    log.info(
                        "%s: %s; trying again (attempt %s)", what, exc.__class__.__name__, attempt
                    )
                    time.sleep(random.uniform(0.005, 0.02) * attempt)
                    continue
                raise ReadModelError(f"{what} failed: {exc}") from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _apply(self, s: Session, chain_id: int, events: Sequence[ChainEvent]) -> int:
        if not events:
            return 0
        lo = min(e.block_number for e in events)
        hi = max(e.block_number for e in events)
        stored = {
            (int(n), int(i)): h
            for n, i, h in s.execute(
                select(_E.c.block_number, _E.c.log_index, _E.c.block_hash).where(
                    _E.c.chain_id == chain_id, _E.c.block_number.between(lo, hi)
                )
            )
        }
        known_blocks = {
            int(n): h
            for n, h in s.execute(
                select(_B.c.number, _B.c.hash).where(
                    _B.c.chain_id == chain_id, _B.c.number.between(lo, hi)
                )
            )
        }
        fresh: list[ChainEvent] = []
        # Sorted by position, a position seen twice in this batch is on consecutive events:
        # the last fresh one stands in for the stored row it is about to become.
        last: tuple[int, int] | None = None
        last_hash = ""
        for e in sorted(events, key=_position):
            if e.chain_id != chain_id:
                raise ReadModelError(f"event of chain {e.chain_id} in a batch of chain {chain_id}")
            position = (e.block_number, e.log_index)
            have = last_hash if position == last else stored.get(position)
            if have is not None:
                if have != e.block_hash:
                    if known_blocks.get(e.block_number, have) == have:
                        log.debug("skipping orphaned event %s", position)
                        continue
                    raise StaleEventError(chain_id, e.block_number, e.log_index, have, e.block_hash)
                continue  # already applied
            block = known_blocks.get(e.block_number)
            if block is not None and block != e.block_hash:
                log.debug("skipping event of orphaned block %s", e.block_number)
                continue
            last, last_hash = position, e.block_hash
            fresh.append(e)
        if not fresh:
            return 0
        insert_events(s, fresh)
        self.registry.apply_batch(fresh, s)
        flush_pending(s)
        s.flush()
        return len(fresh)

    def _remember_blocks(self, s: Session, chain_id: int, blocks: Sequence[BlockRef]) -> None:
        if not blocks:
            return
        unique = {b.number: b.hash for b in blocks}
        # an upsert in block order: two Kafka workers remembering the same block both succeed
        # (a delete then insert would make the second one's insert a duplicate key)
        ins = _dialect_insert(s)(_B)
        s.execute(
            ins.on_conflict_do_update(
                index_elements=["chain_id", "number"], set_={"hash": ins.excluded.hash}
            ),
            [{"chain_id": chain_id, "number": n, "hash": unique[n]} for n in sorted(unique)],
        )
        top = max(unique)
        s.execute(delete(_B).where(_B.c.chain_id == chain_id, _B.c.number < top - self.keep_blocks))

    def _move_checkpoint(self, s: Session, chain_id: int, tip: BlockRef, log_index: int) -> None:
        """Forward only (or to another hash of the same block), decided in the statement
        itself, so concurrent writers cannot move it back."""
        ins = _dialect_insert(s)(_C)
        new = ins.excluded
        s.execute(
            ins.values(
                chain_id=chain_id, block_number=tip.number, block_hash=tip.hash, log_index=log_index
            ).on_conflict_do_update(
                index_elements=["chain_id"],
                set_={
                    "block_number": new.block_number,
                    "block_hash": new.block_hash,
                    "log_index": new.log_index,
                },
                where=or_(
                    new.block_number > _C.c.block_number,
                    and_(
                        new.block_number == _C.c.block_number,
                        or_(new.log_index >= _C.c.log_index, new.block_hash != _C.c.block_hash),
                    ),
                ),
            )
        )

    # -- reorgs and rebuilds --

    def rollback(self, chain_id: int, ancestor: BlockRef | None) -> None:
        """Undo every block above ``ancestor`` (None: all of them) and replay the projections
        they touched; the checkpoint moves back to ``ancestor``."""
        cut = ancestor.number if ancestor is not None else -1
        try:
            with self.sessions.begin() as s:
                kinds = [
                    (c, e)
                    for c, e in s.execute(
                        select(_E.c.contract, _E.c.event)
                        .where(_E.c.chain_id == chain_id, _E.c.block_number > cut)
                        .distinct()
                    )
                ]
                s.execute(delete(_E).where(_E.c.chain_id == chain_id, _E.c.block_number > cut))
                s.execute(delete(_B).where(_B.c.chain_id == chain_id, _B.c.number > cut))
                for p in self.registry.affected_by(kinds):
                    self._replay(s, p, chain_id)
                s.execute(delete(_C).where(_C.c.chain_id == chain_id))
                if ancestor is not None:
                    last_log = s.execute(
                        select(func.max(_E.c.log_index)).where(
                            _E.c.chain_id == chain_id, _E.c.block_number == ancestor.number
                        )
                    ).scalar_one_or_none()
                    s.add(
                        IndexCheckpoint(
                            chain_id=chain_id,
                            block_number=ancestor.number,
                            block_hash=ancestor.hash,
                            log_index=-1 if last_log is None else int(last_log),
                        )
                    )
                    self._remember_blocks(s, chain_id, [ancestor])
        except SQLAlchemyError as exc:
            raise ReadModelError(f"rolling back chain {chain_id} to {cut} failed: {exc}") from exc

    def rollback_blocks(self, chain_id: int, orphaned: Sequence[str]) -> int:
        """Undo the events of the blocks with hashes ``orphaned`` and replay the projections
        they touched (the Kafka consumers' rollback: safe to receive once per partition and in
        any order relative to the new branch's events, whose block hashes differ). Returns the
        events removed."""
        hashes = sorted(set(orphaned))
        if not hashes:
            return 0
        try:
            with self.sessions.begin() as s:
                where = (_E.c.chain_id == chain_id, _E.c.block_hash.in_(hashes))
                kinds = [
                    (c, e)
                    for c, e in s.execute(
                        select(_E.c.contract, _E.c.event).where(*where).distinct()
                    )
                ]
                removed = s.execute(select(func.count()).select_from(_E).where(*where)).scalar_one()
                s.execute(delete(_E).where(*where))
                s.execute(delete(_B).where(_B.c.chain_id == chain_id, _B.c.hash.in_(hashes)))
                for p in self.registry.affected_by(kinds):
                    self._replay(s, p, chain_id)
                cp = s.get(IndexCheckpoint, chain_id)
                if cp is not None and cp.block_hash in hashes:
                    last = s.execute(
                        select(_E.c.block_number, _E.c.block_hash, _E.c.log_index)
                        .where(_E.c.chain_id == chain_id)
                        .order_by(_E.c.block_number.desc(), _E.c.log_index.desc())
                        .limit(1)
                    ).first()
                    if last is None:
                        s.delete(cp)
                    else:
                        cp.block_number, cp.block_hash, cp.log_index = (
                            int(last[0]),
                            last[1],
                            int(last[2]),
                        )
                return int(removed)
        except SQLAlchemyError as exc:
            raise ReadModelError(
                f"rolling back {len(hashes)} blocks of chain {chain_id} failed: {exc}"
            ) from exc

    def hashes_above(self, chain_id: int, number: int) -> list[str]:
        """Hashes of the stored events' and remembered blocks above block ``number``."""
        with self.sessions() as s:
            events = s.execute(
                select(_E.c.block_hash)
                .where(_E.c.chain_id == chain_id, _E.c.block_number > number)
                .distinct()
            ).scalars()
            blocks = s.execute(
                select(_B.c.hash).where(_B.c.chain_id == chain_id, _B.c.number > number)
            ).scalars()
            return sorted(set(events) | set(blocks))

    def replay_projection(self, name: str, chain_id: int) -> int:
        """Rebuild one projection's rows from the stored events (how a new projection is
        filled); returns the events replayed."""
        p = self.registry.get(name)
        try:
            with self.sessions.begin() as s:
                return self._replay(s, p, chain_id)
        except SQLAlchemyError as exc:
            raise ReadModelError(f"replaying {name} failed: {exc}") from exc

    def _replay(self, s: Session, p: Projection, chain_id: int) -> int:
        p.reset(s, chain_id)
        exact = [(c, e) for c, e in p.handlers if c != "*"]
        wild = [e for c, e in p.handlers if c == "*"]
        conds = [and_(_E.c.contract == c, _E.c.event == e) for c, e in exact]
        conds += [_E.c.event == e for e in wild]
        if not conds:
            return 0
        rows = s.execute(
            select(_E)
            .where(_E.c.chain_id == chain_id, or_(*conds))
            .order_by(_E.c.block_number, _E.c.log_index)
        ).all()
        n = 0
        for row in rows:
            event = row_to_event(row)
            fn = p.handler_for(event)
            if fn is not None:
                fn(event, s)
                n += 1
        flush_pending(s)
        s.flush()
        return n
