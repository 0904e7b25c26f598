"""Pure types and encodings of the oracles (no I/O).

On-chain, a meter value of one interval is one word (see ``IMeterOracle``)::

    reading = meter_index << 192 | import_wh << 96 | export_wh      (uint64, uint96, uint96)

and a forecast one word (see ``IForecastOracle``)::

    forecast = participant_index << 192 | q10_wh << 128 | q50_wh << 64 | q90_wh
               (uint64 index; the quantiles int64 Wh in two's complement)

A batch's Merkle tree has leaves ``keccak256(abi.encode(interval_start, word))``;
pairs are hashed sorted (OpenZeppelin ``MerkleProof``), an odd last node goes up unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from eth_utils import keccak

from core.errors import ForecastRowError, MisalignedIntervalError, ValueOutOfRangeError
from core.units import INTERVAL_S

UINT96_MAX = 2**96 - 1
UINT64_MAX = 2**64 - 1
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def check_interval_start(interval_start_s: int) -> int:
    """``interval_start_s`` if it is a positive multiple of 900 s, else raise."""
    if interval_start_s <= 0 or interval_start_s % INTERVAL_S:
        raise MisalignedIntervalError(interval_start_s)
    return interval_start_s


def _check(what: str, value: int, low: int, high: int) -> int:
    if not low <= value <= high:
        raise ValueOutOfRangeError(what, value, low, high)
    return value


# -- meter readings --------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class MeterValue:
    """Energy of one meter in one interval: imported and exported Wh."""

    meter_id: str
    interval_start_s: int
    import_wh: int
    export_wh: int


def pack_reading(meter_index: int, import_wh: int, export_wh: int) -> int:
    """The on-chain word of one meter value."""
    _check("meter index", meter_index, 0, UINT64_MAX)
    _check("import_wh", import_wh, 0, UINT96_MAX)
    _check("export_wh", export_wh, 0, UINT96_MAX)
    return (meter_index << 192) | (import_wh << 96) | export_wh


def unpack_reading(word: int) -> tuple[int, int, int]:
    """``(meter_index, import_wh, export_wh)`` of an on-chain word."""
    return word >> 192, (word >> 96) & UINT96_MAX, word & UINT96_MAX


# -- forecasts -------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ForecastRow:
    """One forecast: a participant's (home's) energy in one interval, Wh, as quantiles.

    ``participant_id`` is the home or participant id (text of at most 32 bytes); the values
    are net energy (import positive, export negative), Wh; ``model_version`` names the model
    (text of at most 32 bytes).
    """

    participant_id: str
    interval_start_s: int
    q10_wh: int
    q50_wh: int
    q90_wh: int
    model_version: str

    def __post_init__(self) -> None:
        if not self.q10_wh <= self.q50_wh <= self.q90_wh:
            raise ForecastRowError(
                f"{self.participant_id} @ {self.interval_start_s}: quantiles must be ordered, "
                f"got q10={self.q10_wh} q50={self.q50_wh} q90={self.q90_wh} Wh"
            )


def _to_u64(value: int, what: str) -> int:
    return _check(what, value, INT64_MIN, INT64_MAX) & UINT64_MAX


def _from_u64(raw: int) -> int:
    return raw - 2**64 if raw >= 2**63 else raw


def pack_forecast(participant_index: int, q10_wh: int, q50_wh: int, q90_wh: int) -> int:
    """The on-chain word of one forecast."""
    _check("participant index", participant_index, 0, UINT64_MAX)
    return (
        (participant_index << 192)
        | (_to_u64(q10_wh, "q10_wh") << 128)
        | (_to_u64(q50_wh, "q50_wh") << 64)
        | _to_u64(q90_wh, "q90_wh")
    )


def unpack_forecast(word: int) -> tuple[int, int, int, int]:
    """``(participant_index, q10_wh, q50_wh, q90_wh)`` of an on-chain word."""
    return (
        word >> 192,
        _from_u64((word >> 128) & UINT64_MAX),
        _from_u64((word >> 64) & UINT64_MAX),
        _from_u64(word & UINT64_MAX),
    )


# -- Merkle tree -----------------------------------------------------------------------------
def leaf_hash(interval_start_s: int, word: int) -> bytes:
    """The Merkle leaf of one packed word of interval ``interval_start_s``."""
    return keccak(interval_start_s.to_bytes(32, "big") + word.to_bytes(32, "big"))


def _pair(a: bytes, b: bytes) -> bytes:
    return keccak(a + b) if a <= b else keccak(b + a)


def merkle_levels(leaves: Sequence[bytes]) -> list[list[bytes]]:
    """Every level of the tree, leaves first, the root's level last."""
    if not leaves:
        raise ValueError("a Merkle tree needs at least one leaf")
    levels = [list(leaves)]
    while len(levels[-1]) > 1:
        level = levels[-1]
        up = [_pair(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            up.append(level[-1])
        levels.append(up)
    return levels


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    """The root the contracts compute for ``leaves`` (in batch order)."""
    return merkle_levels(leaves)[-1][0]


def merkle_proof(leaves: Sequence[bytes], position: int) -> list[bytes]:
    """Sibling hashes from leaf ``position`` up to the root (for ``MerkleProof.verify``)."""
    proof: list[bytes] = []
    for level in merkle_levels(leaves)[:-1]:
        sibling = position ^ 1
        if sibling < len(level):
            proof.append(level[sibling])
        position //= 2
    return proof
