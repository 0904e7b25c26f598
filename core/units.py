"""Units and conventions shared on and off chain.

On-chain: energy in Wh (uint), power in W, time in unix seconds, 15-minute intervals (900 s)
aligned to UTC, prices in FlexToken base units per kWh. FlexToken has 6 decimals.
"""

from __future__ import annotations

from decimal import Decimal

INTERVAL_S = 900
"""Length of a delivery interval, seconds."""

TOKEN_DECIMALS = 6
TOKEN_UNIT = 10**TOKEN_DECIMALS
"""Base units in one FlexToken."""


def tokens_to_base(tokens: Decimal | int | str) -> int:
    """FlexTokens (a decimal amount) to base units; refuses fractions below one base unit."""
    value = Decimal(str(tokens)) * TOKEN_UNIT
    if value != value.to_integral_value():
        raise ValueError(f"{tokens} FLEX has more than {TOKEN_DECIMALS} decimals")
    if value < 0:
        raise ValueError(f"token amount must not be negative, got {tokens}")
    return int(value)


def base_to_tokens(base_units: int) -> Decimal:
    """Base units to FlexTokens."""
    return Decimal(base_units) / TOKEN_UNIT


def interval_start(ts_s: float) -> int:
    """Start of the 15-minute interval (UTC) ``[s, s + 900)`` containing unix time ``ts_s``."""
    return int(ts_s // INTERVAL_S) * INTERVAL_S


def kwh_to_wh(kwh: float) -> int:
    """kWh to whole Wh, rounded to nearest."""
    return round(kwh * 1000)
