"""Errors of coalition forming, replacement and reward sharing.

Everything is under :class:`CoalitionError` (the area base, a :class:`core.errors.BrightError`);
what the caller passed wrong also inherits :class:`ValueError` through
:class:`InvalidCoalitionInput`. Messages are built from the values that failed.
"""

from __future__ import annotations

from core.errors import BrightError


class CoalitionError(BrightError):
    """Base of every error of ``coalitions/``."""


class InvalidCoalitionInput(CoalitionError, ValueError):
    """A request, a member's offer or a sharing input is malformed."""


class InvalidMemberOffer(InvalidCoalitionInput):
    """A member's opt-in (forecast, limits, reliability) is malformed."""

    def __init__(self, member: str, reason: str) -> None:
        self.member = member
        self.reason = reason
        super().__init__(f"member {member!r}: {reason}")


class DuplicateMember(InvalidCoalitionInput):
    """Two opt-ins for the same member."""

    def __init__(self, member: str) -> None:
        self.member = member
        super().__init__(f"member {member!r} opted in more than once")


class OptInAfterDeadline(InvalidCoalitionInput):
    """A member opted in after the request's opt-in deadline."""

    def __init__(self, member: str, opted_in_s: int, deadline_s: int) -> None:
        self.member = member
        self.opted_in_s = opted_in_s
        self.deadline_s = deadline_s
        super().__init__(
            f"member {member!r} opted in at {opted_in_s}, after the deadline {deadline_s}"
        )


class UnknownFeeder(InvalidCoalitionInput):
    """The request names a feeder that is not in the feeder graph (or there is no graph)."""

    def __init__(self, feeder: str) -> None:
        self.feeder = feeder
        super().__init__(f"feeder {feeder!r} is not in the feeder graph")


class NotAMember(InvalidCoalitionInput):
    """A replacement names someone who is not a member of the coalition."""

    def __init__(self, member: str) -> None:
        self.member = member
        super().__init__(f"{member!r} is not a member of the coalition")


class IntervalOutsideWindow(InvalidCoalitionInput):
    """A replacement starts at an interval outside the request's window."""

    def __init__(self, interval_start_s: int, window_start_s: int, intervals: int) -> None:
        self.interval_start_s = interval_start_s
        self.window_start_s = window_start_s
        self.intervals = intervals
        super().__init__(
            f"interval {interval_start_s} is not one of the {intervals} intervals of the window "
            f"starting {window_start_s}"
        )


class InvalidSharingInput(InvalidCoalitionInput):
    """Reward sharing got a negative total, negative weights or too many players for exact."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"reward sharing: {reason}")


class SolverFailed(CoalitionError):
    """CP-SAT rejected the model (a bug, not bad input); the message carries its status."""

    def __init__(self, status: str) -> None:
        self.status = status
        super().__init__(f"CP-SAT failed: {status}")
