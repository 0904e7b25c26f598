"""Settings of the REST API, from the environment (prefix ``BRIGHT_API_``) and ``.env``.

The read-model database defaults to the read side's (``BRIGHT_DATABASE_URL``), the chain's
JSON-RPC URL to the platform's (``BRIGHT_RPC_URL`` or the local anvil). The JWT secret has a
public development default, which is refused outside development (``BRIGHT_API_ENV`` or
``BRIGHT_ENV`` other than ``development``).
"""

from __future__ import annotations

from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.errors import ConfigError

DEV_JWT_SECRET = "bright-development-jwt-secret-do-not-use-in-production"


def _default_database_url() -> str:
    from streams.settings import StreamsSettings, default_database_url

    try:
        return StreamsSettings().database_url
    except ValueError:
        return default_database_url()


def _default_rpc_url() -> str:
    from core.settings import ChainSettings

    try:
        return ChainSettings().effective_rpc_url
    except ValueError:
        return "http://127.0.0.1:8545"


class ApiSettings(BaseSettings):
    """How the API is served, signs its tokens and finds the read models and the chain."""

    model_config = SettingsConfigDict(
        env_prefix="BRIGHT_API_", env_file=".env", extra="ignore", populate_by_name=True
    )

    env: Literal["development", "test", "production"] = Field(
        "development",
        validation_alias=AliasChoices("BRIGHT_API_ENV", "BRIGHT_ENV"),
        description="Deployment environment; only development accepts the default JWT secret.",
    )
    host: str = Field("127.0.0.1", description="Interface the API listens on.")
    port: int = Field(8000, ge=0, le=65535, description="TCP port of the API (0: any free).")
    jwt_secret: SecretStr = Field(
        SecretStr(DEV_JWT_SECRET),
        description="HS256 key of the access tokens; at least 32 characters.",
    )
    jwt_ttl_s: int = Field(
        900, ge=10, le=86_400, description="Seconds an access token is valid (short-lived)."
    )
    nonce_ttl_s: int = Field(
        300, ge=5, le=3600, description="Seconds a login nonce can be used, once."
    )
    max_nonces: int = Field(
        100_000, ge=10, description="Most outstanding login nonces kept (oldest dropped)."
    )
    clock_skew_s: int = Field(
        60, ge=0, le=600, description="Tolerance for a wallet's clock in Issued At / Not Before."
    )
    siwe_domain: str = Field(
        "",
        description="RFC 3986 authority the EIP-4361 message must name (the web UI's host); "
        "unset: host:port of this API.",
    )
    siwe_uri: str = Field(
        "", description="URI the EIP-4361 message must name; unset: http://host:port."
    )
    database_url: str = Field(
        default_factory=_default_database_url,
        description="Read-model database; default: the read side's BRIGHT_DATABASE_URL.",
    )
    rpc_url: str = Field(
        default_factory=_default_rpc_url,
        description="JSON-RPC URL of the chain (its chain id, when the read models are empty).",
    )
    chain_id: int | None = Field(
        None, ge=1, description="Chain served; unset: the one the read models index."
    )
    market_address: str | None = Field(
        None,
        description="FlexMarket address served; unset: the deployments file's, else the only "
        "market in the read models.",
    )
    stream_poll_s: float = Field(
        0.5, gt=0, le=10, description="Seconds between the live feed's looks for new events."
    )
    time_zone: str = Field(
        "Europe/Brussels",
        description="The community's time zone (IANA name, e.g. Europe/Brussels): the web UI "
        "shows times in it, with UTC on hover. The default is the zone of the euro-area "
        "communities BRIGHT is built for (FLEX is a euro token); the API's times stay unix "
        "seconds (UTC).",
    )
    stream_heartbeat_s: float = Field(
        15.0, gt=0, description="Seconds between keep-alive comments on an idle live feed."
    )

    @field_validator("database_url")
    @classmethod
    def _check_db(cls, value: str) -> str:
        if not value.startswith(("sqlite://", "postgresql://", "postgresql+psycopg://")):
            raise ValueError(
                f"database_url must be sqlite:// or postgresql(+psycopg)://, got {value!r}"
            )
        return value

    @field_validator("time_zone")
    @classmethod
    def _check_time_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"time_zone must be an IANA time zone name such as Europe/Brussels or UTC, "
                f"got {value!r}"
            ) from exc
        return value

    @field_validator("jwt_secret")
    @classmethod
    def _check_secret(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) < 32:
            raise ValueError("jwt_secret must be at least 32 characters (HS256 key)")
        return value

    @model_validator(mode="after")
    def _siwe_defaults(self) -> ApiSettings:
        if not self.siwe_domain:
            self.siwe_domain = f"{self.host}:{self.port}"
        if not self.siwe_uri:
            self.siwe_uri = f"http://{self.host}:{self.port}"
        return self

    @model_validator(mode="after")
    def _refuse_default_secret(self) -> ApiSettings:
        if self.env != "development" and self.jwt_secret.get_secret_value() == DEV_JWT_SECRET:
            raise ValueError(
                f"the default JWT secret is public and refused in {self.env}: set "
                "BRIGHT_API_JWT_SECRET (e.g. `python -c 'import secrets; "
                "print(secrets.token_urlsafe(48))'`)"
            )
        return self

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


def api_settings(**overrides: object) -> ApiSettings:
    """Settings from the environment with ``overrides``; a bad value raises ConfigError."""
    try:
        return ApiSettings(**overrides)  # type: ignore[arg-type]
    except ValueError as exc:  # pydantic.ValidationError is a ValueError
        raise ConfigError(f"invalid BRIGHT_API_* settings: {exc}") from exc
