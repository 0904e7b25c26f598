"""Wallet login and access tokens.

* :class:`NonceStore`: single-use, expiring login nonces, kept in this process's memory (one
  API process per deployment; several workers would share them through the database instead).
* :func:`verify_login`: checks an EIP-4361 message and its EIP-191 signature against what this
  API expects (domain, URI, chain id, an outstanding nonce, issued-at and expiration times) and
  returns the signer's address.
* :class:`TokenService`: short-lived HS256 JWTs (pyjwt) carrying the address and its roles at
  login; the API trusts only the address and reads the roles again on each request
  (:func:`api.access.on_chain_claims`).
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt
from eth_account import Account
from eth_account.messages import encode_defunct

from api.errors import AuthenticationError, LoginError
from api.siwe import SiweMessage, parse_siwe

JWT_ALGORITHM = "HS256"
JWT_ISSUER = "bright-api"

MARKET_OPERATOR = "market-operator"
DSO = "dso"
AGGREGATOR = "aggregator"
PROSUMER = "prosumer"


class NonceStore:
    """Login nonces: issued with an expiry, consumed once (thread-safe, bounded)."""

    def __init__(self, ttl_s: float, max_size: int = 100_000) -> None:
        self.ttl_s = ttl_s
        self.max_size = max_size
        self._nonces: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def issue(self) -> tuple[str, float]:
        """A new nonce (17 alphanumeric characters, EIP-4361) and its expiry (unix s)."""
        nonce = secrets.token_hex(12)
        expires = time.time() + self.ttl_s
        with self._lock:
            self._purge()
            self._nonces[nonce] = expires
            while len(self._nonces) > self.max_size:
                self._nonces.popitem(last=False)
        return nonce, expires

    def consume(self, nonce: str) -> None:
        """Use ``nonce``; raises LoginError if it was never issued, is used or has expired."""
        with self._lock:
            expires = self._nonces.pop(nonce, None)
        if expires is None:
            raise LoginError("the nonce is unknown or was already used; get a new one")
        if expires < time.time():
            raise LoginError("the nonce has expired; get a new one")

    def __len__(self) -> int:
        with self._lock:
            return len(self._nonces)

    def _purge(self) -> None:
        now = time.time()
        while self._nonces:
            first, expires = next(iter(self._nonces.items()))
            if expires >= now:
                break
            del self._nonces[first]


@dataclass(frozen=True)
class Expected:
    """What a login message must say to this API."""

    domain: str
    uri: str
    chain_id: int
    clock_skew_s: int = 60


def recover_signer(text: str, signature: str) -> str:
    """The address that signed ``text`` with ``personal_sign`` (EIP-191 version 0x45)."""
    try:
        raw = bytes.fromhex(signature.removeprefix("0x"))
    except ValueError as exc:
        raise LoginError("the signature is not hex") from exc
    if len(raw) != 65:
        raise LoginError(f"the signature must be 65 bytes, got {len(raw)}")
    try:
        return str(Account.recover_message(encode_defunct(text=text), signature=raw))
    except Exception as exc:  # eth_keys' BadSignature, ValueError
        raise LoginError(f"the signature does not verify: {exc}") from exc


def verify_login(
    text: str, signature: str, expected: Expected, nonces: NonceStore, now: datetime | None = None
) -> SiweMessage:
    """Check an EIP-4361 login; returns the message, whose ``address`` signed it.

    Checked in this order: format, domain, URI, chain id, times, signature, nonce. The nonce is
    consumed last, only by a message whose signature verifies: a message refused for another
    reason leaves it usable until it expires, and a second use of a signed message (a replay)
    finds it gone.
    """
    msg = parse_siwe(text)
    now = now or datetime.now(UTC)
    skew = timedelta(seconds=expected.clock_skew_s)
    if msg.domain != expected.domain:
        raise LoginError(
            f"the message is for domain {msg.domain!r}, this API is {expected.domain!r}"
        )
    if msg.uri != expected.uri:
        raise LoginError(f"the message is for URI {msg.uri!r}, this API is {expected.uri!r}")
    if msg.chain_id != expected.chain_id:
        raise LoginError(
            f"the message is for chain {msg.chain_id}, this API serves chain {expected.chain_id}"
        )
    if msg.issued_at_dt > now + skew:
        raise LoginError(f"Issued At {msg.issued_at} is in the future")
    expiry = msg.expiration_dt
    if expiry is not None and expiry <= now:
        raise LoginError(f"the message expired at {msg.expiration_time}")
    not_before = msg.not_before_dt
    if not_before is not None and not_before > now + skew:
        raise LoginError(f"the message is not valid before {msg.not_before}")
    signer = recover_signer(text, signature)
    if signer != msg.address:
        raise LoginError(f"the signature is by {signer}, not by the address the message names")
    nonces.consume(msg.nonce)
    return msg


@dataclass(frozen=True)
class Claims:
    """Who a valid access token speaks for."""

    address: str
    roles: tuple[str, ...]
    chain_id: int
    expires_at: int

    @property
    def is_member(self) -> bool:
        return bool(self.roles)

    def has(self, role: str) -> bool:
        return role in self.roles


class TokenService:
    """Issues and checks the API's access tokens (HS256)."""

    def __init__(self, secret: str, ttl_s: int) -> None:
        self._secret = secret
        self.ttl_s = ttl_s

    def issue(self, address: str, roles: tuple[str, ...], chain_id: int) -> tuple[str, Claims]:
        now = int(time.time())
        claims = Claims(address, roles, chain_id, now + self.ttl_s)
        token = jwt.encode(
            {
                "iss": JWT_ISSUER,
                "sub": address,
                "roles": list(roles),
                "chain_id": chain_id,
                "iat": now,
                "nbf": now,
                "exp": claims.expires_at,
                "jti": secrets.token_hex(8),
            },
            self._secret,
            algorithm=JWT_ALGORITHM,
        )
        return token, claims

    def decode(self, token: str) -> Claims:
        """Claims of ``token``; raises AuthenticationError (401) saying why it is refused."""
        try:
            data = jwt.decode(
                token,
                self._secret,
                algorithms=[JWT_ALGORITHM],
                issuer=JWT_ISSUER,
                options={"require": ["exp", "iat", "sub", "iss"]},
                leeway=0,
            )
        except jwt.ExpiredSignatureError as exc:
            raise AuthenticationError(
                "the access token has expired; log in again", code="token_expired"
            ) from exc
        except jwt.InvalidSignatureError as exc:
            raise AuthenticationError(
                "the access token's signature is invalid (tampered or from another server)",
                code="invalid_token",
            ) from exc
        except jwt.InvalidTokenError as exc:
            raise AuthenticationError(
                f"the access token is invalid: {exc}", code="invalid_token"
            ) from exc
        try:
            return Claims(
                address=str(data["sub"]),
                roles=tuple(str(r) for r in data.get("roles", [])),
                chain_id=int(data["chain_id"]),
                expires_at=int(data["exp"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise AuthenticationError(
                "the access token lacks the API's claims", code="invalid_token"
            ) from exc


def expected_message(
    address: str, expected: Expected, nonce: str, ttl_s: int, statement: str | None = None
) -> SiweMessage:
    """The EIP-4361 message this API wants ``address`` to sign (for clients and tests)."""
    from api.siwe import format_time

    now = datetime.now(UTC)
    return SiweMessage(
        domain=expected.domain,
        address=address,
        uri=expected.uri,
        chain_id=expected.chain_id,
        nonce=nonce,
        issued_at=format_time(now),
        expiration_time=format_time(now + timedelta(seconds=ttl_s)),
        statement=statement,
    )
