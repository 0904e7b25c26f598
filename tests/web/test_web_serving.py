"""The API serves the web UI (index at ``/``, assets under ``/ui/``) and ``GET /config``: the
chain, contract addresses, ABIs, custom-error texts and the development wallet only on the
local dev chain with the public mnemonic."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_account import Account
from fastapi.testclient import TestClient

from api.main import create_app
from api.service import ApiService
from api.settings import ApiSettings
from chain.deploy import DeployedContract, Deployment, DeploymentsFile

NAMES = ("ParticipantRegistry", "FlexToken", "FlexMarket", "FlexCoordination")
DEMO = [
    {"name": "aggregator", "role": "aggregator", "address": ""},
    {"name": "home-01", "role": "prosumer", "address": ""},
]


def _state(tmp: Path, chain_id: int) -> Path:
    state = tmp / "state"
    dep = Deployment(
        chain_id,
        {
            n: DeployedContract(f"0x{i + 1:040x}", 1, "0x" + "00" * 32, "h")
            for i, n in enumerate(NAMES)
        },
    )
    DeploymentsFile(state / "deployments.json").save(dep)
    Account.enable_unaudited_hdwallet_features()
    from core.settings import DEV_MNEMONIC

    members = []
    for m, index in zip(DEMO, (1, 5), strict=True):
        acct = Account.from_mnemonic(DEV_MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}")
        members.append({**m, "address": acct.address})
    (state / "demo.json").write_text(json.dumps({"members": members}))
    return state


def _client(
    tmp: Path, monkeypatch: pytest.MonkeyPatch, chain_id: int, env: str = "development"
) -> Iterator[TestClient]:
    monkeypatch.setenv("BRIGHT_STATE_DIR", str(_state(tmp, chain_id)))
    secret = {} if env == "development" else {"jwt_secret": "x" * 40}
    settings = ApiSettings(
        env=env,
        database_url=f"sqlite:///{tmp / 'rm.sqlite'}",
        chain_id=chain_id,
        rpc_url="http://127.0.0.1:1",
        **secret,  # type: ignore[arg-type]
    )
    with TestClient(create_app(settings, ApiService.open(settings))) as client:
        yield client


@pytest.fixture
def dev_client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    yield from _client(tmp_path, monkeypatch, 31337)


def test_config_gives_addresses_abis_errors_and_the_dev_wallet(dev_client: TestClient) -> None:
    r = dev_client.get("/config")
    assert r.status_code == 200, r.text
    c = r.json()
    assert c["chain_id"] == 31337
    assert c["rpc_url"] == "http://127.0.0.1:1"
    assert c["contracts"]["FlexMarket"] == f"0x{3:040x}"
    functions = {i["name"] for i in c["abis"]["FlexMarket"] if i["type"] == "function"}
    assert {"placeOrder", "cancelOrder", "account", "deposit"} <= functions
    assert "publishRequest" in {i.get("name") for i in c["abis"]["FlexCoordination"]}
    assert c["errors"]["FlexMarketGateClosed"] == "An order arrives at or after gate closure."
    assert "allowance" in c["errors"]["ERC20InsufficientAllowance"]
    assert c["token_decimals"] == 6
    assert c["time_zone"] == "Europe/Brussels"  # BRIGHT_API_TIME_ZONE's default
    assert c["dev_wallet"] is True
    accounts = {a["name"]: a for a in c["dev_accounts"]}
    assert set(accounts) == {"aggregator", "home-01"}
    for a in accounts.values():
        assert Account.from_key(a["private_key"]).address == a["address"]


def test_config_serves_the_communitys_time_zone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BRIGHT_API_TIME_ZONE", "Europe/Lisbon")
    for client in _client(tmp_path, monkeypatch, 31337):
        assert client.get("/config").json()["time_zone"] == "Europe/Lisbon"


def test_no_dev_wallet_on_another_chain(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for client in _client(tmp_path, monkeypatch, 11155111):
        c = client.get("/config").json()
        assert c["chain_id"] == 11155111
        assert c["dev_wallet"] is False
        assert c["dev_accounts"] == []


def test_no_dev_wallet_outside_development(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for client in _client(tmp_path, monkeypatch, 31337, env="test"):
        c = client.get("/config").json()
        assert c["dev_wallet"] is False
        assert c["dev_accounts"] == []


def test_config_without_deployment_says_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for client in _client(tmp_path, monkeypatch, 31337):
        (Path(str(tmp_path)) / "state" / "deployments.json").write_text("{}")
        r = client.get("/config")
        assert r.status_code == 404
        assert "bright up" in r.json()["error"]["message"]


def test_ui_index_and_assets(
    dev_client: TestClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import api.main

    # The app under test mounted the real web/dist; a new app over a temporary build:
    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text('<script src="/ui/assets/app.js"></script>')
    (dist / "assets" / "app.js").write_text("console.log(1)")
    monkeypatch.setattr(api.main, "WEB_DIST", dist)
    settings = dev_client.app.state.settings  # type: ignore[attr-defined]
    with TestClient(create_app(settings, ApiService.open(settings))) as client:
        index = client.get("/")
        assert index.status_code == 200
        assert index.headers["content-type"].startswith("text/html")
        assert "/ui/assets/app.js" in index.text
        asset = client.get("/ui/assets/app.js")
        assert asset.status_code == 200 and asset.text == "console.log(1)"
        assert client.get("/ui/assets/missing.js").status_code == 404
        assert client.get("/health").json() == {"status": "ok"}
        paths = client.get("/openapi.json").json()["paths"]
        assert "/config" in paths
        assert not any(p == "/" or p.startswith("/ui") for p in paths)


def test_ui_not_built(
    dev_client: TestClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import api.main

    monkeypatch.setattr(api.main, "WEB_DIST", tmp_path / "nothing")
    settings = dev_client.app.state.settings  # type: ignore[attr-defined]
    with TestClient(create_app(settings, ApiService.open(settings))) as client:
        r = client.get("/")
        assert r.status_code == 503
        assert r.json()["error"]["code"] == "ui_not_built"
        assert "npm --prefix web run build" in r.json()["error"]["message"]
