"""Settings of the analytics engines, read from the environment (prefix ``BRIGHT_ANALYTICS_``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.errors import ConfigError
from core.settings import state_dir


class AnalyticsSettings(BaseSettings):
    """Where the analytics engines keep models and reports: by default under the state folder
    (``BRIGHT_STATE_DIR``), read when the settings are constructed."""

    model_config = SettingsConfigDict(
        env_prefix="BRIGHT_ANALYTICS_", env_file=".env", extra="ignore"
    )

    models_dir: Path = Field(
        default_factory=lambda: state_dir() / "models",
        description="Folder of saved forecasting models, their versions and backtest scores "
        "(git-ignored).",
    )
    clusters_dir: Path = Field(
        default_factory=lambda: state_dir() / "clusters",
        description="Folder of the latest clustering result served by the API (GET /clusters): "
        "a summary without personal data and its report (git-ignored).",
    )
    reports_dir: Path = Field(
        default_factory=lambda: state_dir() / "reports",
        description="Folder of generated clustering reports (under the state folder).",
    )
    pseudonym_salt: str = Field(
        "bright-dev-salt",
        description="Salt of the pseudonymous household ids in reports; set a secret one in "
        "production so ids cannot be linked back to homes.",
    )
    n_jobs: int = Field(2, ge=1, le=64, description="Threads the engines may use.")


@lru_cache(maxsize=1)
def analytics_settings() -> AnalyticsSettings:
    """The process-wide analytics settings; a malformed value raises :class:`ConfigError`."""
    try:
        return AnalyticsSettings()
    except ValueError as exc:
        raise ConfigError(f"invalid BRIGHT_ANALYTICS_* settings: {exc}") from exc
