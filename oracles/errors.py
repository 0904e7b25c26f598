"""Errors of the oracles; the area base is :class:`OracleError` (a :class:`BrightError`).

Errors about what the caller passed also inherit :class:`ValueError`. Contract reverts stay
:class:`chain.errors.RevertError` subclasses named after the Solidity error.
"""

from __future__ import annotations

from core.errors import BrightError, ConfigError


class OracleError(BrightError):
    """The meter or forecast oracle failed or refused something."""


class ValueOutOfRangeError(OracleError, ValueError):
    """A value does not fit its on-chain field (``uint96`` Wh, ``int64`` Wh, ``uint64`` index)."""

    def __init__(self, what: str, value: int, low: int, high: int) -> None:
        super().__init__(f"{what} = {value} is outside [{low}, {high}]")
        self.what, self.value, self.low, self.high = what, value, low, high


class MisalignedIntervalError(OracleError, ValueError):
    """An interval start is not a multiple of 900 s."""

    def __init__(self, interval_start_s: int) -> None:
        super().__init__(f"interval start {interval_start_s} is not a multiple of 900 s")
        self.interval_start_s = interval_start_s


class UnknownMeterError(OracleError, KeyError):
    """A meter id is not enrolled in the MeterOracle contract."""

    def __init__(self, meter_id: str) -> None:
        super().__init__(f"meter {meter_id!r} is not enrolled in the MeterOracle")
        self.meter_id = meter_id


class ForecastRowError(OracleError, ValueError):
    """A forecast row is malformed (quantiles out of order, missing field, ...)."""


class OracleStateError(OracleError):
    """The oracle's state file is unreadable or belongs to another chain/contract/signer."""


class OracleConfigError(ConfigError):
    """An oracle setting is missing or malformed."""


class OracleKeyInUseError(OracleError):
    """Another meter-oracle service signs with the same key (on this machine: it holds the
    key's lock; on any machine: the chain holds batches signed with the key that this
    service's state does not know). Two signers with one key race for nonces and commit
    diverging values, so the service refuses to run."""


class CounterDecreasedError(OracleError, ValueError):
    """An energy counter reading is lower than an earlier reading of the same meter (or higher
    than a later one): a counter only rises, so the reading is quarantined, never spread into
    the next interval."""

    def __init__(
        self, meter: str, time_s: float, value_wh: float, other_time_s: float, other_wh: float
    ) -> None:
        if other_time_s < time_s:
            relation = f"below {other_wh:g} Wh at {other_time_s:g}, an earlier reading"
        else:
            relation = f"above {other_wh:g} Wh at {other_time_s:g}, a later reading"
        super().__init__(
            f"{meter}: counter {value_wh:g} Wh at {time_s:g} is {relation}: a counter only rises"
        )
        self.meter, self.time_s, self.value_wh = meter, time_s, value_wh
        self.other_time_s, self.other_wh = other_time_s, other_wh
