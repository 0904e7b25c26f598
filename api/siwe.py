"""Sign-In with Ethereum messages (EIP-4361): parse, build, and check against expectations.

The message a wallet signs (``personal_sign``, EIP-191) reads::

    127.0.0.1:8000 wants you to sign in with your Ethereum account:
    0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266

    Sign in to BRIGHT.

    URI: http://127.0.0.1:8000
    Version: 1
    Chain ID: 31337
    Nonce: 32891756aBcd
    Issued At: 2026-11-26T14:00:00Z
    Expiration Time: 2026-11-26T14:05:00Z

The statement (and its blank line) is optional, and so are ``Expiration Time``, ``Not Before``,
``Request ID`` and ``Resources``; the fields that are present come in this order. References:
EIP-4361 (https://eips.ethereum.org/EIPS/eip-4361), RFC 3339 timestamps.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

from eth_utils import is_checksum_address

from api.errors import SiweFormatError

HEADER_SUFFIX = " wants you to sign in with your Ethereum account:"
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
_NONCE = re.compile(r"^[A-Za-z0-9]{8,}$")
_DOMAIN = re.compile(r"^(?:[a-z][a-z0-9+.-]*://)?[A-Za-z0-9.\-\[\]:@%_~!$&'()*+,;=]+$")
_URI = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:\S+$")
_RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})$", re.IGNORECASE
)
_OPTIONAL = ("Expiration Time", "Not Before", "Request ID")


def parse_time(value: str, what: str) -> datetime:
    """An RFC 3339 timestamp with a time zone, as an aware datetime."""
    if not _RFC3339.match(value):
        raise SiweFormatError(f"{what} is not an RFC 3339 timestamp: {value!r}")
    try:
        return datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    except ValueError as exc:
        raise SiweFormatError(f"{what} is not a valid date and time: {value!r}") from exc


def format_time(t: datetime) -> str:
    """RFC 3339 in UTC with a ``Z`` and whole seconds."""
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class SiweMessage:
    """The fields of an EIP-4361 message (times as RFC 3339 text, exactly as signed)."""

    domain: str
    address: str
    uri: str
    chain_id: int
    nonce: str
    issued_at: str
    statement: str | None = None
    version: str = "1"
    expiration_time: str | None = None
    not_before: str | None = None
    request_id: str | None = None
    resources: tuple[str, ...] = field(default_factory=tuple)

    def to_text(self) -> str:
        """The message as the wallet signs it (EIP-4361's layout, LF line ends)."""
        lines = [f"{self.domain}{HEADER_SUFFIX}", self.address, ""]
        if self.statement is not None:
            lines += [self.statement, ""]
        lines += [
            f"URI: {self.uri}",
            f"Version: {self.version}",
            f"Chain ID: {self.chain_id}",
            f"Nonce: {self.nonce}",
            f"Issued At: {self.issued_at}",
        ]
        if self.expiration_time is not None:
            lines.append(f"Expiration Time: {self.expiration_time}")
        if self.not_before is not None:
            lines.append(f"Not Before: {self.not_before}")
        if self.request_id is not None:
            lines.append(f"Request ID: {self.request_id}")
        if self.resources:
            lines.append("Resources:")
            lines += [f"- {r}" for r in self.resources]
        return "\n".join(lines)

    @property
    def issued_at_dt(self) -> datetime:
        return parse_time(self.issued_at, "Issued At")

    @property
    def expiration_dt(self) -> datetime | None:
        if self.expiration_time is None:
            return None
        return parse_time(self.expiration_time, "Expiration Time")

    @property
    def not_before_dt(self) -> datetime | None:
        return None if self.not_before is None else parse_time(self.not_before, "Not Before")


def _field(lines: list[str], i: int, name: str) -> str:
    if i >= len(lines) or not lines[i].startswith(f"{name}: "):
        got = lines[i] if i < len(lines) else "the end of the message"
        raise SiweFormatError(f"line {i + 1} must be '{name}: ...', got {got!r}")
    value = lines[i][len(name) + 2 :]
    if not value or value != value.strip():
        raise SiweFormatError(f"line {i + 1}: {name} is empty or has surrounding spaces")
    return value


def parse_siwe(text: str) -> SiweMessage:
    """Parse an EIP-4361 message; raises :class:`SiweFormatError` saying what is wrong."""
    if len(text) > 8192:
        raise SiweFormatError("the message is longer than 8192 characters")
    lines = text.replace("\r\n", "\n").split("\n")
    if not lines[0].endswith(HEADER_SUFFIX):
        raise SiweFormatError(f"line 1 must end with {HEADER_SUFFIX.strip()!r}")
    domain = lines[0][: -len(HEADER_SUFFIX)]
    if not domain or not _DOMAIN.match(domain):
        raise SiweFormatError(f"line 1: {domain!r} is not a domain (RFC 3986 authority)")
    if len(lines) < 2 or not _ADDRESS.match(lines[1]):
        raise SiweFormatError("line 2 must be the 0x-prefixed address")
    address = lines[1]
    if not is_checksum_address(address):
        raise SiweFormatError(f"line 2: {address} is not an EIP-55 checksummed address")
    if len(lines) < 3 or lines[2] != "":
        raise SiweFormatError("line 3 must be empty")
    i = 3
    statement: str | None = None
    if i < len(lines) and lines[i] and not lines[i].startswith("URI: "):
        statement = lines[i]
        if "\n" in statement:
            raise SiweFormatError("the statement must be one line")
        i += 1
        if i >= len(lines) or lines[i] != "":
            raise SiweFormatError(f"line {i + 1} (after the statement) must be empty")
        i += 1
    elif i < len(lines) and lines[i] == "":
        i += 1  # EIP-4361's ABNF: an empty line where the statement would be
    uri = _field(lines, i, "URI")
    if not _URI.match(uri):
        raise SiweFormatError(f"URI {uri!r} is not an RFC 3986 URI")
    version = _field(lines, i + 1, "Version")
    if version != "1":
        raise SiweFormatError(f"Version must be 1, got {version!r}")
    chain_text = _field(lines, i + 2, "Chain ID")
    if not chain_text.isdigit() or int(chain_text) < 1 or len(chain_text) > 20:
        raise SiweFormatError(f"Chain ID must be a positive integer, got {chain_text!r}")
    nonce = _field(lines, i + 3, "Nonce")
    if not _NONCE.match(nonce):
        raise SiweFormatError("Nonce must be at least 8 letters or digits")
    issued_at = _field(lines, i + 4, "Issued At")
    parse_time(issued_at, "Issued At")
    i += 5
    optional: dict[str, str] = {}
    for name in _OPTIONAL:
        if i < len(lines) and lines[i].startswith(f"{name}: "):
            optional[name] = _field(lines, i, name)
            i += 1
    for name in ("Expiration Time", "Not Before"):
        if name in optional:
            parse_time(optional[name], name)
    resources: list[str] = []
    if i < len(lines) and lines[i] == "Resources:":
        i += 1
        while i < len(lines) and lines[i].startswith("- "):
            resources.append(lines[i][2:])
            i += 1
    if i < len(lines) and not (i == len(lines) - 1 and lines[i] == ""):
        raise SiweFormatError(f"line {i + 1} is not an EIP-4361 field: {lines[i][:80]!r}")
    return SiweMessage(
        domain=domain,
        address=address,
        uri=uri,
        chain_id=int(chain_text),
        nonce=nonce,
        issued_at=issued_at,
        statement=statement,
        version=version,
        expiration_time=optional.get("Expiration Time"),
        not_before=optional.get("Not Before"),
        request_id=optional.get("Request ID"),
        resources=tuple(resources),
    )
