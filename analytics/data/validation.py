"""Validation, gap filling and resampling of the time-series frames the engines consume.

Every frame an engine accepts goes through :func:`validate_frame` first. It raises a typed error
(a subclass of :class:`core.errors.DataError`, see :mod:`analytics.errors`) that names the
frame, the column and the first offending timestamps. Gaps are never filled silently: the
caller names a method (:data:`FILL_METHODS`) and gets a :class:`GapReport` back.

Resampling hourly -> 15 min (the platform's 900 s interval) is done by a named method
(:data:`RESAMPLE_METHODS`), both of which conserve each hour's energy exactly:

``uniform``
    Each hour's energy is split evenly over its four quarters (mean power constant within the
    hour). This is what the data supports: it has no sub-hourly information.
``linear``
    Mean power is interpolated linearly between hour midpoints at the quarter midpoints, then
    the four quarters of each hour are rescaled so that they sum to the hour's energy
    (quarters of an hour with zero energy stay zero). Smoother ramps, same energy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from analytics.errors import (
    DuplicateTimestampError,
    GapError,
    IndexTypeError,
    MissingColumnsError,
    NegativeValueError,
    ResolutionError,
    UnknownMethodError,
)
from core.units import INTERVAL_S

FillMethod = Literal["linear", "ffill", "same_hour_previous_day"]
FILL_METHODS: tuple[str, ...] = ("linear", "ffill", "same_hour_previous_day")
ResampleMethod = Literal["uniform", "linear"]
RESAMPLE_METHODS: tuple[str, ...] = ("uniform", "linear")


@dataclass(frozen=True)
class GapReport:
    """What :func:`fill_gaps` did: the method and the filled timestamps per column."""

    frame: str
    method: str
    inserted_timestamps: list[pd.Timestamp] = field(default_factory=list)
    filled: dict[str, list[pd.Timestamp]] = field(default_factory=dict)

    @property
    def n_filled(self) -> int:
        """Number of values filled, over all columns."""
        return sum(len(v) for v in self.filled.values())

    def summary(self) -> str:
        """One line for logs: method, inserted rows, filled values per column."""
        per_col = ", ".join(f"{c}: {len(v)}" for c, v in self.filled.items() if v) or "none"
        return (
            f"{self.frame}: filled by {self.method!r}; {len(self.inserted_timestamps)} "
            f"missing timestamp(s) inserted; values filled per column: {per_col}"
        )


def _check_index(frame: pd.DataFrame, name: str) -> pd.DatetimeIndex:
    index = frame.index
    if not isinstance(index, pd.DatetimeIndex):
        raise IndexTypeError(name, type(index).__name__)
    if index.tz is None or str(index.tz) != "UTC":
        raise IndexTypeError(name, f"DatetimeIndex with tz={index.tz}")
    return index


def validate_frame(
    frame: pd.DataFrame,
    *,
    name: str,
    columns: Sequence[str],
    resolution_s: int,
    non_negative: Sequence[str] = (),
    allow_gaps: bool = False,
) -> pd.DataFrame:
    """Check a time-series frame and return it unchanged, or raise what is wrong.

    Parameters
    ----------
    frame : the frame, indexed by interval start (UTC).
    name : how errors name the frame, e.g. ``"Building_3 load"``.
    columns : required columns.
    resolution_s : expected step between consecutive timestamps, seconds.
    non_negative : columns that must be >= 0 (loads, PV energy).
    allow_gaps : when false, missing timestamps and NaN values raise :class:`GapError`.

    Raises (in this order of checks)
    --------------------------------
    IndexTypeError, MissingColumnsError, DuplicateTimestampError, ResolutionError (a step that
    is not a multiple of the resolution, or unsorted), GapError, NegativeValueError.
    """
    index = _check_index(frame, name)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise MissingColumnsError(name, missing, [str(c) for c in frame.columns])
    dup = index[index.duplicated()]
    if len(dup):
        raise DuplicateTimestampError(name, list(dup.unique()))
    if len(index) > 1:
        steps = np.diff(index.as_unit("ms").asi8) // 1000
        bad = np.flatnonzero((steps <= 0) | (steps % resolution_s != 0))
        if len(bad):
            i = int(bad[0])
            raise ResolutionError(name, resolution_s, int(steps[i]), index[i + 1])
        if not allow_gaps:
            holes = np.flatnonzero(steps > resolution_s)
            if len(holes):
                where = [
                    index[i] + pd.Timedelta(seconds=resolution_s * k)
                    for i in holes
                    for k in range(1, int(steps[i] // resolution_s))
                ]
                raise GapError(name, None, where)
    for col in columns:
        values = frame[col]
        if not allow_gaps and values.isna().any():
            raise GapError(name, str(col), list(values.index[values.isna()]))
        if col in non_negative:
            negative = values < 0
            if negative.any():
                raise NegativeValueError(
                    name, str(col), list(values.index[negative]), float(values[negative].min())
                )
    return frame


def fill_gaps(
    frame: pd.DataFrame,
    *,
    name: str,
    resolution_s: int,
    method: FillMethod,
    columns: Sequence[str] | None = None,
) -> tuple[pd.DataFrame, GapReport]:
    """Insert missing timestamps and fill NaN values by a named method; report what was filled.

    Methods
    -------
    ``linear``: time-linear interpolation between the neighbouring valid values (edges take the
    nearest valid value). ``ffill``: last valid value carried forward (leading gaps take the
    first valid value). ``same_hour_previous_day``: the value 24 h earlier (then 24 h later,
    then ``linear`` for what is left), which keeps the daily shape of loads and PV.

    The index must already be a sorted UTC DatetimeIndex without duplicates.
    """
    if method not in FILL_METHODS:
        raise UnknownMethodError("gap-fill", method, FILL_METHODS)
    _check_index(frame, name)
    cols = list(columns) if columns is not None else [str(c) for c in frame.columns]
    full = pd.date_range(
        frame.index.min(), frame.index.max(), freq=pd.Timedelta(seconds=resolution_s), tz="UTC"
    ).rename(frame.index.name)
    inserted = list(full.difference(frame.index))
    out = frame.reindex(full)
    filled: dict[str, list[pd.Timestamp]] = {}
    for col in cols:
        series = out[col].astype(float)
        was_na = series.isna()
        if method == "linear":
            series = series.interpolate(method="time", limit_direction="both")
        elif method == "ffill":
            series = series.ffill().bfill()
        else:
            steps_per_day = int(86400 // resolution_s)
            series = series.fillna(series.shift(steps_per_day))
            series = series.fillna(series.shift(-steps_per_day))
            series = series.interpolate(method="time", limit_direction="both")
        out[col] = series
        filled[col] = list(out.index[was_na & series.notna()])
    return out, GapReport(frame=name, method=method, inserted_timestamps=inserted, filled=filled)


def resample_energy(
    frame: pd.DataFrame,
    *,
    method: ResampleMethod = "uniform",
    from_s: int = 3600,
    to_s: int = INTERVAL_S,
) -> pd.DataFrame:
    """Split interval *energies* (kWh per interval) into finer intervals, conserving energy.

    ``frame`` holds energy columns (e.g. ``load_kwh``, ``pv_kwh``) at ``from_s`` resolution; the
    result holds the energy of each ``to_s`` interval (same column names; divide by
    ``to_s / 3600`` for mean power in kW). Methods are described in the module docstring.
    """
    if method not in RESAMPLE_METHODS:
        raise UnknownMethodError("resampling", method, RESAMPLE_METHODS)
    if from_s % to_s != 0:
        raise ResolutionError("resample", to_s, from_s, "the requested ratio")
    k = from_s // to_s
    _check_index(frame, "resample input")
    n = len(frame)
    fine_index = (
        frame.index.repeat(k) + pd.to_timedelta(np.tile(np.arange(k) * to_s, n), unit="s")
    ).rename(frame.index.name)
    out = {}
    for col in frame.columns:
        coarse = frame[col].to_numpy(dtype=float)
        if method == "uniform":
            fine = np.repeat(coarse / k, k)
        else:
            centres = np.arange(n) + 0.5
            fine_centres = (np.arange(n * k) + 0.5) / k
            shape = np.clip(np.interp(fine_centres, centres, coarse), 0.0, None).reshape(n, k)
            sums = shape.sum(axis=1, keepdims=True)
            share = np.divide(shape, sums, out=np.full_like(shape, 1.0 / k), where=sums > 0)
            fine = (share * coarse[:, None]).ravel()
        out[col] = fine
    return pd.DataFrame(out, index=fine_index)
