"""Errors of the baselines and of the settlement engine.

Everything here is under :class:`SettlementError` (the area base, a
:class:`core.errors.BrightError`). Errors caused by what the caller passed also inherit
:class:`ValueError` through :class:`InvalidSettlementInput`. Each class builds its message from
the values that failed, like the custom errors of the contracts
(``SettlementMissingMeterData(member, intervalStart)``).
"""

from __future__ import annotations

from core.errors import BrightError


class SettlementError(BrightError):
    """Base of every error of ``settlement/``."""


class InvalidSettlementInput(SettlementError, ValueError):
    """The caller passed something malformed (a request, targets, meter data, parameters)."""


# ------------------------------------------------------------------------------ request
# (the request's own terms are validated by core.rules.FlexRequest: see core.errors)


class EscrowInsufficient(InvalidSettlementInput):
    """The escrow cannot cover the largest payout the targets allow."""

    def __init__(self, request_id: int, escrow: int, max_payout: int) -> None:
        self.request_id = request_id
        self.escrow = escrow
        self.max_payout = max_payout
        super().__init__(
            f"request {request_id}: escrow {escrow} base units cannot cover the largest "
            f"possible payout {max_payout}"
        )


# ------------------------------------------------------------------------------ targets


class TargetForNonMember(InvalidSettlementInput):
    """A target names someone who is not a member of the coalition."""

    def __init__(self, member: str) -> None:
        self.member = member
        super().__init__(f"target for {member!r}, who is not a member of the coalition")


class TargetShapeMismatch(InvalidSettlementInput):
    """A member's targets do not have one value per interval of the window."""

    def __init__(self, member: str, got: int, expected: int) -> None:
        self.member = member
        self.got = got
        self.expected = expected
        super().__init__(
            f"member {member!r}: {got} targets for a window of {expected} intervals"
        )


class TargetsExceedRequest(InvalidSettlementInput):
    """The members' targets of an interval add up to more than the request plus tolerance."""

    def __init__(self, interval_start_s: int, target_wh: int, max_wh: int) -> None:
        self.interval_start_s = interval_start_s
        self.target_wh = target_wh
        self.max_wh = max_wh
        super().__init__(
            f"interval {interval_start_s}: targets add up to {target_wh} Wh, more than the "
            f"request's quantity plus tolerance ({max_wh} Wh)"
        )


class NoMembers(InvalidSettlementInput):
    """A settlement without any member."""

    def __init__(self, request_id: int) -> None:
        self.request_id = request_id
        super().__init__(f"request {request_id}: the coalition has no member to settle")


# --------------------------------------------------------------------------- meter data


class InvalidMeterSeries(InvalidSettlementInput):
    """A meter or forecast series is malformed (dtype, shape, alignment)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"invalid meter series: {reason}")


class MissingMeterData(InvalidSettlementInput):
    """An interval that the settlement or a baseline needs has no meter value."""

    def __init__(self, member: str, interval_start_s: int, what: str = "meter data") -> None:
        self.member = member
        self.interval_start_s = interval_start_s
        self.what = what
        super().__init__(
            f"member {member!r}: no {what} for the interval starting {interval_start_s}"
        )


# ---------------------------------------------------------------------------- baselines


class BaselineError(InvalidSettlementInput):
    """A baseline method or its parameters are wrong, or the history cannot support it."""


class UnknownBaselineMethod(BaselineError):
    """The method id is not one of the defined baselines."""

    def __init__(self, method_id: object) -> None:
        self.method_id = method_id
        super().__init__(
            f"unknown baseline method {method_id!r}: expected 1 (X of Y), 2 (same hour of "
            "working days), 3 (forecast) or 4 (meter before / meter after)"
        )


class InvalidBaselineParams(BaselineError):
    """A baseline parameter is out of range or has the wrong type."""

    def __init__(self, method: str, reason: str) -> None:
        self.method = method
        self.reason = reason
        super().__init__(f"baseline {method}: {reason}")


class InsufficientHistory(BaselineError):
    """Not enough eligible past days (or intervals) to compute the baseline."""

    def __init__(self, method: str, member: str, needed: int, found: int) -> None:
        self.method = method
        self.member = member
        self.needed = needed
        self.found = found
        super().__init__(
            f"baseline {method} for {member!r}: needs {needed} eligible days with complete "
            f"meter data, found {found}"
        )
