"""Pure types of coalition forming: members' opt-ins and the coalition. The request is
:class:`core.rules.FlexRequest`, its tolerance rules those of :mod:`core.rules`.

Units: energy in Wh per 15-minute interval (ints, as on-chain; a power ``P`` kW held for an
interval is ``250 * P`` Wh), time in unix seconds (intervals of 900 s aligned to UTC),
tolerances and reserve shares in basis points (10,000 = 100 %; the specification's 10 % is
``tolerance_bp=1000``), reliability as a share 0..1 of past intervals delivered.

A member's **availability** in interval t (what a target may ask of it) is
``min(forecast flexibility[t], max_wh, comfort_wh[t])`` (floored at 0), where the forecast is
the median (``flex_wh``) or, with ``quantile="q10"``, the cautious 10 % quantile. A member with
``min_wh > 0`` (an on/off device) is either inactive in an interval (target 0) or delivers at
least ``min_wh``; ``max_active_intervals`` bounds how many intervals it is active (comfort: a
heat pump may stay off for at most so long).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from coalitions.errors import InvalidMemberOffer
from core.rules import BP, MAX_WH
from core.rules import within_tolerance as interval_within_tolerance
from core.units import INTERVAL_S


def kw_to_interval_wh(power_kw: float) -> int:
    """A power held for one 15-minute interval as energy, whole Wh (``250 * kW``, rounded)."""
    return round(float(power_kw) * 1000 * INTERVAL_S / 3600)


def _is_int(value: object) -> bool:
    return not isinstance(value, bool) and isinstance(value, numbers.Integral)


@dataclass(frozen=True)
class MemberOffer:
    """One member's opt-in to a request: what it can deliver and how reliably.

    Parameters
    ----------
    member
        Wallet address (or any unique id).
    flex_wh
        Forecast flexibility (median, q50) per interval of the window, Wh per 15 min.
    max_wh
        The most it will deliver in one interval (device / contract limit), Wh.
    reliability
        Share of its past targets delivered, 0..1 (1 for a newcomer is the caller's choice).
    node
        Its grid node in the feeder graph.
    opted_in_s
        When it opted in, unix seconds.
    flex_q10_wh, flex_q90_wh
        Forecast quantiles per interval, when the forecaster gives them (q10 is used with
        ``quantile="q10"``; q90 is carried for the read side, the model does not use it).
        Forecasts in kW convert with :func:`kw_to_interval_wh`.
    comfort_wh
        Per-interval limit from its comfort rules (``None``: none).
    min_wh
        Minimum delivery when active in an interval (0: fully modulating).
    max_active_intervals
        At most this many active intervals (``None``: no limit).
    """

    member: str
    flex_wh: tuple[int, ...]
    max_wh: int
    reliability: float = 1.0
    node: str = ""
    opted_in_s: int = 0
    flex_q10_wh: tuple[int, ...] | None = None
    flex_q90_wh: tuple[int, ...] | None = None
    comfort_wh: tuple[int, ...] | None = None
    min_wh: int = 0
    max_active_intervals: int | None = None

    def __post_init__(self) -> None:
        m = self.member
        if not isinstance(m, str) or not m:
            raise InvalidMemberOffer(str(m), "member must be a non-empty str")
        for name in ("flex_wh", "flex_q10_wh", "flex_q90_wh", "comfort_wh"):
            values = getattr(self, name)
            if values is None:
                continue
            if any(not _is_int(v) or not 0 <= int(v) <= MAX_WH for v in values):
                raise InvalidMemberOffer(m, f"{name} must hold ints in 0..{MAX_WH} Wh")
            object.__setattr__(self, name, tuple(int(v) for v in values))
        for name in ("max_wh", "min_wh", "opted_in_s"):
            value = getattr(self, name)
            if not _is_int(value) or int(value) < 0:
                raise InvalidMemberOffer(m, f"{name} must be a non-negative int, got {value!r}")
        rel = self.reliability
        if isinstance(rel, bool) or not isinstance(rel, numbers.Real) or not (
            math.isfinite(float(rel)) and 0.0 <= float(rel) <= 1.0
        ):
            raise InvalidMemberOffer(m, f"reliability must be in 0..1, got {rel!r}")
        act = self.max_active_intervals
        if act is not None and (not _is_int(act) or int(act) < 0):
            raise InvalidMemberOffer(m, f"max_active_intervals must be an int >= 0, got {act!r}")

    @property
    def reliability_bp(self) -> int:
        """Reliability in basis points (rounded)."""
        return round(float(self.reliability) * BP)

    def availability_wh(self, intervals: int, quantile: str = "q50") -> np.ndarray:
        """What a target may ask in each interval, Wh (see the module docstring)."""
        forecast = self.flex_q10_wh if quantile == "q10" and self.flex_q10_wh else self.flex_wh
        for name, values in (("flex", forecast), ("comfort_wh", self.comfort_wh)):
            if values is not None and len(values) != intervals:
                raise InvalidMemberOffer(
                    self.member, f"{name} has {len(values)} values for {intervals} intervals"
                )
        cap = np.minimum(np.asarray(forecast, dtype=np.int64), self.max_wh)
        if self.comfort_wh is not None:
            cap = np.minimum(cap, np.asarray(self.comfort_wh, dtype=np.int64))
        cap = np.maximum(cap, 0)
        if self.min_wh > 0:
            cap = np.where(cap >= self.min_wh, cap, 0)
        return cap


@dataclass(frozen=True)
class Replacement:
    """A failing member replaced from ``from_s`` on by reserve members."""

    failing: str
    from_s: int
    by: tuple[str, ...]


@dataclass(frozen=True)
class Coalition:
    """A coalition for a request and each member's target per interval.

    Invariants: ``total_wh[t] == sum(targets_wh[m][t] for m in members)``; ``within_tolerance[t]``
    says whether ``lower_wh(requested) <= total <= upper_wh(requested)``
    (:func:`core.rules.within_tolerance`, the contract's bounds, rounded down);
    ``deviation_bp[t] = ceil(|total - requested| * 10000 / requested)`` (0 when requested = 0).
    """

    request_id: int
    window_start_s: int
    members: tuple[str, ...]
    targets_wh: Mapping[str, tuple[int, ...]]
    requested_wh: tuple[int, ...]
    total_wh: tuple[int, ...]
    tolerance_bp: int
    deviation_bp: tuple[int, ...]
    within_tolerance: tuple[bool, ...]
    reserve: tuple[str, ...]
    reserve_wh: tuple[int, ...]
    method: str
    status: str
    expected_shortfall_wh: int
    solve_s: float = 0.0
    replacements: tuple[Replacement, ...] = field(default=())

    @property
    def worst_deviation_bp(self) -> int:
        """The worst interval's deviation from the requested quantity, basis points."""
        return max(self.deviation_bp)

    @property
    def all_within_tolerance(self) -> bool:
        """Whether every interval's total is within the tolerance."""
        return all(self.within_tolerance)


def deviation_bp(total_wh: Sequence[int], requested_wh: Sequence[int]) -> tuple[int, ...]:
    """``ceil(|total - requested| * 10000 / requested)`` per interval; when requested = 0:
    0 if the total is 0 too, else 10,000."""
    out = []
    for s, q in zip(total_wh, requested_wh, strict=True):
        if q == 0:
            out.append(0 if s == 0 else BP)
        else:
            out.append(-((-abs(int(s) - int(q)) * BP) // int(q)))
    return tuple(out)


def within_tolerance(
    total_wh: Sequence[int], requested_wh: Sequence[int], tolerance_bp: int
) -> tuple[bool, ...]:
    """:func:`core.rules.within_tolerance` per interval (the contract's bounds)."""
    return tuple(
        interval_within_tolerance(int(s), int(q), tolerance_bp)
        for s, q in zip(total_wh, requested_wh, strict=True)
    )
