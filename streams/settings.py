"""Settings of the read side, from the environment (prefix ``BRIGHT_``) and ``.env``."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.settings import state_dir
from streams.errors import DatabaseUrlError


def default_database_url() -> str:
    """``sqlite:///`` of ``read_models.sqlite`` in the state folder (``BRIGHT_STATE_DIR``),
    read when called: the default of ``BRIGHT_DATABASE_URL``."""
    return f"sqlite:///{state_dir() / 'read_models.sqlite'}"


class StreamsSettings(BaseSettings):
    """Where the read models live and how the indexer follows the chain."""

    model_config = SettingsConfigDict(env_prefix="BRIGHT_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default_factory=default_database_url,
        description="SQLAlchemy URL of the read models: sqlite:///path (default, under the "
        "state folder) or postgresql+psycopg://user@host:port/db.",
    )
    index_chunk_blocks: int = Field(
        2000, ge=1, description="Most blocks per eth_getLogs call of the indexer."
    )
    index_poll_s: float = Field(
        0.5, gt=0, description="Seconds between the indexer's looks at the chain head."
    )
    index_keep_blocks: int = Field(
        1024,
        ge=16,
        description="Recent block hashes kept for reorg detection; a deeper reorg re-indexes "
        "from the start.",
    )

    @field_validator("database_url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        if not value.startswith(("sqlite://", "postgresql://", "postgresql+psycopg://")):
            raise ValueError(
                f"database_url must be sqlite:// or postgresql(+psycopg)://, got {value!r}"
            )
        return value


@lru_cache(maxsize=1)
def streams_settings() -> StreamsSettings:
    """The process-wide read-side settings; a malformed value raises DatabaseUrlError."""
    try:
        return StreamsSettings()
    except ValueError as exc:
        raise DatabaseUrlError(f"invalid BRIGHT_* read-side settings: {exc}") from exc
