"""Flexibility requests, opt-ins, coalitions, per-interval figures and members' coordination
accounts through the API: a DSO request of the demo community driven on the real chain
(opt-ins from a wallet and relayed, a coalition, acceptance, a replacement, meter data,
settlement, a claim; :mod:`tests.api.coordination_scenario`), projected by the real indexer
into SQLite and PostgreSQL, and served with real wallet logins; who sees which rows, malformed
queries and unknown requests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from chain.coordination import coordination_client
from tests.api.api_helpers import bearer, index_into, login
from tests.api.coordination_scenario import (
    CAP,
    ENDED_BY,
    ENDED_OFFER,
    ENDED_Q,
    FROM,
    PENALTY,
    PRICE,
    TOL,
    N,
    Q,
)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def api(request, scenario, api_demo) -> Iterator[Any]:
    """An API client over read models that hold the scenario (the shared SQLite one, then a
    PostgreSQL database of its own)."""
    if request.param == "sqlite":
        index_into(api_demo, request.getfixturevalue("sqlite_url"))
        yield request.getfixturevalue("client")
        return
    from fastapi.testclient import TestClient

    from api.main import create_app
    from tests.api.api_helpers import settings_for

    url = request.getfixturevalue("api_pg_server").create_database()
    index_into(api_demo, url)
    app = create_app(settings_for(url, api_demo.chain_id, api_demo.market))
    with TestClient(app) as pg_client:
        yield pg_client


@pytest.fixture(scope="module")
def who(tokens, client, api_demo) -> dict[str, dict[str, str]]:
    """Bearer headers by name (the shared tokens plus the scenario's homes)."""
    out = {name: bearer(t) for name, t in tokens.items()}
    for name in ("home-04", "home-05", "home-06", "home-07", "home-08", "home-09"):
        out[name] = bearer(login(client, api_demo.account(name)))
    return out


def _get(api, path: str, headers: dict[str, str], **params: Any) -> Any:
    r = api.get(path, headers=headers, params=params)
    assert r.status_code == 200, r.text
    return r.json()


def test_requests_list_and_detail(api, who, scenario, api_demo):
    rid = scenario.settled
    listed = _get(api, "/requests", who["home-06"])
    assert listed["count"] >= 2
    assert [r["request_id"] for r in listed["data"]][:2] == [scenario.open_, rid]
    settled = _get(api, "/requests", who["home-07"], status="settled")
    assert rid in {r["request_id"] for r in settled["data"]}
    assert all(r["status"] == "settled" for r in settled["data"])
    opened = _get(api, "/requests", who["home-07"], status="open", grid_area="feeder-1")
    assert scenario.open_ in {r["request_id"] for r in opened["data"]}
    dso = scenario.address["dso"]
    by_dso = _get(api, "/requests", who["home-06"], dso=dso.lower())
    assert by_dso["count"] == listed["count"] and {r["dso"] for r in by_dso["data"]} == {dso}
    assert _get(api, "/requests", who["home-06"], dso=scenario.address["home-06"])["count"] == 0
    assert _get(api, "/requests", who["home-06"], grid_area="feeder-9")["count"] == 0
    one = _get(api, "/requests", who["home-06"], limit=1, offset=1)
    assert one["count"] == listed["count"] and [r["request_id"] for r in one["data"]] == [rid]

    r = _get(api, f"/requests/{rid}", who["home-09"])  # public to every member
    onchain = coordination_client(
        api_demo.running.platform.w3,
        api_demo.running.platform.deployment.address("FlexCoordination"),
        api_demo.running.platform.artifacts,
    ).request(rid)
    payouts = sum(x.payout for x in scenario.results)
    assert r == r | {
        "request_id": rid,
        "dso": dso,
        "grid_area": "feeder-1",
        "status": "settled",
        "direction": "up",
        "window_start_s": scenario.start,
        "window_end_s": scenario.start + 900 * N,
        "intervals": N,
        "opt_in_deadline_s": scenario.start - 1800,
        "quantities_wh": [Q] * N,
        "tolerance_bp": TOL,
        "price_cap_per_kwh": CAP,
        "penalty_per_kwh": PENALTY,
        "baseline_method": 4,
        "baseline_hash": "0x" + onchain.baseline_hash.hex(),
        "settlement_state": "finalized",
        "challenge_ends_s": onchain.challenge_ends_s,
        "dispute_count": 0,
        "escrow": str(scenario.escrow),
        "round": 0,
        "opt_in_count": 4,
        "coordinator": scenario.address["aggregator"],
        "price_per_kwh": PRICE,
        "member_count": 4,
        "payout_total": str(payouts),
        "refund": str(scenario.escrow - payouts),
        "settlement_hash": "0x" + onchain.settlement_hash.hex(),
        "targets_hash": "0x" + onchain.targets_hash.hex(),
    }
    assert api.get("/requests").status_code == 401
    assert api.get("/requests", headers=who["admin"]).status_code == 403  # no on-chain role


def _hhmm(ts_s: int) -> str:
    import time

    return time.strftime("%H:%M UTC", time.gmtime(ts_s))


def test_a_request_that_ended_without_a_coalition_says_which_constraint_failed(
    api, who, scenario
):
    """One opt-in of 300 Wh for 2 x 2000 Wh at 10 %: the offers cannot reach the 1800 Wh the
    tolerance admits at least. Every member reads why (no one is named); a settled or open
    request has no outcome reason."""
    want = (
        f"the opt-ins (1 member) offer at most {ENDED_OFFER} Wh in interval 0 "
        f"({_hhmm(scenario.ended_start)}) where at least {ENDED_Q * 9 // 10} Wh are needed "
        f"({ENDED_Q} Wh requested, tolerance 10 %)"
    )
    for name in ("home-09", "dso", ENDED_BY):
        got = _get(api, f"/requests/{scenario.ended}", who[name])
        assert (got["status"], got["member_count"], got["outcome_reason"]) == (
            "reclaimed", 0, want
        )
    listed = {r["request_id"]: r for r in _get(api, "/requests", who["home-06"])["data"]}
    assert listed[scenario.ended]["outcome_reason"] == want
    assert listed[scenario.settled]["outcome_reason"] is None
    assert listed[scenario.open_]["outcome_reason"] is None
    assert scenario.address[ENDED_BY].lower() not in want.lower()


def test_a_penalised_row_explains_its_intervals_baseline_and_metered_energy(api, who, scenario):
    """home-05 delivered 200 of 300 Wh in interval 2 (baseline 500 Wh, metered 300 Wh); the
    reserve home-08's meter sent nothing in interval 3. Their rows say so with the figures the
    settlement used; the rows that fell short nowhere have no explanation. A member reads its
    own row's explanation, never another's."""
    rid, a, start = scenario.settled, scenario.address, scenario.start
    head = (
        "1 interval below the tolerance (10 % under the target; baseline: the mean net import "
        f"of the 4 intervals from {_hhmm(start - 3600)}): "
    )
    want = {
        "home-05": head + f"interval 2 ({_hhmm(start + 1800)}): baseline 500 Wh, metered 300 Wh, "
        "delivered 200 Wh, at least 270 Wh needed: shortfall 70 Wh",
        "home-08": head + f"interval 3 ({_hhmm(start + 2700)}): no meter data, counted as "
        "delivering 0 Wh, at least 270 Wh needed: shortfall 270 Wh",
        "home-06": None,
        "home-07": None,
    }
    for viewer in ("dso", "aggregator", "market-operator"):
        rows = _get(api, f"/requests/{rid}/coalition", who[viewer])["rows"]
        assert {r["member"]: r["explanation"] for r in rows} == {a[n]: t for n, t in want.items()}
        by_name = {n: r for n in want for r in rows if r["member"] == a[n]}
        assert by_name["home-05"]["shortfall_wh"][2] == 70
        assert by_name["home-08"]["shortfall_wh"][3] == 270
    for name in ("home-05", "home-08", "home-06"):
        [own] = _get(api, f"/requests/{rid}/coalition", who[name])["rows"]
        assert (own["member"], own["explanation"]) == (a[name], want[name])
    assert _get(api, f"/requests/{rid}/coalition", who["home-09"])["rows"] == []


def test_opt_ins_are_seen_whole_by_the_dso_coordinator_and_operator_only(api, who, scenario):
    rid, a = scenario.settled, scenario.address
    want = {"home-06": "member", "home-05": "member", "home-07": "replaced", "home-08": "member"}
    for name in ("dso", "aggregator", "market-operator"):
        got = _get(api, f"/requests/{rid}/opt-ins", who[name])
        assert got["visible"] == "all" and got["count"] == 4
        assert {o["member"]: o["status"] for o in got["data"]} == {a[n]: s for n, s in want.items()}
        relayers = {o["member"]: o["relayer"] for o in got["data"]}
        assert relayers[a["home-05"]] == a["aggregator"] and relayers[a["home-06"]] == a["home-06"]
    mine = _get(api, f"/requests/{rid}/opt-ins", who["home-07"])
    assert mine["visible"] == "own" and mine["count"] == 1
    assert [(o["member"], o["status"], o["max_wh"]) for o in mine["data"]] == [
        (a["home-07"], "replaced", 600)
    ]
    assert _get(api, f"/requests/{rid}/opt-ins", who["home-09"])["data"] == []
    members = _get(api, f"/requests/{rid}/opt-ins", who["dso"], status="member")
    assert members["count"] == 3
    # While a request is open any aggregator may propose: it sees every opt-in; members do not.
    assert _get(api, f"/requests/{scenario.open_}/opt-ins", who["aggregator"])["count"] == 2
    assert _get(api, f"/requests/{scenario.open_}/opt-ins", who["home-06"])["count"] == 0
    own = _get(api, f"/requests/{scenario.open_}/opt-ins", who["home-02"])
    assert [o["member"] for o in own["data"]] == [a["home-02"]] and own["visible"] == "own"


def test_coalition_rows_and_who_sees_them(api, who, scenario):
    rid, a = scenario.settled, scenario.address
    full = _get(api, f"/requests/{rid}/coalition", who["dso"])
    assert full["visible"] == "all" and full["count"] == 4 and full["member_count"] == 4
    assert [r["member"] for r in full["rows"]] == [a[n] for n in scenario.names]
    for row, res, d in zip(full["rows"], scenario.results, scenario.deliveries, strict=True):
        assert row["delivered_wh"] == list(d.delivered_wh)
        assert row["credited_wh"] == list(d.credited_wh)
        assert row["shortfall_wh"] == list(d.shortfall_wh)
        assert row["missing_intervals"] == sorted(d.missing)
        assert (row["payout"], row["penalty_uncovered"], row["points"]) == (
            str(res.payout),
            str(res.penalty_uncovered),
            res.points,
        )
        assert row["target_total_wh"] == sum(row["targets_wh"])
    rows = {r["member"]: r for r in full["rows"]}
    assert rows[a["home-07"]]["targets_wh"] == [300, 300, 0, 0]
    assert rows[a["home-07"]]["status"] == "replaced"
    assert rows[a["home-07"]]["replaced_by"] == a["home-08"]
    assert rows[a["home-07"]]["replaced_from"] == FROM
    assert rows[a["home-08"]]["targets_wh"] == [0, 0, 300, 300]
    assert rows[a["home-08"]]["replaces"] == a["home-07"]
    assert [t["target_wh"] for t in full["totals"]] == [Q] * N
    assert [t["delivered_wh"] for t in full["totals"]] == [1000, 1000, 900, 700]
    for name in ("aggregator", "market-operator"):
        assert _get(api, f"/requests/{rid}/coalition", who[name])["count"] == 4

    # A member: its own row, and the totals of the whole coalition.
    own = _get(api, f"/requests/{rid}/coalition", who["home-06"])
    assert own["visible"] == "own" and own["count"] == 1
    assert [r["member"] for r in own["rows"]] == [a["home-06"]]
    assert own["totals"] == full["totals"]
    # The replaced member sees its row, but not who replaced it (another member's address);
    # the reserve sees its row, but not whom it replaced. So in the MemberReplaced event.
    seen = {
        "home-07": ("replaced", "replaced_by", "reserve"),
        "home-08": ("member", "replaces", "member"),
    }
    for name, (status, field, other) in seen.items():
        [row] = _get(api, f"/requests/{rid}/coalition", who[name])["rows"]
        assert (row["member"], row["status"], row[field]) == (a[name], status, None)
        events = _get(api, "/events", who[name], event="MemberReplaced", limit=500)["data"]
        [event] = [e for e in events if e["args"] and e["args"]["requestId"] == rid]
        assert event["args"][other] is None and a[name] in event["args"].values()
    outsider = _get(api, f"/requests/{rid}/coalition", who["home-09"])
    assert outsider["rows"] == [] and outsider["totals"] == full["totals"]
    page = _get(api, f"/requests/{rid}/coalition", who["dso"], limit=2, offset=2)
    assert [r["member"] for r in page["rows"]] == [a["home-07"], a["home-08"]]
    nothing = _get(api, f"/requests/{scenario.open_}/coalition", who["dso"])
    assert nothing["rows"] == [] and [t["target_wh"] for t in nothing["totals"]] == [0, 0]


def test_intervals_report_deviation_and_tolerance(api, who, scenario):
    got = _get(api, f"/requests/{scenario.settled}/intervals", who["home-09"])
    assert got["status"] == "settled" and got["count"] == N
    rows = got["data"]
    assert [r["requested_wh"] for r in rows] == [Q] * N
    assert {(r["lower_wh"], r["upper_wh"]) for r in rows} == {(900, 1100)}
    assert [r["target_wh"] for r in rows] == [Q] * N
    assert all(r["targets_within_tolerance"] for r in rows)
    assert [r["delivered_wh"] for r in rows] == [1000, 1000, 900, 700]
    assert [r["credited_wh"] for r in rows] == [1000, 1000, 900, 700]
    assert [r["shortfall_wh"] for r in rows] == [0, 0, 70, 270]
    assert [r["deviation_wh"] for r in rows] == [0, 0, -100, -300]
    assert [r["deviation_bp"] for r in rows] == [0, 0, -1000, -3000]
    assert [r["within_tolerance"] for r in rows] == [True, True, True, False]  # 10 % exactly
    assert [r["members_without_data"] for r in rows] == [0, 0, 0, 1]
    assert [r["interval_start_s"] for r in rows] == [scenario.start + 900 * k for k in range(N)]
    pending = _get(api, f"/requests/{scenario.open_}/intervals", who["home-06"])["data"]
    assert [(r["target_wh"], r["delivered_wh"], r["within_tolerance"]) for r in pending] == [
        (0, None, None)
    ] * 2
    assert pending[0]["targets_within_tolerance"] is None


def test_accounts_are_personal(api, who, scenario, api_demo):
    a = scenario.address
    platform = api_demo.running.platform
    chain = coordination_client(
        platform.w3, platform.deployment.address("FlexCoordination"), platform.artifacts
    )
    by_name = dict(zip(scenario.names, scenario.results, strict=True))
    for name in scenario.names:
        got = _get(api, f"/accounts/{a[name]}/coordination", who[name])
        onchain = chain.account(a[name])
        assert (got["claimable"], got["reputation"], got["settled_count"]) == (
            str(onchain.claimable),
            onchain.reputation,
            onchain.settled,
        )
        assert got["earned_total"] == str(by_name[name].payout)
        [req] = [r for r in got["requests"] if r["request_id"] == scenario.settled]
        d = scenario.deliveries[scenario.names.index(name)]
        assert req["in_coalition"] and req["request_status"] == "settled"
        assert req["delivered_wh"] == list(d.delivered_wh)
        assert req["credited_wh"] == list(d.credited_wh)
        assert (req["payout"], req["points"]) == (
            str(by_name[name].payout),
            by_name[name].points,
        )
    one = _get(api, f"/accounts/{a['home-06']}/coordination", who["home-06"])
    assert one["claimable"] == "0" and one["claimed_total"] == str(by_name["home-06"].payout)
    assert one["requests"][0]["targets_wh"] == [400] * N
    two = _get(api, f"/accounts/{a['home-05']}/coordination", who["home-05"])
    assert two["claimable"] == str(by_name["home-05"].payout) != "0"
    five = _get(api, f"/accounts/{a['home-09']}/coordination", who["home-09"], status="open")
    assert five["count"] == 1 and five["requests"][0]["in_coalition"] is False
    assert five["requests"][0]["targets_wh"] is None and five["claimable"] == "0"

    # Another member's account: 403; its delegated aggregator and the operator may look.
    pairs = [("home-06", "home-05"), ("home-07", "home-06"), ("dso", "home-06")]
    pairs += [("home-06", "home-02"), ("aggregator", "home-06")]  # not delegated to it
    for asker, owner in pairs:
        r = api.get(f"/accounts/{a[owner]}/coordination", headers=who[asker])
        assert r.status_code == 403, (asker, owner, r.text)
        assert r.json()["error"]["code"] == "forbidden" and a[owner] not in r.text
    delegated = _get(api, f"/accounts/{a['home-02']}/coordination", who["aggregator"])
    assert delegated["count"] == 1 and delegated["requests"][0]["request_id"] == scenario.open_
    assert delegated["requests"][0]["max_wh"] == 300
    assert (
        api.get(
            f"/accounts/{a['home-07']}/coordination", headers=who["market-operator"]
        ).status_code
        == 200
    )
    # An address that never took part: zeros, no requests.
    nobody = _get(api, f"/accounts/{'0x' + '12' * 20}/coordination", who["market-operator"])
    assert (nobody["claimable"], nobody["reputation"], nobody["count"]) == ("0", 0, 0)


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/requests", {"status": "pending"}, "status"),
        ("/requests", {"dso": "0x1234"}, "dso"),
        ("/requests", {"grid_area": ""}, "grid_area"),
        ("/requests", {"limit": 0}, "limit"),
        ("/requests", {"page": 2}, "page"),  # retired: offset pages
        ("/requests", {"since": "2026-01-02"}, "since"),  # a date is not a date-time
        ("/requests/abc", {}, "request_id"),
        ("/requests/-1/coalition", {}, "request_id"),
        ("/requests/1/opt-ins", {"status": "winner"}, "status"),
        ("/accounts/0xnothex/coordination", {}, "address"),
        ("/accounts/0x" + "12" * 20 + "/coordination", {"status": "done"}, "status"),
    ],
)
def test_malformed_queries_are_422_with_a_clear_message(client, who, path, params, field):
    r = client.get(path, params=params, headers=who["market-operator"])
    assert r.status_code == 422, r.text
    body = r.json()["error"]
    assert body["code"] == "invalid_query" and field in body["message"], body


@pytest.mark.parametrize("suffix", ["", "/opt-ins", "/coalition", "/intervals"])
def test_unknown_request_is_404(client, who, suffix):
    r = client.get(f"/requests/987654321{suffix}", headers=who["home-06"])
    assert r.status_code == 404, r.text
    assert r.json()["error"] == {
        "code": "not_found",
        "message": "request 987654321 not found",
        "details": None,
    }
