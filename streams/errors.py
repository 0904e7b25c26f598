"""Errors of the read side (read models, projections, the embedded runner, PostgreSQL)."""

from __future__ import annotations

from core.errors import BrightError, ConfigError, ToolchainError


class ReadModelError(BrightError):
    """A read-model database operation failed or found inconsistent data."""


class StaleEventError(ReadModelError):
    """An event conflicts with a stored one at the same position: it is from another branch."""

    def __init__(self, chain_id: int, block_number: int, log_index: int, stored: str, got: str):
        self.chain_id = chain_id
        self.block_number = block_number
        self.log_index = log_index
        super().__init__(
            f"chain {chain_id} block {block_number} log {log_index}: stored from block {stored}, "
            f"got one from block {got}; the reorg was not rolled back first"
        )


class UnknownProjectionError(ReadModelError, ValueError):
    """A projection name that is not registered."""

    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(f"unknown projection {name!r}; registered: {', '.join(known)}")


class DatabaseUrlError(ConfigError):
    """``BRIGHT_DATABASE_URL`` names a database this code does not support."""


class MissingDatabaseError(DatabaseUrlError):
    """A command that only reads was pointed at a SQLite file that does not exist: opening it
    would create an empty database and report "nothing indexed" instead of the typo."""

    def __init__(self, path: str) -> None:
        self.path = path
        super().__init__(
            f"no read-model database at {path}; check --database-url or BRIGHT_DATABASE_URL "
            "(`bright index run` creates and fills it)"
        )


class PostgresError(ToolchainError):
    """The throw-away PostgreSQL server could not be set up, started or stopped."""
