"""Chain events from the event store (``chain_events``): a page, or a live feed (server-sent
events). Arguments that are another member's data are redacted, and in those shown a member
address the caller may not see is null (see :mod:`api.access`).

The live feed follows the event store by position (block number, log index). A reorg makes the
read side delete the orphaned blocks' events and store the new branch's: before each poll the
feed checks that the last event it sent is still stored with the same block hash; if not, it
sends ``event: rollback`` with ``data: {"after": <id of the newest sent event still valid, or
null>}`` and continues from there, so the client drops what came after and receives the new
branch.

The feed reads the listener's role again before each batch: once its account is deactivated
on-chain it sends ``event: access-revoked`` (data: the error body) and ends."""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import AsyncIterator, Mapping
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from api.access import event_args_for, hidden_members, on_chain_claims
from api.deps import TEXT_PATTERN, DbDep, MemberDep, ScopeDep, ServiceDep, StreamClaimsDep
from api.errors import BadRequestError, ForbiddenError
from api.names import arg_names, directory_names
from api.schemas import EventPublic, EventsPublic, RowWith
from api.security import Claims
from api.service import ApiService, Scope
from streams.models import ChainEventRow

router = APIRouter(prefix="/events", tags=["events"])

CURSOR_PATTERN = r"^[0-9]{1,18}:[0-9]{1,9}$"
CursorQuery = Annotated[
    str | None,
    Query(
        pattern=CURSOR_PATTERN,
        description="Only events after this cursor ('<block>:<log index>', an event's id).",
    ),
]
NameQuery = Annotated[
    str | None,
    Query(min_length=1, max_length=100, pattern=TEXT_PATTERN, description="Exactly this name."),
]
FromBlockQuery = Annotated[
    int | None, Query(ge=0, le=2**63 - 1, description="Only events in this block or later.")
]
ToBlockQuery = Annotated[
    int | None,
    Query(
        ge=0,
        le=2**63 - 1,
        description="Only events in this block or earlier (before `from_block`: none).",
    ),
]


def parse_cursor(value: str | None) -> tuple[int, int] | None:
    if value is None:
        return None
    block, _, log = value.partition(":")
    if not (block.isdigit() and log.isdigit()):
        raise BadRequestError(f"a cursor is '<block>:<log index>', got {value!r}")
    return int(block), int(log)


def _after(cursor: tuple[int, int] | None) -> list[Any]:
    if cursor is None:
        return []
    block, log = cursor
    return [
        or_(
            ChainEventRow.block_number > block,
            and_(ChainEventRow.block_number == block, ChainEventRow.log_index > log),
        )
    ]


def event_public(
    row: ChainEventRow,
    claims: Claims,
    hidden: frozenset[str],
    names: Mapping[str, str] | None = None,
) -> EventPublic:
    """``row`` as ``claims`` may see it; ``hidden``: the members whose addresses it may not
    see (:func:`api.access.hidden_members`); ``names``: the directory's display names, given
    for the addresses shown in the arguments."""
    args = event_args_for(claims, row.contract, row.event, dict(row.args), hidden)
    return EventPublic.model_validate(
        RowWith(
            row,
            id=f"{row.block_number}:{row.log_index}",
            args=args,
            redacted=args is None,
            arg_names=arg_names(args, names or {}),
        )
    )


@router.get("", response_model=EventsPublic, summary="Chain events, oldest first (members)")
def list_events(
    claims: MemberDep,
    db: DbDep,
    scope: ScopeDep,
    after: CursorQuery = None,
    contract: NameQuery = None,
    event: NameQuery = None,
    from_block: FromBlockQuery = None,
    to_block: ToBlockQuery = None,
    limit: Annotated[int, Query(ge=1, le=500, description="Events per page, 1 to 500.")] = 100,
) -> EventsPublic:
    where = [ChainEventRow.chain_id == scope.chain_id, *_after(parse_cursor(after))]
    if contract is not None:
        where.append(ChainEventRow.contract == contract)
    if event is not None:
        where.append(ChainEventRow.event == event)
    if from_block is not None:
        where.append(ChainEventRow.block_number >= from_block)
    if to_block is not None:
        where.append(ChainEventRow.block_number <= to_block)
    count = db.scalar(select(func.count()).select_from(ChainEventRow).where(*where)) or 0
    rows = db.scalars(
        select(ChainEventRow)
        .where(*where)
        .order_by(ChainEventRow.block_number, ChainEventRow.log_index)
        .limit(limit)
    )
    hidden = hidden_members(db, scope, claims)
    names = directory_names(db, scope)
    return EventsPublic(data=[event_public(r, claims, hidden, names) for r in rows], count=count)


