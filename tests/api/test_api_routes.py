"""The read routes on read models projected by the real indexer from the demo community's
trading on anvil, once on SQLite and once on PostgreSQL: every answer is checked against what
the chain itself says (contract calls and logs), and pagination, filters and malformed queries
behave."""

from __future__ import annotations

from collections import defaultdict

import pytest

from tests.api.api_helpers import ROUNDS, bearer


def _get(client, path, token, **params):
    r = client.get(path, headers=bearer(token), params=params)
    assert r.status_code == 200, r.text
    return r.json()


def test_sessions_and_clearing_results_match_the_chain(any_client, tokens, api_demo):
    market = api_demo.running.platform.market()
    page = _get(any_client, "/sessions", tokens["home-01"])
    assert page["count"] == market.session_count() == ROUNDS
    assert [s["session_id"] for s in page["data"]] == list(range(ROUNDS, 0, -1))
    for s in page["data"]:
        info = market.session(s["session_id"])
        assert s["status"] == info.status.name.lower() in ("cleared", "settled")
        assert s["price_per_kwh"] == info.clearing_price_per_kwh
        assert s["order_count"] == info.order_count > 0
        assert s["delivery_start_s"] == info.delivery_start_s
        assert s["escrowed"] == str(info.escrowed)
        one = _get(any_client, f"/sessions/{s['session_id']}", tokens["dso"])
        assert one == s


def test_settled_sessions_show_their_terms_and_totals(any_client, tokens, api_demo):
    contract = api_demo.running.platform.market().contract
    logs = contract.events.SessionSettled.get_logs(from_block=0)
    assert logs, "the demo rounds settle their first sessions"
    for e in logs:
        s = _get(any_client, f"/sessions/{e.args.sessionId}", tokens["home-03"])
        assert s["status"] == "settled" and s["settled_block"] == e.blockNumber
        assert [s["earned"], s["penalties"], s["refunds"], s["dust"]] == [
            str(e.args.earned),
            str(e.args.penalties),
            str(e.args.refunds),
            str(e.args.dust),
        ]
        assert s["penalty_per_kwh"] > 0 and int(s["order_bond"]) > 0


def test_trade_settlements_are_the_members_own_from_the_settlement_events(
    any_client, tokens, api_demo
):
    contract = api_demo.running.platform.market().contract
    sold = contract.events.SellerSettled.get_logs(from_block=0)
    refunded = contract.events.BuyerRefunded.get_logs(from_block=0)
    from tests.api.api_helpers import login

    seen_sides = set()
    # Every trading member: who sells and who buys depends on the hour of the replayed data,
    # so a fixed few may hold one side only (the test failed at some hours of the day).
    for member in api_demo.members:
        name = member.name
        if name not in tokens and not name.startswith("home-"):
            continue
        if name not in tokens:
            tokens = {**tokens, name: login(any_client, member.account)}
        address = member.address
        want = {
            (e.args.sessionId, "seller"): (e.args.filledWh, str(e.args.earned), str(e.args.penalty))
            for e in sold
            if e.args.seller == address
        }
        bought: dict[int, list[int]] = defaultdict(lambda: [0, 0])
        for e in refunded:
            if e.args.buyer == address:
                bought[e.args.sessionId][0] += e.args.paid
                bought[e.args.sessionId][1] += e.args.refund
        got = _get(any_client, "/trade-settlements", tokens[name], limit=500)
        assert got["count"] == len(want) + len(bought)
        for row in got["data"]:
            assert row["trader"] == address
            seen_sides.add(row["side"])
            key = (row["session_id"], row["side"])
            if row["side"] == "seller":
                assert (row["filled_wh"], row["earned"], row["penalty"]) == want[key]
                assert row["paid"] is None
            else:
                assert [int(row["paid"]), int(row["refund"])] == bought[row["session_id"]]
                assert row["earned"] is None
        keys = [(r["session_id"], r["side"]) for r in got["data"]]
        assert keys == sorted(keys, key=lambda k: (-k[0], k[1] != "seller"))
        one = _get(any_client, "/trade-settlements", tokens[name], limit=1, offset=1)
        assert [(r["session_id"], r["side"]) for r in one["data"]] == keys[1:2]
    assert seen_sides == {"seller", "buyer"}
    other = api_demo.member("home-03").address
    r = any_client.get(
        "/trade-settlements", headers=bearer(tokens["home-01"]), params={"participant": other}
    )
    assert r.status_code == 403 and other not in r.text
    everyone = _get(any_client, "/trade-settlements", tokens["market-operator"], participant=other)
    assert everyone["count"] == len([e for e in sold if e.args.seller == other]) + len(
        {e.args.sessionId for e in refunded if e.args.buyer == other}
    )


