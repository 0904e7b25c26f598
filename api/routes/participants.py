"""Registered participants (ParticipantRegistry read model)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query

from api.access import sees_participant_details
from api.deps import (
    ADDRESS_PATTERN,
    Address,
    AreaQuery,
    ClaimsDep,
    DbDep,
    MemberDep,
    PageDep,
    ScopeDep,
)
from api.errors import ForbiddenError, NotFoundError
from api.routes._filters import page_of
from api.schemas import ParticipantPublic, ParticipantsPublic, RowWith
from api.security import Claims
from streams.models import Participant

router = APIRouter(prefix="/participants", tags=["participants"])

RoleName = Literal["prosumer", "aggregator", "dso", "oracle", "market-operator"]


def _public(p: Participant, details: bool) -> ParticipantPublic:
    return ParticipantPublic.model_validate(
        p if details else RowWith(p, meter_id=None, aggregator=None)
    )


@router.get("", response_model=ParticipantsPublic, summary="Participants (members only)")
def list_participants(
    claims: MemberDep,
    db: DbDep,
    scope: ScopeDep,
    page: PageDep,
    area: AreaQuery = None,
    role: Annotated[RoleName | None, Query(description="Only this on-chain role.")] = None,
    active: Annotated[bool | None, Query(description="Only (in)active participants.")] = None,
) -> ParticipantsPublic:
    where = [Participant.chain_id == scope.chain_id]
    if area is not None:
        where.append(Participant.grid_area == area)
    if role is not None:
        where.append(Participant.role_name == role)
    if active is not None:
        where.append(Participant.active.is_(active))
    count, rows = page_of(
        db, Participant, where, [Participant.registered_block, Participant.account], page
    )
    return ParticipantsPublic(
        data=[_public(p, sees_participant_details(db, scope, claims, p.account)) for p in rows],
        count=count,
    )


@router.get(
    "/{address}",
    response_model=ParticipantPublic,
    summary="One participant (itself: always; others: members)",
)
def get_participant(
    address: Annotated[Address, Path(pattern=ADDRESS_PATTERN)],
    claims: ClaimsDep,
    db: DbDep,
    scope: ScopeDep,
) -> ParticipantPublic:
    if address != claims.address:
        _require_member(claims)
    p = db.get(Participant, (scope.chain_id, address))
    if p is None:
        raise NotFoundError(f"participant {address}")
    return _public(p, sees_participant_details(db, scope, claims, address))


def _require_member(claims: Claims) -> None:
    if not claims.is_member:
        raise ForbiddenError(
            f"{claims.address} is not a registered participant: other participants are for members"
        )
