"""Helpers of the API tests: settings for a test API, and a real wallet login."""

from __future__ import annotations

from typing import Any

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount

from api.security import Expected, expected_message
from api.settings import ApiSettings

ROUNDS = 5
"""Market sessions the demo community trades before the API tests."""
TEST_SECRET = "api-tests-secret-0123456789-abcdefghijklmnop"
DOMAIN = "bright.test:8000"
URI = "https://bright.test:8000"


def settings_for(database_url: str, chain_id: int | None, market: str | None, **kw: Any):
    return ApiSettings(
        env="test",
        jwt_secret=TEST_SECRET,
        database_url=database_url,
        chain_id=chain_id,
        market_address=market,
        siwe_domain=DOMAIN,
        siwe_uri=URI,
        rpc_url="http://127.0.0.1:9",
        **kw,
    )


def sign(account: LocalAccount, text: str) -> str:
    signed = Account.sign_message(encode_defunct(text=text), private_key=account.key)
    return "0x" + bytes(signed.signature).hex()


def login_message(client: Any, account: LocalAccount, **changes: Any) -> str:
    """A fresh EIP-4361 message for ``account`` with a nonce from the API (fields overridable)."""
    from dataclasses import replace

    got = client.get("/auth/nonce")
    assert got.status_code == 200, got.text
    n = got.json()
    expected = Expected(n["domain"], n["uri"], n["chain_id"])
    msg = expected_message(account.address, expected, n["nonce"], 300, "Sign in to BRIGHT.")
    return replace(msg, **changes).to_text()


def login(client: Any, account: LocalAccount) -> str:
    text = login_message(client, account)
    r = client.post("/auth/login", json={"message": text, "signature": sign(account, text)})
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def index_into(demo: Any, url: str, up_to_block: int | None = None) -> None:
    """Project the demo chain's events into ``url`` with the real indexer and runner (only the
    blocks up to ``up_to_block``, when given: the indexer waits for the later ones as if they
    needed confirmations)."""
    from chain.indexer import web3_rpc
    from streams.db import open_database
    from streams.runner import EmbeddedRunner
    from streams.store import ReadModelStore

    engine = open_database(url)
    try:
        platform = demo.running.platform
        head = int(platform.w3.eth.block_number)
        EmbeddedRunner.build(
            web3_rpc(platform.w3),
            platform.deployment,
            ReadModelStore(engine),
            platform.artifacts,
            confirmations=0 if up_to_block is None else head - up_to_block,
        ).poll_once()
        write_directory(demo, engine)
    finally:
        engine.dispose()


def write_directory(demo: Any, engine: Any) -> None:
    """The demo members' display names and assets (as ``bright up`` writes them into its
    read-model database) in ``engine``'s member directory."""
    from sqlalchemy.orm import Session

    from streams.directory import put_profile

    chain_id = demo.running.platform.deployment.chain_id
    with Session(engine) as s, s.begin():
        for m in demo.members:
            put_profile(s, chain_id, m.address, m.display_name, assets=list(m.assets))