def test_depth_is_the_books_price_levels_without_traders(any_client, tokens, api_demo):
    market = api_demo.running.platform.market()
    for sid in range(1, ROUNDS + 1):
        book = market.book(sid)
        want: dict[int, dict[int, int]] = {0: defaultdict(int), 1: defaultdict(int)}
        for o in book.active_orders:
            want[int(o.side)][o.price_per_kwh] += o.qty_wh
        depth = _get(any_client, f"/sessions/{sid}/depth", tokens["home-03"])
        assert {lv["price_per_kwh"]: lv["qty_wh"] for lv in depth["bids"]} == want[0]
        assert {lv["price_per_kwh"]: lv["qty_wh"] for lv in depth["offers"]} == want[1]
        bid_prices = [lv["price_per_kwh"] for lv in depth["bids"]]
        offer_prices = [lv["price_per_kwh"] for lv in depth["offers"]]
        assert bid_prices == sorted(bid_prices, reverse=True)
        assert offer_prices == sorted(offer_prices)
        assert "0x" not in str(depth)  # no addresses anywhere


def test_own_orders_are_exactly_the_members_orders_on_chain(any_client, tokens, api_demo):
    market = api_demo.running.platform.market()
    for name in ("home-01", "home-03", "aggregator"):
        address = api_demo.member(name).address
        want = sorted(
            (sid, o.order_id, int(o.side), o.qty_wh, o.price_per_kwh)
            for sid in range(1, ROUNDS + 1)
            for o in market.book(sid).orders
            if o.trader == address
        )
        got = _get(any_client, "/orders", tokens[name], limit=500)
        assert got["count"] == len(want) > 0
        assert (
            sorted(
                (
                    o["session_id"],
                    o["order_id"],
                    {"bid": 0, "offer": 1}[o["side"]],
                    o["qty_wh"],
                    o["price_per_kwh"],
                )
                for o in got["data"]
            )
            == want
        )
        assert {o["trader"] for o in got["data"]} == {address}


def test_own_matches_and_public_aggregates_match_the_logs(any_client, tokens, api_demo):
    platform = api_demo.running.platform
    market = platform.market()
    logs = market.contract.events.OrderMatched.get_logs(from_block=0)
    owners = {
        (sid, o.order_id): o.trader for sid in range(1, ROUNDS + 1) for o in market.book(sid).orders
    }
    agg = api_demo.member("aggregator").address
    mine = sorted(
        (e.args.sessionId, e.args.bidId, e.args.offerId, e.args.qtyWh)
        for e in logs
        if agg
        in (owners[(e.args.sessionId, e.args.bidId)], owners[(e.args.sessionId, e.args.offerId)])
    )
    got = _get(any_client, "/matches", tokens["aggregator"], limit=500)
    assert got["count"] == len(mine) > 0
    assert (
        sorted((m["session_id"], m["bid_id"], m["offer_id"], m["qty_wh"]) for m in got["data"])
        == mine
    )
    assert {m["my_side"] for m in got["data"]} == {"bid"}  # the aggregator only bids
    summary = _get(any_client, "/matches/summary", tokens["home-01"])
    assert summary["count"] == ROUNDS
    for s in summary["data"]:
        in_session = [e.args for e in logs if e.args.sessionId == s["session_id"]]
        assert s["match_count"] == len(in_session)
        assert s["volume_wh"] == sum(a.qtyWh for a in in_session)
        assert s["min_price_per_kwh"] == min(a.pricePerKwh for a in in_session)


def test_own_balances_match_the_token_contract(any_client, tokens, api_demo):
    token = api_demo.running.platform.token()
    for name in ("home-01", "dso"):
        address = api_demo.member(name).address
        got = _get(any_client, "/balances", tokens[name])
        assert got["count"] == 1
        [b] = got["data"]
        assert (b["account"], b["token"]) == (address, token.address)
        assert int(b["balance"]) == token.balance_of(address) > 0


def test_pagination_is_consistent_and_count_ignores_limit(any_client, tokens):
    full = _get(any_client, "/orders", tokens["aggregator"], limit=500)
    assert full["count"] >= 2
    pages = []
    for offset in range(0, full["count"], 2):
        page = _get(any_client, "/orders", tokens["aggregator"], limit=2, offset=offset)
        assert page["count"] == full["count"] and len(page["data"]) <= 2
        pages += page["data"]
    assert pages == full["data"]
    beyond = _get(any_client, "/orders", tokens["aggregator"], offset=full["count"])
    assert beyond == {"data": [], "count": full["count"]}
    sessions = _get(any_client, "/sessions", tokens["home-01"], limit=1, order="asc")
    assert [s["session_id"] for s in sessions["data"]] == [1]


