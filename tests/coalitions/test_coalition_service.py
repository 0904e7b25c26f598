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
    CoordEnv,
    finish_window,
    kinds,
    make_env,
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
    assert step.detail["members"] == 2 and step.detail["reserves"] == 1
    rows = env.client().coalition_rows(rid)
    assert [sum(r.targets_wh[k] for r in rows) for k in range(2)] == [400, 400]
    assert all(t <= 250 for r in rows for t in r.targets_wh)  # the fallback offer: 25 % load
    assert "2 members, 1 reserves" in step.describe()
    statuses = {env.client().opt_in_of(rid, env.addr(i))[1] for i in MEMBERS[:3]}
    assert statuses == {MemberStatus.MEMBER, MemberStatus.RESERVE}
    # Waiting for the DSO: nothing more to do.
    assert [s for s in service.tick() if s.request_id == rid] == []


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
    # settles, is stopped, and a fourth finds nothing left to do.
    finish_window(env, rid, start, failing)
    seen: list[str] = []
    third = env.service(on_step=lambda s: seen.append(s.kind), poll_s=0.2)
    stop = threading.Event()
    thread = threading.Thread(target=third.run, args=(stop,), daemon=True)
    thread.start()
    deadline = time.time() + 60
    while env.client().request(rid).status is not RequestStatus.SETTLED:
        assert time.time() < deadline, "the service did not settle"
        time.sleep(0.2)
    stop.set()
    thread.join(10)
    assert not thread.is_alive()
    assert "settled" in seen
    after = sent_by_aggregator(env)
    assert [s for s in env.service().tick() if s.request_id == rid] == []
    assert sent_by_aggregator(env) == after
    for name in ("CoalitionProposed", "MemberReplaced", "RequestSettled"):
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
