"""DSO flexibility requests (FlexCoordination read models): terms and status, opt-ins, and
per-interval aggregates of what was asked, promised and delivered.

Terms, status and per-interval aggregates are public to members, and so is a request's
``outcome_reason`` (why it ended without a coalition: from the request's terms and the opt-ins'
count and summed offers, no member's own figures; :mod:`api.explanations`); opt-ins are for
the request's DSO, its coordinator and the market operator (a member sees its own, see
:mod:`api.access`).
"""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from sqlalchemy import func, select
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
from api.explanations import OptInTotals, ended_without_coalition, request_outcome_reason
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


def opt_in_totals(db: Session, scope: Scope, request_ids: list[int]) -> dict[int, OptInTotals]:
    """Per request: its opt-ins counted and their offers summed (Wh per interval)."""
    if not request_ids:
        return {}
    oi = FlexOptIn
    rows = db.execute(
        select(oi.request_id, func.count(), func.coalesce(func.sum(oi.max_wh), 0))
        .where(oi.chain_id == scope.chain_id, oi.request_id.in_(sorted(set(request_ids))))
        .group_by(oi.request_id)
    )
    return {int(rid): OptInTotals(int(n), int(total)) for rid, n, total in rows}


def request_public(
    req: FlexRequest, totals: dict[int, OptInTotals], now_s: float
) -> FlexRequestPublic:
    """A request's response with its ``outcome_reason`` (:mod:`api.explanations`)."""
    reason = request_outcome_reason(
        status=req.status,
        window_start_s=req.window_start_s,
        opt_in_deadline_s=req.opt_in_deadline_s,
        quantities_wh=req.quantities_wh,
        tolerance_bp=req.tolerance_bp,
        round_=req.round,
        row_count=req.row_count,
        opt_ins=totals.get(req.request_id, OptInTotals(0, 0)),
        now_s=now_s,
    )
    return FlexRequestPublic.model_validate(RowWith(req, outcome_reason=reason))


def _with_reasons(db: Session, scope: Scope, rows: list[FlexRequest]) -> list[FlexRequestPublic]:
    """Requests' responses; the opt-ins are read only for those that ended without a
    coalition. "Now" is the wall clock (the API does not ask the node): a node's clock runs
    ahead of it (an accelerated demo chain) or behind it by at most a block, so an open request
    is said to have ended at the earliest a block before its window starts, and on an
    accelerated demo chain only once the wall clock reaches its window; a reclaimed one has
    ended whatever the clock (the demo DSO reclaims as soon as the window starts)."""
    now = time.time()
    ended = [r.request_id for r in rows if ended_without_coalition(r.status, r.window_start_s, now)]
    totals = opt_in_totals(db, scope, ended)
    return [request_public(r, totals, now) for r in rows]


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
        FlexRequestsPublic(data=_with_reasons(db, scope, list(rows)), count=count),
        directory_names(db, scope),
    )


@router.get(
    "/{request_id}",
    response_model=FlexRequestPublic,
    summary="One flexibility request: terms, status, coalition price, escrow and, if it ended "
    "without a coalition, why (members)",
)
def get_request(
    request_id: RequestId, claims: MemberDep, db: DbDep, scope: ScopeDep
) -> FlexRequestPublic:
    [out] = _with_reasons(db, scope, [load_request(db, scope, request_id)])
    return named(out, directory_names(db, scope))


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
