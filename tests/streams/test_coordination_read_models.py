"""FlexCoordination read models from real chain events on the shared anvil, on SQLite and
PostgreSQL: a request through opt-ins (wallet and relayed signatures), a rejected and an
accepted coalition, a replacement, a settlement proposed with a wrong row, disputed and
finalized, and a claim, plus a reclaimed request. The read models must say what the contract
says (the proposal's state while it is open, the corrected row, the final figures), equal a
rebuild from block 0, and not change when the events are delivered again."""

from __future__ import annotations

import itertools
from typing import Any

from sqlalchemy import select

from chain.coordination import (
    FlexCoordinationClient,
    MemberStatus,
    coordination_client,
    member_deliveries,
)
from chain.domain import Role
from chain.indexer import web3_rpc
from chain.oracles import MeterOracleClient
from core.codec import CoalitionRow
from core.oracle_codec import MeterValue
from core.rules import required_escrow
from settlement.disputes import row_evidence
from settlement.service import MeterValues, compute_chain_settlement
from streams.coordination import coordination
from streams.db import migrate
from streams.models import (
    FlexAccount,
    FlexCoalitionMember,
    FlexMemberInterval,
    FlexOptIn,
    FlexRequest,
    FlexRequestInterval,
)
from streams.runner import EmbeddedRunner
from streams.store import ReadModelStore

DSO, AGG, ORACLE = 1, 2, 4
MEMBERS = (5, 6, 7, 8, 9, 10, 11)
PRICE, PENALTY, TOL, N, Q = 200, 100, 1000, 4, 1000
NONCES = itertools.count(1)
OPT_IN_STATUS = {
    MemberStatus.OPTED_IN: "opted",
    MemberStatus.MEMBER: "member",
    MemberStatus.RESERVE: "reserve",
    MemberStatus.REPLACED: "replaced",
}


def _now(w3) -> int:
    return int(w3.eth.get_block("latest")["timestamp"])


def _advance_to(w3, ts: int) -> None:
    w3.provider.make_request("evm_setNextBlockTimestamp", [max(ts, _now(w3) + 1)])
    w3.provider.make_request("evm_mine", [])


def _meter(i: int) -> str:
    return f"meter-{i}"


COLUMNS_0008 = {
    "baseline_intervals",
    "baseline_gap_intervals",
    "settlement_state",
    "settlement_proposer",
    "challenge_ends_s",
    "settlement_bond",
    "proposed_payout_total",
    "dispute_count",
    "bond_paid_to",
    "disputed_by",
}
"""The columns migration 0008 adds (empty after an upgrade until the projection runs again)."""


def coordination_rows(
    store: ReadModelStore, chain_id: int, skip: set[str] = frozenset()  # type: ignore[assignment]
) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the coordination read models of ``chain_id`` as comparable plain data
    (without the columns in ``skip``)."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    with store.sessions() as s:
        for model in (
            FlexRequest,
            FlexOptIn,
            FlexCoalitionMember,
            FlexMemberInterval,
            FlexAccount,
            FlexRequestInterval,
        ):
            cols = [c.name for c in model.__table__.columns if c.name not in skip]
            rows = s.scalars(select(model).where(model.chain_id == chain_id))
            out[model.__tablename__] = sorted(
                tuple(repr(getattr(r, c)) for c in cols) for r in rows
            )
    return out


