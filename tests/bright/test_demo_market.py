"""The demo community trading several sessions on anvil, end to end: the matches on the chain
are the engine's, every session is cleared once and settled on delivery once its settlement
opens, and the money adds up to the deposits."""

from __future__ import annotations

import pytest

from bright.demo import bring_up
from bright.demo_market import MARKET_DEPOSIT, DemoMarket, data_hour
from chain.anvil import free_port
from chain.market import SessionStatus
from core.settings import ChainSettings
from matching.engine import clear
from matching.service import MarketOperator, engine_orders


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    settings = ChainSettings(state_dir=tmp_path_factory.mktemp("state"), chain_port=free_port())
    running = bring_up(settings, quiet=True)
    running.state_dir = settings.state_dir  # type: ignore[attr-defined]
    yield running
    running.stop()


def test_demo_community_trades_and_money_adds_up(demo):
    market = DemoMarket(demo.platform, demo.members)
    assert market.fund() == 18  # 17 homes and the aggregator
    assert market.fund() == 0  # idempotent
    rounds = [market.round() for _ in range(6)]
    cleared = [c for r in rounds for c in r[0]]
    settled = [s for r in rounds for s in r[1]]
    assert [c.session_id for c in cleared] == [1, 2, 3, 4, 5, 6]
    # A session settles once its delivery is over and its meter data time has passed; this
    # test commits no meter data, so every seller is settled as having none.
    assert [s.session_id for s in settled][:2] == [1, 2]
    assert all(x.missing_data for s in settled for x in s.sellers.values())
    client = demo.platform.market()
    traded = 0
    for c in cleared:
        info = client.session(c.session_id)
        assert info.cleared
        book = client.book(c.session_id)
        expected = clear(engine_orders(book), info.rule)
        on_chain = client.contract.events.OrderMatched.get_logs(
            from_block=0, argument_filters={"sessionId": c.session_id}
        )
        assert [
            (e.args.bidId, e.args.offerId, e.args.qtyWh, e.args.pricePerKwh) for e in on_chain
        ] == [(m.bid_id, m.offer_id, m.qty_wh, m.price_per_kwh) for m in expected.matches]
        assert c.orders == len(book.orders) > 0
        traded += expected.volume_wh
    assert traded > 0
    # Deposits = free + locked balances + what the cleared, unsettled sessions escrowed + what
    # the settlements' rounding gave the treasury.
    accounts = [m.address for m in market.homes] + [market.aggregator.address]
    balances = sum(sum(client.account(a)[:2]) for a in accounts)
    escrowed = sum(
        client.session(s).escrowed
        for s in range(1, client.session_count() + 1)
        if client.session(s).status == SessionStatus.CLEARED
    )
    treasury = client.account(client.treasury())[0]
    assert balances + escrowed + treasury == len(accounts) * MARKET_DEPOSIT
    market_address = demo.platform.deployment.address("FlexMarket")
    assert demo.platform.token().balance_of(market_address) == len(accounts) * MARKET_DEPOSIT


def test_settle_verify_recomputes_a_settled_session(demo, monkeypatch):
    """``bright settle verify --session``: exit 0 for a session settled on delivery, 2 for one
    not settled yet or that does not exist."""
    import json

    from typer.testing import CliRunner

    from settlement.cli import app as settle_app

    market = DemoMarket(demo.platform, demo.members)
    market.fund()
    settled = [s for _ in range(4) for s in market.round()[1]]
    assert settled
    monkeypatch.setenv("BRIGHT_STATE_DIR", str(demo.state_dir))
    url = ["--rpc-url", demo.rpc_url]
    ok = CliRunner().invoke(
        settle_app, ["verify", "--session", str(settled[0].session_id), "--json", *url]
    )
    assert ok.exit_code == 0, ok.output
    report = json.loads(ok.output.strip().splitlines()[-1])
    assert report["matches"] and report["earned"] == settled[0].earned
    last = demo.platform.market().session_count()
    for sid in (last, last + 1):  # open (not settled yet), and not there at all
        bad = CliRunner().invoke(settle_app, ["verify", "--session", str(sid), *url])
        assert bad.exit_code == 2, bad.output


def test_a_restarted_operator_clears_each_session_exactly_once(demo):
    market = DemoMarket(demo.platform, demo.members)
    market.fund()
    now = market._now()
    [sid] = market.operator.open_due(now)
    market.trade(sid)
    market._advance_to(market.operator.market.session(sid).closes_at_s + 1)
    # The first operator "crashes" here; a new one (no state of its own) takes over.
    successor = MarketOperator(market.operator.market, market.operator.config)
    first = successor.clear_due(market._now())
    assert [c.session_id for c in first] == [sid]
    assert successor.clear_due(market._now()) == []
    # The crashed one coming back does not submit again either.
    assert market.operator.clear_due(market._now()) == []
    assert successor.open_due(now) == []  # a session for that interval exists already


def test_data_hour_maps_calendar_time_into_the_data_year():
    import calendar

    assert data_hour(calendar.timegm((2026, 8, 1, 0, 0, 0))) == 0
    assert data_hour(calendar.timegm((2026, 8, 1, 5, 15, 0))) == 5
    assert data_hour(calendar.timegm((2027, 7, 31, 23, 0, 0))) == 8759


