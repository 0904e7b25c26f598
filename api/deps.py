"""FastAPI dependencies as ``Annotated`` aliases: the service, a database session, the caller's
verified claims, pagination, filters.

The cheap ones are ``async def``: FastAPI runs a plain ``def`` dependency in the thread pool,
and a hop per dependency per request cost more than the work itself (bench_api). Nothing here
blocks: resolving the scope the first time and reading the caller's role in the read models
(once per authenticated request) go to a thread."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

import anyio
from eth_utils import to_checksum_address
from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import AfterValidator
from sqlalchemy.orm import Session

from api.access import on_chain_claims
from api.errors import AuthenticationError, BadRequestError, ForbiddenError
from api.security import Claims
from api.service import ApiService, Scope

PAGE_MAX = 500
PAGE_DEFAULT = 50
ADDRESS_PATTERN = r"^0x[0-9a-fA-F]{40}$"


async def get_service(request: Request) -> ApiService:
    service: ApiService = request.app.state.service
    return service


ServiceDep = Annotated[ApiService, Depends(get_service)]


async def get_db(service: ServiceDep) -> AsyncIterator[Session]:
    # Sessions connect lazily: creating and closing one does not block.
    with service.sessions() as session:
        yield session


DbDep = Annotated[Session, Depends(get_db)]


async def get_scope(service: ServiceDep) -> Scope:
    return await resolve_scope(service)


async def resolve_scope(service: ApiService) -> Scope:
    cached = service.cached_scope
    if cached is not None:
        return cached
    return await anyio.to_thread.run_sync(service.scope)


ScopeDep = Annotated[Scope, Depends(get_scope)]

_bearer = HTTPBearer(auto_error=False, description="Access token from POST /auth/login.")


async def _claims_from(service: ApiService, token: str | None) -> Claims:
    """The caller of a valid token, with its role as the chain says now (not as the token
    says): the token proves who calls; the participants read model, what it may do."""
    if not token:
        raise AuthenticationError(
            "log in first: send 'Authorization: Bearer <token>' (POST /auth/login)"
        )
    claims = service.tokens.decode(token)
    if claims.chain_id != (await resolve_scope(service)).chain_id:
        raise AuthenticationError(
            f"the access token is for chain {claims.chain_id}, not this API's",
            code="invalid_token",
        )
    return await anyio.to_thread.run_sync(current_claims, service, claims)


def current_claims(service: ApiService, claims: Claims) -> Claims:
    """:func:`api.access.on_chain_claims` in a session of its own (a thread's)."""
    with service.session() as db:
        return on_chain_claims(db, claims)


async def get_claims(
    service: ServiceDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Claims:
    return await _claims_from(service, credentials.credentials if credentials else None)


ClaimsDep = Annotated[Claims, Depends(get_claims)]


async def get_stream_claims(
    service: ServiceDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    access_token: Annotated[
        str | None,
        Query(
            max_length=4096,
            description="The access token, for EventSource clients that cannot send headers.",
        ),
    ] = None,
) -> Claims:
    return await _claims_from(service, credentials.credentials if credentials else access_token)


StreamClaimsDep = Annotated[Claims, Depends(get_stream_claims)]


async def get_member(claims: ClaimsDep) -> Claims:
    if not claims.is_member:
        raise ForbiddenError(
            f"{claims.address} is not a registered participant: market data is for members"
        )
    return claims


MemberDep = Annotated[Claims, Depends(get_member)]


def _checksum(value: str) -> str:
    return str(to_checksum_address(value))


Address = Annotated[str, AfterValidator(_checksum)]


@dataclass(frozen=True)
class Page:
    limit: int
    offset: int


async def get_page(
    limit: Annotated[
        int, Query(ge=1, le=PAGE_MAX, description=f"Items per page, 1 to {PAGE_MAX}.")
    ] = PAGE_DEFAULT,
    offset: Annotated[int, Query(ge=0, le=10_000_000, description="Items to skip.")] = 0,
) -> Page:
    return Page(limit, offset)


PageDep = Annotated[Page, Depends(get_page)]


@dataclass(frozen=True)
class TimeRange:
    """Delivery-time window in unix seconds; None: open on that side."""

    since_s: int | None
    until_s: int | None


def _unix(t: datetime | None) -> int | None:
    if t is None:
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return int(t.timestamp())


async def get_time_range(
    since: Annotated[
        datetime | None,
        Query(description="Delivery starts at or after (RFC 3339, or unix seconds)."),
    ] = None,
    until: Annotated[
        datetime | None,
        Query(description="Delivery starts before (RFC 3339, or unix seconds)."),
    ] = None,
) -> TimeRange:
    try:
        rng = TimeRange(_unix(since), _unix(until))
    except (OverflowError, ValueError, OSError) as exc:
        raise BadRequestError(f"the time range is out of bounds: {exc}") from exc
    if rng.since_s is not None and rng.until_s is not None and rng.since_s > rng.until_s:
        raise BadRequestError(
            "the time range ends before it starts: 'since' must not be after 'until'",
            details={
                "since": since.isoformat() if since else None,
                "until": until.isoformat() if until else None,
            },
        )
    return rng


TimeRangeDep = Annotated[TimeRange, Depends(get_time_range)]

AreaQuery = Annotated[
    str | None, Query(min_length=1, max_length=32, description="Grid area, e.g. feeder-1.")
]
SessionQuery = Annotated[int | None, Query(ge=0, le=2**63 - 1, description="Session id.")]
ParticipantQuery = Annotated[
    Address | None,
    Query(pattern=ADDRESS_PATTERN, description="Participant address (0x and 40 hex digits)."),
]
