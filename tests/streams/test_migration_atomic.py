"""A process killed in the middle of a migration leaves a database that ``bright index run`` and
``bright index rebuild`` open and complete, on SQLite and on PostgreSQL.

The migration runs in a real child process; a SQLAlchemy hook pauses it right after the n-th
statement of a kind (the first ``CREATE TABLE``, a table copy of a batch migration, ...) and
the test kills it there with SIGKILL: no cleanup, no rollback from the child.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect
from typer.testing import CliRunner

from chain.anvil import Anvil
from chain.deploy import DeploymentsFile, deploy_platform
from chain.platform import connect, dev_accounts, make_sender
from core.settings import DEV_MNEMONIC
from streams.cli import app
from streams.db import (
    drop_read_models,
    head_revision,
    make_engine,
    migrate,
    open_database,
    schema_revision,
)
from streams.models import Base

ROOT = Path(__file__).resolve().parents[2]

CHILD = r"""
import re, sys, time
from sqlalchemy import event
from streams import db

url, action, pattern, nth = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
engine = db.make_engine(url)
seen = 0

@event.listens_for(engine, "after_cursor_execute")
def pause(conn, cursor, statement, parameters, context, executemany):
    global seen
    if re.match(pattern, statement.strip(), re.IGNORECASE):
        seen += 1
        if seen == nth:
            print("paused: " + " ".join(statement.split())[:80], flush=True)
            time.sleep(600)

if action == "upgrade":
    db.migrate(engine)
else:
    db.drop_read_models(engine)
print("finished without pausing", flush=True)
"""


def kill_midway(url: str, action: str, pattern: str, nth: int) -> str:
    """Run ``action`` (upgrade to head, or drop the read models) on ``url`` in a child process,
    SIGKILL it right after the ``nth`` statement matching ``pattern``; its last words."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, url, action, pattern, str(nth)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        ready, _, _ = select.select([child.stdout], [], [], 120)
        line = child.stdout.readline() if ready else ""  # type: ignore[union-attr]
    finally:
        child.send_signal(signal.SIGKILL)
        _, err = child.communicate(timeout=30)
    assert line.startswith("paused: "), f"the child did not pause: {line!r} {err[-2000:]}"
    assert child.returncode == -signal.SIGKILL
    return line


def tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names())


READ_MODELS = set(Base.metadata.tables)


@pytest.mark.parametrize(
    ("start", "action", "pattern", "nth"),
    [
        # The review's case: the first CREATE TABLE of the first migration.
        (None, "upgrade", r"CREATE TABLE", 1),
        # Further into the first migrations, after several tables and an index.
        (None, "upgrade", r"CREATE (TABLE|INDEX)", 9),
        # Inside the last migration, after 5 of its 12 ALTER TABLE ... ADD COLUMN.
        ("0006_market_deposits", "upgrade", r"ALTER TABLE", 5),
        # `index rebuild` killed while dropping the read models (on SQLite: in the middle of
        # a batch table copy, between dropping a table and renaming its copy).
        ("head", "drop", r"DROP TABLE", 3),
    ],
    ids=["first-create", "ninth-create", "last-migration", "drop"],
)
def test_a_killed_migration_leaves_the_database_as_it_was(
    db_url: str, start: str | None, action: str, pattern: str, nth: int
) -> None:
    engine = make_engine(db_url)
    if start is not None:
        migrate(engine, start)
    before = (schema_revision(engine), tables(engine))
    kill_midway(db_url, action, pattern, nth)
    # Nothing of the killed run is left: the revision and the tables are those from before.
    assert (schema_revision(engine), tables(engine)) == before
    # `index run` opens it (migrating to the newest revision) ...
    open_database(db_url).dispose()
    assert schema_revision(engine) == head_revision()
    assert tables(engine) >= READ_MODELS
    # ... and so does `index rebuild` (drop the read models, migrate from scratch).
    drop_read_models(engine)
    assert schema_revision(engine) is None and not READ_MODELS & tables(engine)
    open_database(db_url).dispose()
    assert schema_revision(engine) == head_revision()
    engine.dispose()


def test_rebuild_recovers_a_database_half_built_by_a_non_atomic_migration(db_url: str) -> None:
    # What a kill used to leave on SQLite: some read-model tables and no schema revision.
    engine = make_engine(db_url)
    with engine.begin() as conn:
        for name in ("index_checkpoints", "chain_events"):
            Base.metadata.tables[name].create(conn)
    assert schema_revision(engine) is None
    with pytest.raises(Exception, match="bright index rebuild"):
        open_database(db_url)
    drop_read_models(engine)
    assert not READ_MODELS & tables(engine)
    open_database(db_url).dispose()
    assert schema_revision(engine) == head_revision()
    engine.dispose()


@pytest.fixture()
def deployment(tmp_path, artifacts, monkeypatch):
    with Anvil(accounts=2) as node:
        w3 = connect(node.url)
        admin = dev_accounts(DEV_MNEMONIC, 2)[0]
        deployed = deploy_platform(w3, make_sender(w3, admin, artifacts), artifacts)
        DeploymentsFile(tmp_path / "deployments.json").save(deployed)
        monkeypatch.setenv("BRIGHT_STATE_DIR", str(tmp_path))
        monkeypatch.setenv("BRIGHT_RPC_URL", node.url)
        yield w3


def test_index_run_and_rebuild_complete_after_a_kill_in_the_first_migration(
    deployment, db_url: str
) -> None:
    kill_midway(db_url, "upgrade", r"CREATE TABLE", 2)
    cli = CliRunner()
    out = cli.invoke(app, ["run", "--once", "--database-url", db_url])
    assert out.exit_code == 0, out.output
    status = json.loads(cli.invoke(app, ["status", "--database-url", db_url, "--json"]).stdout)
    assert status["schema"] == head_revision()
    assert status["chains"][0]["block"] == deployment.eth.block_number
    # A kill in the first migration of `index rebuild`, then `index rebuild` again.
    engine = make_engine(db_url)
    drop_read_models(engine)
    engine.dispose()
    kill_midway(db_url, "upgrade", r"CREATE TABLE", 5)
    out = cli.invoke(app, ["rebuild", "--database-url", db_url])
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout.strip().splitlines()[-1])["block"] == deployment.eth.block_number
