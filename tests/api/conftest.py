"""Fixtures of the API tests: the demo community trading on a real anvil (one per test
session), its events indexed by the real indexer into SQLite (and PostgreSQL for the
parametrized route tests), and API clients over those read models."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.api.api_helpers import ROUNDS, index_into


@dataclass
class Demo:
    running: Any
    members: list[Any]
    chain_id: int
    market: str

    def member(self, name: str) -> Any:
        return next(m for m in self.members if m.name == name)

    def account(self, name: str) -> Any:
        return self.member(name).account


@pytest.fixture(scope="session")
def api_demo(tmp_path_factory) -> Iterator[Demo]:
    from bright.demo import bring_up
    from bright.demo_market import DemoMarket
    from chain.anvil import free_port
    from core.settings import ChainSettings

    settings = ChainSettings(state_dir=tmp_path_factory.mktemp("api-state"), chain_port=free_port())
    running = bring_up(settings, quiet=True)
    try:
        members = running.members
        home2 = next(m for m in members if m.name == "home-02")
        aggregator = next(m for m in members if m.name == "aggregator")
        running.platform.registry(home2.account).delegate_to(aggregator.address)
        market = DemoMarket(running.platform, members)
        market.fund()
        for _ in range(ROUNDS):
            market.round()
        dep = running.platform.deployment
        yield Demo(running, members, dep.chain_id, dep.address("FlexMarket"))
    finally:
        running.stop()


@pytest.fixture(scope="session")
def api_pg_server() -> Iterator[Any]:
    from streams.postgres import PostgresServer

    state = Path(tempfile.mkdtemp(prefix="bright-api-pg-"))  # reachable by the postgres user
    server = PostgresServer(state)
    server.start()
    yield server
    server.stop()
    shutil.rmtree(state, ignore_errors=True)


@pytest.fixture(scope="session")
def sqlite_url(api_demo, tmp_path_factory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('api-db') / 'read_models.sqlite'}"
    index_into(api_demo, url)
    return url


def _client(url: str, demo: Demo) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    from api.main import create_app
    from tests.api.api_helpers import settings_for

    app = create_app(settings_for(url, demo.chain_id, demo.market))
    with TestClient(app) as client:
        yield client


@pytest.fixture(scope="session")
def client(api_demo, sqlite_url) -> Iterator[Any]:
    """API client on SQLite read models of the demo chain."""
    yield from _client(sqlite_url, api_demo)


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def any_client(request, api_demo) -> Iterator[Any]:
    """API client on read models in SQLite, then in PostgreSQL (same chain)."""
    if request.param == "sqlite":
        url = request.getfixturevalue("sqlite_url")
    else:
        url = request.getfixturevalue("api_pg_server").create_database()
        index_into(api_demo, url)
    yield from _client(url, api_demo)


@pytest.fixture(scope="session")
def scenario(api_demo) -> Any:
    """The coordination scenario on the demo chain (a settled request and an open one), made
    once per test session (:mod:`tests.api.coordination_scenario`)."""
    from tests.api.coordination_scenario import build_scenario

    return build_scenario(api_demo)


@pytest.fixture(scope="session")
def tokens(client, api_demo) -> dict[str, str]:
    """Access tokens by member name (real logins), plus 'admin' (account 0: no role)."""
    from chain.platform import dev_accounts
    from core.settings import DEV_MNEMONIC
    from tests.api.api_helpers import login

    out = {
        name: login(client, api_demo.account(name))
        for name in ("home-01", "home-02", "home-03", "aggregator", "dso", "market-operator")
    }
    out["admin"] = login(client, dev_accounts(DEV_MNEMONIC, 1)[0])
    return out
