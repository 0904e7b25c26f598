"""Errors of the oracle services; the area base is :class:`core.errors.OracleError` (a
:class:`BrightError`), where the errors of the oracles' data also live (a value out of its
field, a misaligned interval, an unknown meter, a malformed forecast row).

Errors about what the caller passed also inherit :class:`ValueError`. Contract reverts stay
:class:`chain.errors.RevertError` subclasses named after the Solidity error.
"""

from __future__ import annotations

from core.errors import ConfigError, OracleError


class OracleStateError(OracleError):
    """The oracle's state file is unreadable or belongs to another chain/contract/signer."""


class OracleConfigError(ConfigError):
    """An oracle setting is missing or malformed."""


class OracleHaltedError(OracleError):
    """The running meter oracle stopped itself (its reason is the message)."""


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
