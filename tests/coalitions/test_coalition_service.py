"""The coordination service on anvil: it proposes for any open request once the opt-in
deadline passed, reports what it cannot do without sending anything, and survives restarts
(state from the chain only: a restarted service continues, nothing is sent twice)."""

from __future__ import annotations

import threading
import time

import pytest

from chain.coordination import MemberStatus, RequestStatus
from tests.coalitions.coordination_env import (
    AGG,
    DSO,
    MEMBERS,
    TOL,
    CoordEnv,
    finish_window,
    kinds,
    make_env,
    past_challenge,
    run_to_replacement,
)


@pytest.fixture(scope="module")
def env(w3, artifacts, admin, dev_accounts) -> CoordEnv:
    return make_env(w3, artifacts, admin, dev_accounts)


def sent_by_aggregator(env: CoordEnv) -> int:
    return int(env.w3.eth.get_transaction_count(env.addr(AGG)))


def test_proposes_for_any_request_once_the_opt_in_deadline_passed(env, snapshot):
    rid, start = env.publish(n=2, q=400)
    env.opt_in(rid, MEMBERS[:3])
    service = env.service()
    env.commit_flat([start - 8100])  # meter history: each member can shed 250 Wh
    assert [s for s in service.tick() if s.request_id == rid] == []  # deadline not passed
    assert env.client().request(rid).status is RequestStatus.OPEN
    env.advance(start - 1800)
    [step] = [s for s in service.tick() if s.request_id == rid]
    assert step.kind == "proposed" and step.gas_used > 0
    assert step.detail["members"] >= 2 and step.detail["members"] + step.detail["reserves"] == 3
    rows = env.client().coalition_rows(rid)
    assert [sum(r.targets_wh[k] for r in rows) for k in range(2)] == [400, 400]
    assert all(t <= 250 for r in rows for t in r.targets_wh)  # the fallback offer: 25 % load
    assert f"{step.detail['members']} members, {step.detail['reserves']} reserves" in (
        step.describe()
    )
    statuses = [env.client().opt_in_of(rid, env.addr(i))[1] for i in MEMBERS[:3]]
    assert statuses.count(MemberStatus.MEMBER) == len(rows) == step.detail["members"]
    assert statuses.count(MemberStatus.RESERVE) == step.detail["reserves"]
    # Waiting for the DSO: nothing more to do.
    assert [s for s in service.tick() if s.request_id == rid] == []
    # The opt-ins are read incrementally: one eth_getLogs for the blocks mined since.
    calls = service._opt_in_scan.calls
    assert set(service.opt_ins(rid)) == {env.addr(i) for i in MEMBERS[:3]}
    assert service._opt_in_scan.calls == calls + 1


def test_what_cannot_be_formed_is_reported_once_and_nothing_is_sent(env, snapshot):
    too_big, start = env.publish(n=2, q=5000)
    env.opt_in(too_big)
    nobody, _ = env.publish(n=2, q=500)
    env.commit_flat([start - 8100])
    env.advance(start - 1800)
    service = env.service()
    before = sent_by_aggregator(env)
    steps = {s.request_id: s for s in service.tick()}
    assert steps[too_big].kind == "skipped" and "tolerance" in steps[too_big].describe()
    assert steps[nobody].kind == "skipped" and "nobody opted in" in steps[nobody].describe()
    assert [s for s in service.tick() if s.request_id in (too_big, nobody)] == []
    assert sent_by_aggregator(env) == before
    assert env.client().request(too_big).status is RequestStatus.OPEN


def test_a_restarted_service_continues_and_sends_nothing_twice(env, snapshot):
    first = env.service()
    flow = run_to_replacement(env, first)
    rid, start, failing = flow["rid"], flow["start"], flow["failing"]
    assert kinds(flow["steps"]) == ["replaced"]
    # "Restart": a new service with nothing but the chain. Nothing is due, nothing is sent.
    before = sent_by_aggregator(env)
    second = env.service()
    assert [s for s in second.tick() if s.request_id == rid] == []
    assert [s for s in first.tick() if s.request_id == rid] == []
    assert sent_by_aggregator(env) == before
    assert env.client().opt_in_of(rid, failing)[1] is MemberStatus.REPLACED

    # The rest of the window is metered while no service runs; a third instance in a thread
    # proposes the settlement, finalizes it once the challenge window is over, is stopped,
    # and a fourth finds nothing left to do.
    finish_window(env, rid, start, failing)
    seen: list[str] = []
    third = env.service(on_step=lambda s: seen.append(s.kind), poll_s=0.2)
    stop = threading.Event()
    thread = threading.Thread(target=third.run, args=(stop,), daemon=True)
    thread.start()
    deadline = time.time() + 60
    while env.client().request(rid).status is not RequestStatus.SETTLING:
        assert time.time() < deadline, "the service did not propose the settlement"
        time.sleep(0.2)
    past_challenge(env, rid)
    while env.client().request(rid).status is not RequestStatus.SETTLED:
        assert time.time() < deadline, "the service did not finalize"
        time.sleep(0.2)
    stop.set()
    thread.join(10)
    assert not thread.is_alive()
    assert seen.count("settlement_proposed") == 1 and seen.count("finalized") == 1
    after = sent_by_aggregator(env)
    assert [s for s in env.service().tick() if s.request_id == rid] == []
    assert sent_by_aggregator(env) == after
    for name in ("CoalitionProposed", "MemberReplaced", "SettlementProposed",
                 "SettlementFinalized"):
        assert len(env.events(name, rid)) == 1, name
    # The replaced member keeps a record: reliability below 1 from now on.
    assert env.service().reliability()[failing] < 1.0


