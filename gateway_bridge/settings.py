"""Settings of the bridge service, from the environment (prefix ``BRIGHT_GATEWAY_``) and
``.env``. Defaults give the embedded setup: a local Mosquitto on 127.0.0.1:1883."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.settings import state_dir
from gateway_bridge.domain import MAX_PAYLOAD_BYTES


class BridgeSettings(BaseSettings):
    """How the bridge reaches the broker and how strict it is with input."""

    model_config = SettingsConfigDict(env_prefix="BRIGHT_GATEWAY_", env_file=".env", extra="ignore")

    env: Literal["development", "test", "production"] = Field(
        default="development", description="Deployment environment; production requires TLS."
    )
    mqtt_host: str = Field(default="127.0.0.1", description="MQTT broker host.")
    mqtt_port: int = Field(default=1883, ge=1, le=65535, description="MQTT broker port.")
    mqtt_tls: bool = Field(default=False, description="Connect with TLS (IHG-10).")
    ca_file: Path | None = Field(
        default=None, description="CA certificate that signed the broker's."
    )
    cert_file: Path | None = Field(
        default=None, description="Client certificate (certificate auth)."
    )
    key_file: Path | None = Field(default=None, description="Client private key.")
    username: str | None = Field(default=None, description="MQTT user name (password auth).")
    password: str | None = Field(default=None, description="MQTT password (password auth).")
    client_id: str = Field(default="bright-gateway-bridge", description="MQTT client id.")
    qos: int = Field(default=1, ge=0, le=2, description="QoS of the subscriptions and commands.")
    adapters: dict[str, str] = Field(
        default_factory=lambda: {"zigbee2mqtt": "zigbee2mqtt", "openhab": "openhab"},
        description="Topic root -> adapter name. A root whose adapter is not installed is "
        "still subscribed; its messages are counted as unknown_adapter.",
    )
    offline_after_s: float = Field(
        default=600.0, gt=0, description="Offline when silent longer, s."
    )
    max_future_s: float = Field(
        default=300.0, ge=0, description="Refuse timestamps further ahead, s."
    )
    max_past_s: float = Field(default=172_800.0, gt=0, description="Refuse timestamps older, s.")
    duplicate_window_s: float = Field(
        default=60.0,
        ge=0,
        description="A repeated timestamped message within this is a duplicate, later a replay, s.",
    )
    dedup_capacity: int = Field(
        default=200_000, ge=1, description="Timestamped readings remembered for duplicates."
    )
    max_payload_bytes: int = Field(
        default=MAX_PAYLOAD_BYTES,
        ge=1,
        description="Larger MQTT payloads are refused unread (payload_too_large); the "
        "generated Mosquitto config sets the same message_size_limit.",
    )
    quarantine_size: int = Field(
        default=1000, ge=0, description="Rejected messages kept for review."
    )
    rule_interval_s: float = Field(default=30.0, gt=0, le=60, description="Comfort rules timer, s.")
    state_dir: Path = Field(
        default_factory=state_dir, description="State folder (broker files); BRIGHT_STATE_DIR."
    )

    @model_validator(mode="after")
    def _production_needs_tls(self) -> BridgeSettings:
        if self.env == "production" and not self.mqtt_tls:
            raise ValueError("BRIGHT_GATEWAY_ENV=production requires BRIGHT_GATEWAY_MQTT_TLS=1")
        return self
