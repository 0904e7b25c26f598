"""Home devices and comfort preferences (IHG-5/7/8, ISM-3/4): personal, like meter data.

Served by the home-gateway bridge running in the same process (``bright up``): an API without
one does not have these routes. A household is found through the member's registered meter.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body
from pydantic import BaseModel, ConfigDict, Field

from api.access import require_personal
from api.deps import ClaimsDep, DbDep, ScopeDep, ServiceDep
from api.errors import BadRequestError, NotFoundError, UnavailableError
from api.routes.meters import MemberQuery, meter_of
from api.service import GatewayView

router = APIRouter(tags=["home devices"])

NO_HOUSEHOLD = "a household (home gateway) with the member's meter"


class DevicesPublic(BaseModel):
    data: list[dict[str, Any]] = Field(
        description="Per device: id, adapter, role, online, battery, last value per property."
    )
    count: int


class PreferencesIn(BaseModel):
    """Comfort bands of the household; fields left out keep their current value."""

    model_config = ConfigDict(extra="forbid")

    temperature_min_c: float | None = Field(None, description="Lowest comfortable, degC.")
    temperature_max_c: float | None = Field(None, description="Highest comfortable, degC.")
    humidity_min_rh: float | None = Field(None, description="Lowest comfortable, %RH.")
    humidity_max_rh: float | None = Field(None, description="Highest comfortable, %RH.")
    mode: str | None = Field(None, description="comfort or economy.")
    co2_limit_ppm: float | None = Field(None, description="Advise ventilating above, ppm.")


class PreferencesPublic(BaseModel):
    preferences: dict[str, Any]
    commands: list[dict[str, Any]] = Field(
        default_factory=list, description="Device commands the comfort rules sent for the change."
    )


def _gateway(service: ServiceDep) -> GatewayView:
    if service.gateway is None:
        raise UnavailableError(
            "no home-gateway bridge runs in this API process (bright up runs one)"
        )
    return service.gateway


@router.get("/devices", response_model=DevicesPublic, summary="Your home devices and their status")
def devices(
    claims: ClaimsDep,
    db: DbDep,
    scope: ScopeDep,
    service: ServiceDep,
    participant: MemberQuery = None,
) -> DevicesPublic:
    member = participant or claims.address
    require_personal(db, scope, claims, member, "home devices")
    found = _gateway(service).devices_of(meter_of(db, scope, member))
    if found is None:
        raise NotFoundError(NO_HOUSEHOLD)
    return DevicesPublic(data=found, count=len(found))


@router.get("/preferences", response_model=PreferencesPublic, summary="Your comfort preferences")
def get_preferences(
    claims: ClaimsDep,
    db: DbDep,
    scope: ScopeDep,
    service: ServiceDep,
    participant: MemberQuery = None,
) -> PreferencesPublic:
    member = participant or claims.address
    require_personal(db, scope, claims, member, "comfort preferences")
    prefs = _gateway(service).preferences_of(meter_of(db, scope, member))
    if prefs is None:
        raise NotFoundError(NO_HOUSEHOLD)
    return PreferencesPublic(preferences=prefs)


@router.put(
    "/preferences",
    response_model=PreferencesPublic,
    summary="Change your comfort preferences; the comfort rules act on them at once",
)
def put_preferences(
    claims: ClaimsDep,
    db: DbDep,
    scope: ScopeDep,
    service: ServiceDep,
    body: Annotated[PreferencesIn, Body()],
) -> PreferencesPublic:
    require_personal(db, scope, claims, claims.address, "comfort preferences")
    gateway = _gateway(service)
    meter = meter_of(db, scope, claims.address)
    current = gateway.preferences_of(meter)
    if current is None:
        raise NotFoundError(NO_HOUSEHOLD)
    changes = body.model_dump(exclude_none=True)
    try:
        commands = gateway.set_preferences_of(meter, {**current, **changes})
    except ValueError as exc:
        raise BadRequestError(f"preferences refused: {exc}") from exc
    return PreferencesPublic(preferences=gateway.preferences_of(meter) or {}, commands=commands)
