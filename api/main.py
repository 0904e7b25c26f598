"""The FastAPI application: ``create_app(settings)``.

Every error answers with one body shape, ``{"error": {"code", "message", "details"}}``:
validation errors (422, with each invalid field), authentication (401), privacy (403),
missing things (404), an unavailable database (503), and anything unexpected (500, without
internals). OpenAPI docs at ``/docs`` and ``/redoc`` (offline: :mod:`api.docs`), the schema at
``/openapi.json``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.deps import known_query_only
from api.docs import mount_docs
from api.errors import ApiError
from api.routes import GATEWAY_ROUTERS, ROUTERS
from api.schemas import ErrorBody
from api.service import ApiService
from api.settings import ApiSettings
from core.paths import ROOT

log = logging.getLogger(__name__)

DESCRIPTION = """Read API of the BRIGHT flexibility marketplace. Log in with your wallet:
`GET /auth/nonce`, sign an EIP-4361 message with that nonce, `POST /auth/login`, then send
`Authorization: Bearer <access_token>`. Your on-chain role is read on every request (a
deactivated account is refused at once). You see your own orders, matches and balances; public
market data (sessions, clearing prices and volumes, anonymised depth) is open to members.
This is the API's access rule, not secrecy: the chain itself (its RPC URL is in `/config`) is
public, and a redacted event keeps its transaction hash, so its sender can be read there."""

_ERROR_CONTENT = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "No valid access token."},
    403: {"model": ErrorBody, "description": "Another member's data, or a role is needed."},
    404: {"model": ErrorBody, "description": "Not in the read models."},
    503: {"model": ErrorBody, "description": "The read models cannot answer now."},
}
ANSWERS_WHO = {"/auth/login"}
"""Operations without a bearer token that still refuse a caller (a login: 401, or 403 for an
account deactivated on-chain)."""
_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    415: "unsupported_media_type",
    422: "invalid_query",
    429: "too_many_requests",
}


def _error(
    status: int,
    code: str,
    message: str,
    details: Any = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body = {"error": {"code": code, "message": message, "details": details}}
    return JSONResponse(body, status_code=status, headers=headers)


def _loc(loc: Any) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("query", "path", "header", "body", "cookie"):
        return f"{parts[0]} " + ".".join(parts[1:]) if len(parts) > 1 else parts[0]
    return ".".join(parts)


def _validation_details(exc: RequestValidationError) -> list[dict[str, Any]]:
    out = []
    for err in exc.errors():
        item: dict[str, Any] = {
            "loc": [str(p) for p in err.get("loc", ())],
            "message": str(err.get("msg", "")),
            "type": str(err.get("type", "")),
        }
        if "input" in err and isinstance(err["input"], str | int | float | bool):
            text = str(err["input"])
            item["input"] = text if len(text) <= 200 else text[:200] + "..."
        out.append(item)
    return out


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_request: Request, exc: ApiError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
        return _error(exc.status_code, exc.code, exc.message, exc.details, headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        details = _validation_details(exc)
        message = "; ".join(f"{_loc(d['loc'])}: {d['message']}" for d in details[:5])
        if len(details) > 5:
            message += f"; and {len(details) - 5} more"
        return _error(422, "invalid_query", f"invalid request: {message}", details)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:
            # FastAPI's "error parsing the body" (not UTF-8 / not JSON): a malformed request,
            # answered like every other one.
            return _error(422, "invalid_body", f"invalid request: {exc.detail}")
        code = _CODES.get(exc.status_code, "http_error")
        return _error(exc.status_code, code, str(exc.detail), None, exc.headers)

    @app.exception_handler(SQLAlchemyError)
    async def db_error(_request: Request, exc: SQLAlchemyError) -> JSONResponse:
        log.warning("read-model query failed: %s", exc)
        return _error(
            503, "unavailable", "the read-model database did not answer", type(exc).__name__
        )

    @app.exception_handler(Exception)
    async def unexpected(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error", exc_info=exc)
        return _error(500, "internal_error", "the API failed unexpectedly; it is logged")


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A parameter's schema without FastAPI's ``{"type": "null"}`` branch of an optional one:
    a query string cannot carry a null, an optional parameter is simply left out."""
    branches = schema.get("anyOf")
    if not isinstance(branches, list) or {"type": "null"} not in branches:
        return schema
    rest = [b for b in branches if b != {"type": "null"}]
    out = {k: v for k, v in schema.items() if k != "anyOf"}
    return {**rest[0], **out} if len(rest) == 1 else {**out, "anyOf": rest}


def _openapi(app: FastAPI) -> dict[str, Any]:
    """The schema, with every 422 answer documented as the API's error body and parameters
    typed as strictly as the server reads them."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    schemas = schema.setdefault("components", {}).setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    for name, path in schema.get("paths", {}).items():
        for op in path.values():
            for param in op.get("parameters", []):
                param["schema"] = _without_null(param["schema"])
            responses = op.setdefault("responses", {})
            # Any operation refuses a query parameter it does not take (api.deps).
            responses["422"] = {
                "description": "Malformed request: an invalid, unknown or repeated parameter "
                "(each in details).",
                "content": _ERROR_CONTENT,
            }
            if "security" not in op and name not in ANSWERS_WHO:
                responses.pop("401", None)  # no token read, so none refused
                responses.pop("403", None)
    app.openapi_schema = schema
    return schema


WEB_DIST = ROOT / "web" / "dist"
"""The built web UI (``npm --prefix web run build``; git-ignored)."""
WEB_PREFIX = "/ui"
"""URL prefix of the UI's assets (no API route starts with it); the UI's index is at ``/``."""


def mount_web_ui(app: FastAPI, dist: Path) -> None:
    """Serve the built web UI: its index at ``/`` (hash routing, so SPA paths never reach the
    API) and its assets under ``/ui/``. Without a build, ``/`` says how to make one."""
    # check_dir=False: a build made after the API started is served too.
    app.mount(WEB_PREFIX, StaticFiles(directory=dist, check_dir=False), name="web-ui")

    @app.get("/", include_in_schema=False)
    def web_index() -> Response:
        index = dist / "index.html"
        if not index.is_file():
            return _error(
                503,
                "ui_not_built",
                f"the web UI is not built ({index} is missing): run `make setup` "
                "or `npm --prefix web run build`",
            )
        return FileResponse(index, headers={"Cache-Control": "no-cache"})


def create_app(settings: ApiSettings | None = None, service: ApiService | None = None) -> FastAPI:
    """The API on the read models of ``settings.database_url`` (an empty database is migrated
    to the current schema)."""
    settings = settings or ApiSettings()
    service = service or ApiService.open(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        service.close()

    app = FastAPI(
        title="BRIGHT flexibility marketplace API",
        version="1.0.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        responses=ERROR_RESPONSES,
        dependencies=[Depends(known_query_only)],
        docs_url=None,  # FastAPI's pages load Swagger UI / ReDoc from a CDN: api.docs instead
        redoc_url=None,
    )
    app.state.service = service
    app.state.settings = settings
    install_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    if service.gateway is not None:  # device status and preferences need the bridge
        for router in GATEWAY_ROUTERS:
            app.include_router(router)
    mount_docs(app)
    mount_web_ui(app, WEB_DIST)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app