def _fetch(
    service: ApiService, chain_id: int, cursor: tuple[int, int] | None, claims: Claims
) -> list[EventPublic]:
    """The events after ``cursor`` as ``claims`` may see them now: its role is read again for
    each batch (ForbiddenError once it is deactivated or no longer a member)."""
    db: Session
    with service.sessions() as db:
        claims = on_chain_claims(db, claims)
        if not claims.is_member:
            raise ForbiddenError(f"{claims.address} is no longer a registered participant")
        if cursor is None:
            return []
        rows = list(
            db.scalars(
                select(ChainEventRow)
                .where(ChainEventRow.chain_id == chain_id, *_after(cursor))
                .order_by(ChainEventRow.block_number, ChainEventRow.log_index)
                .limit(500)
            )
        )
        if not rows:
            return []
        # Whom the caller may see is read again for each batch: it follows delegations and
        # opt-ins made while the feed runs.
        hidden = hidden_members(db, Scope(chain_id, None), claims)
        names = directory_names(db, Scope(chain_id, None))
        return [event_public(r, claims, hidden, names) for r in rows]


def _tail(service: ApiService, chain_id: int) -> tuple[int, int]:
    with service.sessions() as db:
        row = db.execute(
            select(ChainEventRow.block_number, ChainEventRow.log_index)
            .where(ChainEventRow.chain_id == chain_id)
            .order_by(ChainEventRow.block_number.desc(), ChainEventRow.log_index.desc())
            .limit(1)
        ).first()
    return (-1, -1) if row is None else (int(row[0]), int(row[1]))


Sent = tuple[int, int, str]
"""(block number, log index, block hash) of an event the feed sent."""


def surviving(service: ApiService, chain_id: int, sent: deque[Sent]) -> int | None:
    """None when the newest sent event is still stored as sent; otherwise how many of the
    sent events, oldest first, are still stored as sent (the rest were rolled back)."""
    if not sent:
        return None
    block, log, block_hash = sent[-1]
    with service.sessions() as db:
        still = db.scalar(
            select(ChainEventRow.block_hash).where(
                ChainEventRow.chain_id == chain_id,
                ChainEventRow.block_number == block,
                ChainEventRow.log_index == log,
            )
        )
        if still == block_hash:
            return None
        stored = {
            (int(b), int(li)): h
            for b, li, h in db.execute(
                select(
                    ChainEventRow.block_number, ChainEventRow.log_index, ChainEventRow.block_hash
                ).where(
                    ChainEventRow.chain_id == chain_id,
                    ChainEventRow.block_number >= sent[0][0],
                    ChainEventRow.block_number <= block,
                )
            )
        }
    keep = 0
    for b, li, h in sent:
        if stored.get((b, li)) != h:
            break
        keep += 1
    return keep


def sse(event: EventPublic) -> str:
    """One server-sent event: id (the cursor), event type, JSON data."""
    data = json.dumps(event.model_dump(), separators=(",", ":"))
    return f"id: {event.id}\nevent: {event.contract}.{event.event}\ndata: {data}\n\n"


@router.get(
    "/stream",
    summary="Live feed of new chain events (server-sent events; members)",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def stream_events(
    request: Request,
    claims: StreamClaimsDep,
    service: ServiceDep,
    after: CursorQuery = None,
    last_event_id: Annotated[
        str | None,
        Header(pattern=CURSOR_PATTERN, description="Resume after this event (EventSource)."),
    ] = None,
) -> StreamingResponse:
    if not claims.is_member:
        raise ForbiddenError(f"{claims.address} is not a registered participant")
    chain_id = service.scope().chain_id
    cursor = parse_cursor(after or last_event_id)
    if cursor is None:
        cursor = await anyio.to_thread.run_sync(_tail, service, chain_id)
    poll_s = service.settings.stream_poll_s
    heartbeat_s = service.settings.stream_heartbeat_s

    async def feed() -> AsyncIterator[str]:
        nonlocal cursor
        sent: deque[Sent] = deque(maxlen=4096)
        yield f"retry: {int(poll_s * 2000)}\n: connected to chain {chain_id}\n\n"
        quiet_since = time.monotonic()
        while not (service.closing.is_set() or await request.is_disconnected()):
            if claims.expires_at <= time.time():
                yield "event: token-expired\ndata: {}\n\n"
                return
            keep = await anyio.to_thread.run_sync(surviving, service, chain_id, sent)
            if keep is not None:
                first = sent[0]
                while len(sent) > keep:
                    sent.pop()
                if sent:
                    cursor = (sent[-1][0], sent[-1][1])
                    after: str | None = f"{cursor[0]}:{cursor[1]}"
                else:  # nothing sent survives: resume just before the first sent event
                    cursor = (first[0], first[1] - 1)
                    after = None
                yield f"event: rollback\ndata: {json.dumps({'after': after})}\n\n"
            try:
                events = await anyio.to_thread.run_sync(_fetch, service, chain_id, cursor, claims)
            except ForbiddenError as exc:  # deactivated on-chain while listening
                yield f"event: access-revoked\ndata: {json.dumps(exc.body()['error'])}\n\n"
                return
            for e in events:
                yield sse(e)
                cursor = (e.block_number, e.log_index)
                sent.append((e.block_number, e.log_index, e.block_hash))
            if events:
                quiet_since = time.monotonic()
                continue
            if time.monotonic() - quiet_since >= heartbeat_s:
                yield ": keep-alive\n\n"
                quiet_since = time.monotonic()
            await anyio.sleep(poll_s)

    return StreamingResponse(
        feed(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
