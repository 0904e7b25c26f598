"""The error hierarchy of the platform.

One root, :class:`BrightError`; one base per area (``ChainError``, ``MarketError``, ...);
specific classes build their message from their arguments. Errors caused by what the caller
passed also inherit :class:`ValueError`, so generic callers can treat them as bad input.
RPC, database and subprocess errors are translated at the boundary with ``raise ... from``.
"""

from __future__ import annotations


class BrightError(Exception):
    """Root of every error the platform raises on purpose."""


class ConfigError(BrightError, ValueError):
    """A setting is missing, malformed or not allowed in this environment."""


class PortInUseError(ConfigError):
    """A service's TCP port is taken by another process: a setting to change, not a crash."""

    def __init__(self, what: str, host: str, port: int, choose: str) -> None:
        self.what, self.host, self.port = what, host, port
        super().__init__(
            f"{what}'s port {port} on {host} is already in use; stop what listens there or choose "
            f"another port ({choose})"
        )


class ToolchainError(BrightError):
    """A required external tool (node, anvil, solc-js, ...) is missing or failed."""


class ChainError(BrightError):
    """Talking to the chain failed (connection, transaction, revert)."""


class MarketError(BrightError):
    """The flexibility market (sessions, orders, clearing) rejected something."""


class DataError(BrightError, ValueError):
    """Input data (a frame, a file, a message) is malformed; the message says what and where."""


class AnalyticsError(BrightError):
    """A forecasting, clustering or optimisation engine failed."""


class GatewayError(BrightError):
    """The home-gateway bridge (MQTT, adapters, comfort rules) failed or rejected input."""


class InvalidRequest(BrightError, ValueError):
    """A flexibility request's terms are malformed (see :class:`core.rules.FlexRequest`)."""


class EmptyWindow(InvalidRequest):
    """A request's delivery window has no interval."""

    def __init__(self, request_id: int) -> None:
        self.request_id = request_id
        super().__init__(f"request {request_id}: the delivery window has no interval")


class MisalignedInterval(InvalidRequest):
    """A time is not the start of a 15-minute interval aligned to UTC (a multiple of 900 s)."""

    def __init__(self, what: str, interval_start_s: int) -> None:
        self.what = what
        self.interval_start_s = interval_start_s
        super().__init__(
            f"{what}: {interval_start_s} is not a 15-minute interval start (multiple of 900 s)"
        )


class ImpossibleTolerance(InvalidRequest):
    """A tolerance outside 0..9,999 basis points (10,000 would make zero delivery acceptable)."""

    def __init__(self, tolerance_bp: object) -> None:
        self.tolerance_bp = tolerance_bp
        super().__init__(
            f"tolerance must be an int in 0..9999 basis points (10 % = 1000), got {tolerance_bp!r}"
        )


class InvalidQuantity(InvalidRequest):
    """A quantity, target, price or amount is not a non-negative int (or is absurd)."""

    def __init__(self, what: str, value: object) -> None:
        self.what = what
        self.value = value
        super().__init__(f"{what} must be a non-negative int, got {type(value).__name__} {value!r}")


class PriceAboveCap(InvalidRequest):
    """The agreed price is above the request's price cap."""

    def __init__(self, price_per_kwh: int, price_cap_per_kwh: int) -> None:
        self.price_per_kwh = price_per_kwh
        self.price_cap_per_kwh = price_cap_per_kwh
        super().__init__(
            f"price {price_per_kwh} per kWh is above the request's cap {price_cap_per_kwh}"
        )


# ---- oracles' data (core.oracle_codec, chain.oracles) ------------------------------------


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


# ---- errors as one line (the command line) ------------------------------------------------


def one_line(exc: BaseException) -> str:
    """``exc``'s message on one line, for ``error: ...`` on a terminal.

    A pydantic validation error anywhere in the message (a settings class refusing a value,
    also when wrapped in a :class:`ConfigError`) is shortened to ``field: reason`` per error,
    without pydantic's input echo and documentation link; other line breaks become ``; ``.
    """
    text = str(exc) or type(exc).__name__
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        errors = getattr(cause, "errors", None)
        if callable(errors) and type(cause).__name__ == "ValidationError":
            short = "; ".join(_validation_item(e) for e in errors())
            text = text.replace(str(cause), short) if str(cause) in text else short
            break
        cause = cause.__cause__ or cause.__context__
    parts = [line.strip() for line in text.splitlines() if line.strip()]
    return "; ".join(parts)


def _validation_item(error: dict[str, object]) -> str:
    where = ".".join(str(p) for p in error.get("loc", ()))  # type: ignore[attr-defined]
    message = str(error.get("msg", "invalid"))
    message = message.removeprefix("Value error, ")
    if where and where not in message:
        return f"{where}: {message}"
    return message
