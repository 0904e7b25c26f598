"""Errors of the thermal twin. Each says what was wrong in words a user can act on."""

from __future__ import annotations

from core.errors import AnalyticsError, DataError


class ThermalConfigError(AnalyticsError, ValueError):
    """A twin, system, tank, occupancy or scenario described with impossible values."""


class ThermalDataError(DataError):
    """Data a twin cannot be calibrated or driven with (gaps, a constant sensor, wrong units,
    missing columns). The message names the column and what is wrong with it."""


class CalibrationError(AnalyticsError):
    """Calibration did not converge or the data cannot identify the parameters."""