def test_coordination_read_models(platform, dev_accounts, snapshot, store, w3, artifacts):
    admin = dev_accounts[0]
    oracles = coord = platform.deployment.contracts  # the platform's oracles and coordination
    deployment = platform.deployment
    chain_id = deployment.chain_id
    registrations = [
        (dev_accounts[DSO].address, Role.DSO, "feeder-1", ""),
        (dev_accounts[AGG].address, Role.AGGREGATOR, "feeder-1", ""),
        (dev_accounts[ORACLE].address, Role.ORACLE, "feeder-1", ""),
    ]
    registrations += [
        (dev_accounts[i].address, Role.PROSUMER, "feeder-1", _meter(i)) for i in MEMBERS
    ]
    platform.registry(admin).register_batch(registrations)
    meters = MeterOracleClient(
        w3,
        oracles["MeterOracle"].address,
        artifacts["MeterOracle"],
        platform.sender(dev_accounts[ORACLE]),
    )
    meters.enrol_meters([_meter(i) for i in MEMBERS])
    address = coord["FlexCoordination"].address
    platform.token(admin).mint_batch(
        [(dev_accounts[DSO].address, 10**12), (dev_accounts[AGG].address, 10**12)]
    )
    platform.token(dev_accounts[DSO]).approve(address, 10**12)

    def client(i: int) -> FlexCoordinationClient:
        return coordination_client(w3, address, artifacts, platform.sender(dev_accounts[i]))

    def addr(i: int) -> str:
        return str(dev_accounts[i].address)

    dso, agg = client(DSO), client(AGG)
    start = (_now(w3) // 900 + 8) * 900
    escrow = required_escrow([Q] * N, TOL, PRICE) + 777
    _, rid = dso.publish_request(
        start,
        [Q] * N,
        TOL,
        PRICE,
        start - 1800,
        escrow,
        grid_area="feeder-1",
        penalty_per_kwh=PENALTY,
        baseline_intervals=2,
        baseline_gap_intervals=1,
    )
    _, reclaimed = dso.publish_request(
        start, [500, 700], TOL, PRICE, start - 900, required_escrow([500, 700], TOL, PRICE)
    )
    for i in (11, 5, 6, 10):  # 11 opts in first and is never in a coalition
        client(i).opt_in(rid, 600)
    agg.opt_in_signed(rid, [agg.sign_opt_in(dev_accounts[i], rid, 600) for i in (7, 8, 9)])
    client(10).opt_in(reclaimed, 400)

    # Round 0 is rejected; round 1: four members, reserve 9, member 6 replaced from interval 2.
    agg.propose_coalition(
        rid, PRICE, [CoalitionRow(addr(i), _meter(i), (500,) * N) for i in (5, 6)]
    )
    dso.reject_coalition(rid)
    targets = {5: 300, 6: 300, 7: 250, 8: 150}
    rows = [CoalitionRow(addr(i), _meter(i), (t,) * N) for i, t in targets.items()]
    agg.propose_coalition(rid, PRICE - 10, rows, [addr(9)])
    dso.accept_coalition(rid)
    _, rows = agg.replace_member(rid, rows, addr(6), addr(9), _meter(9), 2)

    # After the window: meter data (the baseline: two intervals ending one before the window;
    # member 8's meter silent in interval 3), a settlement proposed with member 7's row wrong,
    # the read side projected while it is open, a dispute, the finalization.
    _advance_to(w3, start + 900 * N + 60)
    delivered = {
        addr(5): (330, 300, 400, 290),
        addr(6): (300, 100, 0, 0),
        addr(7): (0, 0, 10, 0),  # all but nothing: a penalty beyond its reward
        addr(8): (150, 150, 150, 0),
        addr(9): (0, 0, 300, 300),
    }
    ids = {row.member: row.meter_id for row in rows}
    for k in (-3, -2):
        values = [MeterValue(m, start + 900 * k, 1000, 0) for m in ids.values()]
        meters.commit(dev_accounts[ORACLE], values, nonce=next(NONCES))
    for k in range(N):
        values = [
            MeterValue(m, start + 900 * k, 1000 - delivered[who][k], 0)
            for who, m in ids.items()
            if (who, k) != (addr(8), 3)
        ]
        meters.commit(dev_accounts[ORACLE], values, nonce=next(NONCES))
    current = MeterValues(meters)
    current.refresh()
    honest = compute_chain_settlement(dso.request(rid), [Q] * N, rows, current.net_wh())
    results, deliveries = honest.results, honest.deliveries
    assert [d.delivered_wh for d in deliveries] == list(delivered.values())
    assert any(r.points < 0 for r in results) and any(r.penalty_uncovered for r in results)
    lie = list(deliveries)
    lie[2] = member_deliveries((250, 250, 250, 250), frozenset(), rows[2].targets_wh, TOL)
    agg.propose_settlement(rid, rows, lie)
    proposed = EmbeddedRunner.build(web3_rpc(w3), deployment, store, artifacts)
    proposed.poll_once()
    with store.sessions() as s:
        r = s.get(FlexRequest, (chain_id, rid))
        assert r is not None and r.status == "accepted" and r.settlement_state == "proposed"
        assert (r.settlement_proposer, r.dispute_count, r.payout_total) == (addr(AGG), 0, None)
        assert r.challenge_ends_s == dso.request(rid).challenge_ends_s and r.settlement_bond
        seven = s.get(FlexCoalitionMember, (chain_id, rid, addr(7)))
        assert seven is not None and not seven.settled and seven.delivered_total_wh == 1000
        assert seven.payout > results[2].payout
    proposal = agg.settlement_proposal(rid)
    assert proposal is not None
    client(DSO).dispute_settlement(
        rid, rows, proposal, 2, row_evidence(dso.request(rid), rows[2], current)
    )
    escrow_before = platform.token().balance_of(addr(DSO))
    _advance_to(w3, dso.request(rid).challenge_ends_s)
    proposal = agg.settlement_proposal(rid)
    assert proposal is not None and proposal.results == results
    agg.finalize_settlement(rid, rows, proposal)
    refund = escrow - sum(r.payout for r in results)
    assert platform.token().balance_of(addr(DSO)) == escrow_before + refund
    client(5).claim_payout()
    dso.reclaim_escrow(reclaimed)

    runner = EmbeddedRunner.build(web3_rpc(w3), deployment, store, artifacts)
    runner.poll_once()

    # The read models say what the contract says.
    with store.sessions() as s:
        for request_id in (rid, reclaimed):
            info = dso.request(request_id)
            r = s.get(FlexRequest, (chain_id, request_id))
            assert r is not None
            assert r.status == info.status.name.lower()
            assert (r.dso, r.grid_area, r.window_start_s, r.intervals) == (
                info.dso,
                info.grid_area,
                info.window_start_s,
                info.intervals,
            )
            assert (r.tolerance_bp, r.price_cap_per_kwh, r.penalty_per_kwh, r.escrow) == (
                info.tolerance_bp,
                info.price_cap_per_kwh,
                info.penalty_per_kwh,
                info.escrow,
            )
            assert r.opt_in_deadline_s == info.opt_in_deadline_s
            assert r.baseline_method == info.baseline_method_id
            assert r.baseline_hash == "0x" + info.baseline_hash.hex()
            assert r.quantities_wh == list(dso.quantities_wh(request_id))
            assert r.round == info.round and r.row_count == info.rows
            assert r.direction == info.direction.name.lower()
            for m in MEMBERS:
                max_wh, status = dso.opt_in_of(request_id, addr(m))
                o = s.get(FlexOptIn, (chain_id, request_id, addr(m)))
                if max_wh == 0:
                    assert o is None
                else:
                    assert o is not None and (o.max_wh, o.status) == (max_wh, OPT_IN_STATUS[status])
        r = s.get(FlexRequest, (chain_id, rid))
        assert r is not None and r.status == "settled" and r.round == 1
        assert (r.settlement_state, r.dispute_count, r.bond_paid_to) == (
            "finalized",
            1,
            addr(DSO),
        )
        assert (r.baseline_intervals, r.baseline_gap_intervals) == (2, 1)
        assert r.proposed_payout_total == sum(x.payout for x in results)
        assert (r.coordinator, r.price_per_kwh, r.payout_total, r.refund) == (
            addr(AGG),
            PRICE - 10,
            sum(x.payout for x in results),
            refund,
        )
        assert r.settlement_hash == "0x" + dso.request(rid).settlement_hash.hex()
        assert r.targets_hash == "0x" + dso.request(rid).targets_hash.hex()
        assert r.opt_in_count == 7
        gone = s.get(FlexRequest, (chain_id, reclaimed))
        assert gone is not None and gone.status == "reclaimed" and gone.refund == gone.escrow
        assert s.get(FlexOptIn, (chain_id, rid, addr(7))).relayer == addr(AGG)
        assert s.get(FlexOptIn, (chain_id, rid, addr(5))).relayer == addr(5)

        # The coalition: the table rebuilt from the chain's events, with the settlement.
        members = list(
            s.scalars(
                select(FlexCoalitionMember)
                .where(
                    FlexCoalitionMember.chain_id == chain_id, FlexCoalitionMember.request_id == rid
                )
                .order_by(FlexCoalitionMember.row_index)
            )
        )
        onchain_rows = agg.coalition_rows(rid)
        assert [m.member for m in members] == [row.member for row in onchain_rows]
        assert [m.meter_id for m in members] == [row.meter_id for row in onchain_rows]
        assert [m.status for m in members] == ["member", "replaced", "member", "member", "member"]
        assert (members[1].replaced_by, members[1].replaced_from) == (addr(9), 2)
        assert members[4].replaces == addr(6)
        assert [m.disputed_by for m in members] == [None, None, addr(DSO), None, None]
        for m, row, res, d in zip(members, onchain_rows, results, deliveries, strict=True):
            assert m.target_total_wh == sum(row.targets_wh)
            assert (m.payout, m.penalty_uncovered, m.points, m.settled) == (
                res.payout,
                res.penalty_uncovered,
                res.points,
                True,
            )
            assert m.delivered_total_wh == sum(d.delivered_wh)
            cells = list(
                s.scalars(
                    select(FlexMemberInterval)
                    .where(
                        FlexMemberInterval.chain_id == chain_id,
                        FlexMemberInterval.request_id == rid,
                        FlexMemberInterval.member == m.member,
                    )
                    .order_by(FlexMemberInterval.interval_index)
                )
            )
            assert tuple(c.target_wh for c in cells) == row.targets_wh
            assert tuple(c.delivered_wh for c in cells) == d.delivered_wh
            assert tuple(c.credited_wh for c in cells) == d.credited_wh
            assert tuple(c.shortfall_wh for c in cells) == d.shortfall_wh
            assert {c.interval_index for c in cells if c.missing_data} == set(d.missing)
            assert [c.interval_start_s for c in cells] == [start + 900 * k for k in range(N)]

        totals = list(
            s.scalars(
                select(FlexRequestInterval)
                .where(
                    FlexRequestInterval.chain_id == chain_id, FlexRequestInterval.request_id == rid
                )
                .order_by(FlexRequestInterval.interval_index)
            )
        )
        assert [(t.interval_index, t.requested_wh) for t in totals] == [(k, Q) for k in range(N)]
        for k, t in enumerate(totals):
            assert t.target_wh == sum(row.targets_wh[k] for row in onchain_rows)
            assert t.delivered_wh == sum(d.delivered_wh[k] for d in deliveries)
            assert t.credited_wh == sum(d.credited_wh[k] for d in deliveries)
            assert t.shortfall_wh == sum(d.shortfall_wh[k] for d in deliveries)
            assert t.members_without_data == (1 if k == 3 else 0)

        # Accounts: claimable and reputation as the contract holds them (reputation from the
        # results words: the projection does not read ReputationAwarded).
        assert not coordination.handles("FlexCoordination", "ReputationAwarded")
        for m in MEMBERS:
            acct = dso.account(addr(m))
            row_ = s.get(FlexAccount, (chain_id, addr(m)))
            assert row_ is not None
            assert (row_.claimable, row_.reputation, row_.settled_count, row_.opt_in_count) == (
                acct.claimable,
                acct.reputation,
                acct.settled,
                acct.opt_ins,
            )
        five = s.get(FlexAccount, (chain_id, addr(5)))
        assert five is not None and five.claimable == 0 and five.claimed_total == results[0].payout
        assert five.earned_total == results[0].payout > 0

    # Delivered twice (as a Kafka consumer would): nothing changes.
    before = coordination_rows(store, chain_id)
    assert before["flex_member_intervals"] and before["flex_accounts"]
    events = list(store.events(chain_id))
    assert store.apply_events(events) == 0
    assert coordination_rows(store, chain_id) == before

    # Replayed from the stored events, and rebuilt from block 0 by the real indexer: the same.
    assert store.replay_projection("coordination", chain_id) > 0
    assert coordination_rows(store, chain_id) == before
    store.rollback(chain_id, None)
    assert coordination_rows(store, chain_id) == {k: [] for k in before}
    EmbeddedRunner.build(web3_rpc(w3), deployment, store, artifacts).poll_once()
    assert coordination_rows(store, chain_id) == before

    # A database projected before 0005 gets the per-interval totals from the upgrade; 0008's
    # columns come back empty, and the projection replayed fills them.
    before_0008 = coordination_rows(store, chain_id, COLUMNS_0008)
    _downgrade(store.engine, "0004_coordination")
    migrate(store.engine)
    assert coordination_rows(store, chain_id, COLUMNS_0008) == before_0008
    assert coordination_rows(store, chain_id) != before
    assert store.replay_projection("coordination", chain_id) > 0
    assert coordination_rows(store, chain_id) == before

    # On the Kafka bus a claim (keyed by the member) may overtake the settlement that credited
    # it (keyed by the request): applied first, the accounts still end up the same.
    store.rollback(chain_id, None)
    claims = [e for e in events if e.event == "PayoutClaimed"]
    assert len(claims) == 1
    assert store.apply_events(claims) == 1
    assert store.apply_events([e for e in events if e.event != "PayoutClaimed"]) > 0
    assert coordination_rows(store, chain_id) == before

    # One event per transaction (a consumer's smallest batches): the same rows as one chunk
    # (the written-behind opt-ins must not depend on where a chunk ends).
    store.rollback(chain_id, None)
    for e in events:
        assert store.apply_events([e]) == 1
    assert coordination_rows(store, chain_id) == before


def test_coordination_migrations_give_the_models_and_downgrade(db_url):
    """Migrations 0004 and 0005 create exactly the models' tables, columns and indexes;
    downgrading to 0003 removes them and leaves the rest; upgrading again restores them."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import inspect

    from streams.db import head_revision, make_engine, migrate, schema_revision
    from streams.models import COORDINATION_TABLES, Base

    engine = make_engine(db_url)
    try:
        migrate(engine)
        assert schema_revision(engine) == head_revision()
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert [d for d in diff if set(COORDINATION_TABLES) & _tables_in(d)] == []
        _downgrade(engine, "0003")
        assert schema_revision(engine) == "0003"
        names = set(inspect(engine).get_table_names())
        assert not names & set(COORDINATION_TABLES) and "meter_intervals" in names
        migrate(engine)
        assert set(COORDINATION_TABLES) <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def _downgrade(engine: Any, revision: str) -> None:
    from alembic import command

    from streams.db import alembic_config

    cfg = alembic_config(engine)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)


def _tables_in(diff: Any) -> set[str]:
    """Table names an Alembic autogenerate diff entry mentions."""
    found: set[str] = set()
    for part in diff if isinstance(diff, list | tuple) else [diff]:
        if isinstance(part, list | tuple):
            found |= _tables_in(part)
        name = getattr(part, "name", None)
        table = getattr(part, "table", None)
        if isinstance(name, str):
            found.add(name)
        if table is not None and isinstance(getattr(table, "name", None), str):
            found.add(table.name)
        if isinstance(part, str):
            found.add(part)
    return found


def test_read_side_bench_runs_and_checks_itself():
    """The benchmark (small): every event applied, the coalition served whole, figures out."""
    from bright.bench_read_side import bench_coordination_read_side, coordination_events

    phases = coordination_events(members=6, intervals=3)
    assert [e.event for e in phases["coalition"]] == [
        "CoalitionProposed",
        "CoalitionAccepted",
        "MemberReplaced",
    ]
    out = bench_coordination_read_side(members=6, intervals=3, repeat=2)
    assert out["events"] == sum(len(v) for v in phases.values())
    assert out["member_intervals"] == 7 * 3 and out["database"] == "sqlite"
    assert set(out["api"]) >= {"baseline_health", "coalition_500_rows_dso", "intervals", "account"}
    assert all(v["p99_ms"] >= v["median_ms"] > 0 for v in out["api"].values())
    assert out["peak_rss_mb"] > 0
