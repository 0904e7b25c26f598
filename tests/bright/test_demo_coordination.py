"""The coordination demo of ``bright up``: the simulated homes deliver their targets (real
Mosquitto), and the demo DSO, the homes' opt-ins and the aggregator run a request to its
settlement on anvil, a failing member replaced on the way, the settlement proposed, checked by
the DSO's dispute watcher and finalized; ``settle verify`` agrees."""

from __future__ import annotations

import math

import pytest

from bright.demo import demo_community, register_community
from bright.demo_coordination import (
    CoordinationConfig,
    DemoCoordination,
    demo_settings,
    failing_count,
)
from chain.coordination import MemberStatus, RequestStatus
from chain.domain import Role
from chain.oracles import MeterOracleClient
from chain.platform import Platform, make_sender
from coalitions.service import advance_chain
from core.oracle_codec import MeterValue
from core.units import INTERVAL_S
from oracles.simulator import simulate
from settlement.verify import verify_settlement


@pytest.fixture(scope="module")
def mqtt_port(tmp_path_factory):
    from gateway_bridge.broker import MosquittoBroker, free_port

    broker = MosquittoBroker(
        tmp_path_factory.mktemp("coord-mosquitto"), port=free_port(), persistence=False
    )
    broker.start()
    yield broker.port
    broker.stop()


def test_simulated_homes_change_their_metered_energy_by_their_targets(mqtt_port):
    start = 1_700_000_100 // INTERVAL_S * INTERVAL_S
    asked = {(start + INTERVAL_S, "h0001-meter"): -200, (start + INTERVAL_S, "h0002-meter"): 150}
    calls: list[int] = []

    def delivery(interval_s: int) -> dict[str, int]:
        calls.append(interval_s)
        return {d: wh for (s, d), wh in asked.items() if s == interval_s}

    def run(with_delivery: bool):
        return simulate(
            homes=3, speed=1e6, duration_s=3 * INTERVAL_S, start_s=start, mqtt_port=mqtt_port,
            gap_rate=0.0, late_rate=0.0, seed=5, progress=lambda _m: None,
            delivery=delivery if with_delivery else None,
        ).truth

    plain, delivered = run(False), run(True)
    assert calls[:3] == [start, start + INTERVAL_S, start + 2 * INTERVAL_S]
    assert plain.keys() == delivered.keys() and len(plain) == 9
    for (device, s), (imp, exp) in plain.items():
        d_imp, d_exp = delivered[(device, s)]
        change = (d_imp - d_exp) - (imp - exp)
        # the registers are whole Wh: a change moves the interval's net energy to within 1 Wh
        assert abs(change - asked.get((s, device), 0)) <= 1, (device, s, change)


@pytest.fixture(scope="module")
def demo(w3, artifacts, admin):
    from chain.deploy import deploy_platform

    deployment = deploy_platform(w3, make_sender(w3, admin, artifacts), artifacts)
    platform = Platform(w3, deployment, artifacts)
    members = demo_community()
    register_community(platform, admin, members)
    oracle = next(m for m in members if m.role is Role.ORACLE)
    meters = MeterOracleClient(
        w3, deployment.address("MeterOracle"), artifacts["MeterOracle"],
        platform.sender(oracle.account),
    )
    homes = [m for m in members if m.role is Role.PROSUMER]
    meters.enrol_meters([h.meter_id for h in homes])
    return platform, members, meters, oracle, homes


def now_s(w3) -> int:
    return int(w3.eth.get_block("latest")["timestamp"])


