"""The API's reference pages, served offline: ``/docs`` (with a form to try GET operations
with a bearer token) and ``/redoc`` (the reference alone).

FastAPI's own pages load Swagger UI and ReDoc from a CDN, so they are blank without the
internet. Neither Swagger UI nor ReDoc is installed here (no ``swagger-ui-bundle`` Python
package, no ``swagger-ui-dist`` or ``redoc`` in the npm trees), so both routes serve one small
self-contained page (``api/static/docs.html``: inline style and script, nothing from another
origin) that renders ``/openapi.json``: operations by tag with their parameters and
responses, and every schema with its fields' descriptions.
"""

from __future__ import annotations

import functools
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse

DOCS_PAGE = Path(__file__).with_name("static") / "docs.html"


@functools.lru_cache(maxsize=1)
def _page() -> str:
    return DOCS_PAGE.read_text(encoding="utf-8")


def docs_html(try_it: bool) -> str:
    """The reference page; ``try_it`` adds the forms that send GET requests."""
    return _page().replace("<body>", f'<body data-try="{"yes" if try_it else "no"}">', 1)


def mount_docs(app: FastAPI) -> None:
    """``/docs`` and ``/redoc`` on ``app`` (created with ``docs_url=None, redoc_url=None``)."""

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return HTMLResponse(docs_html(try_it=True))

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        return HTMLResponse(docs_html(try_it=False))
