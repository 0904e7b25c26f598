"""DSO flexibility requests (FlexCoordination read models): terms and status, opt-ins, and
per-interval aggregates of what was asked, promised and delivered.

Terms, status and per-interval aggregates are public to members; opt-ins are for the request's
DSO, its coordinator and the market operator (a member sees its own, see :mod:`api.access`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.access import own_and_delegated, sees_whole_request
from api.deps import (
    Address,
    AreaQuery,
    DbDep,
    MemberDep,
    PageDep,
    ScopeDep,
    TimeRangeDep,
)
from api.errors import NotFoundError
from api.names import directory_names, named
from api.routes._filters import page_of
from api.schemas import (
    FlexRequestPublic,
    FlexRequestsPublic,
    OptInPublic,
    OptInsPublic,
    OptInStatusName,
    RequestIntervalPublic,
    RequestIntervalsPublic,
    RequestStatusName,
    RowWith,
)
from api.service import Scope
from streams.models import FlexOptIn, FlexRequest, FlexRequestInterval

router = APIRouter(prefix="/requests", tags=["flexibility requests"])

RequestId = Annotated[int, Path(ge=0, le=2**63 - 1, description="Request id.")]


def load_request(db: Session, scope: Scope, request_id: int) -> FlexRequest:
    row = db.get(FlexRequest, (scope.chain_id, request_id))
    if row is None:
        raise NotFoundError(f"request {request_id}")
    return row


@router.get(
    "",
    response_model=FlexRequestsPublic,
    summary="Flexibility requests, newest first (members)",
)
def list_requests(
    claims: MemberDep,
    db: DbDep,
    scope: ScopeDep,
    page: PageDep,
    when: TimeRangeDep,
    status: Annotated[RequestStatusName | None, Query(description="Only this status.")] = None,
    grid_area: AreaQuery = None,
    dso: Annotated[
        Address | None,
        Query(description="Only this DSO's requests."),
    ] = None,
) -> FlexRequestsPublic:
    where: list[Any] = [FlexRequest.chain_id == scope.chain_id]
    if status is not None:
        where.append(FlexRequest.status == status)
    if grid_area is not None:
        where.append(FlexRequest.grid_area == grid_area)
    if dso is not None:
        where.append(FlexRequest.dso == dso)
    if when.since_s is not None:
        where.append(FlexRequest.window_start_s >= when.since_s)
    if when.until_s is not None:
        where.append(FlexRequest.window_start_s < when.until_s)
    count, rows = page_of(db, FlexRequest, where, [FlexRequest.request_id.desc()], page)
    return named(
        FlexRequestsPublic(data=[FlexRequestPublic.model_validate(r) for r in rows], count=count),
        directory_names(db, scope),
    )


@router.get(
    "/{request_id}",
    response_model=FlexRequestPublic,
    summary="One flexibility request: terms, status, coalition price, escrow (members)",
)
def get_request(
    request_id: RequestId, claims: MemberDep, db: DbDep, scope: ScopeDep
) -> FlexRequestPublic:
    return named(
        FlexRequestPublic.model_validate(load_request(db, scope, request_id)),
        directory_names(db, scope),
    )


@router.get(
    "/{request_id}/opt-ins",
    response_model=OptInsPublic,
    summary="Opt-ins to a request (its DSO, coordinator, the operator: all; a member: its own)",
)
def list_opt_ins(
    request_id: RequestId,
    claims: MemberDep,
    db: DbDep,
    scope: ScopeDep,
    page: PageDep,
    status: Annotated[OptInStatusName | None, Query(description="Only this standing.")] = None,
) -> OptInsPublic:
    req = load_request(db, scope, request_id)
    where: list[Any] = [FlexOptIn.chain_id == scope.chain_id, FlexOptIn.request_id == request_id]
    everything = sees_whole_request(claims, req.dso, req.coordinator, req.status)
    if not everything:
        where.append(FlexOptIn.member.in_(sorted(own_and_delegated(db, scope, claims))))
    if status is not None:
        where.append(FlexOptIn.status == status)
    count, rows = page_of(db, FlexOptIn, where, [FlexOptIn.opted_block, FlexOptIn.member], page)
    return named(
        OptInsPublic(
            data=[OptInPublic.model_validate(o) for o in rows],
            count=count,
            visible="all" if everything else "own",
        ),
        directory_names(db, scope),
    )


def interval_rows(db: Session, scope: Scope, request_id: int) -> list[FlexRequestInterval]:
    """The request's intervals with the coalition's totals (kept by the projection: one row
    per interval, whatever the coalition's size), in interval order."""
    ri = FlexRequestInterval
    return list(
        db.scalars(
            select(ri)
            .where(ri.chain_id == scope.chain_id, ri.request_id == request_id)
            .order_by(ri.interval_index)
        )
    )


@router.get(
    "/{request_id}/intervals",
    response_model=RequestIntervalsPublic,
    summary="Per interval: requested, tolerance bounds, coalition targets, delivered, deviation",
)
def request_intervals(
    request_id: RequestId, claims: MemberDep, db: DbDep, scope: ScopeDep
) -> RequestIntervalsPublic:
    req = load_request(db, scope, request_id)
    data = [
        RequestIntervalPublic.model_validate(
            RowWith(row, tolerance_bp=req.tolerance_bp, has_coalition=req.row_count > 0)
        )
        for row in interval_rows(db, scope, request_id)
    ]
    return RequestIntervalsPublic.model_validate(RowWith(req, data=data, count=len(data)))
