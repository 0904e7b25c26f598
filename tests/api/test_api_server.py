"""The API served by uvicorn in a thread (as ``bright up`` runs it): docs, and the live feed of
server-sent events delivering the chain events the indexer projects while a client listens.

The API knows a member once the read side has projected its registration (roles follow the
chain): the feeds start on read models indexed up to the community's registration."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from api.server import ServerStartError, start_in_thread
from tests.api.api_helpers import bearer, index_into, settings_for
from tests.api.test_api_docs import EXTERNAL


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


def registration_block(demo) -> int:
    """The block that registered the demo community."""
    logs = demo.running.platform.registry().contract.events.ParticipantRegistered.get_logs(
        from_block=0
    )
    return max(int(log.blockNumber) for log in logs)


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
    for page in ("docs", "redoc"):  # served by the API itself, offline (api/docs.py)
        docs = httpx.get(f"{handle.url}/{page}")
        assert docs.status_code == 200 and "openapi.json" in docs.text
        assert EXTERNAL.search(docs.text) is None
    schema = httpx.get(f"{handle.url}/openapi.json").json()
    assert "/auth/login" in schema["paths"] and "/events/stream" in schema["paths"]


def test_the_live_feed_delivers_new_events_in_chain_order_and_resumes(served, tokens, api_demo):
    handle, url = served
    stream_url = f"{handle.url}/events/stream"
    registered = registration_block(api_demo)
    index_into(api_demo, url, up_to_block=registered)
    with httpx.stream("GET", stream_url, headers=bearer(tokens["home-01"]), timeout=30) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        index_into(api_demo, url)  # the indexer projects the rest of the chain while we listen
        first = _read_events(r, 40)
    assert first[0]["block_number"] > registered  # new events only
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


def test_the_live_feed_needs_a_members_token(served, tokens, api_demo):
    handle, url = served
    r = httpx.get(f"{handle.url}/events/stream", params={"access_token": "not-a-token"})
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_token"
    # A member's token, but these read models have not seen its registration yet.
    with httpx.stream(
        "GET", f"{handle.url}/events/stream", headers=bearer(tokens["home-01"]), timeout=10
    ) as r:  # (a feed that started would never end: look at the status only)
        assert r.status_code == 403
        assert "not a registered participant" in r.read().decode()
    index_into(api_demo, url, up_to_block=registration_block(api_demo))
    r = httpx.get(f"{handle.url}/events/stream", headers=bearer(tokens["admin"]))
    assert r.status_code == 403


def test_stopping_the_server_ends_an_open_live_feed_cleanly(served, tokens, api_demo):
    """Ctrl-C with the web UI open: the feed ends as a complete response, not a task that
    uvicorn cancels after its grace period (logged as a traceback, cut off at the client)."""
    import threading

    handle, url = served
    index_into(api_demo, url)  # home-01 is a member
    with httpx.stream(
        "GET", f"{handle.url}/events/stream", headers=bearer(tokens["home-01"]), timeout=30
    ) as r:
        assert r.status_code == 200
        lines = r.iter_lines()
        assert next(lines).startswith("retry:")
        stopper = threading.Thread(target=handle.stop)
        stopper.start()
        rest = list(lines)  # a cancelled response raises RemoteProtocolError here
    stopper.join()
    assert not handle.thread.is_alive()
    assert all(not line.startswith("event: ") for line in rest)  # nothing but keep-alives


def test_a_taken_port_is_a_clear_error(served, api_demo, tmp_path):
    handle, url = served
    port = int(handle.url.rsplit(":", 1)[1])
    with pytest.raises(ServerStartError, match="already in use; stop what listens there"):
        start_in_thread(
            settings_for(url, api_demo.chain_id, api_demo.market, port=port), timeout_s=5
        )


def _frames(response):
    """Every SSE frame with data, as dicts (the data, plus sse_event and sse_id)."""
    frame: dict = {}
    for line in response.iter_lines():
        if line == "":
            if "data" in frame:
                yield {
                    **json.loads(frame["data"]),
                    "sse_event": frame.get("event"),
                    "sse_id": frame.get("id"),
                }
            frame = {}
        elif not line.startswith(":"):
            key, _, value = line.partition(": ")
            frame[key] = value


def test_a_reorg_rollback_is_announced_and_the_new_branch_follows(served, tokens, api_demo):
    from chain.indexer import BlockRef
    from streams.db import open_database
    from streams.store import ReadModelStore

    handle, url = served
    w3 = api_demo.running.platform.w3
    registered = registration_block(api_demo)
    index_into(api_demo, url, up_to_block=registered)
    with httpx.stream(
        "GET", f"{handle.url}/events/stream", headers=bearer(tokens["home-01"]), timeout=30
    ) as r:
        index_into(api_demo, url)
        frames = _frames(r)
        sent = [next(frames) for _ in range(60)]
        assert all(f["sse_event"] != "rollback" for f in sent)
        ancestor = sent[30]["block_number"] - 1
        assert ancestor >= registered  # the listener stays a member
        engine = open_database(url)
        try:  # what the read side does on a reorg: drop the blocks above the ancestor
            ReadModelStore(engine).rollback(
                api_demo.chain_id,
                BlockRef(ancestor, w3.eth.get_block(ancestor)["hash"].to_0x_hex()),
            )
        finally:
            engine.dispose()
        deadline = time.monotonic() + 20
        for f in frames:
            assert time.monotonic() < deadline, "no rollback announced"
            if f["sse_event"] == "rollback":
                rollback = f
                break
            sent.append(f)
        valid = [e for e in sent if e["block_number"] <= ancestor]
        assert valid and rollback["after"] == valid[-1]["id"]
        index_into(api_demo, url)  # the "new branch" (here: the same blocks again)
        again = [next(frames) for _ in range(10)]
    k = len(valid)
    assert [e["id"] for e in again] == [e["id"] for e in sent[k : k + 10]]
    assert [e["block_hash"] for e in again] == [e["block_hash"] for e in sent[k : k + 10]]
