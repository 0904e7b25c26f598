"""Pure types of the forecasting tool: targets, horizons and the forecast a oracle commits.

A forecast is a tidy table, one row per (participant, interval, target): the shape the forecast
oracle signs and commits on-chain (interval starts aligned to 900 s, UTC unix seconds; power in
kW as the mean over the interval, so energy in Wh is ``kw * 250``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum

import pandas as pd

from core.units import INTERVAL_S

COMMUNITY_ID = "community"
"""Participant id of community-aggregate forecasts."""


class Target(StrEnum):
    """What is forecast. Flexibility directions refer to the participant's *consumption*."""

    CONSUMPTION = "consumption"
    """Mean power drawn by the home's equipment over the interval, kW."""
    PV = "pv"
    """Mean PV generation over the interval, kW."""
    FLEX_UP = "flex_up"
    """Extra consumption the participant can take on (charge battery, pre-cool), kW."""
    FLEX_DOWN = "flex_down"
    """Consumption the participant can shed or cover from its battery, kW (grid 'upward')."""


class Horizon(StrEnum):
    """Forecast horizons. Intraday: 1..4 h after the origin; day-ahead: the 24 h (96 intervals)
    of the UTC day that starts at the origin (the origin is midnight UTC)."""

    INTRADAY = "intraday"
    DAY_AHEAD = "day_ahead"


FORECAST_COLUMNS: tuple[str, ...] = (
    "participant_id",
    "interval_start_s",
    "horizon_s",
    "target",
    "q10_kw",
    "q50_kw",
    "q90_kw",
    "model_version",
)
"""Columns of a forecast frame (:func:`to_records` turns it into :class:`ForecastRecord`)."""


@dataclass(frozen=True)
class ForecastRecord:
    """One forecast value with its uncertainty, ready for an oracle to commit."""

    participant_id: str
    """Home / participant id, or :data:`COMMUNITY_ID` for the aggregate."""
    interval_start_s: int
    """Start of the 900 s interval, unix seconds UTC (multiple of 900)."""
    horizon_s: int
    """Seconds from the forecast origin to the interval start."""
    target: str
    """A :class:`Target` value."""
    q10_kw: float
    """10 % quantile of mean power over the interval, kW."""
    q50_kw: float
    """Median, kW (the point forecast)."""
    q90_kw: float
    """90 % quantile, kW."""
    model_version: str
    """Version of the model that produced it (see :mod:`analytics.forecasting.store`)."""

    @property
    def energy_wh(self) -> int:
        """Median energy over the interval, Wh (the on-chain unit)."""
        return round(self.q50_kw * 1000 * INTERVAL_S / 3600)

    def as_dict(self) -> dict[str, object]:
        """Plain dict (JSON-serialisable)."""
        return asdict(self)


def to_records(frame: pd.DataFrame) -> list[ForecastRecord]:
    """Rows of a forecast frame as :class:`ForecastRecord` values."""
    return [
        ForecastRecord(
            participant_id=str(r.participant_id),
            interval_start_s=int(r.interval_start_s),
            horizon_s=int(r.horizon_s),
            target=str(r.target),
            q10_kw=float(r.q10_kw),
            q50_kw=float(r.q50_kw),
            q90_kw=float(r.q90_kw),
            model_version=str(r.model_version),
        )
        for r in frame.itertuples(index=False)
    ]
