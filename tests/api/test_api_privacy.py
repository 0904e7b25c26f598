"""Privacy (EFT-12, TLC-11, DMSFDR-11): a member sees only its own orders, matches and
balances; another member's -> 403; public market data carries no trader; the delegated
aggregator, the DSO and the market operator see what their role needs, and no more."""

from __future__ import annotations

import pytest

from tests.api.api_helpers import bearer


def _status(client, path, token, **params) -> int:
    return client.get(path, headers=bearer(token), params=params).status_code


def test_a_member_asking_for_another_members_data_gets_403(client, tokens, api_demo):
    other = api_demo.member("home-03").address
    t = tokens["home-01"]
    for path, params in [
        ("/orders", {"participant": other}),
        ("/matches", {"participant": other}),
        (f"/balances/{other}", {}),
    ]:
        r = client.get(path, headers=bearer(t), params=params)
        assert r.status_code == 403, (path, r.text)
        err = r.json()["error"]
        assert err["code"] == "forbidden" and other in err["message"]
        assert err["details"] == {"owner": other, "you": api_demo.member("home-01").address}
    own = api_demo.member("home-01").address
    assert _status(client, "/orders", t, participant=own) == 200
    assert _status(client, f"/balances/{own}", t) == 200


def test_one_order_is_visible_to_its_trader_and_the_operator_only(client, tokens, api_demo):
    mine = client.get("/orders", headers=bearer(tokens["home-03"])).json()["data"][0]
    path = f"/orders/{mine['session_id']}/{mine['order_id']}"
    assert client.get(path, headers=bearer(tokens["home-03"])).json() == mine
    assert client.get(path, headers=bearer(tokens["market-operator"])).json() == mine
    for name in ("home-01", "dso", "aggregator"):  # home-03 did not delegate
        assert _status(client, path, tokens[name]) == 403, name


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
    assert {o["trader"] for o in r.json()["data"]} == {o.owner for o in book.orders}
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
    assert client.get(path, headers=bearer(tokens["home-01"])).json()["meter_id"] is None
    for name in ("home-03", "dso", "market-operator"):
        assert client.get(path, headers=bearer(tokens[name])).json()["meter_id"] == (
            home3.meter_id
        ), name
    listing = client.get(
        "/participants", headers=bearer(tokens["home-01"]), params={"limit": 500}
    ).json()["data"]
    shown = {p["account"]: p["meter_id"] for p in listing}
    assert shown[api_demo.member("home-01").address] == api_demo.member("home-01").meter_id
    assert shown[home3.address] is None


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