def test_only_the_coalition_coordinator_acts_on_an_accepted_request(env, snapshot):
    """Another aggregator's service leaves a request it did not propose alone."""
    service = env.service()
    rid, start = env.publish(n=2, q=400)
    env.opt_in(rid, MEMBERS[:3])
    env.commit_flat([start - 8100])
    env.advance(start - 1800)
    assert kinds([s for s in service.tick() if s.request_id == rid]) == ["proposed"]
    env.client(DSO).accept_coalition(rid)
    env.advance(start + 2 * 900 + 60)
    # The DSO account runs no aggregator service: a service whose sender is the DSO does
    # nothing on this request (it is not its coordinator).
    from coalitions.service import CoalitionService, ServiceConfig

    other = CoalitionService(
        env.client(DSO), env.meters(), env.platform.registry(), ServiceConfig()
    )
    assert [s for s in other.tick() if s.request_id == rid] == []
    assert env.client().request(rid).status is RequestStatus.ACCEPTED


def test_offers_come_from_committed_forecasts_else_from_the_meter_history(env, snapshot):
    from core.oracle_codec import ForecastRow
    from oracles.forecast import commit_forecasts
    from tests.coalitions.coordination_env import ORACLE, meter

    rid, start = env.publish(n=2, q=400)
    env.opt_in(rid, MEMBERS[:3], max_wh=1000)
    env.commit_flat([start - 8100])  # history: 1,000 Wh per interval for everyone
    # Member 5's forecast: 2,000 Wh (q50) and 1,000 Wh (q10) per window interval.
    rows = [
        ForecastRow(meter(5), start + 900 * k, 1000, 2000, 2400, "test-model") for k in range(2)
    ]
    env.forecasts().enrol_participants([meter(5)])
    report = commit_forecasts(env.forecasts(), env.accounts[ORACLE], rows, now_s=0)
    assert report.committed == 2
    service = env.service()
    info = env.client().request(rid)
    offers = {o.member: o for o in service.offers(info, service.opt_ins(rid), start - 1800)}
    # The flexibility model: 25 % of the load (8 kW and 4 kW mean power) for 15 minutes.
    assert offers[env.addr(5)].flex_wh == (500, 500)
    assert offers[env.addr(5)].flex_q10_wh == (250, 250)
    # Without a forecast: the mean import of the last metered intervals (1,000 Wh: 250 Wh).
    assert offers[env.addr(6)].flex_wh == (250, 250) and offers[env.addr(6)].flex_q10_wh is None
    assert all(o.reliability == 1.0 and o.max_wh == 1000 for o in offers.values())


def test_offers_come_from_the_homes_twins_where_the_application_has_them(env, snapshot):
    """A twin's estimate (Wh per interval, what the home can shift without discomfort) comes
    first, capped by the opt-in's maximum; members without one fall back as before."""
    rid, start = env.publish(n=2, q=400)
    env.opt_in(rid, MEMBERS[:3], max_wh=300)
    env.commit_flat([start - 8100])
    asked: list[tuple[int, list[str]]] = []

    def estimates(info, members):  # type: ignore[no-untyped-def]
        asked.append((info.request_id, members))
        return {env.addr(5): [120, 480], env.addr(6): [0, 40]}

    service = env.service(estimates=estimates)
    info = env.client().request(rid)
    offers = {o.member: o for o in service.offers(info, service.opt_ins(rid), start - 1800)}
    assert asked and asked[0][0] == rid
    assert offers[env.addr(5)].flex_wh == (120, 300)  # capped by the opt-in's 300 Wh
    assert offers[env.addr(6)].flex_wh == (0, 40)  # its physics: nothing in the first interval
    assert offers[env.addr(7)].flex_wh == (250, 250)  # no twin: the meter history


