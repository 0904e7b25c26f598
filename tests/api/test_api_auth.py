"""Login with the wallet (EIP-4361 -> JWT) with real signatures of the dev mnemonic's keys:
the happy path, and each way a login or a token is refused."""

from __future__ import annotations

import time

import jwt
import pytest

from api.security import JWT_ALGORITHM, JWT_ISSUER
from api.siwe import parse_siwe
from tests.api.api_helpers import TEST_SECRET, bearer, login_message, sign


def _post_login(client, text: str, signature: str):
    return client.post("/auth/login", json={"message": text, "signature": signature})


def test_login_with_a_real_signature_gives_a_token_with_the_on_chain_role(client, api_demo):
    home = api_demo.account("home-01")
    text = login_message(client, home)
    r = _post_login(client, text, sign(home, text))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["address"] == home.address and body["roles"] == ["prosumer"]
    assert body["token_type"] == "bearer"
    claims = jwt.decode(
        body["access_token"], TEST_SECRET, algorithms=[JWT_ALGORITHM], issuer=JWT_ISSUER
    )
    assert claims["sub"] == home.address and claims["chain_id"] == api_demo.chain_id
    assert 0 < claims["exp"] - time.time() <= 900
    me = client.get("/auth/me", headers=bearer(body["access_token"]))
    assert me.status_code == 200 and me.json()["roles"] == ["prosumer"]
    operator = api_demo.account("market-operator")
    text = login_message(client, operator)
    assert _post_login(client, text, sign(operator, text)).json()["roles"] == ["market-operator"]


def test_a_nonce_is_single_use(client, api_demo):
    home = api_demo.account("home-01")
    text = login_message(client, home)
    signature = sign(home, text)
    assert _post_login(client, text, signature).status_code == 200
    replay = _post_login(client, text, signature)
    assert replay.status_code == 401
    err = replay.json()["error"]
    assert err["code"] == "login_refused" and "nonce" in err["message"]


def test_a_nonce_the_server_never_issued_is_refused(client, api_demo):
    home = api_demo.account("home-01")
    text = login_message(client, home, nonce="madeup12345678")
    r = _post_login(client, text, sign(home, text))
    assert r.status_code == 401 and "nonce" in r.json()["error"]["message"]


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"domain": "evil.example"}, "domain"),
        ({"uri": "https://evil.example"}, "URI"),
        ({"chain_id": 1}, "chain"),
        ({"expiration_time": "2020-01-01T00:00:00Z"}, "expired"),
        ({"issued_at": "2099-01-01T00:00:00Z"}, "future"),
        ({"not_before": "2099-01-01T00:00:00Z"}, "not valid before"),
    ],
)
def test_a_message_for_another_domain_chain_or_time_is_refused(client, api_demo, change, why):
    home = api_demo.account("home-01")
    text = login_message(client, home, **change)
    r = _post_login(client, text, sign(home, text))
    assert r.status_code == 401, r.text
    assert why in r.json()["error"]["message"]


def test_a_refused_message_does_not_burn_the_nonce(client, api_demo):
    home = api_demo.account("home-01")
    good = login_message(client, home)
    nonce = parse_siwe(good).nonce
    bad = good.replace("bright.test:8000 wants", "evil.example wants", 1)
    assert _post_login(client, bad, sign(home, bad)).status_code == 401
    assert parse_siwe(bad).nonce == nonce
    assert _post_login(client, good, sign(home, good)).status_code == 200


def test_a_signature_by_someone_else_is_refused(client, api_demo):
    home, other = api_demo.account("home-01"), api_demo.account("home-03")
    text = login_message(client, home)
    r = _post_login(client, text, sign(other, text))
    assert r.status_code == 401
    assert f"signature is by {other.address}" in r.json()["error"]["message"]


