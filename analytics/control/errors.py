"""Errors of demand-response control. Each says what was wrong in words a user can act on."""

from __future__ import annotations

from core.errors import AnalyticsError, DataError


class ControlConfigError(AnalyticsError, ValueError):
    """A cost function, policy, battery or comfort setting with impossible values."""


class ControlDataError(DataError):
    """Series a controller cannot run on (wrong length, gaps, negative prices...). The message
    names the series and what is wrong with it."""
