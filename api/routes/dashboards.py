"""Dashboards: aggregates of the read models for the web UI's charts, under the same access
rules as the rows they sum (:mod:`api.access`).

* ``/dashboards/market``: price and volume history (public market data: any member).
* ``/dashboards/dso``: per request delivered against requested, per interval over time, the
  success rate (settled requests delivered within tolerance / settled) and the cost of a kWh
  of flexibility (request terms, per-interval totals and payouts are public to members, as in
  ``/requests``); by default the caller's own requests when it is a DSO, else every DSO's.
* ``/dashboards/operator``: the platform's health (chain head against the indexed block,
  services, events per minute) and key figures: the market operator only.
* ``/dashboards/members/{address}``: a member's earnings, penalties and reputation over time,
  personal data as ``/accounts/{address}/coordination`` (itself, its delegated aggregator,
  the market operator).

Amounts are FlexToken base units (micro-euros), prices base units per kWh.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections import deque
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from api.access import require_personal
from api.deps import (
    Address,
    ClaimsDep,
    DbDep,
    MemberDep,
    PageDep,
    ScopeDep,
    ServiceDep,
    TimeRangeDep,
)
from api.errors import ForbiddenError
from api.names import directory_names, named
from api.routes._filters import delivery_between, in_scope
from api.schemas import (
    DsoDashboardPublic,
    DsoIntervalPointPublic,
    DsoRequestPointPublic,
    MarketDashboardPublic,
    MarketPointPublic,
    MemberDashboardPublic,
    MemberPointPublic,
    OperatorDashboardPublic,
    ServiceStatusPublic,
)
from api.security import DSO, MARKET_OPERATOR, PROSUMER
from api.service import ApiService, Scope
from core.rules import member_money, within_tolerance
from streams.models import (
    ChainEventRow,
    FlexAccount,
    FlexCoalitionMember,
    FlexMemberInterval,
    FlexRequest,
    FlexRequestInterval,
    IndexCheckpoint,
    MarketSellerSettlement,
    MarketSession,
    Participant,
)

router = APIRouter(prefix="/dashboards", tags=["dashboards"])

CLEARED = ("cleared", "settled")
"""Session statuses with a clearing price and a matched volume."""
LAG_OK_BLOCKS = 5
"""The indexer counts as keeping up while it is at most this many blocks behind the head."""
RATE_WINDOW_S = 600.0
"""Events per minute are measured over the calls of the last 10 minutes."""
GAS_NOTE = (
    "The read models keep events, not receipts, so they hold no gas figures; "
    "`bright bench gas` measures each operation's gas from real receipts."
)


# ---- market --------------------------------------------------------------------------------


@router.get(
    "/market",
    response_model=MarketDashboardPublic,
    summary="Price and volume history: the latest cleared sessions, oldest first (members)",
)
def market_dashboard(
    _claims: MemberDep, db: DbDep, scope: ScopeDep, page: PageDep, when: TimeRangeDep
) -> MarketDashboardPublic:
    s = MarketSession
    where = [*in_scope(s, scope), s.status.in_(CLEARED), *delivery_between(when)]
    count = db.scalar(select(func.count()).select_from(s).where(*where)) or 0
    rows = list(
        db.scalars(
            select(s)
            .where(*where)
            .order_by(s.delivery_start_s.desc(), s.session_id.desc())
            .limit(page.limit)
            .offset(page.offset)
        )
    )
    rows.reverse()
    points = [
        MarketPointPublic(
            session_id=r.session_id,
            grid_area=r.grid_area,
            delivery_start_s=r.delivery_start_s,
            status=r.status,
            price_per_kwh=r.price_per_kwh,
            volume_wh=int(r.volume_wh or 0),
            match_count=int(r.match_count or 0),
        )
        for r in rows
    ]
    volume = sum(p.volume_wh for p in points)
    priced = sum(p.volume_wh * (p.price_per_kwh or 0) for p in points)
    return MarketDashboardPublic(
        data=points,
        count=count,
        volume_wh=volume,
        mean_price_per_kwh=priced / volume if volume else None,
    )


# ---- DSO -----------------------------------------------------------------------------------


@router.get(
    "/dso",
    response_model=DsoDashboardPublic,
    summary="Requests delivered against requested, success rate and cost per kWh (members; "
    "a DSO's own requests by default)",
)
def dso_dashboard(
    claims: MemberDep,
    db: DbDep,
    scope: ScopeDep,
    page: PageDep,
    dso: Annotated[
        Address | None,
        Query(description="Whose requests; default: the caller's if it is a DSO, else all."),
    ] = None,
) -> DsoDashboardPublic:
    whose = dso if dso is not None else (claims.address if claims.has(DSO) else None)
    r = FlexRequest
    where: list[Any] = [r.chain_id == scope.chain_id]
    if whose is not None:
        where.append(r.dso == whose)
    count = db.scalar(select(func.count()).select_from(r).where(*where)) or 0
    requests = list(
        db.scalars(
            select(r)
            .where(*where)
            .order_by(r.request_id.desc())
            .limit(page.limit)
            .offset(page.offset)
        )
    )
    requests.reverse()
    ids = [q.request_id for q in requests]
    ri = FlexRequestInterval
    by_request: dict[int, list[FlexRequestInterval]] = {i: [] for i in ids}
    if ids:
        for k in db.scalars(
            select(ri)
            .where(ri.chain_id == scope.chain_id, ri.request_id.in_(ids))
            .order_by(ri.interval_start_s, ri.request_id)
        ):
            by_request[k.request_id].append(k)
    points, intervals = [], []
    settled = within = credited_total = paid_total = 0
    for q in requests:
        rows = by_request[q.request_id]
        is_settled = q.status == "settled"
        delivered = sum(k.delivered_wh or 0 for k in rows) if is_settled else None
        credited = sum(k.credited_wh or 0 for k in rows) if is_settled else None
        ok = (
            all(within_tolerance(k.delivered_wh or 0, k.requested_wh, q.tolerance_bp) for k in rows)
            if is_settled
            else None
        )
        paid = int(q.payout_total) if is_settled and q.payout_total is not None else None
        if is_settled:
            settled += 1
            within += bool(ok)
            credited_total += credited or 0
            paid_total += paid or 0
        points.append(
            DsoRequestPointPublic(
                request_id=q.request_id,
                dso=q.dso,
                grid_area=q.grid_area,
                status=q.status,
                window_start_s=q.window_start_s,
                requested_wh=sum(int(x) for x in q.quantities_wh),
                target_wh=sum(k.target_wh for k in rows),
                delivered_wh=delivered,
                credited_wh=credited,
                within_tolerance=ok,
                paid=None if paid is None else str(paid),
                cost_per_kwh=paid * 1000 / credited if paid is not None and credited else None,
            )
        )
        intervals += [
            DsoIntervalPointPublic(
                request_id=k.request_id,
                interval_start_s=k.interval_start_s,
                requested_wh=k.requested_wh,
                delivered_wh=k.delivered_wh if is_settled else None,
            )
            for k in rows
        ]
    intervals.sort(key=lambda p: (p.interval_start_s, p.request_id))
    board = DsoDashboardPublic(
        # echoed only where it is public (a DSO of some request) or the caller's own: an
        # address given in the query is not confirmed back otherwise
        dso=whose if whose is None or count or whose == claims.address else None,
        requests=points,
        intervals=intervals,
        count=count,
        settled_count=settled,
        within_tolerance_count=within,
        success_rate=within / settled if settled else None,
        paid_total=str(paid_total),
        credited_wh_total=credited_total,
        cost_per_kwh=paid_total * 1000 / credited_total if credited_total else None,
    )
    return named(board, directory_names(db, scope))


# ---- operator ------------------------------------------------------------------------------


class _EventRate:
    """Events indexed per minute of wall time, from the counts seen by this route's calls
    (the read models keep no time of indexing, and the demo chain's clock runs faster than
    the wall clock, so block timestamps would not say how busy the platform is)."""

    def __init__(self) -> None:
        self._seen: dict[int, deque[tuple[float, int]]] = {}
        self._lock = threading.Lock()

    def per_minute(self, key: int, count: int, now: float) -> float | None:
        with self._lock:
            seen = self._seen.setdefault(key, deque(maxlen=64))
            while seen and now - seen[0][0] > RATE_WINDOW_S:
                seen.popleft()
            rate = None
            if seen and now - seen[0][0] >= 1.0:
                t0, c0 = seen[0]
                rate = max(0, count - c0) * 60.0 / (now - t0)
            seen.append((now, count))
            return rate


_RATE = _EventRate()


def _head_block(rpc_url: str) -> tuple[int | None, str]:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []})
    req = urllib.request.Request(
        rpc_url, data=body.encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=2.0) as resp:
            return int(json.loads(resp.read())["result"], 16), "answers"
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return None, f"does not answer ({type(exc).__name__})"


def _count(db: Session, model: Any, *where: Any) -> int:
    return int(db.scalar(select(func.count()).select_from(model).where(*where)) or 0)


@router.get(
    "/operator",
    response_model=OperatorDashboardPublic,
    summary="The platform's health (chain head vs indexed block, services, events per minute) "
    "and key figures (market operator only)",
)
def operator_dashboard(
    claims: MemberDep, db: DbDep, scope: ScopeDep, service: ServiceDep
) -> OperatorDashboardPublic:
    if not claims.has(MARKET_OPERATOR):
        raise ForbiddenError("the platform's health and figures are for the market operator")
    head, rpc_detail = _head_block(service.settings.rpc_url)
    cp = db.get(IndexCheckpoint, scope.chain_id)
    indexed = cp.block_number if cp is not None else None
    lag = head - indexed if head is not None and indexed is not None else None
    events = _count(db, ChainEventRow, ChainEventRow.chain_id == scope.chain_id)
    services = [
        ServiceStatusPublic(name="read models", ok=True, detail="answer"),
        ServiceStatusPublic(
            name="chain RPC", ok=head is not None, detail=f"{service.settings.rpc_url} {rpc_detail}"
        ),
        ServiceStatusPublic(
            name="indexer",
            ok=lag is not None and lag <= LAG_OK_BLOCKS,
            detail="no checkpoint yet"
            if indexed is None
            else f"at block {indexed}"
            + ("" if lag is None else f", {lag} behind the head")
            + ("" if lag is None or lag <= LAG_OK_BLOCKS else f" (more than {LAG_OK_BLOCKS})"),
        ),
        _gateway_status(service),
    ]
    s, p, r = MarketSession, Participant, FlexRequest
    return OperatorDashboardPublic(
        head_block=head,
        indexed_block=indexed,
        lag_blocks=lag,
        events_indexed=events,
        events_per_minute=_RATE.per_minute(scope.chain_id, events, time.monotonic()),
        services=services,
        members=_count(
            db, p, p.chain_id == scope.chain_id, p.role_name == PROSUMER, p.active.is_(True)
        ),
        participants=_count(db, p, p.chain_id == scope.chain_id, p.active.is_(True)),
        sessions_cleared=_count(db, s, *in_scope(s, scope), s.status.in_(CLEARED)),
        volume_wh=int(
            db.scalar(select(func.coalesce(func.sum(s.volume_wh), 0)).where(*in_scope(s, scope)))
            or 0
        ),
        requests_published=_count(db, r, r.chain_id == scope.chain_id),
        requests_settled=_count(db, r, r.chain_id == scope.chain_id, r.status == "settled"),
        gas_spent=None,
        gas_note=GAS_NOTE,
    )


def _gateway_status(service: ApiService) -> ServiceStatusPublic:
    if service.gateway is None:
        return ServiceStatusPublic(
            name="gateway bridge", ok=True, detail="not attached to this API (no home data)"
        )
    return ServiceStatusPublic(name="gateway bridge", ok=True, detail="attached")


# ---- member --------------------------------------------------------------------------------


@router.get(
    "/members/{address}",
    response_model=MemberDashboardPublic,
    summary="A member's earnings, penalties and reputation over time (itself, its delegated "
    "aggregator, the operator; others: 403)",
)
def member_dashboard(
    address: Annotated[Address, Path(description="Account address (0x and 40 hex digits).")],
    claims: ClaimsDep,
    db: DbDep,
    scope: ScopeDep,
    page: PageDep,
) -> MemberDashboardPublic:
    require_personal(db, scope, claims, address, "earnings and penalties", operator_ok=True)
    rows = _request_points(db, scope, address) + _session_points(db, scope, address)
    rows.sort(key=lambda x: (x[0], x[1] == "session", x[2]))
    points, reputation = [], 0
    for time_s, kind, id_, earned, penalty, pts in rows:
        reputation += pts or 0
        points.append(
            MemberPointPublic(
                kind=kind,
                id=id_,
                time_s=time_s,
                earned=str(earned),
                penalty=str(penalty),
                points=pts,
                reputation=reputation,
            )
        )
    end = len(points) - page.offset
    shown = points[max(0, end - page.limit) : max(0, end)]
    acct = db.get(FlexAccount, (scope.chain_id, address))
    board = MemberDashboardPublic(
        account=address,
        data=shown,
        earned_total=str(sum(int(p.earned) for p in shown)),
        penalty_total=str(sum(int(p.penalty) for p in shown)),
        reputation=acct.reputation if acct is not None else 0,
    )
    return named(board, directory_names(db, scope))


Point = tuple[int, str, int, int, int, int | None]
"""(time, kind, id, earned, penalty, points) of one settled request or session."""


def _request_points(db: Session, scope: Scope, address: str) -> list[Point]:
    """Each settled request the member was in: rewards and penalties by the rules
    (:func:`core.rules.member_money` over its credited and short Wh per interval)."""
    cm, r, mi = FlexCoalitionMember, FlexRequest, FlexMemberInterval
    found = db.execute(
        select(cm, r)
        .join(r, and_(r.chain_id == cm.chain_id, r.request_id == cm.request_id))
        .where(cm.chain_id == scope.chain_id, cm.member == address, cm.settled.is_(True))
    ).all()
    if not found:
        return []
    cells: dict[int, list[FlexMemberInterval]] = {}
    for k in db.scalars(
        select(mi)
        .where(
            mi.chain_id == scope.chain_id,
            mi.member == address,
            mi.request_id.in_([m.request_id for m, _ in found]),
        )
        .order_by(mi.request_id, mi.interval_index)
    ):
        cells.setdefault(k.request_id, []).append(k)
    out: list[Point] = []
    for m, req in found:
        ks = cells.get(m.request_id, [])
        money = member_money(
            [k.credited_wh or 0 for k in ks],
            [k.shortfall_wh or 0 for k in ks],
            req.price_per_kwh or 0,
            req.penalty_per_kwh,
        )
        out.append(
            (
                req.window_start_s,
                "request",
                m.request_id,
                money.reward_total,
                money.penalty_total,
                m.points,
            )
        )
    return out


def _session_points(db: Session, scope: Scope, address: str) -> list[Point]:
    """Each market session the member sold in, settled on delivery."""
    ss, s = MarketSellerSettlement, MarketSession
    where = [ss.chain_id == scope.chain_id, ss.seller == address]
    if scope.market is not None:
        where.append(ss.market == scope.market)
    found = db.execute(
        select(ss, s.delivery_start_s)
        .join(
            s,
            and_(s.chain_id == ss.chain_id, s.market == ss.market, s.session_id == ss.session_id),
        )
        .where(*where)
    ).all()
    return [
        (start, "session", row.session_id, int(row.earned), int(row.penalty), None)
        for row, start in found
    ]
