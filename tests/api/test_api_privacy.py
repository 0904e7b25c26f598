"""Privacy (EFT-12, TLC-11, DMSFDR-11): a member sees only its own orders, matches and
balances; another member's -> 403; public market data carries no trader; the delegated
aggregator, the DSO and the market operator see what their role needs, and no more."""

from __future__ import annotations

import pytest

from tests.api.api_helpers import bearer


def _status(client, path, token, **params) -> int:
    return client.get(path, headers=bearer(token), params=params).status_code


def test_a_member_asking_for_another_members_data_gets_403_naming_no_one(client, tokens, api_demo):
    other = api_demo.member("home-03").address
    nobody = "0x" + "5a" * 20  # not a member: the same answer
    t = tokens["home-01"]
    for who in (other, nobody):
        for path, params in [
            ("/orders", {"participant": who}),
            ("/matches", {"participant": who}),
            (f"/balances/{who}", {}),
        ]:
            r = client.get(path, headers=bearer(t), params=params)
            assert r.status_code == 403, (path, r.text)
            err = r.json()["error"]
            assert err["code"] == "forbidden" and "personal data" in err["message"]
            assert err["details"] is None
            assert who.lower() not in r.text.lower()
    own = api_demo.member("home-01").address
    assert _status(client, "/orders", t, participant=own) == 200
    assert _status(client, f"/balances/{own}", t) == 200


def test_one_order_is_visible_to_its_trader_and_the_operator_only(client, tokens, api_demo):
    mine = client.get("/orders", headers=bearer(tokens["home-03"])).json()["data"][0]
    sid, oid = mine["session_id"], mine["order_id"]
    path = f"/orders/{sid}/{oid}"
    assert client.get(path, headers=bearer(tokens["home-03"])).json() == mine
    assert client.get(path, headers=bearer(tokens["market-operator"])).json() == mine

    def missing(s: int, o: int) -> dict:
        return {
            "error": {
                "code": "not_found",
                "message": f"order {o} of session {s} not found",
                "details": None,
            }
        }

    # Another member's order answers exactly as a missing one: an order id (public in the
    # OrderMatched events) does not tell who placed it.
    absent = client.get(f"/orders/{sid}/99999", headers=bearer(tokens["home-01"]))
    assert (absent.status_code, absent.json()) == (404, missing(sid, 99999))
    for name in ("home-01", "dso", "aggregator"):  # home-03 did not delegate
        r = client.get(path, headers=bearer(tokens[name]))
        assert (r.status_code, r.json()) == (404, missing(sid, oid)), name
        assert set(r.headers) == set(absent.headers), name


def test_the_delegated_aggregator_sees_its_members_data_not_others(client, tokens, api_demo):
    t = tokens["aggregator"]
    delegated = api_demo.member("home-02").address
    other = api_demo.member("home-03").address
    orders = client.get("/orders", headers=bearer(t), params={"participant": delegated})
    assert orders.status_code == 200
    assert {o["trader"] for o in orders.json()["data"]} <= {delegated}
    assert _status(client, f"/balances/{delegated}", t) == 200
    assert _status(client, "/orders", t, participant=other) == 403
    assert _status(client, f"/balances/{other}", t) == 403
    detail = client.get(f"/participants/{delegated}", headers=bearer(t)).json()
    assert detail["meter_id"] == api_demo.member("home-02").meter_id
    assert detail["aggregator"] == api_demo.member("aggregator").address


def test_the_operator_sees_every_order_of_a_session_and_no_balances(client, tokens, api_demo):
    book = api_demo.running.platform.market().book(1)
    r = client.get(
        "/sessions/1/orders", headers=bearer(tokens["market-operator"]), params={"limit": 500}
    )
    assert r.status_code == 200
    assert r.json()["count"] == len(book.orders)
    assert {o["trader"] for o in r.json()["data"]} == {o.trader for o in book.orders}
    for name in ("home-01", "dso", "aggregator"):
        assert _status(client, "/sessions/1/orders", tokens[name]) == 403
    home = api_demo.member("home-01").address
    assert _status(client, "/orders", tokens["market-operator"], participant=home) == 200
    assert _status(client, f"/balances/{home}", tokens["market-operator"]) == 403
    assert _status(client, f"/balances/{home}", tokens["dso"]) == 403


def test_public_market_data_names_no_trader(client, tokens, api_demo):
    traders = [m.address for m in api_demo.members]
    t = tokens["home-01"]
    for path in ("/sessions", "/sessions/1", "/sessions/1/depth", "/matches/summary"):
        r = client.get(path, headers=bearer(t))
        assert r.status_code == 200
        text = r.text.lower()
        assert not [a for a in traders if a.lower() in text], path


