"""Orders: a member's own (or its delegating members'); the market operator's any."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from sqlalchemy import func, select

from api.access import own_and_delegated, require_personal
from api.deps import (
    AreaQuery,
    ClaimsDep,
    DbDep,
    PageDep,
    ParticipantQuery,
    ScopeDep,
    SessionQuery,
    TimeRangeDep,
)
from api.errors import NotFoundError
from api.names import directory_names, named
from api.routes._filters import SIDE_NUMBERS, delivery_between, in_scope
from api.routes.sessions import SideQuery
from api.schemas import OrderPublic, OrdersPublic, RowWith
from api.security import MARKET_OPERATOR
from streams.models import MarketOrder, MarketSession

router = APIRouter(prefix="/orders", tags=["orders"])

_OF_SESSION = (
    (MarketSession.chain_id == MarketOrder.chain_id)
    & (MarketSession.market == MarketOrder.market)
    & (MarketSession.session_id == MarketOrder.session_id)
)
"""An order's session (its status gives the order's state)."""


def order_public(order: MarketOrder, session_status: str | None) -> OrderPublic:
    """The order as the API shows it, with its session's status (and so its state)."""
    return OrderPublic.model_validate(RowWith(order, session_status=session_status))


@router.get(
    "",
    response_model=OrdersPublic,
    summary="Your orders (another member's: 403, except for its aggregator and the operator)",
)
def list_orders(
    claims: ClaimsDep,
    db: DbDep,
    scope: ScopeDep,
    page: PageDep,
    when: TimeRangeDep,
    participant: ParticipantQuery = None,
    session_id: SessionQuery = None,
    area: AreaQuery = None,
    side: SideQuery = None,
    cancelled: Annotated[bool | None, Query(description="Only (not) cancelled orders.")] = None,
) -> OrdersPublic:
    trader = participant or claims.address
    require_personal(db, scope, claims, trader, "orders", operator_ok=True)
    where = [*in_scope(MarketOrder, scope), MarketOrder.trader == trader]
    if session_id is not None:
        where.append(MarketOrder.session_id == session_id)
    if area is not None:
        where.append(MarketOrder.grid_area == area)
    if side is not None:
        where.append(MarketOrder.side == SIDE_NUMBERS[side])
    if cancelled is not None:
        where.append(MarketOrder.cancelled.is_(cancelled))
    where += delivery_between(when)
    base = select(MarketOrder, MarketSession.status).outerjoin(MarketSession, _OF_SESSION)
    count = db.scalar(select(func.count()).select_from(base.where(*where).subquery())) or 0
    rows = db.execute(
        base.where(*where)
        .order_by(MarketOrder.session_id.desc(), MarketOrder.order_id)
        .limit(page.limit)
        .offset(page.offset)
    )
    return named(
        OrdersPublic(data=[order_public(o, status) for o, status in rows], count=count),
        directory_names(db, scope),
    )


@router.get(
    "/{session_id}/{order_id}",
    response_model=OrderPublic,
    summary="One order (its trader, the trader's aggregator, the operator; to anyone else it "
    "is not found, as a missing order)",
)
def get_order(
    session_id: Annotated[int, Path(ge=0, le=2**63 - 1)],
    order_id: Annotated[int, Path(ge=0, le=2**63 - 1)],
    claims: ClaimsDep,
    db: DbDep,
    scope: ScopeDep,
) -> OrderPublic:
    where = [
        *in_scope(MarketOrder, scope),
        MarketOrder.session_id == session_id,
        MarketOrder.order_id == order_id,
    ]
    # Access is part of the query: another member's order is not found, exactly as a missing
    # one, so an order id (public in OrderMatched events) does not tell whose order it is.
    if not claims.has(MARKET_OPERATOR):
        where.append(MarketOrder.trader.in_(sorted(own_and_delegated(db, scope, claims))))
    query = select(MarketOrder, MarketSession.status).outerjoin(MarketSession, _OF_SESSION)
    row = db.execute(query.where(*where).limit(1)).first()
    if row is None:
        raise NotFoundError(f"order {order_id} of session {session_id}")
    return named(order_public(row[0], row[1]), directory_names(db, scope))
