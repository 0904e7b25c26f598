"""Errors of the analytics engines (forecasting, clustering) and of their input data.

Input-data errors inherit :class:`core.errors.DataError` (hence ``ValueError``); each class
builds its message from its arguments so that it says what is wrong and where.
"""

from __future__ import annotations

from collections.abc import Sequence

from core.errors import AnalyticsError, DataError


def _first(items: Sequence[object], n: int = 3) -> str:
    shown = ", ".join(str(i) for i in list(items)[:n])
    more = f" (+{len(items) - n} more)" if len(items) > n else ""
    return f"{shown}{more}"


class FrameValidationError(DataError):
    """An input frame failed validation; ``frame`` names the frame (e.g. ``Building_3 load``)."""

    def __init__(self, frame: str, message: str) -> None:
        self.frame = frame
        super().__init__(f"{frame}: {message}")


class IndexTypeError(FrameValidationError):
    """The index is not a time-zone-aware UTC DatetimeIndex."""

    def __init__(self, frame: str, found: str) -> None:
        self.found = found
        super().__init__(frame, f"index must be a UTC DatetimeIndex, found {found}")


class MissingColumnsError(FrameValidationError):
    """Required columns are absent."""

    def __init__(self, frame: str, missing: Sequence[str], present: Sequence[str]) -> None:
        self.missing = list(missing)
        super().__init__(
            frame, f"missing column(s) {sorted(self.missing)}; present: {sorted(present)}"
        )


class DuplicateTimestampError(FrameValidationError):
    """The same timestamp occurs more than once."""

    def __init__(self, frame: str, timestamps: Sequence[object]) -> None:
        self.timestamps = list(timestamps)
        super().__init__(
            frame, f"{len(self.timestamps)} duplicate timestamp(s): {_first(self.timestamps)}"
        )


class ResolutionError(FrameValidationError):
    """The step between timestamps is not the expected resolution."""

    def __init__(self, frame: str, expected_s: int, found_s: int, at: object) -> None:
        self.expected_s = expected_s
        self.found_s = found_s
        super().__init__(
            frame,
            f"resolution must be {expected_s} s, found a step of {found_s} s at {at}",
        )


class GapError(FrameValidationError):
    """Timestamps or values are missing (index holes or NaN) and no fill method was named."""

    def __init__(self, frame: str, column: str | None, where: Sequence[object]) -> None:
        self.column = column
        self.where = list(where)
        what = f"column {column!r} has {len(self.where)} missing value(s)" if column else (
            f"{len(self.where)} missing timestamp(s)"
        )
        super().__init__(
            frame, f"{what} at {_first(self.where)}; fill them with a named method "
            "(analytics.data.validation.fill_gaps)"
        )


class NegativeValueError(FrameValidationError):
    """A column that must be non-negative (load, PV) has negative values."""

    def __init__(self, frame: str, column: str, where: Sequence[object], minimum: float) -> None:
        self.column = column
        self.where = list(where)
        self.minimum = minimum
        super().__init__(
            frame,
            f"column {column!r} has {len(self.where)} negative value(s) (min {minimum:.4g}) "
            f"at {_first(self.where)}",
        )


class UnknownMethodError(DataError):
    """A fill or resampling method name is not one of the documented ones."""

    def __init__(self, kind: str, method: str, known: Sequence[str]) -> None:
        self.method = method
        super().__init__(f"unknown {kind} method {method!r}; known: {sorted(known)}")


class UnknownHomeError(DataError):
    """A home id is not in the data set."""

    def __init__(self, home_id: str, known: Sequence[str]) -> None:
        self.home_id = home_id
        super().__init__(f"unknown home {home_id!r}; known: {_first(list(known), 20)}")


class NotFittedError(AnalyticsError):
    """``predict`` was called on an engine that has not been fitted."""

    def __init__(self, engine: str) -> None:
        super().__init__(f"{engine} is not fitted; call fit() first")


class ModelNotFoundError(AnalyticsError):
    """No saved model for this name; train one first (``bright analytics train``)."""

    def __init__(self, name: str, folder: object) -> None:
        self.name = name
        super().__init__(f"no saved model {name!r} in {folder}; run the train command first")


class InsufficientDataError(AnalyticsError, ValueError):
    """Too little history to build features or to fit."""

    def __init__(self, what: str, needed: str, found: str) -> None:
        super().__init__(f"{what}: need {needed}, found {found}")
