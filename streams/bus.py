"""A minimal message bus: topics carrying keyed JSON values.

:class:`Bus` is the protocol every part of the platform codes against; :class:`InProcessBus`
is the embedded implementation (one process, synchronous delivery). A Kafka implementation of
the same protocol follows, so values must be JSON-serialisable: plain dicts of str, int, float,
bool, None, lists and dicts. The key orders messages (Kafka partitions by it).
"""

from __future__ import annotations

import json
import logging
import threading
from collections import defaultdict
from collections.abc import Callable
from typing import Protocol

log = logging.getLogger(__name__)

Handler = Callable[[str, dict], None]
"""A subscriber: called with ``(key, value)`` for every message on its topic."""


class Bus(Protocol):
    """Publish/subscribe on named topics (``meter.readings``, ``household.advice``, ...)."""

    def publish(self, topic: str, key: str, value: dict) -> None:
        """Publish ``value`` (a JSON-serialisable dict) on ``topic`` under ``key``."""
        ...

    def subscribe(self, topic: str, handler: Handler) -> None:
        """Call ``handler(key, value)`` for every message published on ``topic`` from now on."""
        ...


class InProcessBus:
    """Thread-safe in-process :class:`Bus`.

    ``publish`` delivers synchronously, in the publisher's thread, to the handlers subscribed
    at that moment, in subscription order; so messages of one publisher arrive in order. A
    handler that raises is logged and counted (:attr:`handler_errors`); the other handlers
    still get the message and the publisher never sees the error.

    Parameters
    ----------
    check_json:
        Refuse (``TypeError``) values that ``json.dumps`` cannot encode, so code written
        against this bus also works on Kafka. Costs one ``json.dumps`` per message.
    """

    def __init__(self, *, check_json: bool = True) -> None:
        self._handlers: dict[str, list[Handler]] = defaultdict(list)
        self._lock = threading.Lock()
        self._check_json = check_json
        self.handler_errors = 0
        self.published: dict[str, int] = defaultdict(int)

    def publish(self, topic: str, key: str, value: dict) -> None:
        if not isinstance(value, dict):
            raise TypeError(f"bus values are dicts, got {type(value).__name__}")
        if self._check_json:
            json.dumps(value, allow_nan=False)
        with self._lock:
            handlers = tuple(self._handlers.get(topic, ()))
            self.published[topic] += 1
        for handler in handlers:
            try:
                handler(key, value)
            except Exception:  # a subscriber's bug must not reach the publisher
                with self._lock:
                    self.handler_errors += 1
                log.exception("bus handler for %s failed", topic)

    def subscribe(self, topic: str, handler: Handler) -> None:
        with self._lock:
            self._handlers[topic].append(handler)
