"""The coordination scenario on anvil with the real service, then ``bright settle verify``:
request -> coalition -> delivery with a failing member -> replacement -> settlement proposed ->
verify agrees -> finalized -> verify agrees; a tampered settlement that nobody disputed is found
out; a meter correction after finalization is flagged without changing paid money; bad input
exits 2."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from chain.coordination import RequestStatus, member_deliveries
from chain.deploy import DeploymentsFile
from chain.tx import NonceManager
from settlement.cli import app as settle_app
from settlement.service import MeterValues, compute_chain_settlement
from settlement.verify import VerifyInputError, verify_settlement
from tests.coalitions.coordination_env import (
    AGG,
    DSO,
    TOL,
    CoordEnv,
    finish_window,
    make_env,
    past_challenge,
    run_to_replacement,
)


@pytest.fixture(scope="module")
def env(w3, artifacts, admin, dev_accounts) -> CoordEnv:
    return make_env(w3, artifacts, admin, dev_accounts)


@pytest.fixture(scope="module")
def state_dir(env, tmp_path_factory):
    folder = tmp_path_factory.mktemp("bright-state")
    DeploymentsFile(folder / "deployments.json").save(env.deployment)
    return folder


def verify(env: CoordEnv, rid: int):
    return verify_settlement(
        env.w3,
        env.deployment.address("FlexCoordination"),
        env.deployment.address("MeterOracle"),
        env.platform.artifacts,
        rid,
    )


def cli(env, state_dir, monkeypatch, *args: str):
    monkeypatch.setenv("BRIGHT_STATE_DIR", str(state_dir))
    url = env.w3.provider.endpoint_uri
    return CliRunner().invoke(settle_app, ["verify", *args, "--rpc-url", url])


def test_request_coalition_failing_member_replacement_settlement_verified(
    env, state_dir, monkeypatch
):
    service = env.service()
    flow = run_to_replacement(env, service)
    rid, start, rows, failing = flow["rid"], flow["start"], flow["rows"], flow["failing"]
    proposed = flow["proposed"]
    # The coalition: 1,000 Wh per interval from members who can each shed 25 % of 1,000 Wh
    # (at least four of them), with a reserve.
    assert proposed.detail["members"] == len(rows) >= 4 and proposed.detail["reserves"] >= 1
    assert proposed.detail["worst_deviation_bp"] <= 1000
    assert all(sum(r.targets_wh[k] for r in rows) == 1000 for k in range(4))
    # Interval 0 metered: the failing member delivered nothing and is replaced from interval 2
    # (interval 1 has started).
    [replaced] = [s for s in flow["steps"] if s.kind == "replaced"]
    assert replaced.detail["member"] == failing and replaced.detail["from_interval"] == 2
    assert replaced.detail["delivered_wh"] == 0
    [ev] = env.events("MemberReplaced", rid)
    assert ev["args"]["member"] == failing
    table = env.client().coalition_rows(rid)
    assert table[0].targets_wh[2:] == (0, 0) and table[-1].member == replaced.detail["reserve"]

    finish_window(env, rid, start, failing)
    # Tampered: the aggregator proposes 5 Wh less for a member than its meter shows, nobody
    # disputes in the challenge window, the settlement is finalized: verify finds it out.
    snap = env.w3.provider.make_request("evm_snapshot", [])["result"]
    try:
        values = MeterValues(env.meters())
        values.refresh()
        info = env.client().request(rid)
        honest = compute_chain_settlement(
            info, env.client().quantities_wh(rid), table, values.net_wh()
        )
        lie = list(honest.deliveries)
        k = next(i for i, d in enumerate(lie) if d.credited_wh[0] >= 5 and not d.missing)
        d = lie[k]
        lie[k] = member_deliveries(
            (d.delivered_wh[0] - 5, *d.delivered_wh[1:]), d.missing, table[k].targets_wh, TOL
        )
        env.client(AGG).propose_settlement(rid, table, lie)
        past_challenge(env, rid)
        proposal = env.client().settlement_proposal(rid)
        assert proposal is not None
        env.client(DSO).finalize_settlement(rid, table, proposal)
        report = verify(env, rid)
        assert not report.matches and report.state == "finalized"
        fields = {d["field"] for d in report.differences}
        assert {
            f"row {k} ({table[k].member}).delivered_wh[0]",
            f"row {k} ({table[k].member}).credited_wh[0]",
            f"row {k} ({table[k].member}).payout",
            f"row {k} ({table[k].member}).points",
            "payout_total",
            "refund",
        } <= fields
        result = cli(env, state_dir, monkeypatch, str(rid))
        assert result.exit_code == 1, result.output
        assert "DOES NOT MATCH" in result.output and ".payout" in result.output
    finally:
        env.w3.provider.make_request("evm_revert", [snap])
        NonceManager.reset_all()

    # A restarted service proposes honestly: verify agrees while the proposal is open to
    # disputes, and after the service finalized it.
    steps = env.service().tick()
    [proposed_settlement] = [s for s in steps if s.request_id == rid]
    assert proposed_settlement.kind == "settlement_proposed"
    assert proposed_settlement.detail["rows"] == len(rows) + 1
    assert env.client().request(rid).status is RequestStatus.SETTLING
    report = verify(env, rid)
    assert report.matches and report.state == "proposed", report.differences
    past_challenge(env, rid)
    [finalized] = [s for s in env.service().tick() if s.request_id == rid]
    assert finalized.kind == "finalized"
    info = env.client().request(rid)
    assert info.status is RequestStatus.SETTLED
    [ev] = env.events("SettlementFinalized", rid)
    words = ev["args"]["results"]
    payouts = {row.member: int(w) >> 160 for row, w in zip(table, words, strict=True)}
    # The failing member was short in intervals 0 and 1: its penalties exceed its rewards.
    assert payouts[failing] == 0
    assert payouts[replaced.detail["reserve"]] > 0
    assert int(ev["args"]["payoutTotal"]) + int(ev["args"]["refund"]) == info.escrow
    assert proposed_settlement.detail["penalty_total"] > 0

    report = verify(env, rid)
    assert report.matches, report.differences
    assert report.state == "finalized" and report.disputes == [] and report.flagged == []
    # every row's window and baseline hour (4 intervals each)
    assert report.rows == len(table) and report.values_checked == len(table) * (4 + 4)
    result = cli(env, state_dir, monkeypatch, str(rid), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output.strip().splitlines()[-1])["matches"] is True


def test_a_meter_correction_after_settlement_is_flagged_and_changes_no_money(
    env, state_dir, monkeypatch
):
    """The chain's meter data changed after the settlement was finalized: verify still says
    the paid money matches the data it was settled on, and flags the correction with the
    figures it would have changed."""
    service = env.service()
    flow = run_to_replacement(env, service)
    rid, start, failing = flow["rid"], flow["start"], flow["failing"]
    finish_window(env, rid, start, failing)
    assert [s.kind for s in service.tick() if s.request_id == rid] == ["settlement_proposed"]
    past_challenge(env, rid)
    assert [s.kind for s in service.tick() if s.request_id == rid] == ["finalized"]
    assert verify(env, rid).matches
    row = env.client().coalition_rows(rid)[1]
    paid = env.client().account(row.member).claimable
    from core.oracle_codec import MeterValue
    from tests.coalitions.coordination_env import NONCES, ORACLE

    env.meters().commit(
        env.accounts[ORACLE], [MeterValue(row.meter_id, start + 900, 10, 0)], next(NONCES), True
    )
    report = verify(env, rid)
    assert report.matches, report.differences
    [correction, changes] = report.flagged
    assert (correction["meter"], correction["interval_start_s"], correction["now_wh"]) == (
        row.meter_id,
        start + 900,
        10,
    )
    assert f"row 1 ({row.member}).delivered_wh[1]" in {c["field"] for c in changes["would_change"]}
    assert env.client().account(row.member).claimable == paid  # nothing moved
    result = cli(env, state_dir, monkeypatch, str(rid))
    assert result.exit_code == 0, result.output
    assert "flagged" in result.output and "paid money unchanged" in result.output


def test_verify_refuses_unknown_and_unsettled_requests(env, state_dir, monkeypatch):
    rid, _ = env.publish()
    with pytest.raises(VerifyInputError, match="not settled"):
        verify(env, rid)
    with pytest.raises(VerifyInputError, match="does not exist"):
        verify(env, rid + 1000)
    for args, message in (
        ([str(rid + 1000)], "does not exist"),
        ([str(rid)], "is not settled (status open)"),
        (["0"], "request ids are 1 .. 2**256 - 1"),
        # The review's case: 2**256 gave a web3 traceback and exit 1.
        ([str(2**256)], "request ids are 1 .. 2**256 - 1"),
        (["--session", "0"], "session ids are 1 .. 2**256 - 1"),
        ([str(rid), "--session", "1"], "not both"),
    ):
        result = cli(env, state_dir, monkeypatch, *args)
        assert result.exit_code == 2, result.output
        assert message in result.output
    result = CliRunner().invoke(settle_app, ["verify", "abc"])
    assert result.exit_code == 2
    # Nothing is deployed on this chain according to an empty state folder.
    monkeypatch.setenv("BRIGHT_STATE_DIR", str(state_dir / "empty"))
    result = CliRunner().invoke(
        settle_app, ["verify", str(rid), "--rpc-url", env.w3.provider.endpoint_uri]
    )
    assert result.exit_code == 2 and "not deployed" in result.output
    assert env.client(DSO).request(rid).status is RequestStatus.OPEN


def test_settlement_latency_bench_runs_the_service_on_a_chain_with_real_blocks():
    from bright.bench_settlement import bench_settlement_latency

    result = bench_settlement_latency(members=3, intervals=2)
    assert result["rows"] == 3 and result["intervals"] == 2
    assert result["settle_gas_per_member"] * 3 <= result["settle_gas"]
    assert result["blocks_between"] >= 1  # the settlement is mined after the last commit
    assert result["commit_to_settlement_mined_s"] > 0 and result["peak_rss_mb"] > 0
