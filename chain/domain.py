"""Pure types of the core contracts and their encodings (no I/O)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from core.errors import BrightError


class EncodingError(BrightError, ValueError):
    """A value cannot be encoded for the chain."""


class Role(IntEnum):
    """Participant roles, numbered as in ``IParticipantRegistry.Role``."""

    NONE = 0
    PROSUMER = 1
    AGGREGATOR = 2
    DSO = 3
    ORACLE = 4
    MARKET_OPERATOR = 5

    @property
    def label(self) -> str:
        """The role's name as users write it: ``prosumer``, ``market-operator``."""
        return self.name.lower().replace("_", "-")

    @classmethod
    def parse(cls, value: str | int) -> Role:
        """A role from its name (``prosumer``, ``market-operator``) or number."""
        if isinstance(value, int) and not isinstance(value, bool):
            try:
                return cls(value)
            except ValueError:
                raise EncodingError(f"unknown role number {value}") from None
        key = str(value).strip().upper().replace("-", "_").replace(" ", "_")
        try:
            return cls[key]
        except KeyError:
            names = ", ".join(r.name.lower().replace("_", "-") for r in cls if r)
            raise EncodingError(f"unknown role {value!r}; expected one of {names}") from None


ZERO_BYTES32 = b"\x00" * 32


def text_to_bytes32(text: str, what: str = "value") -> bytes:
    """UTF-8 text, right-padded with zeros, as ``bytes32`` (grid areas, meter ids)."""
    raw = text.encode()
    if len(raw) > 32:
        raise EncodingError(f"{what} {text!r} is {len(raw)} bytes; at most 32 fit on-chain")
    return raw.ljust(32, b"\x00")


def bytes32_to_text(raw: bytes) -> str:
    return bytes(raw).rstrip(b"\x00").decode(errors="replace")


@dataclass(frozen=True)
class Participant:
    """A participant as the registry stores it."""

    address: str
    role: Role
    active: bool
    registered_at_s: int
    aggregator: str | None
    grid_area: str
    meter_id: str

    @property
    def registered(self) -> bool:
        return self.role is not Role.NONE
