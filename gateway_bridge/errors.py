"""Errors of the home-gateway bridge; all subclass :class:`core.errors.GatewayError`."""

from __future__ import annotations

from core.errors import GatewayError


class BrokerError(GatewayError):
    """The local Mosquitto broker could not be started, reached or stopped."""


class BrokerNotInstalledError(BrokerError):
    """The ``mosquitto`` executable is not on PATH (install the Debian package ``mosquitto``)."""

    def __init__(self, executable: str) -> None:
        super().__init__(
            f"{executable!r} not found: install Mosquitto (apt-get install -y mosquitto)"
        )


class BrokerStartError(BrokerError):
    """Mosquitto exited or did not accept connections in time; the message has its log tail."""

    def __init__(self, port: int, reason: str, log_tail: str = "") -> None:
        tail = f"\n--- mosquitto log ---\n{log_tail}" if log_tail else ""
        super().__init__(f"mosquitto on 127.0.0.1:{port} did not start: {reason}{tail}")


class UnknownAdapterError(GatewayError, ValueError):
    """No adapter is registered under this name."""

    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(f"unknown gateway adapter {name!r}; registered: {sorted(known)}")
        self.name = name


class UnitError(GatewayError, ValueError):
    """A value came with a unit that does not fit its property."""

    def __init__(self, prop: str, unit: str, expected: str) -> None:
        super().__init__(f"unit {unit!r} does not fit property {prop!r} (expected {expected})")
        self.prop, self.unit, self.expected = prop, unit, expected


class RejectedMessage(GatewayError, ValueError):
    """An MQTT message the bridge refuses; ``reason`` is a :class:`RejectReason` value."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail


class DeviceNotFoundError(GatewayError, KeyError):
    """No device with this id is registered or has reported."""

    def __init__(self, device_id: str) -> None:
        super().__init__(f"unknown device {device_id!r}")
        self.device_id = device_id
