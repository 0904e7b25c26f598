"""Market sessions: times, status, clearing results, anonymised depth; the whole book for the
market operator."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.deps import AreaQuery, DbDep, MemberDep, PageDep, ScopeDep, TimeRangeDep
from api.errors import ForbiddenError, NotFoundError
from api.names import directory_names, named
from api.routes._filters import SIDE_NUMBERS, SIDES, delivery_between, in_scope, page_of
from api.schemas import (
    DepthLevel,
    DepthPublic,
    OrderPublic,
    OrdersPublic,
    RowWith,
    SessionPublic,
    SessionsPublic,
)
from api.security import MARKET_OPERATOR
from api.service import Scope
from streams.models import MarketOrder, MarketSession

router = APIRouter(prefix="/sessions", tags=["sessions"])

SessionId = Annotated[int, Path(ge=0, le=2**63 - 1, description="Session id.")]
SideQuery = Annotated[Literal["bid", "offer"] | None, Query(description="Only this side.")]


def load_session(db: Session, scope: Scope, session_id: int) -> MarketSession:
    row = db.scalars(
        select(MarketSession)
        .where(*in_scope(MarketSession, scope), MarketSession.session_id == session_id)
        .limit(1)
    ).first()
    if row is None:
        raise NotFoundError(f"session {session_id}")
    return row


@router.get("", response_model=SessionsPublic, summary="Market sessions (members)")
def list_sessions(
    _claims: MemberDep,
    db: DbDep,
    scope: ScopeDep,
    page: PageDep,
    when: TimeRangeDep,
    area: AreaQuery = None,
    status: Annotated[
        Literal["open", "cleared"] | None, Query(description="Only open or cleared sessions.")
    ] = None,
    order: Annotated[
        Literal["asc", "desc"], Query(description="By session id; newest first by default.")
    ] = "desc",
) -> SessionsPublic:
    where = [*in_scope(MarketSession, scope), *delivery_between(when)]
    if area is not None:
        where.append(MarketSession.grid_area == area)
    if status is not None:
        where.append(MarketSession.status == status)
    key = MarketSession.session_id
    count, rows = page_of(
        db, MarketSession, where, [key.desc() if order == "desc" else key.asc()], page
    )
    return SessionsPublic(data=[SessionPublic.model_validate(s) for s in rows], count=count)


@router.get(
    "/{session_id}",
    response_model=SessionPublic,
    summary="One session with its clearing result (members)",
)
def get_session(
    session_id: SessionId, _claims: MemberDep, db: DbDep, scope: ScopeDep
) -> SessionPublic:
    return SessionPublic.model_validate(load_session(db, scope, session_id))


@router.get(
    "/{session_id}/depth",
    response_model=DepthPublic,
    summary="Anonymised order-book depth: price levels with summed quantity (members)",
)
def get_depth(session_id: SessionId, _claims: MemberDep, db: DbDep, scope: ScopeDep) -> DepthPublic:
    s = load_session(db, scope, session_id)
    rows = db.execute(
        select(MarketOrder.side, MarketOrder.price_per_kwh, func.sum(MarketOrder.qty_wh))
        .where(
            *in_scope(MarketOrder, scope),
            MarketOrder.session_id == session_id,
            MarketOrder.market == s.market,
            MarketOrder.cancelled.is_(False),
        )
        .group_by(MarketOrder.side, MarketOrder.price_per_kwh)
    ).all()
    bids = sorted(
        (DepthLevel(price_per_kwh=p, qty_wh=int(q)) for side, p, q in rows if side == 0),
        key=lambda lv: -lv.price_per_kwh,
    )
    offers = sorted(
        (DepthLevel(price_per_kwh=p, qty_wh=int(q)) for side, p, q in rows if side == 1),
        key=lambda lv: lv.price_per_kwh,
    )
    return DepthPublic(session_id=session_id, status=s.status, bids=bids, offers=offers)


@router.get(
    "/{session_id}/orders",
    response_model=OrdersPublic,
    summary="Every order of a session, with traders (market operator only)",
)
def get_session_orders(
    session_id: SessionId,
    claims: MemberDep,
    db: DbDep,
    scope: ScopeDep,
    page: PageDep,
    side: SideQuery = None,
) -> OrdersPublic:
    if not claims.has(MARKET_OPERATOR):
        raise ForbiddenError(
            "a session's orders name their traders: only the market operator sees them all; "
            "members see their own at /orders and the anonymised book at "
            f"/sessions/{session_id}/depth"
        )
    s = load_session(db, scope, session_id)
    where = [
        MarketOrder.chain_id == scope.chain_id,
        MarketOrder.market == s.market,
        MarketOrder.session_id == session_id,
    ]
    if side is not None:
        where.append(MarketOrder.side == SIDE_NUMBERS[side])
    count, rows = page_of(db, MarketOrder, where, [MarketOrder.order_id], page)
    return named(
        OrdersPublic(
            data=[OrderPublic.model_validate(RowWith(o, session_status=s.status)) for o in rows],
            count=count,
        ),
        directory_names(db, scope),
    )


__all__ = ["SIDES", "load_session", "router"]
