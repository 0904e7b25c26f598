"""Pure types of settlement: meter series, per-member and per-interval results, the rules of
non-delivery. The request itself and the money rules are :mod:`core.rules`.

Units, as on-chain: energy in Wh (ints), time in unix seconds, 15-minute intervals (900 s)
aligned to UTC, prices in FlexToken base units per kWh, money in FlexToken base units,
tolerances and shares in basis points (``_bp``: 10,000 = 100 %, so the specification's 10 %
is ``tolerance_bp=1000``). Integer basis points keep every rule exact, so anyone recomputes the
same figures from chain data.

Sign convention (:class:`Direction`)
------------------------------------
Meter values are the member's net **import** per interval, Wh (negative when it exports).

* ``Direction.UP`` (upward flexibility: the grid needs less load): delivered = baseline -
  metered, i.e. the load reduction (or extra export) against the baseline.
* ``Direction.DOWN`` (downward flexibility: the grid needs more load, e.g. surplus PV):
  delivered = metered - baseline, i.e. the load increase (or export reduction).

Either way a positive delivered value is flexibility in the requested direction and a negative
one is a movement the wrong way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from core.rules import (
    BP,
    MAX_WH,
    as_int,
    check_aligned,
)
from core.units import INTERVAL_S
from settlement.errors import (
    InvalidMeterSeries,
    MissingMeterData,
    TargetForNonMember,
    TargetShapeMismatch,
)

__all__ = [
    "IntervalSettlement",
    "MemberSettlement",
    "MeterSeries",
    "NonDelivery",
    "ReputationResult",
    "SettlementResult",
    "SettlementRules",
    "as_targets",
]

@dataclass(frozen=True, eq=False)
class MeterSeries:
    """Energy per 15-minute interval of one meter (or one forecast), Wh, on a contiguous grid.

    Parameters
    ----------
    start_s
        Start of the first interval, unix seconds, a multiple of 900.
    energy_wh
        Net import per interval, Wh, int64 (negative = export).
    present
        Which intervals have a value (all of them when ``None``); a missing interval is never
        read as 0.
    """

    start_s: int
    energy_wh: np.ndarray
    present: np.ndarray | None = None

    def __post_init__(self) -> None:
        check_aligned("meter series start", self.start_s)
        values = np.asarray(self.energy_wh)
        if values.ndim != 1:
            raise InvalidMeterSeries(f"energy_wh must be 1-D, got shape {values.shape}")
        if values.size and not np.issubdtype(values.dtype, np.integer):
            raise InvalidMeterSeries(f"energy_wh must hold ints (Wh), got dtype {values.dtype}")
        values = values.astype(np.int64)
        if values.size and int(np.abs(values).max()) > MAX_WH:
            raise InvalidMeterSeries(f"energy_wh has a value beyond {MAX_WH} Wh")
        object.__setattr__(self, "start_s", int(self.start_s))
        object.__setattr__(self, "energy_wh", values)
        if self.present is not None:
            mask = np.asarray(self.present, dtype=bool)
            if mask.shape != values.shape:
                raise InvalidMeterSeries("present must have the shape of energy_wh")
            object.__setattr__(self, "present", None if mask.all() else mask)

    @classmethod
    def from_mapping(cls, values_wh: Mapping[int, int]) -> MeterSeries:
        """A series from ``{interval_start_s: Wh}``; gaps between the keys are missing."""
        if not values_wh:
            return cls(0, np.zeros(0, dtype=np.int64))
        starts = sorted(check_aligned("interval start", t) for t in values_wh)
        first = starts[0]
        n = (starts[-1] - first) // INTERVAL_S + 1
        energy = np.zeros(n, dtype=np.int64)
        mask = np.zeros(n, dtype=bool)
        for t in starts:
            k = (t - first) // INTERVAL_S
            energy[k] = as_int(f"meter value at {t}", values_wh[t], -MAX_WH, MAX_WH)
            mask[k] = True
        return cls(first, energy, mask)

    @property
    def end_s(self) -> int:
        """End of the last interval (exclusive), unix seconds."""
        return self.start_s + INTERVAL_S * int(self.energy_wh.size)

    def index_of(self, interval_start_s: int) -> int:
        """Position of an interval in the arrays (may be out of range)."""
        return (interval_start_s - self.start_s) // INTERVAL_S

    def has(self, starts_s: np.ndarray) -> bool:
        """Whether every interval in ``starts_s`` (int64 array of starts) has a value."""
        k = (starts_s - self.start_s) // INTERVAL_S
        if k.size == 0:
            return True
        if int(k.min()) < 0 or int(k.max()) >= self.energy_wh.size:
            return False
        return self.present is None or bool(self.present[k].all())

    def values(self, starts_s: np.ndarray, member: str, what: str = "meter data") -> np.ndarray:
        """Values of the intervals ``starts_s``, Wh; raises :class:`MissingMeterData`."""
        k = (starts_s - self.start_s) // INTERVAL_S
        for pos, idx in enumerate(k.tolist()):
            if not 0 <= idx < self.energy_wh.size or (
                self.present is not None and not self.present[idx]
            ):
                raise MissingMeterData(member, int(starts_s[pos]), what)
        return self.energy_wh[k]


@dataclass(frozen=True)
class SettlementRules:
    """How deliveries become rewards, penalties and non-delivery flags.

    Parameters
    ----------
    non_delivery_bp
        An interval counts as failed when a member delivered less than this share of its
        (positive) target, basis points (default 5000 = 50 %).
    non_delivery_intervals
        Consecutive failed intervals that flag a member for replacement (default 2).
    points_per_kwh
        Reputation points per credited kWh (non-financial scheme).
    penalty_points_per_kwh
        Reputation points taken per kWh of shortfall beyond the tolerance.
    """

    non_delivery_bp: int = 5000
    non_delivery_intervals: int = 2
    points_per_kwh: int = 1000
    penalty_points_per_kwh: int = 1000

    def __post_init__(self) -> None:
        as_int("non_delivery_bp", self.non_delivery_bp, 0, BP)
        as_int("non_delivery_intervals", self.non_delivery_intervals, 1, 10**6)
        as_int("points_per_kwh", self.points_per_kwh, 0, 10**12)
        as_int("penalty_points_per_kwh", self.penalty_points_per_kwh, 0, 10**12)


@dataclass(frozen=True)
class NonDelivery:
    """A member flagged for replacement.

    ``first_failed_s`` is the first of the consecutive failed intervals; ``detected_s`` the
    interval at whose end the run reached the rule's length (replacement covers the intervals
    after it).
    """

    member: str
    first_failed_s: int
    detected_s: int


@dataclass(frozen=True)
class MemberSettlement:
    """One member's settlement; every per-interval tuple has one value per window interval.

    ``reward_total - penalty_total`` is netted: ``payout = max(0, reward_total -
    penalty_total)`` is paid from the escrow, and the part of the penalty that the rewards do
    not cover is ``penalty_uncovered`` (stays with the DSO; a member's balance never goes
    negative here).
    """

    member: str
    target_wh: tuple[int, ...]
    baseline_wh: tuple[int, ...]
    metered_wh: tuple[int, ...]
    delivered_wh: tuple[int, ...]
    deviation_wh: tuple[int, ...]
    credited_wh: tuple[int, ...]
    shortfall_wh: tuple[int, ...]
    reward: tuple[int, ...]
    penalty: tuple[int, ...]
    reward_total: int
    penalty_total: int
    payout: int
    penalty_uncovered: int
    intervals_met: int
    non_delivery: NonDelivery | None = None


@dataclass(frozen=True)
class IntervalSettlement:
    """The coalition as a whole in one interval."""

    interval_start_s: int
    requested_wh: int
    target_wh: int
    delivered_wh: int
    within_tolerance: bool
    """Whether the coalition's delivered total is within the tolerance of the request."""


