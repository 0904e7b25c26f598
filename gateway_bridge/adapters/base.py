"""What an adapter is, and the registry adapters put themselves in.

An adapter translates one gateway protocol / device family to the bridge's vocabulary, both
ways: :meth:`Adapter.decode` turns an MQTT message into raw values of
:class:`~gateway_bridge.domain.Property` (units still as the gateway sent them), and
:meth:`Adapter.encode` turns a :class:`~gateway_bridge.domain.Command` into MQTT messages on
the device's command topic. Adding a device type or protocol is one new module in this
package that defines a subclass decorated with :func:`register_adapter`: the package imports
every module in it, so nothing else needs editing.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import ClassVar, TypeVar

from gateway_bridge.domain import Command, Device, DeviceRegistry, Property, RejectReason
from gateway_bridge.errors import UnknownAdapterError


@dataclass(slots=True)
class RawValue:
    """A value as decoded from a message: ``unit=None`` means the property's canonical unit."""

    property: Property
    value: float
    unit: str | None = None


@dataclass(slots=True)
class Decoded:
    """What an adapter made of one MQTT message.

    ``ignore``: not for the bridge (the gateway's own topics, commands). ``device`` is the
    registered device the message is about (``None``: unknown, ``address`` says which).
    ``problems`` are per-value rejections found while decoding; the other values still count.
    ``time_s`` is the timestamp the message carries, if any (unix seconds).
    """

    address: str = ""
    device: Device | None = None
    values: list[RawValue] = field(default_factory=list)
    problems: list[tuple[RejectReason, str]] = field(default_factory=list)
    time_s: float | None = None
    availability: bool | None = None
    ignore: bool = False


class Adapter(ABC):
    """A gateway protocol. Instances are bound to a topic root (default: the adapter name)."""

    name: ClassVar[str]

    def __init__(self, topic_root: str | None = None) -> None:
        self.topic_root = (topic_root or self.name).strip("/")

    def subscriptions(self) -> list[str]:
        """MQTT topic filters the bridge subscribes to for this adapter."""
        return [f"{self.topic_root}/#"]

    @abstractmethod
    def decode(self, topic: str, payload: bytes, registry: DeviceRegistry) -> Decoded:
        """Decode one message; raise :class:`~gateway_bridge.errors.RejectedMessage` (reason
        ``malformed_payload``) for a message that cannot be read at all."""

    @abstractmethod
    def encode(self, device: Device, command: Command) -> list[tuple[str, bytes]]:
        """``(topic, payload)`` pairs that carry ``command`` to ``device``."""


ADAPTERS: dict[str, type[Adapter]] = {}
A = TypeVar("A", bound=type[Adapter])


def register_adapter(cls: A) -> A:
    """Class decorator: make ``cls`` available under ``cls.name``."""
    if cls.name in ADAPTERS and ADAPTERS[cls.name] is not cls:
        raise ValueError(f"adapter name {cls.name!r} registered twice")
    ADAPTERS[cls.name] = cls
    return cls


def get_adapter(name: str) -> type[Adapter]:
    """The adapter class registered as ``name``; :class:`UnknownAdapterError` otherwise."""
    try:
        return ADAPTERS[name]
    except KeyError:
        raise UnknownAdapterError(name, list(ADAPTERS)) from None
