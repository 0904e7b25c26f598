"""Meter data and forecasts: personal (the member and its delegated aggregator only).

A member's meter is the one the ParticipantRegistry holds for it (``participants.meter_id``);
the meter oracle commits its 15-minute import/export energy under that id, and the forecast
oracle commits the member's forecasts under the same id.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import select

from api.access import require_personal
from api.deps import Address, ClaimsDep, DbDep, PageDep, ScopeDep, TimeRangeDep
from api.errors import NotFoundError
from api.routes._filters import page_of
from api.schemas import (
    ForecastPublic,
    ForecastsPublic,
    MeterIntervalPublic,
    MeterIntervalsPublic,
)
from api.service import Scope
from streams.models import Forecast, MeterInterval, Participant

router = APIRouter(tags=["meter data"])

MemberQuery = Annotated[
    Address | None,
    Query(description="The member (default: you)."),
]


def meter_of(db: DbDep, scope: Scope, member: str) -> str:
    meter = db.scalar(
        select(Participant.meter_id).where(
            Participant.chain_id == scope.chain_id, Participant.account == member
        )
    )
    if not meter:
        raise NotFoundError("a registered meter of the member")
    return str(meter)


@router.get(
    "/meter-intervals",
    response_model=MeterIntervalsPublic,
    summary="Your committed 15-minute meter data (another member's: 403)",
)
def meter_intervals(
    claims: ClaimsDep,
    db: DbDep,
    scope: ScopeDep,
    page: PageDep,
    when: TimeRangeDep,
    participant: MemberQuery = None,
) -> MeterIntervalsPublic:
    member = participant or claims.address
    require_personal(db, scope, claims, member, "meter data")
    meter = meter_of(db, scope, member)
    where = [MeterInterval.chain_id == scope.chain_id, MeterInterval.meter_id == meter]
    if when.since_s is not None:
        where.append(MeterInterval.interval_start_s >= when.since_s)
    if when.until_s is not None:
        where.append(MeterInterval.interval_start_s < when.until_s)
    count, rows = page_of(db, MeterInterval, where, [MeterInterval.interval_start_s.desc()], page)
    return MeterIntervalsPublic(
        data=[MeterIntervalPublic.model_validate(r) for r in rows], count=count
    )


@router.get(
    "/forecasts",
    response_model=ForecastsPublic,
    summary="Your committed forecasts, 10/50/90 % quantiles (another member's: 403)",
)
def forecasts(
    claims: ClaimsDep,
    db: DbDep,
    scope: ScopeDep,
    page: PageDep,
    when: TimeRangeDep,
    participant: MemberQuery = None,
) -> ForecastsPublic:
    member = participant or claims.address
    require_personal(db, scope, claims, member, "forecasts")
    meter = meter_of(db, scope, member)
    where = [Forecast.chain_id == scope.chain_id, Forecast.participant_id == meter]
    if when.since_s is not None:
        where.append(Forecast.interval_start_s >= when.since_s)
    if when.until_s is not None:
        where.append(Forecast.interval_start_s < when.until_s)
    count, rows = page_of(db, Forecast, where, [Forecast.interval_start_s], page)
    return ForecastsPublic(data=[ForecastPublic.model_validate(r) for r in rows], count=count)
