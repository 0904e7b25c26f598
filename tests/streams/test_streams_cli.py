"""``bright index run|rebuild|status`` (the typer sub-app) against a private anvil with a
deployment recorded in a temporary state folder, and the PostgreSQL server's lifecycle."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from chain.anvil import Anvil
from chain.deploy import DeploymentsFile, deploy_platform
from chain.domain import Role
from chain.platform import Platform, connect, dev_accounts, make_sender
from core.settings import DEV_MNEMONIC
from streams.cli import app
from streams.db import drop_read_models, head_revision, make_engine, open_database, schema_revision
from streams.errors import PostgresError
from streams.postgres import PostgresServer


@pytest.fixture()
def deployed(tmp_path, artifacts, monkeypatch):
    with Anvil(accounts=5) as node:
        w3 = connect(node.url)
        admin = dev_accounts(DEV_MNEMONIC, 5)[0]
        deployment = deploy_platform(w3, make_sender(w3, admin, artifacts), artifacts)
        DeploymentsFile(tmp_path / "deployments.json").save(deployment)
        monkeypatch.setenv("BRIGHT_STATE_DIR", str(tmp_path))
        monkeypatch.setenv("BRIGHT_RPC_URL", node.url)
        yield Platform(w3, deployment, artifacts), dev_accounts(DEV_MNEMONIC, 5)


def test_cli_run_status_rebuild(deployed, tmp_path):
    platform, accounts = deployed
    platform.registry(accounts[0]).register(accounts[1].address, Role.PROSUMER, "f-1", "m-1")
    url = f"sqlite:///{tmp_path / 'rm.sqlite'}"
    cli = CliRunner()
    from bright.cli import app as bright_app  # errors become one line at the entry point

    # status only reads: before `index run` there is no database, and it does not create one
    out = cli.invoke(bright_app, ["index", "status", "--database-url", url, "--json"])
    assert out.exit_code == 2, out.output
    assert "no read-model database at" in out.stderr and "bright index run" in out.stderr
    assert not (tmp_path / "rm.sqlite").exists()
    out = cli.invoke(app, ["run", "--once", "--database-url", url])
    assert out.exit_code == 0, out.output
    status = json.loads(cli.invoke(app, ["status", "--database-url", url, "--json"]).stdout)
    (chain,) = status["chains"]
    assert chain["participants"] == 1 and chain["block"] == platform.w3.eth.block_number
    events_before = chain["events"]
    platform.token(accounts[0]).mint(accounts[1].address, 10)
    out = cli.invoke(app, ["rebuild", "--database-url", url])
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout.strip().splitlines()[-1])["events"] == events_before + 1
    status = json.loads(cli.invoke(app, ["status", "--database-url", url, "--json"]).stdout)
    assert status["chains"][0]["balances"] == 1
    assert status["schema"] == status["schema_head"] == head_revision()


def test_cli_run_without_deployment_fails_clearly(tmp_path, monkeypatch):
    from bright.cli import app as bright_app  # errors become one line at the entry point

    with Anvil(accounts=2) as node:
        monkeypatch.setenv("BRIGHT_STATE_DIR", str(tmp_path))
        monkeypatch.setenv("BRIGHT_RPC_URL", node.url)
        out = CliRunner().invoke(
            bright_app, ["index", "run", "--once", "--database-url", f"sqlite:///{tmp_path}/x.db"]
        )
    assert out.exit_code == 1
    assert "nothing is deployed on chain 31337" in out.output


def test_migrations_up_and_down(db_url):
    engine = open_database(db_url)
    assert schema_revision(engine) == head_revision()
    drop_read_models(engine)
    assert schema_revision(engine) is None
    open_database(db_url).dispose()
    assert schema_revision(engine) == head_revision()
    engine.dispose()
    with pytest.raises(ValueError, match="SQLite or PostgreSQL"):
        make_engine("mysql://x@localhost/y")


def test_postgres_server_lifecycle():
    state = Path(tempfile.mkdtemp(prefix="bright-pg-life-"))
    try:
        server = PostgresServer(state)
        with server:
            assert server.running
            url = server.create_database("life_test")
            with psycopg.connect(server.dsn("life_test")) as conn:
                assert conn.execute("select 1").fetchone() == (1,)
            assert url.endswith(f":{server.port}/life_test")
            with pytest.raises(PostgresError, match="already exists"):
                server.create_database("life_test")
        assert not server.running
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(server.dsn(), connect_timeout=1)
    finally:
        shutil.rmtree(state, ignore_errors=True)
