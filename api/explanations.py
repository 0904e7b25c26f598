"""Why a request or a member's settlement came out as it did, in one sentence (issue 16), from
the read models alone.

* :func:`request_outcome_reason`: a request that ended without a coalition (its escrow
  reclaimed, or still ``open`` / ``proposed`` once its window has started) says which
  constraint failed, checked in this order: no opt-in at all; the opt-ins' offers (each member
  offers up to ``max_wh`` in every interval) summed below the least the tolerance admits in an
  interval (``lower_wh(q, tol)``, :mod:`core.rules`); a coalition proposed and not accepted
  before the window; coalitions proposed and rejected; else none proposed although the offers
  were enough on paper (a coordinator sizes members by their forecasts and metered load,
  which can allow less than their offers). Any other request: ``None``.
* :func:`row_explanation`: a settled (or proposed) coalition row with a shortfall names each
  interval that fell short of its tolerance bound: the request's meter-before baseline (the
  mean of ``baseline_intervals`` intervals ending ``baseline_gap_intervals`` before the window,
  rounded half up: :func:`core.rules.meter_before_baseline`, ``METER_BEFORE_AFTER`` of
  :mod:`settlement.baselines`), the metered net import, the delivery the settlement counts
  (``baseline - metered`` for upward flexibility, ``metered - baseline`` for downward), the
  least it needed (``lower_wh(target, tol)``) and the shortfall. An interval without meter data,
  or a member whose baseline intervals are not all metered, delivered nothing (the contract's
  and :mod:`settlement.service`'s rule) and says so. Where the meter data in the read models
  no longer give the settlement's delivery (a correction committed after it), both are named.

Times are the interval's start, ``HH:MM UTC``. The texts carry only figures of the request
(public to members) or of the row they explain (seen only by whoever may see that row), never
an address or a meter id.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from core.rules import Direction, delivered_wh, lower_wh, meter_before_baseline
from core.units import INTERVAL_S

__all__ = [
    "BaselineTerms",
    "OptInTotals",
    "baseline_starts",
    "ended_without_coalition",
    "request_outcome_reason",
    "row_explanation",
]

DEFAULT_BASELINE_INTERVALS = 4
"""``MeterBeforeAfterParams().before_intervals``: a request indexed before the read model kept
its baseline parameters used the defaults."""


def _hhmm(ts_s: int) -> str:
    return time.strftime("%H:%M UTC", time.gmtime(ts_s))


def _pct(bp: int) -> str:
    return f"{bp / 100:g} %"


@dataclass(frozen=True)
class OptInTotals:
    """A request's opt-ins: how many, and their offers summed (Wh per interval)."""

    count: int
    offered_wh: int


def ended_without_coalition(status: str, window_start_s: int, now_s: float) -> bool:
    """Whether a request ended without an accepted coalition: its escrow was reclaimed (the
    contract allows it only then), or it is still ``open`` or ``proposed`` at ``now_s`` (unix
    s) past its window's start."""
    if status == "reclaimed":
        return True
    return status in ("open", "proposed") and now_s >= window_start_s


def request_outcome_reason(
    *,
    status: str,
    window_start_s: int,
    opt_in_deadline_s: int,
    quantities_wh: Sequence[int],
    tolerance_bp: int,
    round_: int,
    row_count: int,
    opt_ins: OptInTotals,
    now_s: float,
) -> str | None:
    """Why a request ended without a coalition (see the module), or ``None`` if it has not."""
    if not ended_without_coalition(status, window_start_s, now_s):
        return None
    if opt_ins.count == 0:
        return f"no member opted in before the opt-in deadline ({_hhmm(opt_in_deadline_s)})"
    needs = [lower_wh(q, tolerance_bp) for q in quantities_wh]
    k = max(range(len(needs)), key=lambda i: (needs[i], -i))
    if opt_ins.offered_wh < needs[k]:
        members = "member" if opt_ins.count == 1 else "members"
        return (
            f"the opt-ins ({opt_ins.count} {members}) offer at most {opt_ins.offered_wh} Wh in "
            f"interval {k} ({_hhmm(window_start_s + k * INTERVAL_S)}) where at least "
            f"{needs[k]} Wh are needed ({quantities_wh[k]} Wh requested, tolerance "
            f"{_pct(tolerance_bp)})"
        )
    window = _hhmm(window_start_s)
    if row_count > 0:
        return (
            f"a coalition of {row_count} members was proposed but not accepted by the DSO "
            f"before the window started ({window})"
        )
    if round_ > 0:
        times = "once" if round_ == 1 else f"{round_} times"
        return (
            f"the DSO rejected the proposed coalition {times} and no other was proposed before "
            f"the window started ({window})"
        )
    return (
        f"no coalition was proposed before the window started ({window}), although the "
        f"opt-ins offer up to {opt_ins.offered_wh} Wh per interval and no interval needs more "
        f"than {needs[k]} Wh: a coordinator sizes members by their forecasts and metered load, "
        "which can allow less than their offers"
    )


