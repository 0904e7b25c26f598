"""Settings of the oracle services, from the environment (prefix ``BRIGHT_ORACLE_``) and
``.env``."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.settings import state_dir


class OracleSettings(BaseSettings):
    """When the meter oracle closes an interval, how long it waits for stragglers, where its
    state lives and which key signs."""

    model_config = SettingsConfigDict(env_prefix="BRIGHT_ORACLE_", env_file=".env", extra="ignore")

    env: Literal["development", "test", "production"] = Field(
        default="development", description="Deployment environment; production needs a key."
    )
    oracle_key: str | None = Field(
        default=None,
        description="Private key of the registered oracle that signs batches. Unset in "
        "development: the demo oracle account of the mnemonic.",
    )
    grace_s: float = Field(
        default=30.0, ge=0, description="Wait after an interval's end before committing it, s."
    )
    max_wait_s: float = Field(
        default=900.0,
        ge=0,
        description="After the end (plus grace), commit meters still missing readings as an "
        "estimate once this has passed (corrected when the readings arrive), s.",
    )
    tick_s: float = Field(default=1.0, gt=0, description="How often the service checks, s.")
    retention_s: float = Field(
        default=6 * 3600.0, gt=0, description="Readings kept for corrections, s."
    )
    max_batch: int = Field(
        default=1000, ge=1, le=5000, description="Meter values per transaction at most."
    )
    state_dir: Path = Field(
        default_factory=lambda: state_dir() / "oracle",
        description="Folder of the oracle's SQLite state; default oracle/ in BRIGHT_STATE_DIR.",
    )

    lock_dir: Path = Field(
        default_factory=lambda: Path(tempfile.gettempdir()) / "bright-locks",
        description="Machine-wide folder of the signing-key locks: one meter oracle per key, "
        "chain and contract on this machine, whatever its state folder.",
    )
    scan_from_block: int = Field(
        default=0,
        ge=0,
        description="First block to look for batches signed with the oracle key when the state "
        "is new (the MeterOracle's deployment block on a long chain).",
    )
    scan_chunk_blocks: int = Field(
        default=50_000, ge=1, description="Blocks per eth_getLogs call when scanning."
    )

    @model_validator(mode="after")
    def _production_needs_key(self) -> OracleSettings:
        if self.env == "production" and not self.oracle_key:
            raise ValueError("BRIGHT_ORACLE_ENV=production requires BRIGHT_ORACLE_ORACLE_KEY")
        return self