def test_meter_ids_are_shown_to_the_participant_dso_and_operator_only(client, tokens, api_demo):
    home3 = api_demo.member("home-03")
    path = f"/participants/{home3.address}"
    for name in ("home-03", "dso", "market-operator"):
        assert client.get(path, headers=bearer(tokens[name])).json()["meter_id"] == (
            home3.meter_id
        ), name
    # The aggregator sees its delegator's meter; an organisation's record has no meter.
    home2 = api_demo.member("home-02")
    got = client.get(f"/participants/{home2.address}", headers=bearer(tokens["aggregator"]))
    assert got.json()["meter_id"] == home2.meter_id
    dso = client.get(
        f"/participants/{api_demo.member('dso').address}", headers=bearer(tokens["home-01"])
    )
    assert dso.status_code == 200 and dso.json()["meter_id"] is None


def test_a_prosumer_sees_no_other_prosumer_in_the_participants(client, tokens, api_demo):
    """Another prosumer is not listed, and asking for it answers as an unregistered address;
    the organisations are listed (public by design, see api.access)."""
    home1, home3 = api_demo.member("home-01"), api_demo.member("home-03")
    t = tokens["home-01"]
    unknown = client.get(f"/participants/{'0x' + '5a' * 20}", headers=bearer(t))
    hidden = client.get(f"/participants/{home3.address}", headers=bearer(t))
    assert (
        (hidden.status_code, hidden.json())
        == (404, unknown.json())
        == (
            404,
            {"error": {"code": "not_found", "message": "participant not found", "details": None}},
        )
    )
    listing = client.get("/participants", headers=bearer(t), params={"limit": 500}).json()
    shown = {p["account"]: p for p in listing["data"]}
    organisations = {m.address for m in api_demo.members if not m.name.startswith("home-")}
    assert set(shown) == organisations | {home1.address} and listing["count"] == len(shown)
    assert shown[home1.address]["meter_id"] == home1.meter_id
    # home-02 delegated to the aggregator: it sees its aggregator, and the aggregator sees it.
    agg = api_demo.member("aggregator").address
    mine = client.get(
        f"/participants/{api_demo.member('home-02').address}", headers=bearer(tokens["home-02"])
    ).json()
    assert mine["aggregator"] == agg
    for name in ("dso", "market-operator"):
        everyone = client.get(
            "/participants", headers=bearer(tokens[name]), params={"limit": 500}
        ).json()
        assert everyone["count"] == len(api_demo.members), name


def test_an_address_without_a_role_sees_only_its_own_data(client, tokens):
    t = tokens["admin"]
    me = client.get("/auth/me", headers=bearer(t)).json()
    assert me["roles"] == []
    for path in ("/sessions", "/sessions/1/depth", "/participants", "/matches/summary", "/events"):
        r = client.get(path, headers=bearer(t))
        assert r.status_code == 403 and "not a registered participant" in r.text, path
    assert _status(client, "/balances", t) == 200
    assert _status(client, f"/participants/{me['address']}", t) == 404


@pytest.mark.parametrize(
    "path",
    [
        "/orders",
        "/orders/1/0",
        "/matches",
        "/balances",
        "/sessions",
        "/sessions/1/orders",
        "/sessions/1/depth",
        "/participants",
        "/events",
        "/events/stream",
        "/matches/summary",
    ],
)
def test_nothing_personal_or_market_leaves_without_a_token(client, path):
    r = client.get(path)
    assert r.status_code == 401
    assert set(r.json()) == {"error"}


def test_event_arguments_of_other_members_are_redacted(client, tokens, api_demo):
    home1 = api_demo.member("home-01").address

    def placed(name):
        r = client.get(
            "/events", headers=bearer(tokens[name]), params={"event": "OrderPlaced", "limit": 500}
        )
        assert r.status_code == 200
        return r.json()["data"]

    mine = placed("home-01")
    shown = [e for e in mine if not e["redacted"]]
    hidden = [e for e in mine if e["redacted"]]
    assert shown and hidden
    assert {e["args"]["trader"] for e in shown} == {home1}
    assert all(e["args"] is None for e in hidden)
    assert home1.lower() not in str(hidden).lower()
    assert all(not e["redacted"] for e in placed("market-operator"))
    cleared = client.get(
        "/events", headers=bearer(tokens["home-01"]), params={"event": "SessionCleared"}
    ).json()["data"]
    assert cleared and all(e["args"]["pricePerKwh"] is not None for e in cleared)
