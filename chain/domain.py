"""Pure types of the core contracts and their encodings (no I/O)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from core.codec import EncodingError


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
