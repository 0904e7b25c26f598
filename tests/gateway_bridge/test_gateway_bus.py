"""streams.bus.InProcessBus: ordering, JSON check, isolation of failing handlers, threads."""

from __future__ import annotations

import threading

import pytest

from streams.bus import Bus, InProcessBus


def test_delivers_in_order_to_every_subscriber_of_the_topic():
    bus: Bus = InProcessBus()
    a: list[tuple[str, dict]] = []
    b: list[tuple[str, dict]] = []
    bus.subscribe("t", lambda k, v: a.append((k, v)))
    bus.subscribe("t", lambda k, v: b.append((k, v)))
    bus.subscribe("other", lambda k, v: pytest.fail("wrong topic"))
    for i in range(5):
        bus.publish("t", f"k{i}", {"i": i})
    assert a == b == [(f"k{i}", {"i": i}) for i in range(5)]


def test_refuses_values_kafka_could_not_carry():
    bus = InProcessBus()
    with pytest.raises(TypeError):
        bus.publish("t", "k", {"when": object()})
    with pytest.raises(ValueError):
        bus.publish("t", "k", {"x": float("nan")})
    with pytest.raises(TypeError):
        bus.publish("t", "k", ["not", "a", "dict"])  # type: ignore[arg-type]


def test_a_failing_handler_does_not_reach_the_publisher_or_other_handlers():
    bus = InProcessBus()
    got: list[dict] = []

    def broken(key: str, value: dict) -> None:
        raise RuntimeError("subscriber bug")

    bus.subscribe("t", broken)
    bus.subscribe("t", lambda k, v: got.append(v))
    bus.publish("t", "k", {"n": 1})
    assert got == [{"n": 1}]
    assert bus.handler_errors == 1


def test_concurrent_publishers_lose_nothing():
    bus = InProcessBus()
    got: list[int] = []
    lock = threading.Lock()

    def handler(key: str, value: dict) -> None:
        with lock:
            got.append(value["n"])

    bus.subscribe("t", handler)

    def publish_from(start: int) -> None:
        for i in range(500):
            bus.publish("t", "k", {"n": start + i})

    threads = [threading.Thread(target=publish_from, args=(s,)) for s in range(0, 4000, 1000)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(got) == sorted(s + i for s in range(0, 4000, 1000) for i in range(500))
    assert bus.published["t"] == 2000
