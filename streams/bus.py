"""A minimal message bus: topics carrying keyed JSON values.

:class:`Bus` is the protocol every part of the platform codes against; :class:`InProcessBus`
is the embedded implementation (one process, synchronous delivery). A Kafka implementation of
the same protocol follows, so values must be JSON-serialisable: plain dicts of str, int, float,
bool, None, lists and dicts. The key orders messages (Kafka partitions by it).

:class:`BatchBus` adds batches: a publisher with many messages of one topic at hand (the
indexer's chunk of events) hands them over in one call, and a batch subscriber gets them in
one call; per-message subscribers still get each message. The embedded read side uses it so a
chunk of 50,000 events is one dispatch, not 50,000.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

log = logging.getLogger(__name__)

Handler = Callable[[str, dict], None]
"""A subscriber: called with ``(key, value)`` for every message on its topic."""
BatchHandler = Callable[[Sequence[tuple[str, dict]]], None]
"""A batch subscriber: called once with the ``(key, value)`` messages of one batch, in order."""


class Bus(Protocol):
    """Publish/subscribe on named topics (``meter.readings``, ``household.advice``, ...)."""

    def publish(self, topic: str, key: str, value: dict) -> None:
        """Publish ``value`` (a JSON-serialisable dict) on ``topic`` under ``key``."""
        ...

    def subscribe(self, topic: str, handler: Handler) -> None:
        """Call ``handler(key, value)`` for every message published on ``topic`` from now on."""
        ...


@runtime_checkable
class BatchBus(Bus, Protocol):
    """A :class:`Bus` that also carries batches of messages of one topic."""

    def publish_batch(self, topic: str, messages: Sequence[tuple[str, dict]]) -> None:
        """Publish the ``(key, value)`` messages on ``topic``, in order."""
        ...

    def subscribe_batch(self, topic: str, handler: BatchHandler) -> None:
        """Call ``handler(messages)`` once per batch published on ``topic`` from now on (a
        single :meth:`publish` arrives as a batch of one)."""
        ...


class InProcessBus:
    """Thread-safe in-process :class:`BatchBus`.

    ``publish`` delivers synchronously, in the publisher's thread, to the handlers subscribed
    at that moment, in subscription order; so messages of one publisher arrive in order. A
    handler that raises is logged and counted (:attr:`handler_errors`); the other handlers
    still get the message and the publisher never sees the error.

    ``publish_batch`` delivers the whole batch to each batch subscriber in one call, then each
    message, in order, to each per-message subscriber (a publisher's messages still arrive in
    order for both kinds).

    Parameters
    ----------
    check_json:
        Refuse (``TypeError``) values that ``json.dumps`` cannot encode, so code written
        against this bus also works on Kafka. Costs one ``json.dumps`` per message.
    """

    def __init__(self, *, check_json: bool = True) -> None:
        self._handlers: dict[str, list[Handler]] = defaultdict(list)
        self._batch_handlers: dict[str, list[BatchHandler]] = defaultdict(list)
        self._lock = threading.Lock()
        self._check_json = check_json
        self.handler_errors = 0
        self.published: dict[str, int] = defaultdict(int)

    def publish(self, topic: str, key: str, value: dict) -> None:
        self.publish_batch(topic, ((key, value),))

    def publish_batch(self, topic: str, messages: Sequence[tuple[str, dict]]) -> None:
        for _key, value in messages:
            if not isinstance(value, dict):
                raise TypeError(f"bus values are dicts, got {type(value).__name__}")
            if self._check_json:
                json.dumps(value, allow_nan=False)
        if not messages:
            return
        with self._lock:
            handlers = tuple(self._handlers.get(topic, ()))
            batch_handlers = tuple(self._batch_handlers.get(topic, ()))
            self.published[topic] += len(messages)
        for batch_handler in batch_handlers:
            try:
                batch_handler(messages)
            except Exception:  # a subscriber's bug must not reach the publisher
                self._failed(topic)
        for handler in handlers:
            for key, value in messages:
                try:
                    handler(key, value)
                except Exception:
                    self._failed(topic)

    def _failed(self, topic: str) -> None:
        with self._lock:
            self.handler_errors += 1
        log.exception("bus handler for %s failed", topic)

    def subscribe(self, topic: str, handler: Handler) -> None:
        with self._lock:
            self._handlers[topic].append(handler)

    def subscribe_batch(self, topic: str, handler: BatchHandler) -> None:
        with self._lock:
            self._batch_handlers[topic].append(handler)
