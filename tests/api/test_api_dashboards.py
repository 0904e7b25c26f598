"""The dashboards' aggregates (api/routes/dashboards.py) on the demo chain with the
coordination scenario (a settled request, one left open) indexed by the real indexer: market
price and volume history, the DSO's delivered against requested with its success rate and
cost per kWh, the operator's health and figures, a member's earnings, penalties and
reputation; and who may see each."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from chain.coordination import coordination_client
from tests.api.api_helpers import bearer, index_into, login
from tests.api.coordination_scenario import N, Q


@pytest.fixture(scope="module")
def api(client, scenario, api_demo, sqlite_url) -> Any:
    index_into(api_demo, sqlite_url)  # the scenario's blocks too
    return client


@pytest.fixture(scope="module")
def who(tokens, client, api_demo) -> dict[str, dict[str, str]]:
    out = {name: bearer(t) for name, t in tokens.items()}
    for name in ("home-05", "home-06", "home-07", "home-08"):
        out[name] = bearer(login(client, api_demo.account(name)))
    return out


def _get(api: Any, path: str, headers: dict[str, str], **params: Any) -> Any:
    r = api.get(path, headers=headers, params=params)
    assert r.status_code == 200, r.text
    return r.json()


def test_market_history_is_cleared_sessions_oldest_first_for_any_member(api, who):
    got = _get(api, "/dashboards/market", who["home-01"], limit=500)
    rows = got["data"]
    assert rows and got["count"] == len(rows)
    assert all(r["status"] in ("cleared", "settled") for r in rows)
    starts = [r["delivery_start_s"] for r in rows]
    assert starts == sorted(starts)
    assert got["volume_wh"] == sum(r["volume_wh"] for r in rows)
    weighted = sum(r["volume_wh"] * r["price_per_kwh"] for r in rows) / got["volume_wh"]
    assert got["mean_price_per_kwh"] == pytest.approx(weighted)
    # The same figures as the sessions route.
    one = rows[-1]
    s = _get(api, f"/sessions/{one['session_id']}", who["home-01"])
    assert (s["price_per_kwh"], s["volume_wh"]) == (one["price_per_kwh"], one["volume_wh"])
    latest = _get(api, "/dashboards/market", who["home-01"], limit=2)["data"]
    assert [r["session_id"] for r in latest] == [r["session_id"] for r in rows[-2:]]
    assert api.get("/dashboards/market").status_code == 401


def test_dso_sees_delivered_against_requested_success_rate_and_cost(api, who, scenario):
    got = _get(api, "/dashboards/dso", who["dso"], limit=500)
    assert got["dso"] is not None
    by_id = {r["request_id"]: r for r in got["requests"]}
    settled, open_ = by_id[scenario.settled], by_id[scenario.open_]
    assert settled["status"] == "settled" and settled["requested_wh"] == N * Q
    assert (settled["delivered_wh"], settled["credited_wh"]) == (3600, 3600)
    assert settled["within_tolerance"] is False  # interval 3 delivered 700 of 1000 (10 %)
    assert settled["cost_per_kwh"] == pytest.approx(int(settled["paid"]) * 1000 / 3600)
    assert open_["delivered_wh"] is None and open_["within_tolerance"] is None
    done = [r for r in got["requests"] if r["status"] == "settled"]
    assert got["settled_count"] == len(done)
    assert got["within_tolerance_count"] == sum(bool(r["within_tolerance"]) for r in done)
    assert got["success_rate"] == pytest.approx(got["within_tolerance_count"] / len(done))
    assert got["paid_total"] == str(sum(int(r["paid"]) for r in done))
    assert got["cost_per_kwh"] == pytest.approx(
        int(got["paid_total"]) * 1000 / got["credited_wh_total"]
    )
    mine = [k for k in got["intervals"] if k["request_id"] == scenario.settled]
    assert [k["delivered_wh"] for k in mine] == [1000, 1000, 900, 700]
    times = [k["interval_start_s"] for k in got["intervals"]]
    assert times == sorted(times)
    # Request terms and totals are public to members (as /requests): the same for a home.
    home = _get(api, "/dashboards/dso", who["home-01"], dso=got["dso"], limit=500)
    assert home["requests"] == got["requests"]


@pytest.fixture(scope="module")
def with_chain(api, api_demo, sqlite_url) -> Iterator[Any]:
    """An API that reaches the demo chain's RPC (the shared client's points nowhere)."""
    from fastapi.testclient import TestClient

    from api.main import create_app
    from tests.api.api_helpers import settings_for

    settings = settings_for(sqlite_url, api_demo.chain_id, api_demo.market).model_copy(
        update={"rpc_url": api_demo.running.rpc_url}
    )
    with TestClient(create_app(settings)) as client:
        yield client


def test_operator_health_and_kpis_are_the_operators_only(api, with_chain, who, api_demo):
    for name in ("home-01", "dso", "aggregator"):
        r = with_chain.get("/dashboards/operator", headers=who[name])
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    # A chain that does not answer: the RPC and the indexer are reported down, the rest holds.
    blind = _get(api, "/dashboards/operator", who["market-operator"])
    assert blind["head_block"] is None and blind["lag_blocks"] is None
    down = {s["name"]: s["ok"] for s in blind["services"]}
    assert down["chain RPC"] is False and down["indexer"] is False and down["read models"]
    api = with_chain
    first = _get(api, "/dashboards/operator", who["market-operator"])
    head = api_demo.running.platform.w3.eth.block_number
    assert first["indexed_block"] is not None and first["indexed_block"] <= head
    assert first["head_block"] is not None and first["head_block"] >= first["indexed_block"]
    assert first["lag_blocks"] == first["head_block"] - first["indexed_block"]
    assert {s["name"] for s in first["services"]} >= {"read models", "chain RPC", "indexer"}
    assert first["members"] >= 17 and first["participants"] > first["members"]
    assert first["sessions_cleared"] >= 1 and first["volume_wh"] > 0
    assert first["requests_published"] >= 2 and first["requests_settled"] >= 1
    assert first["gas_spent"] is None and "bench gas" in first["gas_note"]
    time.sleep(1.1)
    again = _get(api, "/dashboards/operator", who["market-operator"])
    assert again["events_per_minute"] is not None and again["events_per_minute"] >= 0


def test_a_members_earnings_penalties_and_reputation_are_its_own(api, who, scenario, api_demo):
    a = scenario.address
    platform = api_demo.running.platform
    chain = coordination_client(
        platform.w3, platform.deployment.address("FlexCoordination"), platform.artifacts
    )
    by_name = dict(zip(scenario.names, scenario.results, strict=True))
    for name in ("home-06", "home-05"):
        got = _get(api, f"/dashboards/members/{a[name]}", who[name])
        [row] = [p for p in got["data"] if p["kind"] == "request" and p["id"] == scenario.settled]
        # Rewards less penalties is what the contract paid (netted at zero).
        assert max(0, int(row["earned"]) - int(row["penalty"])) == by_name[name].payout
        assert row["points"] == by_name[name].points
        assert got["reputation"] == chain.account(a[name]).reputation
        requests = [p for p in got["data"] if p["kind"] == "request"]
        assert requests[-1]["reputation"] == sum(p["points"] for p in requests)
        times = [p["time_s"] for p in got["data"]]
        assert times == sorted(times)
    short = _get(api, f"/dashboards/members/{a['home-05']}", who["home-05"])
    assert any(int(p["penalty"]) > 0 for p in short["data"] if p["id"] == scenario.settled)
    # Personal: another member is refused without a name; the operator may look.
    r = api.get(f"/dashboards/members/{a['home-06']}", headers=who["home-01"])
    assert r.status_code == 403 and a["home-06"].lower() not in r.text.lower()
    by_operator = api.get(f"/dashboards/members/{a['home-06']}", headers=who["market-operator"])
    assert by_operator.status_code == 200
