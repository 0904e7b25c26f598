"""FastAPI dependencies as ``Annotated`` aliases: the service, a database session, the caller's
verified claims, pagination, filters.

The cheap ones are ``async def``: FastAPI runs a plain ``def`` dependency in the thread pool,
and a hop per dependency per request cost more than the work itself (bench_api). Nothing here
blocks: resolving the scope the first time and reading the caller's role in the read models
(once per authenticated request) go to a thread."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any

import anyio
from eth_utils import to_checksum_address
from fastapi import Depends, Query, Request
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import AfterValidator, BeforeValidator, StringConstraints, WithJsonSchema
from sqlalchemy.orm import Session

from api.access import on_chain_claims
from api.errors import AuthenticationError, BadRequestError, ForbiddenError
from api.schemas import ADDRESS_PATTERN
from api.security import Claims
from api.service import ApiService, Scope

PAGE_MAX = 500
PAGE_DEFAULT = 50


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


Address = Annotated[str, StringConstraints(pattern=ADDRESS_PATTERN), AfterValidator(_checksum)]
"""An address parameter: 0x and 40 hex digits, any case (the schema says so), checksummed."""


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
    """Delivery-time window ``[since_s, until_s)`` in unix seconds; None: open on that side.
    A window that ends before it starts holds nothing (an empty page, not an error: the
    schema cannot say that one parameter must not be after another)."""

    since_s: int | None
    until_s: int | None


UNIX_S_MAX = 253_402_300_799
"""9999-12-31T23:59:59Z, the last second an RFC 3339 date-time can name."""
_WHOLE_SECONDS = re.compile(r"([0-9]+)(?:\.0+)?")
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?"
    r"(?:[Zz]|([+-])(\d{2}):(\d{2}))"
)


def _days_from_civil(year: int, month: int, day: int) -> int:
    """Days from 1970-01-01 to a proleptic Gregorian date (year 0 too; H. Hinnant's method)."""
    year -= month <= 2
    era = year // 400
    yoe = year - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146_097 + doe - 719_468


def parse_instant(value: Any) -> int:
    """Unix seconds from a query value: an RFC 3339 date-time (with its offset; fractions of a
    second round up, as the bounds compare with whole seconds; a leap second 60 is the next
    minute's first) or unix seconds (a non-negative integer, which JSON Schema also lets one
    write as ``15.0``, not ``0.5``). Anything else is a ValueError (422), as the schema says."""
    text = str(value)
    whole = _WHOLE_SECONDS.fullmatch(text)
    if whole is not None:
        if int(whole.group(1)) > UNIX_S_MAX:
            raise ValueError(f"unix seconds must be at most {UNIX_S_MAX} (year 9999)")
        return int(whole.group(1))
    m = _RFC3339.fullmatch(text) if text.isascii() else None
    if m is None:
        raise ValueError(
            "expected an RFC 3339 date-time with its offset (e.g. 2026-01-01T00:00:00Z) or unix "
            "seconds (a non-negative integer)"
        )
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    fraction, sign, off_h, off_m = m.group(7), m.group(8), m.group(9), m.group(10)
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    days_in = (31, 29 if leap else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
    if not (1 <= month <= 12 and 1 <= day <= days_in[month - 1]):
        raise ValueError(f"there is no day {year:04d}-{month:02d}-{day:02d}")
    if hour > 23 or minute > 59 or second > 60:
        raise ValueError(f"there is no time {hour:02d}:{minute:02d}:{second:02d}")
    offset_s = 0
    if sign is not None:
        if int(off_h) > 23 or int(off_m) > 59:
            raise ValueError(f"the offset {sign}{off_h}:{off_m} is out of range")
        offset_s = (int(off_h) * 60 + int(off_m)) * 60 * (1 if sign == "+" else -1)
    ceil = 1 if fraction is not None and fraction.strip("0") else 0
    days = _days_from_civil(year, month, day)
    return days * 86_400 + hour * 3600 + minute * 60 + second + ceil - offset_s


INSTANT_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"type": "string", "format": "date-time"},
        {"type": "integer", "minimum": 0, "maximum": UNIX_S_MAX},
    ]
}
Instant = Annotated[int, BeforeValidator(parse_instant), WithJsonSchema(INSTANT_SCHEMA)]
"""A time parameter: an RFC 3339 date-time or unix seconds, as unix seconds."""


async def get_time_range(
    since: Annotated[
        Instant | None,
        Query(description="Delivery starts at or after (RFC 3339 date-time, or unix seconds)."),
    ] = None,
    until: Annotated[
        Instant | None,
        Query(
            description="Delivery starts before (RFC 3339 date-time, or unix seconds); before "
            "`since`: nothing matches."
        ),
    ] = None,
) -> TimeRange:
    return TimeRange(since, until)


TimeRangeDep = Annotated[TimeRange, Depends(get_time_range)]

TEXT_PATTERN = r"^[^\x00-\x1f\x7f]+$"
"""A text parameter: no control characters (PostgreSQL stores no NUL; no name has one)."""
AreaQuery = Annotated[
    str | None,
    Query(
        min_length=1, max_length=32, pattern=TEXT_PATTERN, description="Grid area, e.g. feeder-1."
    ),
]
SessionQuery = Annotated[int | None, Query(ge=0, le=2**63 - 1, description="Session id.")]
ParticipantQuery = Annotated[
    Address | None, Query(description="Participant address (0x and 40 hex digits).")
]


def _query_names(dependant: Any) -> frozenset[str]:
    names = {q.alias for q in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return frozenset(names)


_QUERY_NAMES: dict[int, tuple[APIRoute, frozenset[str]]] = {}


def query_parameters_of(route: APIRoute) -> frozenset[str]:
    """The query parameters ``route`` declares (its dependencies' too), computed once per
    route (routes are not hashable: cached by identity, the route kept with its names)."""
    cached = _QUERY_NAMES.get(id(route))
    if cached is None or cached[0] is not route:
        cached = (route, _query_names(route.dependant))
        _QUERY_NAMES[id(route)] = cached
    return cached[1]


async def known_query_only(request: Request) -> None:
    """Refuse a query parameter the route does not declare (422 naming it): a misspelt or
    retired parameter (e.g. ``page``) would otherwise be ignored without a word, and the
    answer would not be what the client asked for. Routes outside the schema (the web UI's
    index) take any query."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or not route.include_in_schema:
        return
    allowed = query_parameters_of(route)
    unknown = sorted(set(request.query_params) - allowed)
    if unknown:
        raise BadRequestError(
            f"unknown query parameter {', '.join(repr(u[:40]) for u in unknown[:5])}: "
            f"{route.path} takes {', '.join(sorted(allowed)) or 'no query parameters'}",
            details={"unknown": [u[:40] for u in unknown[:20]], "allowed": sorted(allowed)},
        )
    # Every parameter takes one value: a repeated one would be read as one of its copies.
    repeated = sorted(n for n in allowed if len(request.query_params.getlist(n)) > 1)
    if repeated:
        raise BadRequestError(
            f"query parameter {', '.join(repr(n) for n in repeated)} given more than once: "
            "each takes one value",
            details={"repeated": repeated},
        )
