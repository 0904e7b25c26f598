"""Flexibility requests, opt-ins, coalitions, per-interval figures and members' coordination
accounts through the API: a DSO request of the demo community driven on the real chain
(opt-ins from a wallet and relayed, a coalition, acceptance, a replacement, meter data,
settlement, a claim), projected by the real indexer into SQLite and PostgreSQL, and served
with real wallet logins; who sees which rows, malformed queries and unknown requests."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from chain.coordination import coordination_client, member_deliveries
from core.codec import CoalitionRow, MemberDeliveries, MemberResult
from core.rules import required_escrow
from oracles.clients import MeterOracleClient
from oracles.domain import MeterValue
from tests.api.api_helpers import bearer, index_into, login

N, Q, TOL, CAP, PRICE, PENALTY = 4, 1000, 1000, 250, 200, 100
TARGETS = {"home-06": 400, "home-05": 300, "home-07": 300}
RESERVE, REPLACED, FROM = "home-08", "home-07", 2
DELIVERED = {  # per table row, Wh
    "home-06": (400, 400, 400, 400),
    "home-05": (300, 300, 200, 300),  # 70 Wh short in interval 2
    "home-07": (300, 300, 0, 0),  # replaced from interval 2
    "home-08": (0, 0, 300, 0),  # its meter sent nothing in interval 3
}
MISSING = {"home-08": {3}}


@dataclass
class Scenario:
    settled: int
    open_: int
    start: int
    escrow: int
    names: list[str]  # table rows in order
    results: list[MemberResult]
    deliveries: list[MemberDeliveries]
    address: dict[str, str]


def _now(w3) -> int:
    return int(w3.eth.get_block("latest")["timestamp"])


@pytest.fixture(scope="module")
def scenario(api_demo) -> Scenario:
    platform = api_demo.running.platform
    w3, artifacts = platform.w3, platform.artifacts
    coord = platform.deployment.address("FlexCoordination")
    address = {m.name: m.address for m in api_demo.members}

    def client(name: str):
        return coordination_client(w3, coord, artifacts, platform.sender(api_demo.account(name)))

    dso, agg = client("dso"), client("aggregator")
    platform.token(api_demo.account("dso")).approve(coord, 10**15)
    start = (_now(w3) // 900 + 8) * 900
    escrow = required_escrow([Q] * N, TOL, CAP)
    _, rid = dso.publish_request(
        start,
        [Q] * N,
        TOL,
        CAP,
        start - 1800,
        escrow,
        grid_area="feeder-1",
        penalty_per_kwh=PENALTY,
    )
    for name in ("home-06", "home-07", RESERVE):
        client(name).opt_in(rid, 600)
    agg.opt_in_signed(rid, [agg.sign_opt_in(api_demo.account("home-05"), rid, 600)])
    meter = {m.name: m.meter_id for m in api_demo.members}
    names = [*TARGETS, RESERVE]
    oracle = api_demo.account("oracle")
    meters = MeterOracleClient(
        w3,
        platform.deployment.address("MeterOracle"),
        artifacts["MeterOracle"],
        platform.sender(oracle),
    )
    new = [meter[n] for n in names if meters.index_of(meter[n]) is None]
    if new:  # a coalition member's meter must be enrolled in the MeterOracle
        meters.enrol_meters(new)
    rows = [CoalitionRow(address[n], meter[n], (t,) * N) for n, t in TARGETS.items()]
    agg.propose_coalition(rid, PRICE, rows, [address[RESERVE]])
    dso.accept_coalition(rid)
    _, rows = agg.replace_member(
        rid, rows, address[REPLACED], address[RESERVE], meter[RESERVE], FROM
    )

    # After the window: the oracle commits what was metered, the aggregator settles.
    w3.provider.make_request("evm_setNextBlockTimestamp", [start + 900 * N + 60])
    w3.provider.make_request("evm_mine", [])
    for k in range(N):
        values = [
            MeterValue(meter[n], start + 900 * k, 500, 0)
            for n in names
            if k not in MISSING.get(n, ())
        ]
        meters.commit(oracle, values, nonce=secrets.randbits(63))
    # The aggregator proposes the deliveries (flagged where the oracle committed nothing), the
    # contract computes the money; after the challenge window anyone finalizes.
    proposed = [
        member_deliveries(DELIVERED[n], frozenset(MISSING.get(n, ())), row.targets_wh, TOL)
        for n, row in zip(names, rows, strict=True)
    ]
    agg.propose_settlement(rid, rows, proposed)
    w3.provider.make_request("evm_setNextBlockTimestamp", [agg.request(rid).challenge_ends_s])
    w3.provider.make_request("evm_mine", [])
    proposal = agg.settlement_proposal(rid)
    assert proposal is not None
    agg.finalize_settlement(rid, rows, proposal)
    results, deliveries = proposal.results, proposal.deliveries(rows, TOL)
    client("home-06").claim_payout()

    # A second request stays open, with two opt-ins.
    start2 = (_now(w3) // 900 + 8) * 900
    _, open_ = dso.publish_request(
        start2,
        [800, 800],
        TOL,
        CAP,
        start2 - 900,
        required_escrow([800] * 2, TOL, CAP),
        grid_area="feeder-1",
    )
    client("home-09").opt_in(open_, 500)
    client("home-02").opt_in(open_, 300)  # home-02 delegated to the aggregator
    return Scenario(rid, open_, start, escrow, names, results, deliveries, address)


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
    for name in ("home-05", "home-06", "home-07", "home-08", "home-09"):
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
    one = _get(api, "/requests", who["home-06"], limit=1, page=2)
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
        assert r.json()["error"]["code"] == "forbidden" and a[owner] in r.json()["error"]["message"]
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
        ("/requests", {"page": 0}, "page"),
        ("/requests", {"page": 2, "offset": 10}, "page"),
        ("/requests", {"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"}, "since"),
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
