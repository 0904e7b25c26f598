"""Participants in log lines: a display name with a short address, ``"Anna Becker (0x9965…)"``.

Log lines and describe functions take an optional ``names`` mapping (address -> display name,
from the member directory or the demo community) and show each address through
:func:`label`; without a name (or without a mapping) the full address stays, so nothing is
ever shown less precisely than before.
"""

from __future__ import annotations

from collections.abc import Mapping

Names = Mapping[str, str]
"""Display names by address (as the chain writes it, EIP-55)."""


def label(address: str | None, names: Names | None = None) -> str:
    """``"Name (0x1234…)"`` for a named address, the address itself otherwise ("-" for None)."""
    if address is None:
        return "-"
    name = (names or {}).get(address)
    if not name:
        return address
    return f"{name} ({address[:6]}\u2026)"
