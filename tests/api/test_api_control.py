"""Control over the thermal twins through the API (issue 18, "Users see it"): a member reads its
own home's policy comparison and control status, the aggregator it delegated to reads them too,
anyone else gets a 403 that names no one, a home without one a 404; the community's comparison
sums every stored home's (ratios from the sums), names no home, and shows only the number of
homes below three.

The comparisons and statuses are put into the demo's read-model database as a control run
would (the store); on the demo chain home-02 delegated to the aggregator, home-01 and home-03
did not."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from analytics.control.store import (
    KPIS,
    delete_comparison,
    delete_status,
    put_comparison,
    put_status,
)
from api.routes.control import MIN_HOMES, community
from streams.db import open_database
from tests.analytics.control.test_store import T0, report, series, status
from tests.api.api_helpers import bearer

HOMES = {"home-01": 1.0, "home-02": 2.0, "home-04": 0.5, "home-05": 1.5}
"""The homes with a comparison, and how big each is (its totals scale with it)."""
PERSONAL = ("compare", "status")


@pytest.fixture(scope="module")
def stored(api_demo, sqlite_url) -> Iterator[dict[str, str]]:
    """A comparison of every home of :data:`HOMES` (home-05's with reinforcement learning too,
    the others without) and a control status of home-01 and home-02; removed afterwards."""
    engine = open_database(sqlite_url)
    homes = {name: api_demo.member(name).address for name in HOMES}
    for name, address in homes.items():
        names = ("bau", "rule", "mpc", "rl") if name == "home-05" else ("bau", "rule", "mpc")
        put_comparison(
            engine, api_demo.chain_id, address, report(names, base=HOMES[name]), series(names)
        )
    for name in ("home-01", "home-02"):
        put_status(engine, api_demo.chain_id, homes[name], status(flexibility=name == "home-01"))
    try:
        yield homes
    finally:
        for address in homes.values():
            delete_comparison(engine, api_demo.chain_id, address)
            delete_status(engine, api_demo.chain_id, address)
        engine.dispose()


def _get(client, path: str, token: str | None) -> Any:
    return client.get(path, headers=bearer(token) if token else {})


def _names_no_one(r: Any, api_demo: Any, me: str) -> None:
    text = r.text.lower()
    for m in api_demo.members:
        if m.address != me:
            assert m.address.lower() not in text, (r.text, m.name)
            if m.display_name:
                assert json.dumps(m.display_name).lower() not in text, (r.text, m.name)


def test_a_member_reads_its_own_comparison_and_status(client, tokens, stored):
    me = stored["home-01"]
    r = _get(client, "/control/compare", tokens["home-01"])
    assert r.status_code == 200, r.text
    body = r.json()
    rep, ser = report(), series()
    assert body["account"] == me and body["stored_s"] > T0
    assert body["period"] == {**rep["period"], "end_s": T0 + 96 * 900}
    assert body["cost_function"] == rep["cost_function"]
    assert list(body["policies"]) == ["bau", "rule", "mpc"]
    assert body["policies"] == rep["policies"]
    assert body["series"] == ser
    # the same through the member's address, in any case
    assert _get(client, f"/control/{me}/compare", tokens["home-01"]).json() == body
    assert _get(client, f"/control/{me.lower()}/compare", tokens["home-01"]).json() == body

    r = _get(client, "/control/status", tokens["home-01"])
    assert r.status_code == 200, r.text
    assert r.json() == {"account": me, **status()}
    assert r.json()["steps"][1]["reason"].startswith("price high in the next 3 h")
    assert _get(client, f"/control/{me}/status", tokens["home-01"]).json() == r.json()


def test_the_delegated_aggregator_reads_its_members_comparison_and_status(client, tokens, stored):
    home2 = stored["home-02"]
    t = tokens["aggregator"]
    r = _get(client, f"/control/{home2}/compare", t)
    assert r.status_code == 200, r.text
    assert r.json()["account"] == home2
    assert r.json()["policies"]["bau"]["totals"] == report(base=2.0)["policies"]["bau"]["totals"]
    r = _get(client, f"/control/{home2}/status", t)
    assert r.status_code == 200 and r.json()["flexibility"] is None
    # the aggregator has no home of its own
    for path in ("/control/compare", "/control/status"):
        r = _get(client, path, t)
        assert r.status_code == 404 and "for your home yet" in r.json()["error"]["message"]


@pytest.mark.parametrize("caller", ["home-03", "home-02", "aggregator", "dso", "market-operator"])
def test_anyone_else_gets_403_naming_no_one(client, tokens, api_demo, stored, caller):
    """home-01 delegated to no one: its comparison and status are its own only."""
    home1 = stored["home-01"]
    me = api_demo.account(caller).address
    for who in (home1, "0x" + "5a" * 20):  # not a member: the same answer
        for what in PERSONAL:
            r = _get(client, f"/control/{who}/{what}", tokens[caller])
            assert r.status_code == 403, (caller, what, r.text)
            err = r.json()["error"]
            assert err["code"] == "forbidden" and "personal data" in err["message"]
            assert err["details"] is None and "indoor_c" not in r.text
            _names_no_one(r, api_demo, me)


def test_a_home_without_data_and_a_caller_without_a_token(client, tokens, api_demo, stored):
    home1 = stored["home-01"]
    home3 = api_demo.member("home-03").address
    for path in (
        "/control/compare",
        "/control/status",
        f"/control/{home3}/compare",
        f"/control/{home3}/status",
    ):
        r = _get(client, path, tokens["home-03"])
        assert r.status_code == 404, (path, r.text)
        err = r.json()["error"]
        assert err["code"] == "not_found" and "for your home yet" in err["message"]
        _names_no_one(r, api_demo, home3)
    for path in (
        "/control/compare",
        "/control/status",
        "/control/community",
        f"/control/{home1}/compare",
        f"/control/{home1}/status",
    ):
        r = _get(client, path, None)
        assert r.status_code == 401 and r.json()["error"]["code"] == "not_authenticated"
    # a delegated member without a status: the aggregator's 404 names no one either
    engine = open_database(client.app.state.settings.database_url)
    home2 = stored["home-02"]
    try:
        delete_status(engine, api_demo.chain_id, home2)
        r = _get(client, f"/control/{home2}/status", tokens["aggregator"])
        assert r.status_code == 404
        assert r.json()["error"]["message"] == "no control status for this member's home yet"
        _names_no_one(r, api_demo, api_demo.account("aggregator").address)
    finally:
        put_status(engine, api_demo.chain_id, home2, status(flexibility=False))
        engine.dispose()


def test_the_community_sums_every_homes_comparison(client, tokens, api_demo, stored):
    r = _get(client, "/control/community", tokens["home-03"])  # a member without any data
    assert r.status_code == 200, r.text
    body = r.json()
    _names_no_one(r, api_demo, api_demo.account("home-03").address)
    assert (body["homes"], body["suppressed"], body["min_homes"]) == (4, False, MIN_HOMES)
    assert (body["from_s"], body["to_s"]) == (T0, T0 + 96 * 900)
    assert list(body["policies"]) == ["bau", "rule", "mpc", "rl"]
    size = sum(HOMES.values())  # 5.0: the totals scale with the homes' sizes
    bau, mpc, rl = (body["policies"][p] for p in ("bau", "mpc", "rl"))
    assert bau["homes"] == mpc["homes"] == 4 and rl["homes"] == 1
    one = report(("bau", "mpc", "rl"))["policies"]
    for k in KPIS:
        assert bau["totals"][k] == pytest.approx(one["bau"]["totals"][k] * size, abs=1e-3)
        assert mpc["totals"][k] == pytest.approx(one["mpc"]["totals"][k] * size, abs=1e-3)
        assert mpc["ratios_to_bau"][k] == pytest.approx(
            mpc["totals"][k] / bau["totals"][k], abs=1e-4
        )
        assert bau["ratios_to_bau"][k] == 1.0
        # rl: home-05's only, and its ratios to home-05's business as usual (not all four's)
        assert rl["totals"][k] == pytest.approx(one["rl"]["totals"][k] * 1.5, abs=1e-3)
        assert rl["ratios_to_bau"][k] == pytest.approx(0.85, abs=1e-3)
    assert mpc["decision_ms"] == 2.5 and bau["decision_ms"] == 0.01
    # any member reads it, an account without a role does not
    for caller in ("home-01", "aggregator", "dso", "market-operator"):
        assert _get(client, "/control/community", tokens[caller]).json() == body
    assert _get(client, "/control/community", tokens["admin"]).status_code == 403


def test_a_community_of_too_few_homes_shows_only_their_number():
    two = [report(base=1.0), report(base=3.0)]
    small = community(two).model_dump()
    assert small == {
        "homes": 2,
        "min_homes": 3,
        "suppressed": True,
        "from_s": T0,
        "to_s": T0 + 96 * 900,
        "policies": {},
    }
    three = community([*two, report(base=0.0)]).model_dump()
    assert three["suppressed"] is False and three["policies"]["rule"]["homes"] == 3
    # business as usual's sum of 0 has no ratio (nothing to compare with)
    zero = community([report(base=0.0)] * 3).model_dump()
    assert set(zero["policies"]["mpc"]["ratios_to_bau"].values()) == {None}


def test_the_community_without_any_comparison_is_404(client, tokens, api_demo, stored):
    engine = open_database(client.app.state.settings.database_url)
    try:
        for address in stored.values():
            delete_comparison(engine, api_demo.chain_id, address)
        r = _get(client, "/control/community", tokens["home-01"])
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
        r = _get(client, "/control/compare", tokens["home-01"])
        assert r.status_code == 404
        assert r.json()["error"]["message"].startswith("no comparison of the control policies")
    finally:
        for name, address in stored.items():
            names = ("bau", "rule", "mpc", "rl") if name == "home-05" else ("bau", "rule", "mpc")
            put_comparison(
                engine, api_demo.chain_id, address, report(names, base=HOMES[name]), series(names)
            )
        engine.dispose()
