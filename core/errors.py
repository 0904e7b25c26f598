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
