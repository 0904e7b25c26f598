"""The caller's own entry in the member directory: display name and flexible assets.

Only one's own: there is no address to name, the token says whose profile it is. A member
(an address with an on-chain role) reads and changes it; the directory is never on-chain and
other members see the name only where they may see the address (:mod:`api.names`), the assets
only where they may see the meter (``/participants``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body

from api.deps import DbDep, MemberDep, ScopeDep
from api.errors import BadRequestError
from api.schemas import ProfileIn, ProfilePublic
from streams.directory import DirectoryError, Profile, get_profile, put_profile

router = APIRouter(prefix="/profile", tags=["participants"])


def _public(account: str, profile: Profile | None) -> ProfilePublic:
    if profile is None:
        return ProfilePublic(account=account, display_name=None, assets=[], meters=[])
    return ProfilePublic.model_validate(
        {
            "account": account,
            "display_name": profile.display_name,
            "assets": profile.assets,
            "meters": profile.meters,
        }
    )


@router.get("", response_model=ProfilePublic, summary="Your profile (members)")
def read_profile(claims: MemberDep, db: DbDep, scope: ScopeDep) -> ProfilePublic:
    return _public(claims.address, get_profile(db, scope.chain_id, claims.address))


@router.put(
    "",
    response_model=ProfilePublic,
    summary="Change your display name or assets (each field given replaces that part)",
)
def change_profile(
    claims: MemberDep, db: DbDep, scope: ScopeDep, body: Annotated[ProfileIn, Body()]
) -> ProfilePublic:
    assets = None if body.assets is None else [a.model_dump() for a in body.assets]
    # the schema holds every rule of streams.directory, so this refuses nothing it lets in
    try:
        profile = put_profile(db, scope.chain_id, claims.address, body.display_name, assets)
        db.commit()
    except DirectoryError as exc:
        db.rollback()
        raise BadRequestError(f"profile refused: {exc}") from exc
    return _public(claims.address, profile)