def test_filters_by_session_area_time_and_role(any_client, tokens, api_demo):
    market = api_demo.running.platform.market()
    t = tokens["market-operator"]
    by_session = _get(
        any_client, "/orders", t, session_id=2, participant=api_demo.member("aggregator").address
    )
    assert {o["session_id"] for o in by_session["data"]} == {2}
    info2 = market.session(2)
    window = _get(
        any_client, "/sessions", t, since=info2.delivery_start_s, until=info2.delivery_start_s + 1
    )
    assert [s["session_id"] for s in window["data"]] == [2]
    iso = _get(
        any_client, "/sessions", t, since="1970-01-01T00:00:00Z", until=info2.delivery_start_s
    )
    assert [s["session_id"] for s in iso["data"]] == [1]
    area2 = _get(any_client, "/participants", t, area="feeder-2", limit=500)
    want = {m.address for m in api_demo.members if m.grid_area == "feeder-2"}
    assert {p["account"] for p in area2["data"]} == want and area2["count"] == len(want)
    prosumers = _get(any_client, "/participants", t, role="prosumer", limit=500)
    assert prosumers["count"] == 17
    home = api_demo.member("home-17")  # on feeder-2
    feeder = _get(any_client, "/orders", t, participant=home.address, area=home.grid_area)
    elsewhere = _get(any_client, "/orders", t, participant=home.address, area="feeder-1")
    assert feeder["count"] > 0 and elsewhere["count"] == 0
    timed = _get(
        any_client,
        "/matches",
        tokens["aggregator"],
        since=info2.delivery_start_s,
        until=info2.delivery_start_s + 1,
    )
    assert {m["session_id"] for m in timed["data"]} == {2}


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/sessions", {"limit": 0}, "limit"),
        ("/sessions", {"limit": 100000}, "limit"),
        ("/sessions", {"offset": -1}, "offset"),
        ("/sessions", {"status": "pending"}, "status"),
        ("/sessions", {"since": "yesterday"}, "since"),
        ("/orders", {"participant": "0x1234"}, "participant"),
        ("/orders", {"session_id": "one"}, "session_id"),
        ("/sessions/-1", {}, "session_id"),
        ("/events", {"after": "12"}, "after"),
        ("/events", {"after": "١٢:٣"}, "after"),  # digits, but not ASCII ones
        ("/sessions", {"area": "feeder\x00-1"}, "area"),  # PostgreSQL stores no NUL
        ("/events", {"contract": "Flex\nMarket"}, "contract"),
    ],
)
def test_malformed_queries_are_422_naming_the_field(any_client, tokens, path, params, field):
    r = any_client.get(path, headers=bearer(tokens["home-01"]), params=params)
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert err["code"] == "invalid_query"
    assert field in err["message"]
    assert any(d["loc"][-1] == field for d in err["details"])


def test_a_time_range_that_ends_before_it_starts_holds_nothing(any_client, tokens, api_demo):
    # Schema-valid (the schema cannot relate two parameters), so not refused: an empty page.
    start = api_demo.running.platform.market().session(2).delivery_start_s
    t = tokens["home-01"]
    for path in ("/sessions", "/orders", "/matches", "/matches/summary", "/requests"):
        got = _get(any_client, path, t, since=start + 1, until=start)
        assert got == {"data": [], "count": 0}, path
    assert _get(any_client, "/events", t, from_block=20, to_block=10) == {"data": [], "count": 0}
    assert _get(any_client, "/sessions", t, since=start, until=start + 1)["count"] == 1


@pytest.mark.parametrize(
    ("value", "unix_s"),
    [
        ("1700000000", 1_700_000_000),
        ("1700000000.0", 1_700_000_000),  # JSON Schema's integer 1700000000, written so
        ("2023-11-14T22:13:20Z", 1_700_000_000),
        ("2023-11-14t22:13:20z", 1_700_000_000),
        ("2023-11-15T00:13:20+02:00", 1_700_000_000),
        ("2023-11-14T22:13:19.25Z", 1_700_000_000),  # a fraction counts from the next second
        ("2016-12-31T23:59:60Z", 1_483_228_800),  # a leap second: the next minute's first
        ("1969-12-31T23:59:59Z", -1),
        ("0000-01-01T00:00:00Z", -62_167_219_200),
    ],
)
def test_times_are_rfc3339_date_times_or_unix_seconds(value, unix_s):
    from api.deps import parse_instant

    assert parse_instant(value) == unix_s


