"""The forecast feed through reorgs (anvil's ``anvil_reorg``): when a reorg drops its
enrolments and commits while it runs, the feed enrols and commits again within a tick or two,
and the chain ends with every member's forecast of every coming interval committed exactly
once; stopping the feed while it waits for a receipt is prompt.

The feed's forecasting models play no part in this: the feed here forecasts fixed quantiles
(``forecast_rows`` overridden), everything else (the run loop, the chain clock, committing
through ``commit_forecasts``) is the feed's own."""

from __future__ import annotations

import math
import threading
import time
import uuid
from collections import Counter
from typing import Any

import pytest
from web3.types import RPCEndpoint

from core.codec import text_to_bytes32
from core.oracle_codec import ForecastRow, unpack_forecast
from core.units import INTERVAL_S
from oracles.forecast_service import FeedConfig, ForecastFeed

pytestmark = pytest.mark.usefixtures("snapshot")

TX_TIMEOUT_S = 5.0  # the old behaviour (waiting for a receipt that never comes) fails fast
CONFIG = FeedConfig(lookahead_intervals=3, lead_s=60.0, period_s=0.2)


class FixedFeed(ForecastFeed):
    """The feed with fixed quantiles instead of its models."""

    def forecast_rows(self, now_s: float) -> list[ForecastRow]:
        cfg = self.config
        first = math.floor((now_s + cfg.lead_s) / INTERVAL_S) * INTERVAL_S + INTERVAL_S
        last = math.floor(now_s / INTERVAL_S) * INTERVAL_S + cfg.lookahead_intervals * INTERVAL_S
        return [
            ForecastRow(meter, start, 100, 200, 300, "fixed-reorg-test")
            for meter in sorted(self.members)
            for start in range(first, last + 1, INTERVAL_S)
        ]


def rpc(w3: Any, method: str, *params: Any) -> Any:
    response = w3.provider.make_request(RPCEndpoint(method), list(params))
    assert "error" not in response, response
    return response.get("result")


def make_feed(oracles: Any) -> FixedFeed:
    client = oracles.forecast(oracles.oracle)  # an oracle relays: it may enrol
    assert client.sender is not None
    client.sender.timeout_s = TX_TIMEOUT_S
    members = {f"fr-{uuid.uuid4().hex[:12]}-{i}": f"Building_{i}" for i in range(1, 4)}
    return FixedFeed(client, oracles.oracle, members, CONFIG, log=lambda _m: None)


def enrolment_block(feed: ForecastFeed, participant: str) -> int | None:
    event = feed.client.contract.events.ForecastParticipantEnrolled
    logs = event.get_logs(
        from_block=0, argument_filters={"participantId": text_to_bytes32(participant, "id")}
    )
    return int(logs[0]["blockNumber"]) if logs else None


def all_committed(feed: ForecastFeed) -> bool:
    """Every row the feed would send now is on-chain (read by a client with no cache)."""
    fresh = type(feed.client)(feed.client.w3, feed.client.address, feed.client.artifact, None)
    rows = feed.forecast_rows(feed.clock() + CONFIG.lead_s)  # the rows that stay ahead a while
    return bool(rows) and all(
        fresh.index_of(r.participant_id) is not None
        and fresh.is_committed(r.participant_id, r.interval_start_s)
        for r in rows
    )


def test_the_running_feed_commits_again_what_a_reorg_dropped(oracles):
    feed = make_feed(oracles)
    w3 = feed.client.w3
    errors: list[Exception] = []
    stop = threading.Event()
    thread = threading.Thread(target=feed.run, args=(stop, errors.append), daemon=True)
    start_block = w3.eth.block_number + 1
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not all_committed(feed):
            assert time.monotonic() < deadline, f"nothing committed: {errors}"
            time.sleep(0.1)
        # The reorg takes everything the feed sent: its enrolments and its commits.
        first = min(b for p in feed.members if (b := enrolment_block(feed, p)) is not None)
        replaced = w3.eth.get_block(first)["hash"]
        rpc(w3, "anvil_reorg", w3.eth.block_number - first + 1, [])
        assert w3.eth.get_block(first)["hash"] != replaced
        deadline = time.monotonic() + 30
        while not all_committed(feed):
            assert time.monotonic() < deadline, f"not committed again: {errors}"
            time.sleep(0.1)
        time.sleep(1.0)  # a few more ticks: nothing more is sent
    finally:
        stop.set()
        thread.join(5)
    assert not thread.is_alive()
    # A tick the reorg hit half way may fail (e.g. a commit for a participant whose enrolment
    # just left the chain); the next one starts from the chain.
    assert len(errors) <= 1, errors
    # Nothing doubled: each member's forecast of an interval is in one committed batch, and
    # nothing was revised.
    client = feed.client
    ours = {client.index_of(p) for p in feed.members}
    batches = client.contract.events.ForecastsCommitted.get_logs(from_block=start_block)
    rows = Counter(
        (unpack_forecast(int(w))[0], int(e["args"]["intervalStart"]))
        for e in batches
        for w in e["args"]["forecasts"]
        if unpack_forecast(int(w))[0] in ours
    )
    assert rows and set(rows.values()) == {1}
    assert len({s for _, s in rows}) >= CONFIG.lookahead_intervals - 1
    assert client.contract.events.ForecastsRevised.get_logs(from_block=start_block) == []


def test_stopping_the_feed_while_it_waits_for_a_receipt_is_prompt(oracles):
    feed = make_feed(oracles)
    w3 = feed.client.w3
    oracle = oracles.oracle.address
    stop = threading.Event()
    rpc(w3, "evm_setAutomine", False)  # its first transaction waits in the pool
    try:
        thread = threading.Thread(target=feed.run, args=(stop,), daemon=True)
        thread.start()
        deadline = time.monotonic() + 30
        while w3.eth.get_transaction_count(oracle, "pending") == w3.eth.get_transaction_count(
            oracle
        ):
            assert time.monotonic() < deadline, "the feed sent nothing"
            time.sleep(0.05)
        time.sleep(0.5)  # waiting for the receipt now
        t0 = time.monotonic()
        stop.set()
        thread.join(4)
        assert not thread.is_alive(), "still waiting for the receipt"
        assert time.monotonic() - t0 < 2
    finally:
        rpc(w3, "anvil_dropAllTransactions")
        rpc(w3, "evm_setAutomine", True)
