"""Coalitions and members' coordination accounts (FlexCoordination read models).

* ``GET /requests/{id}/coalition``: each member's targets per interval and, once settled, its
  deliveries, credits, payout, penalty and points, and where it fell short an ``explanation``
  (the intervals, the baseline, metered and delivered Wh: :mod:`api.explanations`, from that
  row's own meter data, the evidence its settlement rests on). The request's DSO, its
  coordinator and the market operator see every row; a member sees its own row (an aggregator
  its delegators'), and everyone the per-interval totals.
* ``GET /accounts/{address}/coordination``: claimable payouts, reputation, settled count and
  the member's requests with its targets against its deliveries; personal (the member, its
  delegated aggregator, the market operator).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Annotated, Any, cast

from fastapi import APIRouter, Path, Query
from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from api.access import (
    hidden_members,
    masked,
    own_and_delegated,
    require_personal,
    sees_whole_request,
)
from api.deps import Address, ClaimsDep, DbDep, MemberDep, PageDep, ScopeDep
from api.explanations import BaselineTerms, baseline_starts, row_explanation
from api.names import directory_names, named
from api.routes.requests import (
    RequestId,
    interval_rows,
    load_request,
)
from api.schemas import (
    AccountCoordinationPublic,
    AccountRequestPublic,
    CoalitionPublic,
    CoalitionRowPublic,
    IntervalTotalPublic,
    RequestStatusName,
    RowWith,
)
from api.service import Scope
from streams.models import (
    FlexAccount,
    FlexCoalitionMember,
    FlexMemberInterval,
    FlexOptIn,
    FlexRequest,
    MeterInterval,
)

router = APIRouter(tags=["coalitions"])

_NO_ACCOUNT = SimpleNamespace(
    claimable=0,
    earned_total=0,
    claimed_total=0,
    penalty_uncovered_total=0,
    reputation=0,
    settled_count=0,
    opt_in_count=0,
)
"""The standing of an address the coordination contract never credited (never stored)."""


@dataclass
class _Cells:
    """One member's per-interval figures in one request, as columns in interval order."""

    targets: list[int] = field(default_factory=list)
    delivered: list[int | None] = field(default_factory=list)
    credited: list[int | None] = field(default_factory=list)
    shortfall: list[int | None] = field(default_factory=list)
    missing: list[bool | None] = field(default_factory=list)

    def settled(self, values: list[int | None]) -> list[int] | None:
        """``values`` once settled (every interval has one), else None."""
        if not values or None in values:
            return None
        return cast(list[int], values)

    def missing_intervals(self) -> list[int] | None:
        if not self.missing or None in self.missing:
            return None
        return [k for k, m in enumerate(self.missing) if m]

    def columns(self) -> dict[str, Any]:
        """The per-interval fields of a coalition row."""
        return {
            "targets_wh": self.targets,
            "delivered_wh": self.settled(self.delivered),
            "credited_wh": self.settled(self.credited),
            "shortfall_wh": self.settled(self.shortfall),
            "missing_intervals": self.missing_intervals(),
        }


def _cells(
    db: Session, scope: Scope, request_ids: list[int], members: list[str]
) -> dict[tuple[int, str], _Cells]:
    """The per-interval figures of these members in these requests (plain rows read as
    columns, not ORM objects: a page of 500 members x 96 intervals is 48,000 of them)."""
    out: dict[tuple[int, str], _Cells] = defaultdict(_Cells)
    if not request_ids or not members:
        return out
    mi = FlexMemberInterval
    wanted = sorted(set(members))
    for lo in range(0, len(wanted), 500):
        rows = db.execute(
            select(
                mi.request_id,
                mi.member,
                mi.target_wh,
                mi.delivered_wh,
                mi.credited_wh,
                mi.shortfall_wh,
                mi.missing_data,
            )
            .where(
                mi.chain_id == scope.chain_id,
                mi.request_id.in_(sorted(set(request_ids))),
                mi.member.in_(wanted[lo : lo + 500]),
            )
            .order_by(mi.request_id, mi.member, mi.interval_index)
        )
        for rid, member, target, delivered, credited, shortfall, missing in rows:
            c = out[(rid, member)]
            c.targets.append(target)
            c.delivered.append(delivered)
            c.credited.append(credited)
            c.shortfall.append(shortfall)
            c.missing.append(missing)
    return out


def _explanations(
    db: Session,
    scope: Scope,
    req: FlexRequest,
    members: list[FlexCoalitionMember],
    cells: dict[tuple[int, str], _Cells],
) -> dict[str, str]:
    """The explanation of each of these rows (the caller may see them all) that fell short
    (:func:`api.explanations.row_explanation`), from its own meter's intervals: the baseline's
    and the window's."""
    short = [
        m for m in members if any(s for s in cells[(req.request_id, m.member)].shortfall if s)
    ]
    if not short:
        return {}
    terms = BaselineTerms(
        req.window_start_s,
        req.direction,
        req.tolerance_bp,
        req.baseline_intervals,
        req.baseline_gap_intervals,
    )
    mi = MeterInterval
    net: dict[str, dict[int, int]] = defaultdict(dict)
    found = db.execute(
        select(mi.meter_id, mi.interval_start_s, mi.import_wh, mi.export_wh).where(
            mi.chain_id == scope.chain_id,
            mi.meter_id.in_(sorted({m.meter_id for m in short})),
            mi.interval_start_s >= baseline_starts(terms)[0],
            mi.interval_start_s < req.window_end_s,
        )
    )
    for meter, start, imported, exported in found:
        net[meter][int(start)] = int(imported) - int(exported)
    out = {}
    for m in short:
        c = cells[(req.request_id, m.member)]
        text = row_explanation(
            terms,
            c.targets,
            c.settled(c.delivered),
            c.settled(c.shortfall),
            c.missing_intervals(),
            net.get(m.meter_id, {}),
        )
        if text is not None:
            out[m.member] = text
    return out