@dataclass(frozen=True)
class BaselineTerms:
    """What a request's settlement measures against: the window, the direction and the
    meter-before baseline's parameters."""

    window_start_s: int
    direction: str
    tolerance_bp: int
    baseline_intervals: int | None
    baseline_gap_intervals: int | None

    @property
    def before(self) -> int:
        return self.baseline_intervals or DEFAULT_BASELINE_INTERVALS

    @property
    def gap(self) -> int:
        return self.baseline_gap_intervals or 0


def baseline_starts(terms: BaselineTerms) -> list[int]:
    """The interval starts the request's meter-before baseline averages, unix s."""
    first = terms.window_start_s - INTERVAL_S * (terms.gap + terms.before)
    return [first + INTERVAL_S * k for k in range(terms.before)]


def row_explanation(
    terms: BaselineTerms,
    targets_wh: Sequence[int],
    delivered: Sequence[int] | None,
    shortfall: Sequence[int] | None,
    missing: Sequence[int] | None,
    net_wh: Mapping[int, int],
) -> str | None:
    """The intervals in which a coalition row fell short of its tolerance bound, with the
    baseline, metered and delivered Wh (see the module); ``None`` while it is not settled or
    when nothing fell short. ``net_wh``: the row's meter, net import by interval start, Wh
    (the read models' meter intervals)."""
    if delivered is None or shortfall is None:
        return None
    short = [k for k, s in enumerate(shortfall) if s > 0]
    if not short:
        return None
    before = baseline_starts(terms)
    have = [net_wh[s] for s in before if s in net_wh]
    baseline = meter_before_baseline(have) if len(have) == len(before) else None
    up = Direction.UP if terms.direction == "up" else Direction.DOWN
    no_data = set(missing or ())
    parts = []
    for k in short:
        start = terms.window_start_s + k * INTERVAL_S
        need = lower_wh(targets_wh[k], terms.tolerance_bp)
        head = f"interval {k} ({_hhmm(start)}): "
        tail = f"at least {need} Wh needed: shortfall {shortfall[k]} Wh"
        if k in no_data:
            parts.append(f"{head}no meter data, counted as delivering 0 Wh, {tail}")
        elif baseline is None:
            metered_text = f"metered {net_wh[start]} Wh, " if start in net_wh else ""
            parts.append(
                f"{head}no baseline (the meter has data for {len(have)} of the {len(before)} "
                f"intervals from {_hhmm(before[0])} before the window), {metered_text}counted as "
                f"delivering 0 Wh, {tail}"
            )
        else:
            metered = net_wh.get(start)
            if metered is None:  # not indexed yet: the settlement's figure alone
                figures = f"baseline {baseline} Wh, delivered {delivered[k]} Wh"
                parts.append(f"{head}{figures}, {tail}")
                continue
            now = delivered_wh(up, baseline, metered)
            figures = f"baseline {baseline} Wh, metered {metered} Wh, delivered {delivered[k]} Wh"
            if now != delivered[k]:
                figures += f" (the meter data now give {now} Wh: corrected after the settlement)"
            parts.append(f"{head}{figures}, {tail}")
    what = "interval" if len(short) == 1 else "intervals"
    return (
        f"{len(short)} {what} below the tolerance ({_pct(terms.tolerance_bp)} under the target; "
        f"baseline: the mean net import of the {len(before)} intervals from "
        f"{_hhmm(before[0])}): " + "; ".join(parts)
    )
