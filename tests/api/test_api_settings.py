"""API settings from the environment: defaults, the read side's database URL, and the public
default JWT secret refused outside development; the CLI reports bad settings clearly."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from api.settings import DEV_JWT_SECRET, ApiSettings, api_settings
from core.errors import ConfigError

SECRET = "a-real-secret-of-more-than-32-characters-0123"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch, tmp_path):
    import os

    for key in list(os.environ):
        if key.startswith("BRIGHT_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)  # no .env from the checkout


def test_defaults_serve_loopback_on_8000_in_development():
    s = ApiSettings()
    assert (s.host, s.port, s.env) == ("127.0.0.1", 8000, "development")
    assert s.jwt_secret.get_secret_value() == DEV_JWT_SECRET
    assert 0 < s.jwt_ttl_s <= 3600
    assert (s.siwe_domain, s.siwe_uri) == ("127.0.0.1:8000", "http://127.0.0.1:8000")
    moved = ApiSettings(port=8123)
    assert (moved.siwe_domain, moved.siwe_uri) == ("127.0.0.1:8123", "http://127.0.0.1:8123")
    assert DEV_JWT_SECRET not in repr(s)  # a SecretStr never prints


def test_database_url_defaults_to_the_read_sides_setting(monkeypatch):
    monkeypatch.setenv("BRIGHT_DATABASE_URL", "postgresql+psycopg://u@127.0.0.1:5/db")
    assert ApiSettings().database_url == "postgresql+psycopg://u@127.0.0.1:5/db"
    monkeypatch.setenv("BRIGHT_API_DATABASE_URL", "sqlite:///elsewhere.sqlite")
    assert ApiSettings().database_url == "sqlite:///elsewhere.sqlite"


def test_rpc_url_comes_from_the_platform_settings(monkeypatch):
    monkeypatch.setenv("BRIGHT_RPC_URL", "http://10.0.0.1:8545")
    assert ApiSettings().rpc_url == "http://10.0.0.1:8545"


@pytest.mark.parametrize("var", ["BRIGHT_ENV", "BRIGHT_API_ENV"])
def test_the_default_secret_is_refused_outside_development(monkeypatch, var):
    monkeypatch.setenv(var, "production")
    with pytest.raises(ConfigError, match="default JWT secret is public"):
        api_settings()
    monkeypatch.setenv("BRIGHT_API_JWT_SECRET", SECRET)
    assert api_settings().env == "production"


def test_short_secrets_and_foreign_databases_are_refused():
    with pytest.raises(ConfigError, match="at least 32"):
        api_settings(jwt_secret="short")
    with pytest.raises(ConfigError, match="sqlite"):
        api_settings(database_url="mysql://x/y")


def test_the_time_zone_is_an_iana_name_brussels_by_default(monkeypatch):
    assert ApiSettings().time_zone == "Europe/Brussels"
    monkeypatch.setenv("BRIGHT_API_TIME_ZONE", "Europe/Lisbon")
    assert ApiSettings().time_zone == "Europe/Lisbon"
    for bad in ("Mars/Olympus", "CEST", "../etc/passwd", ""):
        with pytest.raises(ConfigError, match="IANA time zone"):
            api_settings(time_zone=bad)


def test_serve_refuses_bad_settings_with_a_clear_message(monkeypatch):
    monkeypatch.setenv("BRIGHT_API_ENV", "production")
    from bright.cli import app as bright_app  # errors become one line at the entry point

    result = CliRunner().invoke(bright_app, ["api", "serve"])
    assert result.exit_code == 2  # a setting to change
    assert "default JWT secret" in result.output and "Traceback" not in result.output


def test_an_api_that_cannot_tell_its_chain_answers_503_in_the_error_shape(tmp_path):
    from fastapi.testclient import TestClient

    from api.main import create_app

    settings = ApiSettings(
        database_url=f"sqlite:///{tmp_path / 'empty.sqlite'}", rpc_url="http://127.0.0.1:9"
    )
    with TestClient(create_app(settings)) as client:
        assert client.get("/health").status_code == 200
        r = client.get("/auth/nonce")
        assert r.status_code == 503
        err = r.json()["error"]
        assert err["code"] == "unavailable" and "BRIGHT_API_CHAIN_ID" in err["message"]


def test_serve_runs_uvicorn_until_stopped(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    import httpx

    from chain.anvil import free_port
    from core.paths import ROOT

    port = free_port()
    env = {**os.environ, "BRIGHT_API_CHAIN_ID": "31337"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from api.cli import app; app()",
            "serve",
            "--port",
            str(port),
            "--database-url",
            f"sqlite:///{tmp_path / 'rm.sqlite'}",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/auth/nonce", timeout=1)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "serve did not answer"
                time.sleep(0.1)
        assert r.status_code == 200 and r.json()["chain_id"] == 31337
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=15)
    # uvicorn shuts down, then re-raises the Ctrl-C it caught: 130 (or -SIGINT), no traceback.
    assert proc.returncode in (0, 130, -signal.SIGINT)
    assert "Traceback" not in err.decode()
    assert f"http://127.0.0.1:{port}/docs" in err.decode()
