"""The API served by uvicorn in a thread (as ``bright up`` runs it): docs, and the live feed of
server-sent events delivering the chain events the indexer projects while a client listens."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from api.server import ServerStartError, start_in_thread
from tests.api.api_helpers import bearer, settings_for
from tests.api.conftest import index_into


def _read_events(response, want: int, timeout_s: float = 20.0) -> list[dict]:
    """Parse SSE frames until ``want`` events arrived (heartbeats keep the loop moving)."""
    events, frame = [], {}
    deadline = time.monotonic() + timeout_s
    for line in response.iter_lines():
        if line == "":
            if "data" in frame and frame.get("event") != "token-expired":
                events.append(
                    {
                        **json.loads(frame["data"]),
                        "sse_id": frame.get("id"),
                        "sse_event": frame.get("event"),
                    }
                )
            frame = {}
            if len(events) >= want:
                return events
        elif not line.startswith(":"):
            key, _, value = line.partition(": ")
            frame[key] = value
        if time.monotonic() > deadline:
            break
    raise AssertionError(f"only {len(events)} of {want} events arrived in {timeout_s} s")


@pytest.fixture()
def served(api_demo, tmp_path):
    url = f"sqlite:///{tmp_path / 'live.sqlite'}"
    settings = settings_for(
        url, api_demo.chain_id, api_demo.market, port=0, stream_poll_s=0.1, stream_heartbeat_s=0.5
    )
    handle = start_in_thread(settings)
    yield handle, url
    handle.stop()
    assert not handle.thread.is_alive()


def test_docs_and_schema_are_served(served):
    handle, _ = served
    assert httpx.get(f"{handle.url}/health").json() == {"status": "ok"}
    docs = httpx.get(f"{handle.url}/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    schema = httpx.get(f"{handle.url}/openapi.json").json()
    assert "/auth/login" in schema["paths"] and "/events/stream" in schema["paths"]


def test_the_live_feed_delivers_new_events_in_chain_order_and_resumes(served, tokens, api_demo):
    handle, url = served
    stream_url = f"{handle.url}/events/stream"
    with httpx.stream("GET", stream_url, headers=bearer(tokens["home-01"]), timeout=30) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        index_into(api_demo, url)  # the indexer projects the demo chain while we listen
        first = _read_events(r, 40)
    positions = [(e["block_number"], e["log_index"]) for e in first]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)
    assert all(e["sse_event"] == f"{e['contract']}.{e['event']}" for e in first)
    assert all(e["sse_id"] == e["id"] == f"{e['block_number']}:{e['log_index']}" for e in first)
    assert {e["contract"] for e in first} >= {"ParticipantRegistry", "FlexToken"}
    # Resume after the 10th event: EventSource sends Last-Event-ID; a query token works too.
    resume_from = first[9]["id"]
    with httpx.stream(
        "GET",
        stream_url,
        params={"access_token": tokens["home-01"]},
        headers={"Last-Event-ID": resume_from},
        timeout=30,
    ) as r:
        again = _read_events(r, 5)
    assert [e["id"] for e in again] == [e["id"] for e in first[10:15]]


def test_the_live_feed_needs_a_members_token(served, tokens):
    handle, _ = served
    r = httpx.get(f"{handle.url}/events/stream", params={"access_token": "not-a-token"})
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_token"
    r = httpx.get(f"{handle.url}/events/stream", headers=bearer(tokens["admin"]))
    assert r.status_code == 403


def test_a_taken_port_is_a_clear_error(served, api_demo, tmp_path):
    handle, url = served
    port = int(handle.url.rsplit(":", 1)[1])
    with pytest.raises(ServerStartError, match="did not start"):
        start_in_thread(
            settings_for(url, api_demo.chain_id, api_demo.market, port=port), timeout_s=5
        )