def test_demo_meter_data_flows_from_simulated_homes_to_the_chain(demo, tmp_path):
    """Mosquitto, the bridge, the meter oracle and the simulator, as `bright up` runs them."""
    import time

    from bright.demo_data import DemoDataIn
    from chain.oracles import MeterOracleClient

    data_in = DemoDataIn(demo.platform, demo.members, tmp_path, speed=900).start()
    try:
        deadline = time.monotonic() + 30
        while data_in.committed() < 17 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert data_in.committed() >= 17
    finally:
        data_in.stop()
    client = MeterOracleClient(
        demo.platform.w3,
        demo.platform.deployment.address("MeterOracle"),
        demo.platform.artifacts["MeterOracle"],
        None,
    )
    history = client.history()
    registered = {m.meter_id for m in demo.members if m.meter_id}
    meters = {h.value.meter_id for h in history}
    assert meters == registered  # every home's meter, under the id the registry holds
    assert sum(h.value.import_wh + h.value.export_wh for h in history) > 0


def test_devices_and_comfort_preferences_through_the_api(demo, tmp_path):
    """bright up's API serves the gateway bridge's device status and takes preferences."""
    import time

    from fastapi.testclient import TestClient

    from api.main import create_app
    from api.service import ApiService
    from api.settings import ApiSettings
    from bright.demo_data import DemoDataIn
    from chain.indexer import web3_rpc
    from streams.db import open_database
    from streams.runner import EmbeddedRunner
    from streams.store import ReadModelStore
    from tests.api.api_helpers import bearer, login

    url = f"sqlite:///{tmp_path / 'rm.sqlite'}"
    platform = demo.platform
    EmbeddedRunner.build(
        web3_rpc(platform.w3),
        platform.deployment,
        ReadModelStore(open_database(url)),
        platform.artifacts,
    ).poll_once()
    settings = ApiSettings(
        database_url=url,
        rpc_url=demo.rpc_url,
        chain_id=platform.deployment.chain_id,
        market_address=platform.deployment.address("FlexMarket"),
    )
    home1 = next(m for m in demo.members if m.name == "home-01")
    home2 = next(m for m in demo.members if m.name == "home-02")
    with TestClient(create_app(settings)) as bare:
        token = login(bare, home1.account)
        # Without a gateway bridge in the process the routes do not exist.
        assert bare.get("/devices", headers=bearer(token)).status_code == 404
    data_in = DemoDataIn(platform, demo.members, tmp_path, speed=900).start()
    try:
        service = ApiService.open(settings)
        service.gateway = data_in
        with TestClient(create_app(settings, service)) as client:
            token = login(client, home1.account)
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                got = client.get("/devices", headers=bearer(token))
                assert got.status_code == 200, got.text
                if any(d["online"] for d in got.json()["data"]):
                    break
                time.sleep(0.2)
            assert got.json()["count"] >= 1 and any(d["online"] for d in got.json()["data"])
            other = client.get(
                "/devices", params={"participant": home2.address}, headers=bearer(token)
            )
            assert other.status_code == 403
            prefs = client.get("/preferences", headers=bearer(token)).json()["preferences"]
            changed = client.put(
                "/preferences", json={"temperature_min_c": 20.5}, headers=bearer(token)
            )
            assert changed.status_code == 200, changed.text
            assert changed.json()["preferences"]["temperature_min_c"] == 20.5
            assert changed.json()["preferences"]["temperature_max_c"] == prefs["temperature_max_c"]
            bad = client.put("/preferences", json={"temperature_min_c": 5}, headers=bearer(token))
            assert bad.status_code == 422 and "temperature_min_c" in bad.text
            unknown = client.put("/preferences", json={"colour": "blue"}, headers=bearer(token))
            assert unknown.status_code == 422
    finally:
        data_in.stop()


def test_real_time_rounds_never_move_the_clock_and_clear_at_the_real_gate(tmp_path):
    """``bright up --real-time``: a round opens the next interval's session and trades it, but
    leaves the chain clock alone, so the session stays open for people to trade until its real
    gate closure; the first round after the gate clears it (here the clock is moved to the gate
    in place of waiting ten minutes of wall time) and opens the next interval's session."""
    import time

    from coalitions.service import advance_chain

    settings = ChainSettings(state_dir=tmp_path, chain_port=free_port())
    running = bring_up(settings, quiet=True)
    try:
        market = DemoMarket(running.platform, running.members, real_time=True)
        market.fund()
        w3 = running.platform.w3
        assert abs(market._now() - time.time()) < 60  # a fresh chain's clock is the wall clock
        # A minute into an interval (moved there so the gate is not seconds away).
        boundary = (market._now() // 900 + 1) * 900
        advance_chain(w3, boundary + 60)
        assert market.round() == ([], [])
        [info] = market.operator.sessions()
        assert info.status == SessionStatus.OPEN
        now = market._now()
        assert now - (boundary + 60) < 60  # the round did not move the clock
        assert info.delivery_start_s == boundary + 900  # the next interval's session
        assert now < info.closes_at_s == info.delivery_start_s - 300
        orders = market.operator.market.session(info.session_id).order_count
        assert orders > 0
        # More rounds before the gate change nothing: same session, still open, same clock.
        assert market.round() == ([], [])
        assert [s.session_id for s in market.operator.sessions()] == [info.session_id]
        assert market._now() - now < 60
        advance_chain(w3, info.closes_at_s + 1)
        cleared, _ = market.round()
        assert [c.session_id for c in cleared] == [info.session_id]
        sessions = market.operator.sessions()
        assert [s.delivery_start_s for s in sessions] == [
            info.delivery_start_s, info.delivery_start_s + 900
        ]
        assert market._now() < info.delivery_start_s  # cleared before delivery, clock untouched
    finally:
        running.stop()