def test_a_signature_over_another_text_is_refused(client, api_demo):
    home = api_demo.account("home-01")
    text = login_message(client, home)
    r = _post_login(client, text, sign(home, text + " "))
    assert r.status_code == 401


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t.replace(" wants you to sign in", " would like you to sign in"),
        lambda t: t.replace("Version: 1", "Version: 2"),
        lambda t: t.replace("Chain ID: ", "Chain ID: x"),
        lambda t: t.replace("Issued At: ", "Issued At: yesterday "),
        lambda t: "\n".join(line for line in t.split("\n") if not line.startswith("Nonce")),
        lambda t: (
            t.split("\n", 1)[0] + "\n" + t.split("\n", 2)[1].lower() + "\n" + t.split("\n", 2)[2]
        ),
    ],
    ids=["header", "version", "chain-id", "issued-at", "no-nonce", "not-checksummed"],
)
def test_malformed_messages_are_refused_with_the_reason(client, api_demo, mangle):
    home = api_demo.account("home-01")
    text = mangle(login_message(client, home))
    r = _post_login(client, text, sign(home, text))
    assert r.status_code == 401
    err = r.json()["error"]
    assert err["code"] == "login_refused" and err["message"].startswith("login refused: ")


def test_a_malformed_login_body_is_a_422_with_the_field(client):
    r = client.post("/auth/login", json={"message": "hi", "signature": "0x1234"})
    assert r.status_code == 422
    err = r.json()["error"]
    assert err["code"] == "invalid_query" and "signature" in err["message"]
    assert any(d["loc"][-1] == "signature" for d in err["details"])


def _token(claims: dict, secret: str = TEST_SECRET) -> str:
    return jwt.encode(claims, secret, algorithm=JWT_ALGORITHM)


def test_an_expired_token_is_401_token_expired(client, api_demo):
    now = int(time.time())
    token = _token(
        {
            "iss": JWT_ISSUER,
            "sub": api_demo.member("home-01").address,
            "roles": ["prosumer"],
            "chain_id": api_demo.chain_id,
            "iat": now - 120,
            "exp": now - 60,
        }
    )
    r = client.get("/balances", headers=bearer(token))
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "token_expired"
    assert r.headers["www-authenticate"] == "Bearer"


def test_a_tampered_token_is_401_invalid_token(client, tokens, api_demo):
    header, payload, sig = tokens["home-01"].split(".")
    # Claim another member's address in the payload, keep the signature.
    forged_payload = jwt.utils.base64url_encode(
        jwt.api_jws.json.dumps(
            {
                **jwt.decode(tokens["home-01"], options={"verify_signature": False}),
                "sub": api_demo.member("home-03").address,
            }
        ).encode()
    ).decode()
    for bad in (f"{header}.{forged_payload}.{sig}", f"{header}.{payload}.{sig[:-4]}AAAA"):
        r = client.get("/balances", headers=bearer(bad))
        assert r.status_code == 401
        assert r.json()["error"]["code"] == "invalid_token"
    other_server = _token(
        {
            "iss": JWT_ISSUER,
            "sub": api_demo.member("home-03").address,
            "roles": ["prosumer"],
            "chain_id": api_demo.chain_id,
            "iat": int(time.time()),
            "exp": int(time.time()) + 60,
        },
        secret="another-servers-secret-0123456789abcdef",
    )
    r = client.get("/balances", headers=bearer(other_server))
    assert r.status_code == 401 and "signature" in r.json()["error"]["message"]
    none_alg = jwt.encode({"sub": "x"}, None, algorithm="none")
    assert client.get("/balances", headers=bearer(none_alg)).status_code == 401


def test_no_token_is_401_with_how_to_log_in(client):
    r = client.get("/orders")
    assert r.status_code == 401
    err = r.json()["error"]
    assert err["code"] == "not_authenticated" and "/auth/login" in err["message"]


def test_a_login_body_that_is_not_json_is_a_422_in_the_error_shape(client):
    r = client.post(
        "/auth/login", content=b"\x0f\xff{not json", headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 422
    assert r.json()["error"]["code"] in ("invalid_body", "invalid_query")
