"""Roles follow the chain: every authenticated request reads the caller's role and active flag
from the participants read model (projected from the ParticipantRegistry's events), not from
its access token. A member deactivated on-chain loses access at the next request after the
indexer saw it (a 403 that says why), its live feed ends, and it gets access back as soon as
it is reactivated; a token's roles grant nothing the chain does not."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest

from api.security import JWT_ALGORITHM, JWT_ISSUER
from api.server import start_in_thread
from tests.api.api_helpers import (
    TEST_SECRET,
    bearer,
    index_into,
    login,
    login_message,
    settings_for,
    sign,
)

MEMBER = "home-11"  # used by no other API test: deactivated and reactivated here


@pytest.fixture()
def registry(api_demo) -> Iterator[Any]:
    """The registry as its admin; the member is active again after the test, whatever
    happened."""
    from chain.platform import dev_accounts
    from core.settings import DEV_MNEMONIC

    platform = api_demo.running.platform
    admin = platform.registry(dev_accounts(DEV_MNEMONIC, 1)[0])
    address = api_demo.member(MEMBER).address
    yield admin
    if not platform.registry().participant(address).active:
        admin.reactivate(address)


def _forged(address: str, roles: list[str], chain_id: int) -> str:
    """A token this API could have issued (its secret), claiming ``roles``."""
    now = int(time.time())
    claims = {"iss": JWT_ISSUER, "sub": address, "roles": roles, "chain_id": chain_id}
    return jwt.encode(
        {**claims, "iat": now, "nbf": now, "exp": now + 300},
        TEST_SECRET,
        algorithm=JWT_ALGORITHM,
    )


def test_a_member_deactivated_on_chain_is_refused_at_its_next_request(
    client, api_demo, sqlite_url, registry
):
    member = api_demo.member(MEMBER)
    token = login(client, member.account)  # valid for 15 minutes
    assert client.get("/sessions", headers=bearer(token)).status_code == 200
    assert client.get("/auth/me", headers=bearer(token)).json()["roles"] == ["prosumer"]

    registry.deactivate(member.address)
    index_into(api_demo, sqlite_url)
    for path in (
        "/sessions",
        "/balances",
        "/orders",
        "/auth/me",
        f"/participants/{member.address}",
    ):
        r = client.get(path, headers=bearer(token))
        assert r.status_code == 403, (path, r.text)
        err = r.json()["error"]
        assert err["code"] == "account_deactivated", path
        assert "deactivated in the ParticipantRegistry" in err["message"]
        assert "until it is reactivated" in err["message"]
        assert err["details"]["since_block"] > 0
    # Nor does it get a new token.
    text = login_message(client, member.account)
    again = client.post(
        "/auth/login", json={"message": text, "signature": sign(member.account, text)}
    )
    assert again.status_code == 403 and again.json()["error"]["code"] == "account_deactivated"

    # Reactivated on-chain: the same token works again at once, with its role.
    registry.reactivate(member.address)
    index_into(api_demo, sqlite_url)
    assert client.get("/sessions", headers=bearer(token)).status_code == 200
    assert client.get("/auth/me", headers=bearer(token)).json()["roles"] == ["prosumer"]


def test_the_roles_in_a_token_grant_nothing_the_chain_does_not(client, api_demo, tokens):
    home1 = api_demo.member("home-01").address
    operator_claim = _forged(home1, ["market-operator"], api_demo.chain_id)
    me = client.get("/auth/me", headers=bearer(operator_claim)).json()
    assert me["roles"] == ["prosumer"]  # what the registry says
    r = client.get("/sessions/1/orders", headers=bearer(operator_claim))
    assert r.status_code == 403 and "only the market operator" in r.json()["error"]["message"]
    assert (
        client.get("/sessions/1/orders", headers=bearer(tokens["market-operator"])).status_code
        == 200
    )

    from chain.platform import dev_accounts
    from core.settings import DEV_MNEMONIC

    nobody = dev_accounts(DEV_MNEMONIC, 1)[0].address  # no role on-chain
    member_claim = _forged(nobody, ["prosumer"], api_demo.chain_id)
    r = client.get("/sessions", headers=bearer(member_claim))
    assert r.status_code == 403 and "not a registered participant" in r.text
    assert client.get("/auth/me", headers=bearer(member_claim)).json()["roles"] == []


def test_the_live_feed_of_a_deactivated_member_ends(api_demo, tmp_path, registry):
    member = api_demo.member(MEMBER)
    url = f"sqlite:///{tmp_path / 'live.sqlite'}"
    index_into(api_demo, url)
    settings = settings_for(
        url, api_demo.chain_id, api_demo.market, port=0, stream_poll_s=0.1, stream_heartbeat_s=0.3
    )
    handle = start_in_thread(settings)
    try:
        with httpx.Client(base_url=handle.url, timeout=30) as http:
            token = login(http, member.account)
        with httpx.stream(
            "GET", f"{handle.url}/events/stream", headers=bearer(token), timeout=30
        ) as feed:
            assert feed.status_code == 200
            lines = feed.iter_lines()
            while next(lines) != ": keep-alive":  # connected and idle
                pass
            registry.deactivate(member.address)
            index_into(api_demo, url)
            deadline = time.monotonic() + 20
            for line in lines:  # keep-alives keep coming until the feed is revoked
                if line == "event: access-revoked" or time.monotonic() > deadline:
                    break
            assert line == "event: access-revoked", "the feed went on"
            data = json.loads(next(lines).removeprefix("data: "))
            assert data["code"] == "account_deactivated"
            assert [rest for rest in lines if rest] == []  # and the server ended it
    finally:
        handle.stop()
