"""Trade settlements: a member's own settled sessions, as a seller and as a buyer (its
delegating members' for an aggregator; anyone's for the market operator).

A session is settled on delivery (``FlexMarket.settleSession``): each seller's row is its
``SellerSettled`` event, each buyer's the sum of its filled bids' ``BuyerRefunded`` events.
The session-wide totals are public in ``GET /sessions/{id}``.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from sqlalchemy import func, literal, select, union
from sqlalchemy.orm import Session

from api.access import require_personal
from api.deps import ClaimsDep, DbDep, PageDep, ParticipantQuery, ScopeDep, SessionQuery
from api.names import directory_names, named
from api.routes._filters import in_scope
from api.schemas import RowWith, TradeSettlementPublic, TradeSettlementsPublic
from api.service import Scope
from streams.models import MarketOrder, MarketSellerSettlement, MarketSession

router = APIRouter(prefix="/trade-settlements", tags=["orders"])

BID = 0
SettlementSide = Annotated[
    Literal["seller", "buyer"] | None, Query(description="Only as a seller, or as a buyer.")
]


def _seller_sessions(scope: Scope, trader: str, session_id: int | None) -> Any:
    m = MarketSellerSettlement
    where = [m.chain_id == scope.chain_id, m.seller == trader]
    if scope.market is not None:
        where.append(m.market == scope.market)
    if session_id is not None:
        where.append(m.session_id == session_id)
    return select(m.session_id.label("session_id"), literal("seller").label("side")).where(*where)


def _buyer_sessions(scope: Scope, trader: str, session_id: int | None) -> Any:
    o = MarketOrder
    where = [*in_scope(o, scope), o.trader == trader, o.side == BID, o.refund.is_not(None)]
    if session_id is not None:
        where.append(o.session_id == session_id)
    return select(o.session_id.label("session_id"), literal("buyer").label("side")).where(*where)


def _sessions(db: Session, scope: Scope, ids: set[int]) -> dict[int, MarketSession]:
    rows = db.scalars(
        select(MarketSession).where(
            *in_scope(MarketSession, scope), MarketSession.session_id.in_(sorted(ids))
        )
    )
    return {r.session_id: r for r in rows}


@router.get(
    "",
    response_model=TradeSettlementsPublic,
    summary="Your settled trades: per session, what you delivered and earned as a seller, "
    "what you paid and got back as a buyer (another member's: 403, except for its aggregator "
    "and the operator)",
)
def list_trade_settlements(
    claims: ClaimsDep,
    db: DbDep,
    scope: ScopeDep,
    page: PageDep,
    participant: ParticipantQuery = None,
    session_id: SessionQuery = None,
    side: SettlementSide = None,
) -> TradeSettlementsPublic:
    trader = participant or claims.address
    require_personal(db, scope, claims, trader, "trade settlements", operator_ok=True)
    parts = []
    if side in (None, "seller"):
        parts.append(_seller_sessions(scope, trader, session_id))
    if side in (None, "buyer"):
        parts.append(_buyer_sessions(scope, trader, session_id))
    keys = union(*parts).subquery() if len(parts) > 1 else parts[0].distinct().subquery()
    count = db.scalar(select(func.count()).select_from(keys)) or 0
    page_keys = [
        (int(sid), str(s))
        for sid, s in db.execute(
            select(keys.c.session_id, keys.c.side)
            .order_by(keys.c.session_id.desc(), keys.c.side.desc())  # seller before buyer
            .limit(page.limit)
            .offset(page.offset)
        )
    ]
    ids = {sid for sid, _ in page_keys}
    sessions = _sessions(db, scope, ids)
    sold = {
        r.session_id: r
        for r in db.scalars(
            select(MarketSellerSettlement).where(
                MarketSellerSettlement.chain_id == scope.chain_id,
                MarketSellerSettlement.seller == trader,
                MarketSellerSettlement.session_id.in_(sorted(ids)),
                *(
                    [MarketSellerSettlement.market == scope.market]
                    if scope.market is not None
                    else []
                ),
            )
        )
    }
    bought: dict[int, dict[str, int]] = defaultdict(lambda: dict(filled_wh=0, paid=0, refund=0))
    for o in db.scalars(
        select(MarketOrder).where(
            *in_scope(MarketOrder, scope),
            MarketOrder.trader == trader,
            MarketOrder.side == BID,
            MarketOrder.refund.is_not(None),
            MarketOrder.session_id.in_(sorted(ids)),
        )
    ):
        b = bought[o.session_id]  # amounts summed exactly here: uint256 columns are text in SQLite
        b["filled_wh"] += o.filled_wh
        b["paid"] += o.paid or 0
        b["refund"] += o.refund or 0
    data = []
    for sid, s in page_keys:
        info = sessions[sid]
        common = dict(
            session_id=sid,
            delivery_start_s=info.delivery_start_s,
            settled_block=info.settled_block,
            trader=trader,
            side=s,
        )
        if s == "seller":
            data.append(TradeSettlementPublic.model_validate(RowWith(sold[sid], **common)))
        else:
            data.append(TradeSettlementPublic.model_validate({**common, **bought[sid]}))
    return named(TradeSettlementsPublic(data=data, count=count), directory_names(db, scope))