@router.get(
    "/requests/{request_id}/coalition",
    response_model=CoalitionPublic,
    summary="A request's coalition: targets, deliveries and results per member and interval "
    "(its DSO, coordinator, the operator: every row; a member: its own) and totals",
)
def get_coalition(
    request_id: RequestId,
    claims: MemberDep,
    db: DbDep,
    scope: ScopeDep,
    page: PageDep,
) -> CoalitionPublic:
    req = load_request(db, scope, request_id)
    cm = FlexCoalitionMember
    where: list[Any] = [cm.chain_id == scope.chain_id, cm.request_id == request_id]
    everything = sees_whole_request(claims, req.dso, req.coordinator, req.status)
    if not everything:
        where.append(cm.member.in_(sorted(own_and_delegated(db, scope, claims))))
    count = db.scalar(select(func.count()).select_from(cm).where(*where)) or 0
    members = list(
        db.scalars(
            select(cm).where(*where).order_by(cm.row_index).limit(page.limit).offset(page.offset)
        )
    )
    cells = _cells(db, scope, [request_id], [m.member for m in members])
    explanations = _explanations(db, scope, req, members, cells)
    # A member seeing its own row sees who replaced it (or whom it replaced) only if it may
    # see that member's address.
    hidden = frozenset() if everything else hidden_members(db, scope, claims)
    rows = [
        CoalitionRowPublic.model_validate(
            RowWith(
                m,
                replaces=masked(m.replaces, hidden),
                replaced_by=masked(m.replaced_by, hidden),
                explanation=explanations.get(m.member),
                **cells[(request_id, m.member)].columns(),
            )
        )
        for m in members
    ]
    totals = [IntervalTotalPublic.model_validate(t) for t in interval_rows(db, scope, request_id)]
    return named(
        CoalitionPublic.model_validate(
            RowWith(
                req, visible="all" if everything else "own", rows=rows, count=count, totals=totals
            )
        ),
        directory_names(db, scope),
    )


@router.get(
    "/accounts/{address}/coordination",
    response_model=AccountCoordinationPublic,
    summary="A member's claimable payouts, reputation and requests with targets vs delivered "
    "(itself, its delegated aggregator, the operator; others: 403)",
)
def account_coordination(
    address: Annotated[Address, Path(description="Account address (0x and 40 hex digits).")],
    claims: ClaimsDep,
    db: DbDep,
    scope: ScopeDep,
    page: PageDep,
    status: Annotated[
        RequestStatusName | None, Query(description="Only requests with this status.")
    ] = None,
) -> AccountCoordinationPublic:
    require_personal(db, scope, claims, address, "coordination figures", operator_ok=True)
    acct = db.get(FlexAccount, (scope.chain_id, address))
    oi, r, cm = FlexOptIn, FlexRequest, FlexCoalitionMember
    where: list[Any] = [oi.chain_id == scope.chain_id, oi.member == address]
    if status is not None:
        where.append(r.status == status)
    joined = (
        select(oi, r, cm)
        .join(r, and_(r.chain_id == oi.chain_id, r.request_id == oi.request_id))
        .outerjoin(
            cm,
            and_(
                cm.chain_id == oi.chain_id, cm.request_id == oi.request_id, cm.member == oi.member
            ),
        )
        .where(*where)
    )
    count = db.scalar(select(func.count()).select_from(joined.subquery())) or 0
    found = db.execute(
        joined.order_by(oi.request_id.desc()).limit(page.limit).offset(page.offset)
    ).all()
    cells = _cells(db, scope, [o.request_id for o, _, _ in found], [address])
    requests = []
    for o, req, m in found:
        mine = cells.get((o.request_id, address), _Cells())
        # The coalition row's fields (meter, totals, payout, points) read from ``m``; not in
        # the coalition (m is None): they are missing, so null.
        requests.append(
            AccountRequestPublic.model_validate(
                RowWith(
                    m,
                    request_id=o.request_id,
                    request_status=req.status,
                    grid_area=req.grid_area,
                    window_start_s=req.window_start_s,
                    intervals=req.intervals,
                    opt_in_status=o.status,
                    max_wh=o.max_wh,
                    in_coalition=m is not None,
                    targets_wh=mine.targets if m is not None else None,
                    delivered_wh=mine.settled(mine.delivered),
                    credited_wh=mine.settled(mine.credited),
                )
            )
        )
    return named(
        AccountCoordinationPublic.model_validate(
            RowWith(acct or _NO_ACCOUNT, account=address, requests=requests, count=count)
        ),
        directory_names(db, scope),
    )