def test_demo_dso_homes_and_aggregator_take_a_request_to_a_verified_settlement(demo, w3):
    platform, members, meters, oracle, homes = demo
    load = {h.meter_id: 400 + 40 * i for i, h in enumerate(homes)}
    nonce = iter(range(1, 10_000))

    def commit(s: int, change: dict[str, int] | None = None) -> None:
        change = change or {}
        values = [MeterValue(m, s, wh + change.get(m, 0), 0) for m, wh in load.items()]
        meters.commit(oracle.account, values, nonce=next(nonce))

    lines: list[str] = []
    config = CoordinationConfig(lead_s=3600, deadline_before_s=1800, fail_share=0.25)
    coord = DemoCoordination(platform, members, config, demo_settings(False)[1], say=lines.append)
    # No meter data yet: the DSO has nothing to size a request on.
    coord.round()
    assert platform.w3 and coord.dso.client.request_count() == 0
    first = now_s(w3) // INTERVAL_S * INTERVAL_S - 2 * INTERVAL_S
    commit(first)
    commit(first + INTERVAL_S)
    coord.round()
    assert coord.dso.client.request_count() == 1
    rid = 1
    info = coord.dso.client.request(rid)
    feeder_meters = [h.meter_id for h in homes if h.grid_area == "feeder-1"]
    quantity = int(sum(load[m] for m in feeder_meters) * 0.2)
    assert coord.dso.client.quantities_wh(rid) == (quantity,) * 3
    assert info.grid_area == "feeder-1" and info.window_start_s - now_s(w3) >= 3600 - 60
    assert any("request #1 published on feeder-1" in line for line in lines)
    assert any("8 homes opted in to request #1 (4 signed" in line for line in lines)
    home01 = next(h for h in homes if h.name == "home-01")
    assert coord.dso.client.opt_in_of(rid, home01.address)[0] == 0  # opts in only by hand

    start = info.window_start_s
    # The meter data up to the deadline, then the aggregator proposes, the DSO accepts.
    advance_chain(w3, start - 1800 + 5)
    for s in range(first + 2 * INTERVAL_S, start - 1800, INTERVAL_S):
        commit(s)
    coord.round()
    coord.round()
    assert coord.dso.client.request(rid).status is RequestStatus.ACCEPTED
    proposed = next(line for line in lines if "coalition proposed for request #1" in line)
    accepted = next(line for line in lines if "DSO accepted the coalition of request #1" in line)
    rows = coord.dso.client.coalition_rows(rid)
    assert f"{len(rows)} members" in proposed and f"{len(rows)} members" in accepted
    failing = coord.delivery.failing(rid)
    assert len(failing) == math.ceil(0.25 * len(rows))

    # What the homes do in interval 0: the members reduce by their targets, the failing not.
    change0 = coord.delivery(start)
    by_meter = {r.meter_id: r for r in rows}
    assert set(change0) == {r.meter_id for r in rows if r.member not in failing}
    assert all(change0[m] == -by_meter[m].targets_wh[0] for m in change0)
    assert coord.delivery(start - INTERVAL_S) == {}

    advance_chain(w3, start + INTERVAL_S + 30)
    for s in range(start - 1800, start, INTERVAL_S):
        commit(s)
    commit(start, change0)
    coord.round()
    replaced = [line for line in lines if "member replaced in request #1" in line]
    no_reserve = [line for line in lines if "no reserve can take" in line]
    assert replaced and len(replaced) + len(no_reserve) == len(failing)
    # the log names them: "Name (0x1234…)", from the demo community's display names
    names = {m.display_name for m in members if m.role is Role.PROSUMER}
    assert all(sum(f"{n} (0x" in line for n in names) == 2 for line in replaced), replaced
    statuses = [coord.dso.client.opt_in_of(rid, m)[1] for m in failing]
    assert statuses.count(MemberStatus.REPLACED) == len(replaced)
    advance_chain(w3, start + 3 * INTERVAL_S + 30)
    commit(start + INTERVAL_S, coord.delivery(start + INTERVAL_S))
    commit(start + 2 * INTERVAL_S, coord.delivery(start + 2 * INTERVAL_S))
    coord.round()
    proposed = next(line for line in lines if "settlement of request #1 proposed" in line)
    assert "penalties" in proposed and "gas" in proposed and "open to disputes" in proposed
    info = coord.dso.client.request(rid)
    assert info.status is RequestStatus.SETTLING

    def verify():
        return verify_settlement(
            w3, platform.deployment.address("FlexCoordination"),
            platform.deployment.address("MeterOracle"), platform.artifacts, rid,
        )

    report = verify()
    assert report.matches and report.state == "proposed", report.differences
    # The DSO's watcher checked the proposal and found nothing to dispute.
    coord.round()
    assert not [line for line in lines if "disputed" in line]
    advance_chain(w3, info.challenge_ends_s)
    coord.round()
    settled = next(line for line in lines if "request #1 settled" in line)
    assert "after 0 disputes" in settled
    assert coord.dso.client.request(rid).status is RequestStatus.SETTLED
    report = verify()
    assert report.matches and report.state == "finalized", report.differences


