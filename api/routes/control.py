"""Control over the thermal twins (issue 18, "Users see it"): the control policies compared
for a member's home and for the community, and what the controller did in the home and why.

Personal (as ``/twin``): a member reads its own home's comparison (``/control/compare``) and
control status (``/control/status``), the aggregator it delegated to on-chain reads them too
(``/control/{address}/...``), and anyone else is refused with a 403 that names no one. A home
without one yet answers 404.

``/control/community`` sums every stored home's comparison of the chain (totals per policy,
ratios to business as usual from the sums, the number of homes): any logged-in member may read
it, and it names no home. With fewer than :data:`MIN_HOMES` homes it shows only their number
(a sum of one or two homes would show theirs).

The comparisons and statuses are what the control runs stored (``bright control compare
--account``, :mod:`analytics.control.store`), not chain data.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from sqlalchemy.orm import Session

from analytics.control.store import (
    get_comparison_stored,
    get_status,
    list_comparisons,
    sum_comparisons,
)
from api.access import require_personal
from api.deps import Address, ClaimsDep, DbDep, MemberDep, ScopeDep
from api.errors import ApiError, NotFoundError
from api.schemas import (
    ControlCommunityPublic,
    ControlComparisonPublic,
    ControlStatusPublic,
)
from api.service import Scope

router = APIRouter(prefix="/control", tags=["control"])

MIN_HOMES = 3
"""Homes needed before the community's sums are shown."""

AddressPath = Annotated[Address, Path(description="The member's address (0x and 40 hex digits).")]


class NoComparisonError(NotFoundError):
    """The home has no comparison of the control policies yet."""

    def __init__(self, own: bool) -> None:
        ApiError.__init__(
            self,
            "no comparison of the control policies for your home yet: one is made from your "
            "home's twin by `bright control compare --account`"
            if own
            else "no comparison of the control policies for this member's home yet",
        )


class NoStatusError(NotFoundError):
    """No controller drives the home yet."""

    def __init__(self, own: bool) -> None:
        ApiError.__init__(
            self,
            "no control status for your home yet: a controller has not driven it"
            if own
            else "no control status for this member's home yet",
        )


class NoCommunityError(NotFoundError):
    def __init__(self) -> None:
        ApiError.__init__(self, "no comparison of the control policies for any home yet")


def _comparison(db: Session, scope: Scope, account: str, own: bool) -> ControlComparisonPublic:
    found = get_comparison_stored(db, scope.chain_id, account)
    if found is None:
        raise NoComparisonError(own)
    report, series, stored_s = found
    period = report["period"]
    return ControlComparisonPublic.model_validate(
        {
            "account": account,
            "stored_s": stored_s,
            "period": {**period, "end_s": period["start_s"] + period["steps"] * period["step_s"]},
            "cost_function": report["cost_function"],
            "policies": report["policies"],
            "series": series,
        }
    )


def _status(db: Session, scope: Scope, account: str, own: bool) -> ControlStatusPublic:
    status = get_status(db, scope.chain_id, account)
    if status is None:
        raise NoStatusError(own)
    return ControlStatusPublic.model_validate({"account": account, **status})


def community(reports: list[dict[str, Any]]) -> ControlCommunityPublic:
    """The community's sums of ``reports`` (:func:`analytics.control.store.sum_comparisons`),
    only their number below :data:`MIN_HOMES` homes."""
    sums = sum_comparisons(reports)
    suppressed = sums["homes"] < MIN_HOMES
    return ControlCommunityPublic.model_validate(
        {
            **sums,
            "min_homes": MIN_HOMES,
            "suppressed": suppressed,
            "policies": {} if suppressed else sums["policies"],
        }
    )


@router.get(
    "/compare",
    response_model=ControlComparisonPublic,
    summary="Your home: the control policies compared (totals, ratios to business as usual, "
    "series)",
)
def own_comparison(claims: ClaimsDep, db: DbDep, scope: ScopeDep) -> ControlComparisonPublic:
    return _comparison(db, scope, claims.address, own=True)


@router.get(
    "/status",
    response_model=ControlStatusPublic,
    summary="Your home: what the controller did in the last steps and why, and its flexibility",
)
def own_status(claims: ClaimsDep, db: DbDep, scope: ScopeDep) -> ControlStatusPublic:
    return _status(db, scope, claims.address, own=True)


@router.get(
    "/community",
    response_model=ControlCommunityPublic,
    summary="The control policies compared over the community's homes (sums, no home named)",
)
def community_comparison(claims: MemberDep, db: DbDep, scope: ScopeDep) -> ControlCommunityPublic:
    del claims  # any member
    reports = [report for _, report in list_comparisons(db, scope.chain_id)]
    if not reports:
        raise NoCommunityError()
    return community(reports)


@router.get(
    "/{address}/compare",
    response_model=ControlComparisonPublic,
    summary="A member's home: the control policies compared (the member and its delegated "
    "aggregator; others: 403)",
)
def member_comparison(
    address: AddressPath, claims: ClaimsDep, db: DbDep, scope: ScopeDep
) -> ControlComparisonPublic:
    require_personal(db, scope, claims, address, "a home's control comparison and status")
    return _comparison(db, scope, address, own=address == claims.address)


@router.get(
    "/{address}/status",
    response_model=ControlStatusPublic,
    summary="A member's home: the controller's last steps and why (the member and its "
    "delegated aggregator; others: 403)",
)
def member_status(
    address: AddressPath, claims: ClaimsDep, db: DbDep, scope: ScopeDep
) -> ControlStatusPublic:
    require_personal(db, scope, claims, address, "a home's control comparison and status")
    return _status(db, scope, address, own=address == claims.address)