@pytest.mark.parametrize(
    "value",
    [
        "0.5",
        "-5",
        "1e3",
        "2023-11-14",
        "2023-11-14T22:13:20",
        "2023-11-14 22:13:20Z",
        "2023-02-29T00:00:00Z",
        "2023-11-14T24:00:00Z",
        "2023-11-14T22:13:20+24:00",
        "yesterday",
        "１７００",
        "253402300800",
    ],
)
def test_what_the_schema_calls_no_time_is_refused(client, tokens, value):
    """The server refuses exactly what the schema's date-time-or-integer refuses."""
    r = client.get("/sessions", headers=bearer(tokens["home-01"]), params={"until": value})
    assert r.status_code == 422, (value, r.text)
    assert "until" in r.json()["error"]["message"]


def test_unknown_or_repeated_query_parameters_are_refused(client, tokens):
    t = bearer(tokens["home-01"])
    r = client.get("/sessions", headers=t, params={"limt": 5})
    assert r.status_code == 422
    err = r.json()["error"]
    assert "unknown query parameter 'limt'" in err["message"] and "limit" in err["message"]
    assert err["details"]["unknown"] == ["limt"] and "offset" in err["details"]["allowed"]
    r = client.get("/sessions?area=feeder-1&area=feeder-2", headers=t)
    assert r.status_code == 422 and "'area' given more than once" in r.text
    assert client.get("/health", params={"x": 1}).status_code == 422
    assert client.get("/sessions", headers=t, params={"limit": 5}).status_code == 200


def test_the_schema_types_addresses_times_and_pages(client):
    schema = client.get("/openapi.json").json()
    params = {
        (path, p["name"]): p["schema"]
        for path, ops in schema["paths"].items()
        for op in ops.values()
        for p in op.get("parameters", [])
    }
    address = {"type": "string", "pattern": "^0x[0-9a-fA-F]{40}$"}
    for key in [
        ("/orders", "participant"),
        ("/requests", "dso"),
        ("/balances", "token"),
        ("/balances/{address}", "address"),
        ("/participants/{address}", "address"),
        ("/accounts/{address}/coordination", "address"),
    ]:
        assert address.items() <= params[key].items(), key
    since = params[("/sessions", "since")]["anyOf"]
    assert since[0] == {"type": "string", "format": "date-time"}
    assert since[1]["type"] == "integer" and since[1]["minimum"] == 0 and len(since) == 2
    assert params[("/orders", "session_id")]["type"] == "integer"  # no null: it is left out
    assert not [k for k in params if k[1] == "page"]  # one way to page: limit and offset
    order = schema["components"]["schemas"]["OrderPublic"]["properties"]
    assert order["trader"]["pattern"] == address["pattern"]
    assert order["tx_hash"]["pattern"] == "^0x[0-9a-fA-F]{64}$"


def test_unknown_things_are_404_in_the_error_shape(any_client, tokens):
    for path in ("/sessions/999", "/orders/1/99999", "/no/such/route"):
        r = any_client.get(path, headers=bearer(tokens["home-01"]))
        assert r.status_code == 404
        assert r.json()["error"]["code"] == "not_found"


def test_my_side_says_which_order_of_a_match_is_mine(any_client, tokens, api_demo):
    """Every trading member's matches say which side is its own. All of them are checked:
    which members buy and which sell depends on the hour of the replayed data, so three fixed
    members may hold one side only (the test failed at some hours of the day)."""
    from tests.api.api_helpers import login

    sides = set()
    for member in api_demo.members:
        if member.name not in tokens and not member.name.startswith("home-"):
            continue
        token = tokens.get(member.name) or login(any_client, member.account)
        own = _get(any_client, "/orders", token, limit=500)["data"]
        keys = {(o["session_id"], o["order_id"]) for o in own}
        matches = _get(any_client, "/matches", token, limit=500)
        for m in matches["data"]:
            bid = (m["session_id"], m["bid_id"]) in keys
            offer = (m["session_id"], m["offer_id"]) in keys
            assert bid or offer
            assert m["my_side"] == ("both" if bid and offer else "bid" if bid else "offer")
            sides.add(m["my_side"])
        filled = sum(o["filled_wh"] for o in own)
        assert sum(m["qty_wh"] for m in matches["data"]) == filled
    assert {"bid", "offer"} <= sides