def test_a_request_made_by_hand_gets_a_coalition_from_the_opt_ins_made_by_hand(
    demo, w3, tmp_path
):
    """As the web UI does: the DSO publishes (zero baseline hash: the defaults), home-01 opts
    in; the demo homes leave it alone, the aggregator gives home-01 its targets once the
    deadline passed, the demo DSO accepts. The record of the demo's own requests survives a
    restart."""
    platform, members, meters, oracle, homes = demo
    state = tmp_path / "coordination-demo.json"
    lines: list[str] = []
    config = CoordinationConfig(every_intervals=10_000)
    coord = DemoCoordination(platform, members, config, demo_settings(False)[1],
                             say=lines.append, state_file=state)
    ended = now_s(w3) // INTERVAL_S * INTERVAL_S
    advance_chain(w3, ended + INTERVAL_S + 5)
    meters.commit(
        oracle.account, [MeterValue(h.meter_id, ended, 400, 0) for h in homes], nonce=77_777
    )
    dso = next(m for m in members if m.role is Role.DSO)
    by_hand = coord.dso.client  # the DSO's own key, as in the browser
    start = (now_s(w3) // INTERVAL_S + 4) * INTERVAL_S
    platform.token(dso.account).approve(platform.deployment.address("FlexCoordination"), 10**9)
    _, rid = by_hand.publish_request(
        start, [100, 100], 1000, 200_000, start - 1800, 10**8, grid_area="feeder-1",
        baseline_method=4,
    )
    coord.round()
    feeder1 = [h for h in homes if h.grid_area == "feeder-1"]
    assert all(by_hand.opt_in_of(rid, h.address)[0] == 0 for h in feeder1)
    home01 = next(h for h in homes if h.name == "home-01")
    from chain.coordination import coordination_client

    coordination_client(
        w3, platform.deployment.address("FlexCoordination"), platform.artifacts,
        platform.sender(home01.account),
    ).opt_in(rid, 500)
    advance_chain(w3, start - 1800 + 1)
    coord.round()
    coord.round()
    assert by_hand.request(rid).status is RequestStatus.ACCEPTED
    [row] = by_hand.coalition_rows(rid)
    assert row.member == home01.address and row.targets_wh == (100, 100)
    assert any(f"DSO accepted the coalition of request #{rid}: 1 members" in x for x in lines)
    # The demo's own requests are remembered across a restart (per chain and contract).
    coord.dso.record.add(rid + 1000)
    again = DemoCoordination(platform, members, config, demo_settings(False)[1],
                             say=lines.append, state_file=state)
    assert rid + 1000 in again.dso.record and rid not in again.dso.record


def test_the_failing_share_never_fails_a_one_member_coalition():
    assert [failing_count(0.25, n) for n in (1, 2, 3, 4, 5, 8, 9)] == [0, 1, 1, 1, 2, 2, 3]
    assert [failing_count(1.0, n) for n in (1, 2, 5)] == [0, 1, 4]  # at most all but one
    assert [failing_count(0.0, n) for n in (1, 5)] == [0, 0]
    assert demo_settings(True, fail_share=0.5)[0].fail_share == 0.5
    assert demo_settings(False)[0].fail_share == 0.25


def test_a_one_member_request_made_by_hand_is_delivered_and_settles_without_penalty(demo, w3):
    """The README's recipe: the DSO publishes 2 x 100 Wh by hand (meter-before baseline, the
    hour before the window), home-01 opts in. Even with every demo request's members failing
    (fail share 1), a request made by hand has no forced failure: home-01 delivers its
    targets, its metered load falls by them against a steady baseline, and the settlement
    credits all of it with no shortfall and no penalty."""
    platform, members, meters, oracle, homes = demo
    lines: list[str] = []
    config = CoordinationConfig(every_intervals=10_000, fail_share=1.0)
    coord = DemoCoordination(platform, members, config, demo_settings(False)[1],
                             say=lines.append)
    dso = next(m for m in members if m.role is Role.DSO)
    home01 = next(h for h in homes if h.name == "home-01")
    by_hand = coord.dso.client
    start = (now_s(w3) // INTERVAL_S + 6) * INTERVAL_S
    platform.token(dso.account).approve(platform.deployment.address("FlexCoordination"), 10**9)
    _, rid = by_hand.publish_request(
        start, [100, 100], 1000, 200_000, start - 1800, 10**8, grid_area="feeder-1",
        baseline_method=4,
    )
    assert rid not in coord.dso.record
    nonce = iter(range(900_000, 910_000))

    def commit(s: int, change: dict[str, int] | None = None) -> None:
        change = change or {}
        values = [MeterValue(h.meter_id, s, 400 + change.get(h.meter_id, 0), 0) for h in homes]
        meters.commit(oracle.account, values, nonce=next(nonce))

    from chain.coordination import coordination_client

    coordination_client(
        w3, platform.deployment.address("FlexCoordination"), platform.artifacts,
        platform.sender(home01.account),
    ).opt_in(rid, 500)
    # A steady 400 Wh per interval up to the deadline (the aggregator sizes offers on it).
    advance_chain(w3, start - 1800 + 1)
    for s in range(start - 8 * INTERVAL_S, start - 1800 - INTERVAL_S + 1, INTERVAL_S):
        commit(s)
    coord.round()
    coord.round()
    assert by_hand.request(rid).status is RequestStatus.ACCEPTED
    [row] = by_hand.coalition_rows(rid)
    assert row.member == home01.address and row.targets_wh == (100, 100)
    assert coord.delivery.failing(rid) == set()

    # The baseline hour stays at 400 Wh; in the window home-01's load falls by its targets.
    advance_chain(w3, start + INTERVAL_S + 30)
    for s in range(start - 1800, start, INTERVAL_S):
        commit(s)
    change0 = coord.delivery(start)
    assert change0 == {home01.meter_id: -100}
    commit(start, change0)
    coord.round()
    assert not [x for x in lines if f"member replaced in request #{rid}" in x]
    advance_chain(w3, start + 2 * INTERVAL_S + 30)
    commit(start + INTERVAL_S, coord.delivery(start + INTERVAL_S))
    coord.round()
    info = by_hand.request(rid)
    assert info.status is RequestStatus.SETTLING
    proposal = by_hand.settlement_proposal(rid)
    assert proposal is not None
    [d] = proposal.deliveries(by_hand.coalition_rows(rid), info.tolerance_bp)
    assert list(d.delivered_wh) == [100, 100] and list(d.shortfall_wh) == [0, 0]
    [result] = proposal.results
    assert result.penalty_uncovered == 0 and result.payout > 0 and result.points > 0
    assert any(f"settlement of request #{rid} proposed" in x and "penalties 0" in x for x in lines)
    advance_chain(w3, info.challenge_ends_s)
    coord.round()
    assert by_hand.request(rid).status is RequestStatus.SETTLED
    assert coord.dso.client.account(home01.address).claimable >= result.payout
