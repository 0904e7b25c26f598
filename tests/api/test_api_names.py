"""Display names in the API: beside every address a caller may see (``<field>_name``), never
beside one it may not (test_api_leaks walks every route for that), assets with the meter's
visibility, and ``/profile``: each member reads and changes only its own."""

from __future__ import annotations

import pytest

from tests.api.api_helpers import bearer, index_into


def _get(client, token, path, **params):
    r = client.get(path, headers=bearer(token), params=params)
    assert r.status_code == 200, r.text
    return r.json()


def test_participants_carry_names_and_assets_with_the_meters_visibility(
    any_client, tokens, api_demo
):
    home1, home3 = api_demo.member("home-01"), api_demo.member("home-03")
    rows = {p["account"]: p for p in _get(any_client, tokens["home-01"], "/participants")["data"]}
    own = rows[home1.address]
    assert own["display_name"] == home1.display_name == "Anna Becker"
    assert [(a["kind"], a["power_kw"]) for a in own["assets"]] == [("pv", 4.0), ("battery", 5.0)]
    assert own["assets"][1]["capacity_kwh"] == 6.4
    dso = rows[api_demo.member("dso").address]
    assert dso["display_name"] == "City Grid DSO"
    assert dso["assets"] is None and dso["meter_id"] is None  # no details of the DSO's entry
    assert home3.address not in rows  # another prosumer: neither address nor name
    # The DSO sees every member with its name, meter and assets.
    seen = {p["account"]: p for p in _get(any_client, tokens["dso"], "/participants")["data"]}
    assert seen[home3.address]["display_name"] == "Sofia Martins"
    assert seen[home3.address]["assets"][0]["kind"] == "pv"
    one = _get(any_client, tokens["dso"], f"/participants/{home3.address}")
    assert one["display_name"] == "Sofia Martins" and one["meter_id"] == home3.meter_id


def test_rows_name_the_participants_they_show(any_client, tokens, api_demo):
    home1 = api_demo.member("home-01")
    orders = _get(any_client, tokens["home-01"], "/orders")["data"]
    assert orders and {o["trader_name"] for o in orders} == {"Anna Becker"}
    every = _get(any_client, tokens["market-operator"], "/orders", participant=home1.address)
    assert {o["trader_name"] for o in every["data"]} == {"Anna Becker"}
    balances = _get(any_client, tokens["home-01"], "/balances")["data"]
    assert {b["account_name"] for b in balances} == {"Anna Becker"}
    me = _get(any_client, tokens["home-01"], "/auth/me")
    assert me["address_name"] == "Anna Becker"
    session = orders[0]["session_id"]
    book = _get(any_client, tokens["market-operator"], f"/sessions/{session}/orders")["data"]
    assert {o["trader_name"] for o in book if o["trader"] == home1.address} == {"Anna Becker"}
    assert all(o["trader_name"] for o in book)  # the operator sees every trader, named
    events = _get(any_client, tokens["dso"], "/events", contract="ParticipantRegistry")["data"]
    registered = [e for e in events if e["event"] == "ParticipantRegistered"]
    assert registered and all(e["arg_names"] for e in registered)
    assert "Anna Becker" in {n for e in registered for n in e["arg_names"].values()}
    # A member sees another member's registration redacted: no names either.
    mine = _get(any_client, tokens["home-01"], "/events", contract="ParticipantRegistry")["data"]
    assert all(e["arg_names"] is None for e in mine if e["args"] is None)
    assert "Sofia Martins" not in str(mine)


def test_requests_name_their_dso_and_coordinator(client, tokens, scenario, api_demo, sqlite_url):
    del scenario  # on the chain: index it (as test_api_coordination does)
    index_into(api_demo, sqlite_url)
    data = _get(client, tokens["home-01"], "/requests")["data"]
    assert data and {r["dso_name"] for r in data} == {"City Grid DSO"}
    with_coordinator = [r for r in data if r["coordinator"]]
    assert {r["coordinator_name"] for r in with_coordinator} == {"Feeder Flex Aggregator"}


