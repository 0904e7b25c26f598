"""Configuration, read from the environment (prefix ``BRIGHT_``) and a ``.env`` file.

Every service reads one settings class. Defaults give the embedded, single-machine setup
(local anvil, in-process bus, SQLite); pointing a URL elsewhere switches to the at-scale setup
without code changes.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.errors import ConfigError
from core.paths import DEFAULT_STATE_DIR

# anvil's well-known development mnemonic: its keys are public, so it is only allowed on a
# development chain.
DEV_MNEMONIC = "test test test test test test test test test test test junk"


class _StateDirSetting(BaseSettings):
    """Only ``BRIGHT_STATE_DIR``: the one folder every run writes into."""

    model_config = SettingsConfigDict(env_prefix="BRIGHT_", env_file=".env", extra="ignore")

    state_dir: Path = Field(
        DEFAULT_STATE_DIR,
        description="Folder for everything a run writes: chain state, deployments, models, "
        "clusters, reports, the oracle's state, read models, the broker's data, logs.",
    )


def state_dir() -> Path:
    """The state folder, ``BRIGHT_STATE_DIR`` (environment or ``.env``), default ``.bright/``
    in the project.

    Read on every call, never cached: each settings class derives its default folders from it
    when it is constructed (``default_factory``), so a process or test that sets the variable
    sees it. A setting of its own (``BRIGHT_ANALYTICS_MODELS_DIR``, ``BRIGHT_DATABASE_URL``,
    ...) still wins over the derived default.
    """
    return _StateDirSetting().state_dir


class ChainSettings(BaseSettings):
    """How the platform reaches the chain and where it keeps chain state."""

    model_config = SettingsConfigDict(env_prefix="BRIGHT_", env_file=".env", extra="ignore")

    env: Literal["development", "test", "production"] = Field(
        "development", description="Deployment environment; development allows the demo keys."
    )
    rpc_url: str | None = Field(
        None,
        description="JSON-RPC URL of an EVM node. Unset: the CLI starts a local anvil.",
    )
    chain_host: str = Field("127.0.0.1", description="Interface the local anvil listens on.")
    chain_port: int = Field(8545, ge=1, le=65535, description="Port of the local anvil.")
    block_time: float = Field(
        0, ge=0, description="Seconds between blocks on the local anvil; 0 mines on every tx."
    )
    accounts: int = Field(
        32, ge=25, le=1000, description="Funded accounts the local anvil derives from the mnemonic."
    )
    mnemonic: str = Field(DEV_MNEMONIC, description="Mnemonic of the demo accounts.")
    deployer_key: str | None = Field(
        None,
        description="Private key that deploys and administers the contracts. Unset in "
        "development: the first account of the mnemonic.",
    )
    state_dir: Path = Field(
        default_factory=state_dir,
        description="Folder for everything a run writes (see :func:`state_dir`).",
    )
    chain_start_time: int | None = Field(
        None,
        ge=0,
        description="Unix seconds at which a fresh local chain's clock starts (anvil "
        "--timestamp), e.g. to run the demo at another hour or season; unset: now. A saved "
        "chain keeps its own clock.",
    )
    confirmations: int = Field(0, ge=0, description="Blocks to wait before a log is final.")
    tx_timeout_s: float = Field(60, gt=0, description="Seconds to wait for a receipt.")

    @field_validator("rpc_url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://", "ws://", "wss://")):
            raise ValueError(f"rpc_url must start with http(s):// or ws(s)://, got {value!r}")
        return value

    @model_validator(mode="after")
    def _refuse_dev_secrets(self) -> ChainSettings:
        if self.env == "production" and (
            self.mnemonic == DEV_MNEMONIC or self.deployer_key is None
        ):
            raise ValueError(
                "BRIGHT_ENV=production refuses the public development mnemonic: set "
                "BRIGHT_DEPLOYER_KEY (and BRIGHT_MNEMONIC if demo accounts are used)"
            )
        return self

    @property
    def local_rpc_url(self) -> str:
        return f"http://{self.chain_host}:{self.chain_port}"

    @property
    def effective_rpc_url(self) -> str:
        return self.rpc_url or self.local_rpc_url

    @property
    def deployments_file(self) -> Path:
        return self.state_dir / "deployments.json"

    @property
    def chain_state_file(self) -> Path:
        return self.state_dir / "chain" / "state.json.gz"


@lru_cache(maxsize=1)
def chain_settings() -> ChainSettings:
    """The process-wide chain settings; a malformed value raises :class:`ConfigError`."""
    try:
        return ChainSettings()
    except ValueError as exc:  # pydantic.ValidationError is a ValueError
        raise ConfigError(f"invalid BRIGHT_* chain settings: {exc}") from exc