@dataclass(frozen=True)
class SettlementResult:
    """A request's settlement: ``escrow == payout_total + refund`` exactly, all >= 0."""

    request_id: int
    members: tuple[MemberSettlement, ...]
    intervals: tuple[IntervalSettlement, ...]
    escrow: int
    max_payout: int
    payout_total: int
    refund: int
    non_delivery: tuple[NonDelivery, ...] = field(default=())

    def member(self, member: str) -> MemberSettlement:
        """The settlement of one member (KeyError when absent)."""
        for m in self.members:
            if m.member == member:
                return m
        raise KeyError(member)


@dataclass(frozen=True)
class ReputationResult:
    """The non-financial scheme: reputation points per member (not transferable).

    ``points`` can be negative (a member that fell short loses standing); nothing is paid and
    the DSO's escrow is refunded whole.
    """

    request_id: int
    points: Mapping[str, int]
    points_per_interval: Mapping[str, tuple[int, ...]]
    refund: int
    non_delivery: tuple[NonDelivery, ...] = ()


def as_targets(
    targets: Mapping[str, Sequence[int]], members: Sequence[str], intervals: int
) -> dict[str, np.ndarray]:
    """Validated targets per member as int64 arrays (used by the engine)."""
    allowed = set(members)
    out: dict[str, np.ndarray] = {}
    for member, row in targets.items():
        if member not in allowed:
            raise TargetForNonMember(member)
        values = [as_int(f"target of {member!r}", v) for v in row]
        if len(values) != intervals:
            raise TargetShapeMismatch(member, len(values), intervals)
        out[member] = np.asarray(values, dtype=np.int64)
    return out
