"""Registered participants (ParticipantRegistry read model)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from sqlalchemy import select

from api.access import listed_participant, sees_participant_details
from api.deps import (
    Address,
    AreaQuery,
    ClaimsDep,
    DbDep,
    MemberDep,
    PageDep,
    ScopeDep,
)
from api.errors import ForbiddenError, NotFoundError
from api.names import directory_names, named
from api.routes._filters import page_of
from api.schemas import ParticipantPublic, ParticipantsPublic, RowWith
from api.security import Claims
from streams.directory import Profile, get_profiles
from streams.models import Participant

router = APIRouter(prefix="/participants", tags=["participants"])

RoleName = Literal["prosumer", "aggregator", "dso", "oracle", "market-operator"]


def _public(
    p: Participant, details: bool, profiles: Mapping[str, Profile], names: Mapping[str, str]
) -> ParticipantPublic:
    """The row as the caller may see it: its display name with it (the row is listed only
    where its address may be seen), its meter, delegation, assets and extra meters only with
    the details."""
    profile = profiles.get(p.account)
    extra: dict[str, Any] = {"display_name": None if profile is None else profile.display_name}
    if details:
        extra["assets"] = [] if profile is None else profile.assets
        extra["meters"] = [] if profile is None else profile.meters
    else:
        extra.update(meter_id=None, aggregator=None, assets=None, meters=None)
    return named(ParticipantPublic.model_validate(RowWith(p, **extra)), names)


@router.get(
    "",
    response_model=ParticipantsPublic,
    summary="Participants: the organisations, and the prosumers you may see (members only; the "
    "DSO and the operator: all)",
)
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
    visible = listed_participant(scope, claims)
    if visible is not None:
        where.append(visible)
    if area is not None:
        where.append(Participant.grid_area == area)
    if role is not None:
        where.append(Participant.role_name == role)
    if active is not None:
        where.append(Participant.active.is_(active))
    count, rows = page_of(
        db, Participant, where, [Participant.registered_block, Participant.account], page
    )
    rows = list(rows)
    profiles = get_profiles(db, scope.chain_id, [p.account for p in rows])
    names = directory_names(db, scope)
    return ParticipantsPublic(
        data=[
            _public(p, sees_participant_details(db, scope, claims, p.account), profiles, names)
            for p in rows
        ],
        count=count,
    )


@router.get(
    "/{address}",
    response_model=ParticipantPublic,
    summary="One participant (itself: always; others: members, for a participant they may "
    "see; any other is not found)",
)
def get_participant(
    address: Annotated[Address, Path(description="Account address (0x and 40 hex digits).")],
    claims: ClaimsDep,
    db: DbDep,
    scope: ScopeDep,
) -> ParticipantPublic:
    where = [Participant.chain_id == scope.chain_id, Participant.account == address]
    if address != claims.address:
        _require_member(claims)
        visible = listed_participant(scope, claims)
        if visible is not None:
            where.append(visible)
    p = db.scalars(select(Participant).where(*where)).first()
    if p is None:  # a prosumer the caller may not see answers as an unregistered address
        raise NotFoundError("participant")
    details = sees_participant_details(db, scope, claims, address)
    profiles = get_profiles(db, scope.chain_id, [p.account])
    return _public(p, details, profiles, directory_names(db, scope))


def _require_member(claims: Claims) -> None:
    if not claims.is_member:
        raise ForbiddenError(
            f"{claims.address} is not a registered participant: other participants are for members"
        )