def test_a_member_edits_only_its_own_profile(client, tokens, api_demo):
    home3 = api_demo.member("home-03")
    token = tokens["home-03"]
    assert _get(client, token, "/profile")["display_name"] == "Sofia Martins"
    new = {
        "display_name": "Sofia M.",
        "assets": [
            {"kind": "heat-pump", "power_kw": 3.5, "label": "cellar"},
            {"kind": "battery", "power_kw": 5, "capacity_kwh": 10},
        ],
    }
    r = client.put("/profile", headers=bearer(token), json=new)
    assert r.status_code == 200, r.text
    try:
        assert r.json()["display_name"] == "Sofia M."
        seen = _get(client, tokens["dso"], f"/participants/{home3.address}")
        assert seen["display_name"] == "Sofia M."
        assert [a["kind"] for a in seen["assets"]] == ["heat-pump", "battery"]
        # Only the name changes; the assets stay.
        r = client.put("/profile", headers=bearer(token), json={"display_name": "Sofia Martins"})
        assert r.status_code == 200 and len(r.json()["assets"]) == 2
        # The profile is the token's: no address to name, another member's is not reachable.
        r = client.put(
            "/profile",
            headers=bearer(token),
            json={"display_name": "x", "account": api_demo.member("home-01").address},
        )
        assert r.status_code == 422
        assert _get(client, tokens["home-01"], "/profile")["display_name"] == "Anna Becker"
    finally:
        client.put("/profile", headers=bearer(token), json={
            "display_name": "Sofia Martins", "assets": [dict(a) for a in home3.assets]
        })  # fmt: skip


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"assets": [{"kind": "battery", "power_kw": 5}]}, "capacity_kwh"),
        ({"assets": [{"kind": "boiler", "power_kw": 5}]}, "kind"),
        ({"assets": [{"kind": "pv", "power_kw": -1}]}, "power_kw"),
        ({"display_name": ""}, "display_name"),
        ({"display_name": " Anna"}, "display_name"),
        ({"display_name": "Anna\u0085"}, "display_name"),
        ({"assets": [{"kind": "pv", "power_kw": 4, "capacity_kwh": 1}]}, "capacity_kwh"),
        ({"display_name": "y" * 65}, "display_name"),
    ],
)
def test_a_bad_profile_is_refused_with_the_field(client, tokens, body, says):
    r = client.put("/profile", headers=bearer(tokens["home-01"]), json=body)
    assert r.status_code == 422, r.text
    assert says in r.text
    assert _get(client, tokens["home-01"], "/profile")["display_name"] == "Anna Becker"


def test_login_names_the_caller(client, api_demo):
    from tests.api.api_helpers import login_message, sign

    account = api_demo.account("home-01")
    text = login_message(client, account)
    r = client.post("/auth/login", json={"message": text, "signature": sign(account, text)})
    assert r.status_code == 200 and r.json()["address_name"] == "Anna Becker"


def test_a_profile_is_for_members(client, tokens):
    assert client.get("/profile", headers=bearer(tokens["admin"])).status_code == 403
    r = client.put("/profile", headers=bearer(tokens["admin"]), json={"display_name": "Eve"})
    assert r.status_code == 403
    assert client.get("/profile").status_code == 401


def _address_fields(model) -> list[str]:
    """The fields of ``model`` whose schema is an address (alone or or-null)."""
    from api.schemas import ADDRESS_PATTERN

    out = []
    for field, prop in model.model_json_schema(mode="serialization")["properties"].items():
        branches = prop.get("anyOf", [prop])
        if any(b.get("pattern") == ADDRESS_PATTERN for b in branches):
            out.append(field)
    return out


def test_every_address_field_of_a_response_has_its_name_beside_it():
    """A new response field holding a participant's address gets a ``<field>_name`` (filled
    by api.names.named): the schema says so for every one."""
    import inspect

    from pydantic import BaseModel

    from api import schemas

    not_participants = {("BalancePublic", "token")}  # a token contract, not a participant
    own_name = {("ParticipantPublic", "account"), ("ProfilePublic", "account")}  # display_name
    # a home's twin, model and control: read only by the member or its delegated aggregator,
    # by the address it asked for (home_id names the home)
    by_address = {("TwinPublic", "account"), ("TwinSeriesPublic", "account"),
                  ("ThermalModelPublic", "account"), ("ControlComparisonPublic", "account"),
                  ("ControlStatusPublic", "account")}
    missing, seen = [], []
    for name, model in inspect.getmembers(schemas, inspect.isclass):
        if not issubclass(model, BaseModel) or model.__module__ != schemas.__name__:
            continue
        if name.endswith("In") or name == "LoginRequest":
            continue  # request bodies
        for field in _address_fields(model):
            if (name, field) in not_participants:
                continue
            seen.append(f"{name}.{field}")
            if (name, field) in by_address:
                continue
            sibling = "display_name" if (name, field) in own_name else f"{field}_name"
            if sibling not in model.model_fields:
                missing.append(f"{name}.{field}")
    assert not missing, missing
    assert "CoalitionRowPublic.replaced_by" in seen and len(seen) >= 15  # optional ones too
