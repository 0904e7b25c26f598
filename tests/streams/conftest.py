"""Fixtures of the read-side tests: a PostgreSQL server for the session, and ``db_url``, which
runs a test once on SQLite and once on PostgreSQL (a fresh database each time)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def pg_server() -> Iterator[object]:
    from streams.postgres import PostgresServer

    # Under /tmp, not pytest's tmp_path: the postgres user must reach it when we run as root.
    state = Path(tempfile.mkdtemp(prefix="bright-pg-test-"))
    server = PostgresServer(state)
    server.start()
    yield server
    server.stop()
    shutil.rmtree(state, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'read_models.sqlite'}"
    server = request.getfixturevalue("pg_server")
    return server.create_database()


@pytest.fixture()
def store(db_url):
    from streams.db import open_database
    from streams.store import ReadModelStore

    engine = open_database(db_url)
    yield ReadModelStore(engine, keep_blocks=64)
    engine.dispose()
