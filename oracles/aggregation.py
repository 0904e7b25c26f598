"""Interval energy of one meter from its readings (pure; no I/O).

A meter reports, per direction (``import``, ``export``), either a cumulative energy counter
(Wh; Zigbee2MQTT ``energy`` / ``produced_energy``, the bridge's ``energy`` /
``energy_export``) or instantaneous power (W; ``power`` / ``power_export``). Counters win when
a direction has both: they are what a billing meter registers, and a lost message loses
nothing.

Energy of the interval ``[s, s + 900)``:

- counter: ``round(E(s + 900)) - round(E(s))`` where ``E`` is the counter at that instant: the
  sample at exactly that time, else linear interpolation between the samples around it. The
  rounding telescopes: the sum over consecutive intervals is the counter's difference. A
  meter whose readings include the boundary instants (every 15-minute register reading, as
  the simulator and real smart meters send) is exact; otherwise interpolation estimates it.
- power: the step function of the samples (each value holds until the next sample),
  integrated over the interval, rounded to Wh.

A counter only rises: a reading below an earlier reading of the same series (or above a later
one) is refused with :class:`~oracles.errors.CounterDecreasedError` and never used, so one
backwards reading (a gateway sending ``0`` or a state word) cannot turn into a negative
interval followed by the whole jump in the next one. A replaced meter is a new meter id.

An interval is *known* when there is a sample at or before its start (otherwise the meter did
not exist yet: nothing to commit) and *complete* when there is also a sample at or after its
end. An incomplete value holds the last counter value (or stops integrating at the last power
sample): an estimate, corrected when the missing readings arrive. A meter that sent nothing
after the interval's start is silent (offline), not idle: the service commits nothing for it
until its readings arrive.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from enum import StrEnum

from core.units import INTERVAL_S
from oracles.errors import CounterDecreasedError


class Direction(StrEnum):
    IMPORT = "import"
    EXPORT = "export"


class SampleKind(StrEnum):
    COUNTER = "counter"  # cumulative energy, Wh
    POWER = "power"  # instantaneous power, W


PROPERTY_MAP: dict[str, tuple[Direction, SampleKind]] = {
    "energy": (Direction.IMPORT, SampleKind.COUNTER),
    "energy_export": (Direction.EXPORT, SampleKind.COUNTER),
    "power": (Direction.IMPORT, SampleKind.POWER),
    "power_export": (Direction.EXPORT, SampleKind.POWER),
}
"""Bridge reading property -> what the oracle makes of it (others are ignored)."""


@dataclass(frozen=True, slots=True)
class IntervalEnergy:
    """Energy of one direction in one interval, Wh; ``complete`` when no estimate was needed."""

    wh: int
    complete: bool


@dataclass
class Series:
    """Time-sorted samples of one meter, one direction, one kind."""

    times: list[float] = field(default_factory=list)
    values: list[float] = field(default_factory=list)

    def add(self, time_s: float, value: float) -> bool:
        """Insert a sample; False (and no change) if one exists at that time already."""
        i = bisect.bisect_left(self.times, time_s)
        if i < len(self.times) and self.times[i] == time_s:
            return False
        self.times.insert(i, time_s)
        self.values.insert(i, value)
        return True

    def __len__(self) -> int:
        return len(self.times)

    def check_counter(self, time_s: float, value: float, meter: str = "") -> None:
        """Raise :class:`CounterDecreasedError` unless ``value`` at ``time_s`` lies between
        the counter readings just before and just after it."""
        i = bisect.bisect_left(self.times, time_s)
        if i > 0 and value < self.values[i - 1]:
            raise CounterDecreasedError(meter, time_s, value, self.times[i - 1], self.values[i - 1])
        j = i + 1 if i < len(self.times) and self.times[i] == time_s else i
        if j < len(self.times) and value > self.values[j]:
            raise CounterDecreasedError(meter, time_s, value, self.times[j], self.values[j])

    def neighbours(self, time_s: float) -> tuple[float | None, float | None]:
        """Times of the samples just before and just after ``time_s`` (exclusive)."""
        i = bisect.bisect_left(self.times, time_s)
        before = self.times[i - 1] if i > 0 else None
        j = bisect.bisect_right(self.times, time_s)
        after = self.times[j] if j < len(self.times) else None
        return before, after

    def prune_before(self, time_s: float) -> None:
        """Drop samples older than ``time_s``, keeping the last one at or before it."""
        i = bisect.bisect_right(self.times, time_s) - 1
        if i > 0:
            del self.times[:i]
            del self.values[:i]

    # -- counters ---------------------------------------------------------------------------
    def counter_at(self, time_s: float) -> tuple[float, bool] | None:
        """``(E(time_s), exact_or_interpolated)``; held last value if none after; None before."""
        i = bisect.bisect_right(self.times, time_s)
        if i == 0:
            return None
        t0, v0 = self.times[i - 1], self.values[i - 1]
        if t0 == time_s:
            return v0, True
        if i == len(self.times):
            return v0, False
        t1, v1 = self.times[i], self.values[i]
        return v0 + (v1 - v0) * (time_s - t0) / (t1 - t0), True

    def counter_energy(self, start_s: float, end_s: float) -> IntervalEnergy | None:
        a = self.counter_at(start_s)
        if a is None:
            return None
        b = self.counter_at(end_s)
        assert b is not None
        # never negative: the series only rises (see check_counter), and so do its roundings
        return IntervalEnergy(round(b[0]) - round(a[0]), b[1])

    # -- power ------------------------------------------------------------------------------
    def power_energy(self, start_s: float, end_s: float) -> IntervalEnergy | None:
        first = bisect.bisect_right(self.times, start_s) - 1
        if first < 0:
            return None
        joules = 0.0
        last = len(self.times) - 1
        for i in range(first, last + 1):
            t0 = max(self.times[i], start_s)
            if t0 >= end_s:
                break
            t1 = min(self.times[i + 1], end_s) if i < last else t0
            joules += self.values[i] * max(t1 - t0, 0.0)
        complete = self.times[last] >= end_s
        return IntervalEnergy(max(round(joules / 3600.0), 0), complete)


@dataclass
class MeterSamples:
    """All samples of one meter."""

    series: dict[tuple[Direction, SampleKind], Series] = field(default_factory=dict)

    def add(
        self, direction: Direction, kind: SampleKind, time_s: float, value: float, meter: str = ""
    ) -> bool:
        """Keep a sample; False for a second sample at the same time (the first stays).
        A counter sample that would make the counter fall raises
        :class:`CounterDecreasedError` (nothing is kept)."""
        series = self.series.setdefault((direction, kind), Series())
        if kind is SampleKind.COUNTER:
            i = bisect.bisect_left(series.times, time_s)
            if i < len(series.times) and series.times[i] == time_s:
                return False
            series.check_counter(time_s, value, meter)
        return series.add(time_s, value)

    def _source(self, direction: Direction) -> tuple[SampleKind, Series] | None:
        for kind in (SampleKind.COUNTER, SampleKind.POWER):
            s = self.series.get((direction, kind))
            if s is not None and len(s):
                return kind, s
        return None

    def energy(self, direction: Direction, start_s: int) -> IntervalEnergy | None:
        """Energy of ``direction`` in ``[start_s, start_s + 900)``; None if unknown."""
        source = self._source(direction)
        if source is None:
            return None
        kind, series = source
        end_s = start_s + INTERVAL_S
        if kind is SampleKind.COUNTER:
            return series.counter_energy(start_s, end_s)
        return series.power_energy(start_s, end_s)

    def interval(self, start_s: int) -> tuple[int, int, bool] | None:
        """``(import_wh, export_wh, complete)`` of the interval, None when import is unknown.

        A direction without any samples counts 0 Wh (a meter without PV exports nothing).
        """
        imp = self.energy(Direction.IMPORT, start_s)
        if imp is None:
            return None
        exp = self.energy(Direction.EXPORT, start_s)
        if exp is None:
            has_export = self._source(Direction.EXPORT) is not None
            if has_export:  # export samples exist but start later: not known yet
                return imp.wh, 0, False
            return imp.wh, 0, imp.complete
        return imp.wh, exp.wh, imp.complete and exp.complete

    def affected_from(self, direction: Direction, kind: SampleKind, time_s: float) -> float:
        """Earliest instant whose energy a sample at ``time_s`` can change (its predecessor)."""
        s = self.series.get((direction, kind))
        if s is None:
            return time_s
        before, _ = s.neighbours(time_s)
        return before if before is not None else time_s

    def reported_after(self, time_s: float) -> bool:
        """True when the import direction has a sample later than ``time_s``."""
        source = self._source(Direction.IMPORT)
        return source is not None and source[1].times[-1] > time_s

    def first_time(self) -> float | None:
        source = self._source(Direction.IMPORT)
        return source[1].times[0] if source else None

    def prune_before(self, time_s: float) -> None:
        for s in self.series.values():
            s.prune_before(time_s)
