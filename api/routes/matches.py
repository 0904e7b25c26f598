"""Matches: a member's own (with which side was theirs); public per-session aggregates."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy import Float, and_, cast, func, or_, select

from api.access import require_personal
from api.deps import (
    AreaQuery,
    ClaimsDep,
    DbDep,
    MemberDep,
    PageDep,
    ParticipantQuery,
    ScopeDep,
    SessionQuery,
    TimeRangeDep,
)
from api.routes._filters import delivery_between, in_scope
from api.schemas import (
    MatchesPublic,
    MatchPublic,
    RowWith,
    SessionMatchesListPublic,
    SessionMatchesPublic,
)
from streams.models import MarketMatch, MarketOrder, MarketSession

router = APIRouter(prefix="/matches", tags=["matches"])


@router.get(
    "",
    response_model=MatchesPublic,
    summary="Matches of your orders (another member's: 403, except aggregator and operator)",
)
def list_matches(
    claims: ClaimsDep,
    db: DbDep,
    scope: ScopeDep,
    page: PageDep,
    when: TimeRangeDep,
    participant: ParticipantQuery = None,
    session_id: SessionQuery = None,
) -> MatchesPublic:
    trader = participant or claims.address
    require_personal(db, scope, claims, trader, "matches", operator_ok=True)
    # The trader's orders come from the trader index; a match is theirs when its bid or its
    # offer is one of them.
    mine = (
        select(MarketOrder.session_id, MarketOrder.order_id)
        .where(*in_scope(MarketOrder, scope), MarketOrder.trader == trader)
        .subquery()
    )

    def is_mine(order_id: Any) -> Any:
        return (
            select(mine.c.order_id)
            .where(mine.c.session_id == MarketMatch.session_id, mine.c.order_id == order_id)
            .exists()
        )

    bid_mine, offer_mine = is_mine(MarketMatch.bid_id), is_mine(MarketMatch.offer_id)
    where = [*in_scope(MarketMatch, scope), or_(bid_mine, offer_mine)]
    if session_id is not None:
        where.append(MarketMatch.session_id == session_id)
    timed = delivery_between(when)
    base = select(MarketMatch, bid_mine.label("bid_mine"), offer_mine.label("offer_mine"))
    counted = select(func.count()).select_from(MarketMatch)
    if timed:
        on_session = and_(
            MarketSession.chain_id == MarketMatch.chain_id,
            MarketSession.market == MarketMatch.market,
            MarketSession.session_id == MarketMatch.session_id,
        )
        base = base.join(MarketSession, on_session)
        counted = counted.join(MarketSession, on_session)
        where += timed
    count = db.scalar(counted.where(*where)) or 0
    rows = db.execute(
        base.where(*where)
        .order_by(MarketMatch.block_number.desc(), MarketMatch.log_index)
        .limit(page.limit)
        .offset(page.offset)
    ).all()
    data = [
        MatchPublic.model_validate(
            RowWith(m, my_side="both" if b and o else ("bid" if b else "offer"))
        )
        for m, b, o in rows
    ]
    return MatchesPublic(data=data, count=count)


@router.get(
    "/summary",
    response_model=SessionMatchesListPublic,
    summary="Per-session match aggregates: count, volume, prices; no traders (members)",
)
def match_summary(
    _claims: MemberDep,
    db: DbDep,
    scope: ScopeDep,
    page: PageDep,
    when: TimeRangeDep,
    session_id: SessionQuery = None,
    area: AreaQuery = None,
) -> SessionMatchesListPublic:
    where = [*in_scope(MarketSession, scope), *delivery_between(when)]
    if session_id is not None:
        where.append(MarketSession.session_id == session_id)
    if area is not None:
        where.append(MarketSession.grid_area == area)
    joined = and_(
        MarketMatch.chain_id == MarketSession.chain_id,
        MarketMatch.market == MarketSession.market,
        MarketMatch.session_id == MarketSession.session_id,
    )
    count = db.scalar(select(func.count()).select_from(MarketSession).where(*where)) or 0
    volume = func.sum(MarketMatch.qty_wh)
    rows = db.execute(
        select(
            MarketSession.session_id,
            MarketSession.grid_area,
            MarketSession.delivery_start_s,
            func.count(MarketMatch.log_index).label("match_count"),
            func.coalesce(volume, 0).label("volume_wh"),
            func.min(MarketMatch.price_per_kwh).label("min_price_per_kwh"),
            func.max(MarketMatch.price_per_kwh).label("max_price_per_kwh"),
            # Volume-weighted mean: both sums as doubles (exact below 2**53), NULL without
            # volume.
            (
                cast(func.sum(MarketMatch.qty_wh * MarketMatch.price_per_kwh), Float)
                / func.nullif(cast(volume, Float), 0)
            ).label("avg_price_per_kwh"),
        )
        .select_from(MarketSession)
        .outerjoin(MarketMatch, joined)
        .where(*where)
        .group_by(MarketSession.session_id, MarketSession.grid_area, MarketSession.delivery_start_s)
        .order_by(MarketSession.session_id.desc())
        .limit(page.limit)
        .offset(page.offset)
    ).all()
    return SessionMatchesListPublic(
        data=[SessionMatchesPublic.model_validate(r) for r in rows], count=count
    )
