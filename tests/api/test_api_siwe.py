"""The EIP-4361 message: parsing what wallets sign (with and without the optional fields),
exact round trips, the reasons for refusing malformed text, and single-use expiring nonces."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from api.errors import LoginError, SiweFormatError
from api.security import NonceStore
from api.siwe import SiweMessage, parse_siwe

ADDRESS = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"

# The example of EIP-4361 (its address and times), with every optional field.
FULL = """service.org wants you to sign in with your Ethereum account:
0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266

I accept the ServiceOrg Terms of Service: https://service.org/tos

URI: https://service.org/login
Version: 1
Chain ID: 1
Nonce: 32891756
Issued At: 2021-09-30T16:25:24Z
Expiration Time: 2021-10-01T16:25:24Z
Not Before: 2021-09-30T16:25:24Z
Request ID: some-request
Resources:
- ipfs://bafybeiemxf5abjwjbikoz4mc3a3dla6ual3jsgpdr4cjr3oz3evfyavhwq/
- https://example.com/my-web2-claim.json"""


def test_the_eip_example_parses_field_by_field_and_round_trips():
    m = parse_siwe(FULL)
    assert (m.domain, m.address, m.uri, m.chain_id, m.nonce) == (
        "service.org",
        ADDRESS,
        "https://service.org/login",
        1,
        "32891756",
    )
    assert m.statement == "I accept the ServiceOrg Terms of Service: https://service.org/tos"
    assert (m.expiration_time, m.not_before, m.request_id) == (
        "2021-10-01T16:25:24Z",
        "2021-09-30T16:25:24Z",
        "some-request",
    )
    assert len(m.resources) == 2
    assert m.to_text() == FULL


def test_without_statement_both_layouts_parse():
    minimal = SiweMessage("a.org", ADDRESS, "https://a.org", 5, "abcdefgh1", "2026-01-01T00:00:00Z")
    text = minimal.to_text()
    assert parse_siwe(text) == minimal
    # EIP-4361's ABNF keeps an empty line where the statement would be: accept that too.
    abnf = text.replace(f"{ADDRESS}\n\n", f"{ADDRESS}\n\n\n", 1)
    assert parse_siwe(abnf) == minimal


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("hello", "line 1"),
        (FULL.replace(ADDRESS, ADDRESS.lower()), "EIP-55"),
        (FULL.replace("Version: 1", "Version: 2"), "Version"),
        (FULL.replace("Nonce: 32891756", "Nonce: 123"), "Nonce"),
        (FULL.replace("Chain ID: 1", "Chain ID: one"), "Chain ID"),
        (FULL.replace("2021-09-30T16:25:24Z\nExp", "30/09/2021\nExp"), "RFC 3339"),
        (
            FULL.replace("Request ID: some-request\n", "Request ID: some-request\nColour: red\n"),
            "not an EIP-4361 field",
        ),
        (FULL.replace("URI: https", "URL: https"), "URI"),
    ],
)
def test_malformed_messages_say_what_is_wrong(text, reason):
    with pytest.raises(SiweFormatError, match=reason):
        parse_siwe(text)


@settings(max_examples=60, deadline=None)
@given(
    statement=st.none()
    | st.from_regex(r"[A-Za-z0-9 .,:/]{1,60}", fullmatch=True).filter(
        lambda s: not s.startswith("URI: ")
    ),
    chain_id=st.integers(1, 2**53),
    nonce=st.from_regex(r"[A-Za-z0-9]{8,24}", fullmatch=True),
    expires=st.booleans(),
    resources=st.lists(
        st.from_regex(r"https://[a-z]{1,10}\.org/[a-z0-9]{0,8}", fullmatch=True), max_size=3
    ),
)
def test_any_message_this_api_builds_parses_back_to_itself(
    statement, chain_id, nonce, expires, resources
):
    m = SiweMessage(
        domain="127.0.0.1:8000",
        address=ADDRESS,
        uri="http://127.0.0.1:8000",
        chain_id=chain_id,
        nonce=nonce,
        issued_at="2026-11-26T14:00:00Z",
        statement=statement,
        expiration_time="2026-11-26T14:05:00.5+01:00" if expires else None,
        resources=tuple(resources),
    )
    assert parse_siwe(m.to_text()) == m


def test_nonces_are_single_use_expire_and_are_bounded():
    store = NonceStore(ttl_s=0.2, max_size=3)
    a, _ = store.issue()
    assert len(a) >= 8 and a.isalnum()
    store.consume(a)
    with pytest.raises(LoginError, match="already used"):
        store.consume(a)
    b, _ = store.issue()
    time.sleep(0.3)
    with pytest.raises(LoginError, match="expired"):
        store.consume(b)
    store.ttl_s = 60
    issued = [store.issue()[0] for _ in range(5)]
    assert len(store) == 3
    with pytest.raises(LoginError):
        store.consume(issued[0])  # the oldest were dropped
    store.consume(issued[-1])
