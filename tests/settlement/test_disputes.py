"""The dispute watcher on anvil: it finds a wrong settlement proposal by itself and disputes
the wrong row with its meter evidence (the contract corrects it, the bond goes to the watcher's
account), leaves an honest proposal alone without sending anything, and takes data the oracle
commits during the challenge window into account; ``bright settle verify`` then lists the
dispute. Also the latency benchmark (small)."""

from __future__ import annotations

import threading
import time

import pytest

from chain.coordination import RequestStatus, member_deliveries
from chain.deploy import COORDINATION_BOND
from settlement.disputes import DisputeWatcher, row_evidence
from settlement.service import MeterValues, compute_chain_settlement
from settlement.verify import verify_settlement
from tests.coalitions.coordination_env import (
    AGG,
    DSO,
    MEMBERS,
    TOL,
    CoordEnv,
    make_env,
    metered,
    past_challenge,
)


@pytest.fixture(scope="module")
def env(w3, artifacts, admin, dev_accounts) -> CoordEnv:
    return make_env(w3, artifacts, admin, dev_accounts)


def accepted_window(env: CoordEnv, skip: frozenset = frozenset()):
    """A request through its window: coalition proposed by the service, accepted, the
    baseline hour and the window metered (every member delivering, but ``skip``: (row, k)
    without data). Returns (rid, start, rows, honest settlement)."""
    rid, start = env.publish(n=2, q=400)
    env.opt_in(rid, MEMBERS[:4])
    env.advance(start - 1800 + 5)
    env.commit_flat([start - 3600, start - 2700])
    [step] = [s for s in env.service().tick() if s.request_id == rid]
    assert step.kind == "proposed"
    env.client(DSO).accept_coalition(rid)
    rows = env.client().coalition_rows(rid)
    env.advance(start + 2 * 900 + 30)
    env.commit_flat([start - 1800, start - 900])
    for k in range(2):
        values = metered(env, rows, k)
        for i, row in enumerate(rows):
            if (i, k) in skip:
                del values[env.index_of(row.member)]
        env.commit(start + 900 * k, values)
    return rid, start, rows, honest(env, rid, rows)


def honest(env: CoordEnv, rid: int, rows):
    values = MeterValues(env.meters())
    values.refresh()
    info = env.client().request(rid)
    return compute_chain_settlement(info, env.client().quantities_wh(rid), rows, values.net_wh())


def watcher(env: CoordEnv, **kw) -> DisputeWatcher:
    return DisputeWatcher(env.client(DSO), env.meters(), **kw)


def sent_by(env: CoordEnv, i: int) -> int:
    return int(env.w3.eth.get_transaction_count(env.addr(i)))


def test_the_watcher_disputes_a_wrong_proposal_by_itself(env, snapshot):
    """End to end on anvil: the aggregator proposes one member's delivery 100 Wh too high;
    the watcher, running in its own thread, disputes that row by itself; the proposal is
    corrected, the bond is the DSO's, the settlement is finalized and verify agrees (and
    lists the dispute)."""
    rid, _, rows, truth = accepted_window(env)
    lie = list(truth.deliveries)
    d = lie[1]
    lie[1] = member_deliveries(
        (d.delivered_wh[0] + 100, *d.delivered_wh[1:]), d.missing, rows[1].targets_wh, TOL
    )
    seen = []
    w = watcher(env, on_step=seen.append)
    stop = threading.Event()
    thread = threading.Thread(target=w.run, args=(stop, 0.1), daemon=True)
    thread.start()
    dso_before = env.platform.token().balance_of(env.addr(DSO))
    try:
        env.client(AGG).propose_settlement(rid, rows, lie)
        deadline = time.time() + 60
        while not env.events("SettlementDisputed", rid):
            assert time.time() < deadline, "the watcher did not dispute"
            time.sleep(0.1)
    finally:
        stop.set()
        thread.join(10)
    [ev] = env.events("SettlementDisputed", rid)
    assert (ev["args"]["row"], ev["args"]["member"], ev["args"]["disputer"]) == (
        1,
        rows[1].member,
        env.addr(DSO),
    )
    assert [s.kind for s in seen] == ["disputed"] and seen[0].row == 1
    assert env.platform.token().balance_of(env.addr(DSO)) == dso_before + COORDINATION_BOND
    proposal = env.client().settlement_proposal(rid)
    assert proposal is not None and proposal.results == truth.results
    past_challenge(env, rid)
    assert [s.kind for s in env.service().tick() if s.request_id == rid] == ["finalized"]
    assert env.client().request(rid).status is RequestStatus.SETTLED
    report = verify_settlement(
        env.w3, env.deployment.address("FlexCoordination"),
        env.deployment.address("MeterOracle"), env.platform.artifacts, rid,
    )
    assert report.matches, report.differences
    assert [(x["row"], x["disputer"], x["bond_paid"]) for x in report.disputes] == [
        (1, env.addr(DSO), COORDINATION_BOND)
    ]


def test_an_honest_proposal_is_left_alone(env, snapshot):
    rid, _, rows, truth = accepted_window(env)
    env.client(AGG).propose_settlement(rid, rows, truth.deliveries)
    w = watcher(env)
    before = sent_by(env, DSO)
    assert w.tick() == [] and w.tick() == []
    assert sent_by(env, DSO) == before
    # The evidence it would give for any row is what the contract recounts as proposed.
    proposal = env.client().settlement_proposal(rid)
    assert proposal is not None
    values = MeterValues(env.meters())
    values.refresh()
    readings = row_evidence(env.client().request(rid), rows[0], values)
    from chain.errors import revert_error

    with pytest.raises(revert_error("FlexCoordinationRowCorrect")):
        env.client(DSO).dispute_settlement(rid, rows, proposal, 0, readings)


def test_data_committed_during_the_challenge_window_is_disputed_in(env, snapshot):
    """A member's meter was silent in interval 1 when the settlement was proposed (flagged,
    as the contract requires); the oracle commits the value later, inside the challenge
    window: the watcher disputes the row with the new reading and the flag goes."""
    rid, start, rows, truth = accepted_window(env, skip=frozenset({(0, 1)}))
    assert truth.deliveries[0].missing == frozenset({1})
    env.client(AGG).propose_settlement(rid, rows, truth.deliveries)
    w = watcher(env)
    assert w.tick() == []
    late = metered(env, rows, 1)
    env.commit(start + 900, {env.index_of(rows[0].member): late[env.index_of(rows[0].member)]})
    [step] = w.tick()
    assert step.kind == "disputed" and step.row == 0
    proposal = env.client().settlement_proposal(rid)
    assert proposal is not None
    fixed = proposal.deliveries(rows, TOL)[0]
    assert fixed.missing == frozenset() and fixed.delivered_wh == (
        rows[0].targets_wh[0],
        rows[0].targets_wh[1],
    )
    assert w.tick() == []  # nothing more to correct


def test_dispute_latency_bench_runs_on_a_chain_with_real_blocks():
    from bright.bench_disputes import bench_dispute_latency

    result = bench_dispute_latency(members=3, intervals=2)
    assert result["corrected_to_honest"] and result["bond_paid"] == COORDINATION_BOND
    assert result["blocks_between"] >= 1 and result["proposal_to_dispute_mined_s"] > 0
    assert result["dispute_gas"] > 0 and result["peak_rss_mb"] > 0
