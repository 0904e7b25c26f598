"""Packed tables of the contracts: how coalitions, settlement results and deliveries travel in
calldata and events (``contracts/interfaces/IFlexCoordination.sol``), and the ``bytes32`` text
encoding of grid areas and meter ids.

* targets table: per member ``member << 96 | meter_index`` (its meter's index in the
  MeterOracle, which the contract checks when the row is proposed or added, so settlement reads
  the meter's commitments without a lookup), its meter id, then the targets (Wh, uint32) eight
  to a word, interval ``k`` in word ``k // 8`` at bits ``32 * (k % 8)``;
* results: per member ``payout << 160 | penalty_uncovered << 96 | uint32(points) << 64``;
* deliveries: per member a bitmap of the intervals without meter data, then delivered
  (int32), credited and shortfall (uint32) per interval, Wh, packed like the targets.

Pure functions; a value that does not fit raises :class:`EncodingError`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from eth_utils import keccak, to_checksum_address

from core.errors import BrightError

UINT32_MAX = 2**32 - 1
METER_INDEX_MAX = 2**64 - 1
ZERO_BYTES32 = b"\x00" * 32


class EncodingError(BrightError, ValueError):
    """A value cannot be encoded for the chain."""


def eip712_typed_data(
    domain_name: str,
    chain_id: int,
    contract: str,
    primary_type: str,
    fields: Sequence[tuple[str, str]],
    message: Mapping[str, object],
) -> dict[str, object]:
    """The EIP-712 message every BRIGHT contract signs over: domain ``domain_name``, version 1,
    the chain and the verifying contract; ``fields`` are ``(name, solidity type)`` of
    ``primary_type``."""
    return {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            primary_type: [{"name": n, "type": t} for n, t in fields],
        },
        "domain": {
            "name": domain_name,
            "version": "1",
            "chainId": chain_id,
            "verifyingContract": to_checksum_address(contract),
        },
        "primaryType": primary_type,
        "message": dict(message),
    }


def text_to_bytes32(text: str, what: str = "value") -> bytes:
    """UTF-8 text, right-padded with zeros, as ``bytes32`` (grid areas, meter ids)."""
    raw = text.encode()
    if len(raw) > 32:
        raise EncodingError(f"{what} {text!r} is {len(raw)} bytes; at most 32 fit on-chain")
    return raw.ljust(32, b"\x00")


def bytes32_to_text(raw: bytes) -> str:
    """The text of a ``bytes32`` written by :func:`text_to_bytes32`."""
    return bytes(raw).rstrip(b"\x00").decode(errors="replace")


@dataclass(frozen=True)
class CoalitionRow:
    """One member of a coalition: its wallet, its meter id (text) and its target per
    interval of the window, Wh. ``meter_index`` is the meter's index in the MeterOracle (what
    the packed table carries): rows read from the chain have it; the client's methods fill it
    in where it is None. It does not take part in comparisons (it follows from the meter id)."""

    member: str
    meter_id: str
    targets_wh: tuple[int, ...]
    meter_index: int | None = field(default=None, compare=False)


@dataclass(frozen=True)
class MemberResult:
    """What the settler submits for one member (token base units; points may be negative)."""

    payout: int
    penalty_uncovered: int = 0
    points: int = 0


@dataclass(frozen=True)
class MemberDeliveries:
    """One member's per-interval figures, Wh; ``missing`` holds the indexes of intervals
    without meter data (nothing may be delivered or credited there)."""

    delivered_wh: tuple[int, ...]
    credited_wh: tuple[int, ...]
    shortfall_wh: tuple[int, ...]
    missing: frozenset[int] = field(default_factory=frozenset)


def _words(n: int) -> int:
    return (n + 7) // 8


def pack_u32(values: Sequence[int], signed: bool = False) -> list[int]:
    """Values as 32-bit fields, eight to a word (value ``k`` at bits ``32 * (k % 8)``)."""
    out = [0] * _words(len(values))
    for k, v in enumerate(values):
        v = int(v)
        low, high = (-(2**31), 2**31 - 1) if signed else (0, UINT32_MAX)
        if not low <= v <= high:
            raise EncodingError(f"value {v} at {k} does not fit a {'' if signed else 'u'}int32")
        out[k // 8] |= (v & UINT32_MAX) << (32 * (k % 8))
    return out


def unpack_u32(words: Sequence[int], n: int, signed: bool = False) -> tuple[int, ...]:
    """The ``n`` 32-bit fields of :func:`pack_u32`."""
    out = []
    for k in range(n):
        v = (int(words[k // 8]) >> (32 * (k % 8))) & UINT32_MAX
        if signed and v >= 2**31:
            v -= 2**32
        out.append(v)
    return tuple(out)


def row_words(intervals: int) -> int:
    """Words per member in the targets table."""
    return 2 + _words(intervals)



def pack_table(
    rows: Sequence[CoalitionRow],
    intervals: int,
    meter_indexes: Mapping[str, int] | None = None,
) -> list[int]:
    """The targets table as the contract takes it. Each row's meter index is its
    ``meter_index`` or, where that is None, ``meter_indexes[meter_id]`` (the client's
    :meth:`FlexCoordinationClient.meter_indexes` gives them); a row without one is an error."""
    words: list[int] = []
    for row in rows:
        if len(row.targets_wh) != intervals:
            raise EncodingError(
                f"{row.member}: {len(row.targets_wh)} targets for {intervals} intervals"
            )
        index = row.meter_index
        if index is None and meter_indexes is not None:
            index = meter_indexes.get(row.meter_id)
        if index is None:
            raise EncodingError(
                f"{row.member}: the MeterOracle index of meter {row.meter_id!r} is not known "
                "(pass meter_indexes, or use FlexCoordinationClient.with_meter_indexes)"
            )
        if not 0 <= int(index) <= METER_INDEX_MAX:
            raise EncodingError(f"{row.member}: meter index {index} is out of range")
        words.append(int(to_checksum_address(row.member), 16) << 96 | int(index))
        words.append(int.from_bytes(text_to_bytes32(row.meter_id, "meter id"), "big"))
        words.extend(pack_u32(row.targets_wh))
    return words


def unpack_table(words: Sequence[int], intervals: int) -> list[CoalitionRow]:
    """The rows of a packed targets table (as logged by ``CoalitionProposed``)."""
    tw = row_words(intervals)
    if len(words) % tw:
        raise EncodingError(f"a table of {len(words)} words is not whole rows of {tw}")
    rows = []
    for base in range(0, len(words), tw):
        rows.append(
            CoalitionRow(
                member=to_checksum_address(f"0x{int(words[base]) >> 96:040x}"),
                meter_id=bytes32_to_text(int(words[base + 1]).to_bytes(32, "big")),
                targets_wh=unpack_u32(words[base + 2 : base + tw], intervals),
                meter_index=int(words[base]) & (2**96 - 1),
            )
        )
    return rows


def words_hash(words: Sequence[int]) -> bytes:
    """``keccak256(abi.encodePacked(uint256[]))``: what the contract stores for a table."""
    return keccak(b"".join(int(w).to_bytes(32, "big") for w in words))


def replace_in_rows(
    rows: Sequence[CoalitionRow],
    member: str,
    reserve: str,
    reserve_meter_id: str,
    from_interval: int,
    reserve_meter_index: int | None = None,
) -> list[CoalitionRow]:
    """The table after ``reserve`` replaced ``member`` from ``from_interval`` on (as the
    contract computes it): the member's later targets move to a new last row (whose meter
    index is ``reserve_meter_index``)."""
    member = to_checksum_address(member)
    out = list(rows)
    for i, row in enumerate(out):
        if to_checksum_address(row.member) == member:
            t = row.targets_wh
            out[i] = CoalitionRow(
                row.member,
                row.meter_id,
                t[:from_interval] + (0,) * (len(t) - from_interval),
                row.meter_index,
            )
            moved = (0,) * from_interval + t[from_interval:]
            out.append(
                CoalitionRow(
                    to_checksum_address(reserve), reserve_meter_id, moved, reserve_meter_index
                )
            )
            return out
    raise EncodingError(f"{member} has no row in the coalition")


def pack_results(results: Sequence[MemberResult]) -> list[int]:
    """One word per member: payout, uncovered penalty, points."""
    words = []
    for r in results:
        if not 0 <= r.payout < 2**96 or not 0 <= r.penalty_uncovered < 2**64:
            raise EncodingError(f"settlement figures out of range: {r}")
        if not -(2**31) <= r.points < 2**31:
            raise EncodingError(f"points {r.points} do not fit an int32")
        words.append(
            (r.payout << 160) | (r.penalty_uncovered << 96) | ((r.points & UINT32_MAX) << 64)
        )
    return words


def unpack_result(word: int) -> MemberResult:
    points = (word >> 64) & UINT32_MAX
    return MemberResult(
        payout=word >> 160,
        penalty_uncovered=(word >> 96) & (2**64 - 1),
        points=points - 2**32 if points >= 2**31 else points,
    )


def pack_deliveries(deliveries: Sequence[MemberDeliveries], intervals: int) -> list[int]:
    """Per member: missing-data bitmap, delivered (int32), credited, shortfall."""
    words: list[int] = []
    for d in deliveries:
        if not len(d.delivered_wh) == len(d.credited_wh) == len(d.shortfall_wh) == intervals:
            raise EncodingError(f"deliveries need {intervals} values per row")
        words.append(sum(1 << k for k in d.missing))
        words.extend(pack_u32(d.delivered_wh, signed=True))
        words.extend(pack_u32(d.credited_wh))
        words.extend(pack_u32(d.shortfall_wh))
    return words


def unpack_deliveries(words: Sequence[int], intervals: int) -> list[MemberDeliveries]:
    w = _words(intervals)
    dw = 1 + 3 * w
    out = []
    for base in range(0, len(words), dw):
        bitmap = int(words[base])
        out.append(
            MemberDeliveries(
                delivered_wh=unpack_u32(words[base + 1 : base + 1 + w], intervals, signed=True),
                credited_wh=unpack_u32(words[base + 1 + w : base + 1 + 2 * w], intervals),
                shortfall_wh=unpack_u32(words[base + 1 + 2 * w : base + dw], intervals),
                missing=frozenset(k for k in range(intervals) if bitmap >> k & 1),
            )
        )
    return out


