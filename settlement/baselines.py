"""Baselines: what a member would have consumed without the request, Wh per interval.

Four methods, each a pure function of one member's committed meter data (or committed
forecast) and the method's parameters, in integer arithmetic with one rounding rule
(:func:`settlement.domain.div_round`, halves up), so anyone can recompute them from chain data.

======  ============================  =======================================================
 id      method                        function
======  ============================  =======================================================
 1       X of Y days + day-of adj.     :func:`baseline_x_of_y` (CAISO 10-in-10 style)
 2       same hour, N working days     :func:`baseline_same_hour_working_days` (NODES style)
 3       forecast as baseline          :func:`baseline_forecast` (USEF D-prognosis style)
 4       meter before / meter after    :func:`baseline_meter_before_after` (NAESB)
======  ============================  =======================================================

Each method's parameters are a frozen dataclass with a canonical encoding: ``encode()`` gives a
tuple of ints in a fixed order, :func:`decode_params` reverses it, and
:func:`baseline_hash` is ``keccak256(abi.encode(uint8 methodId, int256[] params))``, the
bytes32 the request fixes on-chain. Days are *local* days: ``utc_offset_s`` (a multiple of
900) shifts UTC to the community's standard time; a day number is
``(t + utc_offset_s) // 86400`` (0 = 1970-01-01, a Thursday), weekdays are Monday..Friday.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass, fields
from enum import IntEnum
from typing import ClassVar

import numpy as np
from eth_abi import encode as abi_encode
from eth_utils import keccak

from core.rules import BP, div_round
from core.units import INTERVAL_S
from settlement.domain import MeterSeries
from settlement.errors import (
    InsufficientHistory,
    InvalidBaselineParams,
    MissingMeterData,
    UnknownBaselineMethod,
)

DAY_S = 86_400
HOUR_S = 3_600
MAX_LOOKBACK_DAYS = 400


class BaselineMethod(IntEnum):
    """Baseline method ids, as fixed on-chain in a request."""

    X_OF_Y = 1
    SAME_HOUR_WORKING_DAYS = 2
    FORECAST = 3
    METER_BEFORE_AFTER = 4


class Adjustment(IntEnum):
    """Day-of adjustment of the X-of-Y baseline."""

    NONE = 0
    ADDITIVE = 1
    MULTIPLICATIVE = 2


def local_day(ts_s: int, utc_offset_s: int) -> int:
    """Local day number of unix time ``ts_s`` (0 = 1970-01-01)."""
    return (ts_s + utc_offset_s) // DAY_S


def is_weekday(day: int) -> bool:
    """Whether local day number ``day`` is Monday..Friday (day 0 was a Thursday)."""
    return (day + 3) % 7 < 5


class _Params:
    """Canonical encoding shared by the parameter classes: the fields in order, then days."""

    method: ClassVar[BaselineMethod]

    def encode(self) -> tuple[int, ...]:
        """The parameters as ints in canonical order (excluded days last, sorted, unique)."""
        out: list[int] = []
        for f in fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if f.name == "excluded_days":
                out.append(len(value))
                out.extend(sorted(set(value)))
            else:
                out.append(int(value))
        return tuple(out)

    def _check(self, name: str, value: object, low: int, high: int) -> int:
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise InvalidBaselineParams(self.method.name, f"{name} must be an int, got {value!r}")
        if not low <= int(value) <= high:
            raise InvalidBaselineParams(
                self.method.name, f"{name} must be in {low}..{high}, got {value}"
            )
        return int(value)

    def _check_days(self, days: Sequence[int]) -> tuple[int, ...]:
        return tuple(sorted({self._check("excluded day", d, 0, 10**6) for d in days}))


@dataclass(frozen=True)
class XOfYParams(_Params):
    """Parameters of :func:`baseline_x_of_y` (defaults: CAISO 10-in-10, multiplicative, 20 %).

    Attributes
    ----------
    x_days
        Days averaged: the X highest-consumption days of the Y (X = Y: all of them).
    y_days
        Most recent eligible days considered.
    weekdays_only
        Only Monday..Friday are eligible (1) or every day (0).
    adjustment
        :class:`Adjustment`: none, additive or multiplicative day-of adjustment.
    adjustment_intervals
        Length of the adjustment window, intervals (default 12 = 3 hours).
    adjustment_gap_intervals
        Intervals between the end of the adjustment window and the event start (default 4 =
        1 hour: the hour before the event is left out, it may already show pre-cooling).
    adjustment_cap_bp
        Cap of the adjustment, basis points of the baseline (default 2000 = +-20 %).
    lookback_days
        How far back eligible days are searched.
    utc_offset_s
        Local standard time offset, seconds (multiple of 900).
    excluded_days
        Local day numbers that are never eligible (past event days, holidays).
    """

    method: ClassVar[BaselineMethod] = BaselineMethod.X_OF_Y
    x_days: int = 10
    y_days: int = 10
    weekdays_only: int = 1
    adjustment: int = Adjustment.MULTIPLICATIVE
    adjustment_intervals: int = 12
    adjustment_gap_intervals: int = 4
    adjustment_cap_bp: int = 2000
    lookback_days: int = 45
    utc_offset_s: int = 0
    excluded_days: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        y = self._check("y_days", self.y_days, 1, 100)
        self._check("x_days", self.x_days, 1, y)
        self._check("weekdays_only", self.weekdays_only, 0, 1)
        self._check("adjustment", self.adjustment, 0, 2)
        self._check("adjustment_intervals", self.adjustment_intervals, 1, 96)
        self._check("adjustment_gap_intervals", self.adjustment_gap_intervals, 0, 96)
        self._check("adjustment_cap_bp", self.adjustment_cap_bp, 0, BP)
        self._check("lookback_days", self.lookback_days, y, MAX_LOOKBACK_DAYS)
        _check_offset(self.method, self.utc_offset_s)
        object.__setattr__(self, "adjustment", Adjustment(int(self.adjustment)))
        object.__setattr__(self, "excluded_days", self._check_days(self.excluded_days))


@dataclass(frozen=True)
class SameHourParams(_Params):
    """Parameters of :func:`baseline_same_hour_working_days` (default: previous 5 working days).

    Attributes
    ----------
    n_days
        Working days averaged.
    lookback_days
        How far back working days are searched.
    utc_offset_s
        Local standard time offset, seconds (multiple of 900).
    excluded_days
        Local day numbers that are not working days (holidays, past event days).
    """

    method: ClassVar[BaselineMethod] = BaselineMethod.SAME_HOUR_WORKING_DAYS
    n_days: int = 5
    lookback_days: int = 30
    utc_offset_s: int = 0
    excluded_days: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        n = self._check("n_days", self.n_days, 1, 100)
        self._check("lookback_days", self.lookback_days, n, MAX_LOOKBACK_DAYS)
        _check_offset(self.method, self.utc_offset_s)
        object.__setattr__(self, "excluded_days", self._check_days(self.excluded_days))


@dataclass(frozen=True)
class ForecastParams(_Params):
    """Parameters of :func:`baseline_forecast`.

    Attributes
    ----------
    quantile_bp
        Which committed forecast quantile is the baseline, basis points (5000 = the median).
    issued_before_s
        The forecast must have been committed at least this long before the window starts
        (USEF: the day-ahead D-prognosis, 86,400 s); recorded here so the hash pins it, checked
        by whoever fetches the commitment.
    """

    method: ClassVar[BaselineMethod] = BaselineMethod.FORECAST
    quantile_bp: int = 5000
    issued_before_s: int = DAY_S

    def __post_init__(self) -> None:
        self._check("quantile_bp", self.quantile_bp, 1, BP - 1)
        self._check("issued_before_s", self.issued_before_s, 0, 30 * DAY_S)


@dataclass(frozen=True)
class MeterBeforeAfterParams(_Params):
    """Parameters of :func:`baseline_meter_before_after`.

    Attributes
    ----------
    before_intervals
        Intervals averaged before the event (default 4 = 1 hour).
    gap_intervals
        Intervals left out between them and the event start (default 0).
    """

    method: ClassVar[BaselineMethod] = BaselineMethod.METER_BEFORE_AFTER
    before_intervals: int = 4
    gap_intervals: int = 0

    def __post_init__(self) -> None:
        self._check("before_intervals", self.before_intervals, 1, 96)
        self._check("gap_intervals", self.gap_intervals, 0, 96)


BaselineParams = XOfYParams | SameHourParams | ForecastParams | MeterBeforeAfterParams

_PARAM_CLASSES: dict[BaselineMethod, type[_Params]] = {
    BaselineMethod.X_OF_Y: XOfYParams,
    BaselineMethod.SAME_HOUR_WORKING_DAYS: SameHourParams,
    BaselineMethod.FORECAST: ForecastParams,
    BaselineMethod.METER_BEFORE_AFTER: MeterBeforeAfterParams,
}


def _check_offset(method: BaselineMethod, utc_offset_s: object) -> None:
    if (
        isinstance(utc_offset_s, bool)
        or not isinstance(utc_offset_s, numbers.Integral)
        or not -14 * HOUR_S <= int(utc_offset_s) <= 14 * HOUR_S
        or int(utc_offset_s) % INTERVAL_S
    ):
        raise InvalidBaselineParams(
            method.name,
            f"utc_offset_s must be a multiple of 900 within +-14 h, got {utc_offset_s!r}",
        )


def coerce_method(method_id: object) -> BaselineMethod:
    """``method_id`` as a :class:`BaselineMethod`; raises :class:`UnknownBaselineMethod`."""
    if isinstance(method_id, bool) or not isinstance(method_id, numbers.Integral):
        raise UnknownBaselineMethod(method_id)
    try:
        return BaselineMethod(int(method_id))
    except ValueError:
        raise UnknownBaselineMethod(method_id) from None


def decode_params(method_id: int, values: Sequence[int]) -> BaselineParams:
    """The parameters of a method from their canonical encoding (empty: the defaults)."""
    method = coerce_method(method_id)
    cls = _PARAM_CLASSES[method]
    if len(values) == 0:
        return cls()  # type: ignore[return-value]
    names = [f.name for f in fields(cls)]  # type: ignore[arg-type]
    plain = [n for n in names if n != "excluded_days"]
    has_days = "excluded_days" in names
    vals = [int(v) for v in values]
    if len(vals) < len(plain) + (1 if has_days else 0):
        raise InvalidBaselineParams(method.name, f"{len(vals)} encoded values are too few")
    kwargs: dict[str, object] = dict(zip(plain, vals[: len(plain)], strict=True))
    rest = vals[len(plain) :]
    if has_days:
        count = rest[0]
        if count < 0 or len(rest) != 1 + count:
            raise InvalidBaselineParams(method.name, "excluded days do not match their count")
        kwargs["excluded_days"] = tuple(rest[1:])
    elif rest:
        raise InvalidBaselineParams(method.name, f"{len(vals)} encoded values are too many")
    params = cls(**kwargs)
    if params.encode() != tuple(vals):
        raise InvalidBaselineParams(method.name, "encoding is not canonical")
    return params  # type: ignore[return-value]


def baseline_hash(method_id: int, params: BaselineParams | Sequence[int]) -> bytes:
    """The bytes32 fixed on-chain: ``keccak256(abi.encode(uint8 methodId, int256[] params))``.

    ``params`` is a parameter object or its canonical encoding (checked by decoding).
    """
    method = coerce_method(method_id)
    if isinstance(params, _Params):
        if params.method != method:
            raise InvalidBaselineParams(method.name, f"parameters are for {params.method.name}")
        encoded = params.encode()
    else:
        encoded = decode_params(method, params).encode()
    return keccak(abi_encode(["uint8", "int256[]"], [int(method), list(encoded)]))


# ------------------------------------------------------------------------------ helpers


def _window(window_start_s: int, intervals: int) -> np.ndarray:
    return window_start_s + INTERVAL_S * np.arange(intervals, dtype=np.int64)


def _eligible_days(
    meter: MeterSeries,
    needed_s: np.ndarray,
    event_day: int,
    lookback_days: int,
    weekdays_only: bool,
    excluded: tuple[int, ...],
    wanted: int,
    method: str,
    member: str,
) -> list[int]:
    """The ``wanted`` most recent eligible days, as day offsets k (the day is event_day - k)."""
    days: list[int] = []
    skip = set(excluded)
    for k in range(1, lookback_days + 1):
        day = event_day - k
        if day in skip or (weekdays_only and not is_weekday(day)):
            continue
        if meter.has(needed_s - k * DAY_S):
            days.append(k)
            if len(days) == wanted:
                return days
    raise InsufficientHistory(method, member, wanted, len(days))


# ---------------------------------------------------------------------------- baselines


def baseline_x_of_y(
    meter: MeterSeries,
    window_start_s: int,
    intervals: int,
    params: XOfYParams | None = None,
    member: str = "",
) -> np.ndarray:
    """X-of-Y days baseline with an optional day-of adjustment (CAISO 10-in-10 style).

    1. Eligible days: local days before the event day (up to ``lookback_days`` back), weekdays
       only if ``weekdays_only``, not in ``excluded_days`` (past event days, holidays), with
       meter data for every interval needed (the window and, if adjusted, the adjustment
       window, at the same local time of day). The ``y_days`` most recent are kept.
    2. Of those Y, the X with the highest consumption over the window (ties: the more recent)
       are averaged per interval: ``b[t] = div_round(sum_d m[t - d days], X)``.
    3. Day-of adjustment on the event day, from the ``adjustment_intervals`` intervals that end
       ``adjustment_gap_intervals`` before the window: with ``A`` the metered and ``B`` the
       unadjusted baseline energy over them (same X days), and cap ``c`` (bp):

       * multiplicative: ``r = clamp(div_round(A * 10000, B), 10000 - c, 10000 + c)`` bp and
         ``b[t] = div_round(b[t] * r, 10000)``; no adjustment when ``B <= 0``;
       * additive: ``a = clamp(div_round(A - B, n), -div_round(|B| * c, n * 10000),
         +div_round(|B| * c, n * 10000))`` and ``b[t] = b[t] + a`` (``n`` intervals).

    Parameters
    ----------
    meter
        The member's committed meter series (net import, Wh per interval).
    window_start_s
        Start of the first event interval, unix seconds.
    intervals
        Event intervals.
    params
        :class:`XOfYParams` (default: 10 of 10 weekdays, multiplicative, capped at +-20 %).
    member
        Name used in error messages.

    Returns
    -------
    numpy.ndarray
        Baseline per event interval, Wh (int64).

    References
    ----------
    CAISO, *Business Practice Manual for Demand Response*, customer load baseline: "10-in-10"
    non-event weekdays with a day-of (load point) adjustment capped at 20 %. The high-X-of-Y
    variant (X < Y) is PJM's *Manual 11* "high 4 of 5" / NYISO's "5 of 10" family.
    EnerNOC, *The Demand Response Baseline* (2009, white paper) compares them.
    """
    p = params or XOfYParams()
    starts = _window(window_start_s, intervals)
    adjusted = p.adjustment != Adjustment.NONE
    adj_starts = window_start_s - INTERVAL_S * (
        p.adjustment_gap_intervals + p.adjustment_intervals - np.arange(p.adjustment_intervals)
    )
    needed = np.concatenate([adj_starts, starts]) if adjusted else starts
    event_day = local_day(window_start_s, p.utc_offset_s)
    days = _eligible_days(
        meter, needed, event_day, p.lookback_days, bool(p.weekdays_only), p.excluded_days,
        p.y_days, "X_OF_Y", member,
    )
    profiles = np.stack([meter.values(starts - k * DAY_S, member) for k in days])
    energy = profiles.sum(axis=1)
    # Highest consumption first; ties: the more recent day (smaller k, i.e. earlier in `days`).
    order = sorted(range(len(days)), key=lambda i: (-int(energy[i]), i))[: p.x_days]
    chosen = [days[i] for i in order]
    sums = profiles[order].sum(axis=0)
    base = np.array([div_round(int(s), p.x_days) for s in sums], dtype=np.int64)
    if not adjusted:
        return base
    n = p.adjustment_intervals
    actual = int(meter.values(adj_starts, member).sum())
    adj_profile = np.stack([meter.values(adj_starts - k * DAY_S, member) for k in chosen])
    expected = sum(div_round(int(s), p.x_days) for s in adj_profile.sum(axis=0))
    cap = p.adjustment_cap_bp
    if p.adjustment == Adjustment.MULTIPLICATIVE:
        if expected <= 0:
            return base
        ratio_bp = min(max(div_round(actual * BP, expected), BP - cap), BP + cap)
        return np.array([div_round(int(b) * ratio_bp, BP) for b in base], dtype=np.int64)
    limit = div_round(abs(expected) * cap, n * BP)
    delta = min(max(div_round(actual - expected, n), -limit), limit)
    return base + delta


def baseline_same_hour_working_days(
    meter: MeterSeries,
    window_start_s: int,
    intervals: int,
    params: SameHourParams | None = None,
    member: str = "",
) -> np.ndarray:
    """Same clock hour of the previous N working days (NODES style).

    Working days are local Monday..Friday not in ``excluded_days``; the ``n_days`` most
    recent before the event day with complete meter data for every clock hour the window
    touches are used. Each event interval gets the mean quarter-hour energy of its clock hour
    over those days: ``b[t] = div_round(sum_d sum_{q in hour(t)} m[q - d days], 4 * N)`` (flat
    inside an hour, as an hourly baseline on 15-minute data).

    References
    ----------
    NODES marketplace, baseline "average of the same hour on the previous N working days",
    as described in BRIGHT deliverable D2.3 (*DR Technologies and Tools*) for DMSFDR; the
    same family as ENTSO-E/ELIA's "mid X of Y" working-day baselines.
    """
    p = params or SameHourParams()
    starts = _window(window_start_s, intervals)
    hour_start = starts - (starts + p.utc_offset_s) % HOUR_S
    hours = np.unique(hour_start)
    quarters = (hours[:, None] + INTERVAL_S * np.arange(4, dtype=np.int64)[None, :]).ravel()
    event_day = local_day(window_start_s, p.utc_offset_s)
    days = _eligible_days(
        meter, quarters, event_day, p.lookback_days, True, p.excluded_days, p.n_days,
        "SAME_HOUR_WORKING_DAYS", member,
    )
    total = np.zeros(quarters.size, dtype=np.int64)
    for k in days:
        total += meter.values(quarters - k * DAY_S, member)
    hourly = total.reshape(-1, 4).sum(axis=1)
    per_hour = {int(h): int(s) for h, s in zip(hours, hourly, strict=True)}
    return np.array([div_round(per_hour[int(h)], 4 * p.n_days) for h in hour_start], dtype=np.int64)


def baseline_forecast(
    forecast: MeterSeries,
    window_start_s: int,
    intervals: int,
    params: ForecastParams | None = None,
    member: str = "",
) -> np.ndarray:
    """The committed forecast of the window is the baseline (USEF D-prognosis style).

    ``b[t]`` = the forecast (quantile ``quantile_bp``) committed on-chain for interval t,
    at least ``issued_before_s`` before the window, Wh. A missing forecast interval raises
    :class:`~settlement.errors.MissingMeterData` (what = "forecast").

    References
    ----------
    USEF Foundation, *USEF: The Framework Explained* (2021), flexibility settlement against
    the D-prognosis (the day-ahead prognosis of the aggregator's portfolio) as baseline.
    """
    _ = params or ForecastParams()
    return forecast.values(_window(window_start_s, intervals), member, "forecast").copy()


def baseline_meter_before_after(
    meter: MeterSeries,
    window_start_s: int,
    intervals: int,
    params: MeterBeforeAfterParams | None = None,
    member: str = "",
) -> np.ndarray:
    """Meter before / meter after: the demand just before the event, held through it.

    ``b[t] = div_round(sum of m over the before_intervals intervals ending gap_intervals
    before the window, before_intervals)`` for every event interval; delivered is then
    baseline - metered during the event ("meter after").

    References
    ----------
    NAESB WEQ-015, *Measurement and Verification of Wholesale Electricity Demand Response*:
    performance evaluation methodology "Meter Before / Meter After"; ENTSO-E/EPRI use the same
    for fast reserves (e.g. ERCOT's ERS "Meter Before/Meter After" for short events).
    """
    p = params or MeterBeforeAfterParams()
    before = window_start_s - INTERVAL_S * (
        p.gap_intervals + p.before_intervals - np.arange(p.before_intervals, dtype=np.int64)
    )
    level = div_round(int(meter.values(before, member).sum()), p.before_intervals)
    return np.full(intervals, level, dtype=np.int64)


def compute_baseline(
    method_id: int,
    params: BaselineParams | Sequence[int],
    meter: MeterSeries | None,
    window_start_s: int,
    intervals: int,
    member: str = "",
    forecast: MeterSeries | None = None,
) -> np.ndarray:
    """Dispatch to the method's function; ``params`` as an object or its encoding."""
    method = coerce_method(method_id)
    p = params if isinstance(params, _Params) else decode_params(method, params)
    if p.method != method:
        raise InvalidBaselineParams(method.name, f"parameters are for {p.method.name}")
    if method == BaselineMethod.FORECAST:
        if forecast is None:
            raise MissingMeterData(member, window_start_s, "forecast")
        return baseline_forecast(forecast, window_start_s, intervals, p, member)  # type: ignore[arg-type]
    if meter is None:
        raise MissingMeterData(member, window_start_s)
    if method == BaselineMethod.X_OF_Y:
        return baseline_x_of_y(meter, window_start_s, intervals, p, member)  # type: ignore[arg-type]
    if method == BaselineMethod.SAME_HOUR_WORKING_DAYS:
        return baseline_same_hour_working_days(meter, window_start_s, intervals, p, member)  # type: ignore[arg-type]
    return baseline_meter_before_after(meter, window_start_s, intervals, p, member)  # type: ignore[arg-type]
