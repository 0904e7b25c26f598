"""The projection framework: chain events in, read-model rows out.

A projection is a set of handler functions of ``(event, session)``, one per (contract, event)
it reads, plus the tables it owns. Handlers are pure in the sense that matters here: what they
write depends only on the event and on rows of their own tables, so replaying the stored events
in chain order always yields the same rows. That is what makes a rollback and a rebuild
possible (see :mod:`streams.store`).

Idempotency: the store applies an event only when it is not yet in ``chain_events`` (same
chain, block hash and log index), in the same transaction; so a handler may be additive (token
balances) and still be safe under at-least-once delivery. Participant handlers are also
idempotent by design (they set state, they do not accumulate).

Adding a projection (in a module of its own, like :mod:`streams.projections` and
:mod:`streams.coordination`)::

    orders = Projection("orders", tables=("orders",))

    @orders.on("FlexMarket", "BidPlaced")
    def project_bid_placed(event: ChainEvent, session: Session) -> None:
        ...

then register it in :func:`streams.registry.default_registry`, add an Alembic migration for its
table; ``ReadModelStore.replay_projection("orders")`` (or ``bright index rebuild``) fills it from
the stored events.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from sqlalchemy import Table, delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from chain.indexer import ChainEvent
from streams.errors import UnknownProjectionError
from streams.models import Base

Handler = Callable[[ChainEvent, Session], None]
"""Applies one event to the read models through ``session`` (inside the store's transaction)."""
Prefetch = Callable[[Sequence[ChainEvent], Session], None]

ANY_CONTRACT = "*"
ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"


@dataclass
class Projection:
    """A named group of handlers that owns ``tables`` (rows keyed by ``chain_id``)."""

    name: str
    tables: tuple[str, ...]
    handlers: dict[tuple[str, str], Handler] = field(default_factory=dict)
    prefetch: Prefetch | None = None
    """Optional: loads the rows a batch of events will touch in one query (an optimisation;
    the handlers must give the same result without it)."""

    def prefetcher(self, fn: Prefetch) -> Prefetch:
        """Decorator: ``fn(events, session)`` runs before a batch of this projection's events."""
        self.prefetch = fn
        return fn

    def on(self, contract: str, event: str) -> Callable[[Handler], Handler]:
        """Decorator: ``fn`` handles ``contract``'s ``event`` (contract ``*``: any contract)."""

        def register(fn: Handler) -> Handler:
            if (contract, event) in self.handlers:
                raise ValueError(f"{self.name} already handles {contract}.{event}")
            self.handlers[(contract, event)] = fn
            return fn

        return register

    def handler_for(self, event: ChainEvent) -> Handler | None:
        return self.handlers.get((event.contract, event.event)) or self.handlers.get(
            (ANY_CONTRACT, event.event)
        )

    def handles(self, contract: str, event: str) -> bool:
        return (contract, event) in self.handlers or (ANY_CONTRACT, event) in self.handlers

    def reset(self, session: Session, chain_id: int) -> None:
        """Delete this projection's rows of ``chain_id`` (before a replay)."""
        flush_pending(session)
        session.flush()  # pending ORM changes must not land after the delete
        for name in self.tables:
            table = _table(name)
            session.execute(delete(table).where(table.c.chain_id == chain_id))
        # ORM objects of deleted rows must not be found again: forget them and every cache.
        session.expunge_all()
        for key in [k for k in session.info if str(k).startswith(_CACHE_PREFIX)]:
            del session.info[key]


class ProjectionRegistry:
    """The projections the store applies, in registration order."""

    def __init__(self, projections: Iterable[Projection] = ()) -> None:
        self._projections: dict[str, Projection] = {}
        self._dispatch: dict[tuple[str, str], tuple[Handler, ...]] = {}
        for p in projections:
            self.register(p)

    def register(self, projection: Projection) -> Projection:
        """Add a projection whose handlers are all defined (dispatch is cached from here on)."""
        if projection.name in self._projections:
            raise ValueError(f"a projection named {projection.name!r} is registered already")
        for name in projection.tables:
            _table(name)  # must be a known table
        self._projections[projection.name] = projection
        self._dispatch.clear()
        return projection

    def __iter__(self) -> Iterator[Projection]:
        return iter(self._projections.values())

    @property
    def names(self) -> list[str]:
        return list(self._projections)

    def get(self, name: str) -> Projection:
        try:
            return self._projections[name]
        except KeyError:
            raise UnknownProjectionError(name, self.names) from None

    def handlers_for(self, contract: str, event: str) -> tuple[Handler, ...]:
        """The handlers of one kind of event, in registration order (cached)."""
        key = (contract, event)
        found = self._dispatch.get(key)
        if found is None:
            found = tuple(
                fn
                for p in self._projections.values()
                if (fn := p.handlers.get(key) or p.handlers.get((ANY_CONTRACT, event)))
            )
            self._dispatch[key] = found
        return found

    def apply(self, event: ChainEvent, session: Session) -> None:
        """Run every handler of ``event`` (the store calls this once per new event)."""
        for fn in self.handlers_for(event.contract, event.event):
            fn(event, session)

    def prefetch(self, events: Sequence[ChainEvent], session: Session) -> None:
        """Let each projection load, in one go, the rows ``events`` will touch."""
        for p in self._projections.values():
            if p.prefetch is not None:
                mine = [e for e in events if p.handler_for(e) is not None]
                if mine:
                    p.prefetch(mine, session)

    def apply_batch(self, events: Sequence[ChainEvent], session: Session) -> None:
        """Apply ``events`` (new, in chain order) as :meth:`apply` would one by one, after
        the prefetches; the handlers' written-behind rows wait for :func:`flush_pending`."""
        self.prefetch(events, session)
        dispatch = self._dispatch
        for e in events:
            fns = dispatch.get((e.contract, e.event))
            if fns is None:
                fns = self.handlers_for(e.contract, e.event)
            for fn in fns:
                fn(e, session)

    def affected_by(self, kinds: Iterable[tuple[str, str]]) -> list[Projection]:
        """The projections that handle any of these (contract, event) kinds."""
        kinds = list(kinds)
        return [p for p in self._projections.values() if any(p.handles(c, e) for c, e in kinds)]


def _table(name: str) -> Table:
    try:
        return Base.metadata.tables[name]
    except KeyError:
        raise ValueError(
            f"no read-model table named {name!r} (add a model and a migration)"
        ) from None


_CACHE_PREFIX = "projection-cache:"


def _cache_key(name: str) -> str:
    return f"{_CACHE_PREFIX}{name}"


_UPSERTS: dict[tuple[str, str, tuple[str, ...], tuple[str, ...]], Any] = {}
_PENDING = "projection-pending-upserts"


def upsert(session: Session, table: Table, values: dict[str, Any], keys: list[str]) -> None:
    """INSERT ... ON CONFLICT (keys) DO UPDATE, on SQLite and PostgreSQL.

    Written behind: the rows wait in the session and go to the database in one executemany per
    statement at :func:`flush_pending` (the store calls it before committing; a handler that
    reads or updates these rows calls it first)."""
    dialect = session.get_bind().dialect.name
    cache_key = (dialect, table.name, tuple(values), tuple(keys))
    stmt = _UPSERTS.get(cache_key)
    if stmt is None:
        ins = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
        stmt = _UPSERTS[cache_key] = ins.on_conflict_do_update(
            index_elements=keys, set_={k: ins.excluded[k] for k in values if k not in keys}
        )
    pending: dict[Any, tuple[Any, list[dict[str, Any]]]] = session.info.setdefault(_PENDING, {})
    pending.setdefault(cache_key, (stmt, []))[1].append(values)


_WRITERS = "projection-pending-writers"

State = TypeVar("State")


def written_behind(
    session: Session, name: str, make: Callable[[], State], flush: Callable[[Session, State], None]
) -> State:
    """The write-behind state ``name`` of this session (``make()`` the first time): handlers
    accumulate in it, and :func:`flush_pending` hands it to ``flush(session, state)`` and
    forgets it. A handler that reads rows another handler writes this way calls
    :func:`flush_pending` first."""
    try:
        return cast(State, session.info[_WRITERS][name][1])
    except KeyError:
        writers: dict[str, tuple[Callable[[Session, Any], None], Any]] = session.info.setdefault(
            _WRITERS, {}
        )
        state = make()
        writers[name] = (flush, state)
        return state


def flush_pending(session: Session) -> None:
    """Send the written-behind rows of this session to the database: the upserts in order,
    then each written-behind state (by name)."""
    pending = session.info.pop(_PENDING, None)
    if pending:
        for stmt, rows in pending.values():
            session.execute(stmt, rows)
    writers = session.info.pop(_WRITERS, None)
    if writers:
        for name in sorted(writers):  # one order for every writer: no lock-order deadlocks
            flush, state = writers[name]
            flush(session, state)


