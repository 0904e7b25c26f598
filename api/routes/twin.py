"""A home's thermal twin (SLC-4, SLC-9): its parameters, fit and what-if scenarios, and its
measured against simulated series. Personal (SLC-11, SLC-12): a member reads its own home's
(``/twin``), the aggregator it delegated to on-chain reads it too (``/twin/{address}``), and
anyone else is refused with a 403 that names no one (as every personal route). A home without
a twin yet answers 404.

The twins are what ``bright twin ...`` stored (:mod:`analytics.thermal.store`), not chain data.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from sqlalchemy.orm import Session

from analytics.thermal.results import Series
from analytics.thermal.store import MEASURED, SeriesInfo, TwinInfo, get_series, get_twin_info
from api.access import require_personal
from api.deps import Address, ClaimsDep, DbDep, Instant, ScopeDep
from api.errors import ApiError, NotFoundError
from api.schemas import (
    TwinPublic,
    TwinScenarioPublic,
    TwinSeriesInfoPublic,
    TwinSeriesPublic,
    TwinSeriesValuesPublic,
)
from api.service import Scope

router = APIRouter(prefix="/twin", tags=["thermal twin"])

WINDOW_DEFAULT_S = 14 * 86_400
"""A series window's default length: the last 14 days of the simulated series."""
WINDOW_MAX_S = 366 * 86_400
"""Most of a window one answer holds (a year at 15 minutes: 35,136 intervals)."""

AddressPath = Annotated[Address, Path(description="The member's address (0x and 40 hex digits).")]
ScenarioQuery = Annotated[
    str,
    Query(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$",
        description="The scenario to simulate: as-is (default) or a what-if (GET /twin lists "
        "them).",
    ),
]
FromQuery = Annotated[
    Instant | None,
    Query(
        alias="from",
        description="Intervals that start at or after (RFC 3339 date-time, or unix seconds); "
        "default: 14 days before `to`.",
    ),
]
ToQuery = Annotated[
    Instant | None,
    Query(
        alias="to",
        description="Intervals that start before (RFC 3339 date-time, or unix seconds); "
        "default: the end of the simulated series. A window longer than 366 days is cut to "
        "its first 366; one that ends before it starts holds no values.",
    ),
]


class NoTwinError(NotFoundError):
    """The home has no twin yet (none was made, or it was made for another home)."""

    def __init__(self, own: bool) -> None:
        ApiError.__init__(
            self,
            "no twin for your home yet: one is made from your home's data by `bright twin`"
            if own
            else "no twin for this member's home yet",
        )


class NoScenarioError(NotFoundError):
    def __init__(self, name: str, known: list[str]) -> None:
        ApiError.__init__(
            self,
            f"no scenario {name!r} in this twin; it has {', '.join(known) or 'none'}",
            details={"scenarios": known},
        )


def _info(db: Session, scope: Scope, account: str, own: bool) -> TwinInfo:
    info = get_twin_info(db, scope.chain_id, account)
    if info is None:
        raise NoTwinError(own)
    return info


def _public(info: TwinInfo) -> TwinPublic:
    def where(s: SeriesInfo) -> TwinSeriesInfoPublic:
        return TwinSeriesInfoPublic(
            start_s=s.start_s, step_s=s.step_s, length=s.length, end_s=s.end_s
        )

    return TwinPublic(
        account=info.account,
        home_id=info.home_id,
        created_s=info.created_s,
        stored_s=info.stored_s,
        inputs_sha256=info.inputs_sha256,
        params=info.params,
        fit=info.fit,
        measured=None if info.measured is None else where(info.measured),
        scenarios=[
            TwinScenarioPublic(
                name=sc.name,
                description=sc.description,
                config=sc.config,
                totals=sc.totals,
                series=where(sc.series),
            )
            for sc in info.scenarios
        ],
    )


def _values(s: Series) -> TwinSeriesValuesPublic:
    return TwinSeriesValuesPublic.model_validate(s.to_json())


def _series(
    db: Session,
    scope: Scope,
    info: TwinInfo,
    scenario: str,
    from_s: int | None,
    to_s: int | None,
) -> TwinSeriesPublic:
    chosen = next((sc for sc in info.scenarios if sc.name == scenario), None)
    if chosen is None:
        raise NoScenarioError(scenario, [sc.name for sc in info.scenarios])
    end = chosen.series.end_s if to_s is None else to_s
    start = end - WINDOW_DEFAULT_S if from_s is None else from_s
    start = max(start, 0)
    end = min(end, start + WINDOW_MAX_S)
    simulated = get_series(db, scope.chain_id, info.account, scenario, start, end)
    measured = None
    if info.measured is not None:
        measured = get_series(db, scope.chain_id, info.account, MEASURED, start, end)
    if simulated is None:  # replaced between the two reads
        raise NoTwinError(True)
    return TwinSeriesPublic(
        account=info.account,
        home_id=info.home_id,
        scenario=scenario,
        from_s=start,
        to_s=max(end, start),
        measured=None if measured is None else _values(measured),
        simulated=_values(simulated),
    )


@router.get("", response_model=TwinPublic, summary="Your home's thermal twin (no series)")
def own_twin(claims: ClaimsDep, db: DbDep, scope: ScopeDep) -> TwinPublic:
    return _public(_info(db, scope, claims.address, own=True))


@router.get(
    "/series",
    response_model=TwinSeriesPublic,
    summary="Your home: measured and simulated series over a window (default: last 14 days)",
)
def own_series(
    claims: ClaimsDep,
    db: DbDep,
    scope: ScopeDep,
    scenario: ScenarioQuery = "as-is",
    from_s: FromQuery = None,
    to_s: ToQuery = None,
) -> TwinSeriesPublic:
    info = _info(db, scope, claims.address, own=True)
    return _series(db, scope, info, scenario, from_s, to_s)


@router.get(
    "/{address}",
    response_model=TwinPublic,
    summary="A member's home twin (the member and its delegated aggregator; others: 403)",
)
def member_twin(address: AddressPath, claims: ClaimsDep, db: DbDep, scope: ScopeDep) -> TwinPublic:
    require_personal(db, scope, claims, address, "a home's twin and its series")
    return _public(_info(db, scope, address, own=address == claims.address))


@router.get(
    "/{address}/series",
    response_model=TwinSeriesPublic,
    summary="A member's home: measured and simulated series (the member and its delegated "
    "aggregator; others: 403)",
)
def member_series(
    address: AddressPath,
    claims: ClaimsDep,
    db: DbDep,
    scope: ScopeDep,
    scenario: ScenarioQuery = "as-is",
    from_s: FromQuery = None,
    to_s: ToQuery = None,
) -> TwinSeriesPublic:
    require_personal(db, scope, claims, address, "a home's twin and its series")
    info = _info(db, scope, address, own=address == claims.address)
    return _series(db, scope, info, scenario, from_s, to_s)
