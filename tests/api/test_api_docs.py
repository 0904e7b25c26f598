"""The API's reference pages work offline: /docs and /redoc load nothing from another origin
(FastAPI's defaults load Swagger UI and ReDoc from a CDN, blank without the internet)."""

from __future__ import annotations

import re

from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.docs import mount_docs

EXTERNAL = re.compile(r"(https?:)?//[A-Za-z0-9.-]+\.[A-Za-z]{2,}", re.IGNORECASE)
"""A URL with a host: http://x.y, https://x.y or protocol-relative //x.y."""


def _app() -> FastAPI:
    app = FastAPI(title="t", docs_url=None, redoc_url=None)

    @app.get("/ping")
    def ping() -> dict[str, str]:
        return {"ok": "yes"}

    mount_docs(app)
    return app


def test_docs_and_redoc_reference_no_external_url():
    client = TestClient(_app())
    for path in ("/docs", "/redoc"):
        page = client.get(path)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert EXTERNAL.search(page.text) is None, (path, EXTERNAL.search(page.text))
        # Everything it loads is its own: no <script src> or stylesheet link at all, and the
        # schema by a relative URL (same origin).
        assert not re.search(r"<script[^>]+src=|<link[^>]+stylesheet", page.text)
        assert 'fetch("openapi.json")' in page.text
    assert 'data-try="yes"' in client.get("/docs").text
    assert 'data-try="no"' in client.get("/redoc").text