def test_a_member_without_meter_data_is_settled_with_the_interval_flagged(env, snapshot):
    """After settle_wait_s the missing intervals are flagged (the contract checks there is no
    commitment): nothing delivered or credited there, the shortfall penalised."""
    from chain.coordination import unpack_proposal_deliveries
    from settlement.verify import verify_settlement
    from tests.coalitions.coordination_env import metered

    service = env.service(settle_wait_s=600)
    rid, start = env.publish(n=2, q=400)
    env.opt_in(rid, MEMBERS[:3])
    env.advance(start - 1800 + 5)
    env.commit_flat([start - 3600, start - 2700])
    assert kinds(service.tick()) == ["proposed"]
    env.client(DSO).accept_coalition(rid)
    rows = env.client().coalition_rows(rid)
    silent = rows[0]
    env.advance(start + 2 * 900 + 30)
    env.commit_flat([start - 1800, start - 900])
    for k in range(2):
        values = metered(env, rows, k)
        if k == 1:
            del values[env.index_of(silent.member)]
        env.commit(start + 900 * k, values)
    assert [s for s in service.tick() if s.request_id == rid] == []  # waits for the data
    env.advance(start + 2 * 900 + 600)
    [step] = [s for s in service.tick() if s.request_id == rid]
    assert step.kind == "settlement_proposed" and step.detail["missing"] == 1
    [ev] = env.events("SettlementProposed", rid)
    deliveries = unpack_proposal_deliveries([int(w) for w in ev["args"]["deliveries"]], rows, TOL)
    d = deliveries[0]
    assert d.missing == frozenset({1}) and d.credited_wh[1] == 0 and d.delivered_wh[1] == 0
    assert d.shortfall_wh[1] == silent.targets_wh[1] * 9 // 10
    report = verify_settlement(
        env.w3, env.deployment.address("FlexCoordination"),
        env.deployment.address("MeterOracle"), env.platform.artifacts, rid,
    )
    assert report.matches, report.differences
    assert report.state == "proposed"
    # After the challenge window the service finalizes; nothing is left to do.
    past_challenge(env, rid)
    [step] = [s for s in service.tick() if s.request_id == rid]
    assert step.kind == "finalized" and step.detail["disputes"] == 0
    assert env.client().request(rid).status is RequestStatus.SETTLED


def test_anyone_settles_a_request_whose_coordinator_vanished(env, snapshot):
    """The coordinator proposed the coalition and disappeared: during the grace period after
    the window another aggregator's service leaves the request alone; after it, that service
    proposes the settlement (with its bond) and finalizes it."""
    from coalitions.service import CoalitionService, ServiceConfig
    from tests.coalitions.coordination_env import OPERATOR, metered

    rid, start = env.publish(n=2, q=400)
    env.opt_in(rid, MEMBERS[:3])
    env.advance(start - 1800 + 5)
    env.commit_flat([start - 3600, start - 2700])
    assert kinds([s for s in env.service().tick() if s.request_id == rid]) == ["proposed"]
    env.client(DSO).accept_coalition(rid)
    rows = env.client().coalition_rows(rid)
    env.advance(start + 2 * 900 + 30)
    env.commit_flat([start - 1800, start - 900])
    for k in range(2):
        env.commit(start + 900 * k, metered(env, rows, k))
    other = CoalitionService(
        env.client(OPERATOR), env.meters(), env.platform.registry(), ServiceConfig()
    )
    # The operator may propose at once (a market operator is a coordinator everywhere), but
    # this service only steps in for requests it does not coordinate after the grace period.
    assert [s for s in other.tick() if s.request_id == rid] == []
    _, grace, _ = env.client().settlement_terms()
    env.advance(start + 2 * 900 + grace)
    [step] = [s for s in other.tick() if s.request_id == rid]
    assert step.kind == "settlement_proposed"
    assert env.client().request(rid).proposer == env.addr(OPERATOR)
    past_challenge(env, rid)
    assert kinds([s for s in other.tick() if s.request_id == rid]) == ["finalized"]


def test_two_instances_racing_send_one_proposal(env, snapshot):
    """An instance acting on a stale view (it read the request before the other proposed) is
    refused by the contract before anything is sent, and carries on."""
    rid, start = env.publish(n=2, q=400)
    env.opt_in(rid, MEMBERS[:3])
    env.commit_flat([start - 8100])
    env.advance(start - 1800)
    a, b = env.service(), env.service()
    stale = env.client().request(rid)
    assert kinds([s for s in a.tick() if s.request_id == rid]) == ["proposed"]
    before = sent_by_aggregator(env)
    assert b._maybe_propose(stale, start - 1700) is None
    assert sent_by_aggregator(env) == before
    assert len(env.events("CoalitionProposed", rid)) == 1


def test_forming_a_coalition_in_a_thread_leaves_ctrl_c_to_the_process():
    """``bright up`` stops on Ctrl-C with its cleanup (chain state saved, anvil stopped) after
    the service has formed coalitions in its thread: CP-SAT must not take SIGINT over."""
    import os
    import signal

    from coalitions.domain import MemberOffer
    from coalitions.engine import form_coalition
    from core.rules import FlexRequest

    request = FlexRequest(1, 900 * 10, (100, 100))
    offers = [MemberOffer(f"m{i}", (60, 60), 60) for i in range(3)]
    caught: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda *_: caught.append(1))
    try:
        thread = threading.Thread(target=form_coalition, args=(request, offers))
        thread.start()
        thread.join()
        pid = os.fork()
        if pid == 0:  # the child receives Ctrl-C: its Python handler must run
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.2)
            os._exit(0 if caught else 1)
        _, status = os.waitpid(pid, 0)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
