"""FlexCoordination through its typed client against anvil: a DSO request with escrow,
opt-ins from wallets and relayed signatures, a coalition within tolerance, acceptance,
replacement of a member by a reserve, and settlement as proposal, dispute and finalization:
the contract computes the money from the proposed deliveries, checks the missing-data flags
against the meter commitments, corrects a disputed row from its meter readings and their
Merkle proofs, and moves every token exactly; every rejection is a typed error. The cheats of
the security review ("Trust end to end") are each refused at proposal or corrected by a
dispute."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chain.coordination import (
    MISSING,
    FlexCoordinationClient,
    MemberStatus,
    RequestStatus,
    coordination_client,
    member_deliveries,
    pack_proposal_deliveries,
)
from chain.deploy import COORDINATION_BOND, COORDINATION_CHALLENGE_S, COORDINATION_GRACE_S
from chain.domain import Role
from chain.errors import revert_error
from chain.market import Reading
from chain.oracles import MeterOracleClient
from core.codec import (
    CoalitionRow,
    EncodingError,
    MemberDeliveries,
    pack_table,
    text_to_bytes32,
    unpack_result,
    unpack_table,
    words_hash,
)
from core.errors import ChainError
from core.oracle_codec import MeterValue
from core.rules import (
    Direction,
    interval_points,
    member_max_payout,
    required_escrow,
    upper_wh,
)
from settlement.baselines import BaselineMethod, MeterBeforeAfterParams, baseline_hash
from settlement.disputes import row_evidence
from settlement.service import ChainSettlement, MeterValues, compute_chain_settlement

DSO, AGG, OPERATOR, ORACLE = 1, 2, 3, 4
MEMBERS = range(5, 13)
OTHER_AREA, OUTSIDER = 13, 25
FUNDS = 10**12
PRICE, PENALTY, TOL = 200, 100, 1000  # base units per kWh, per kWh, basis points
LOAD_WH = 1000  # every meter's import in an interval where it does not deliver
NONCES = itertools.count(1)


def err(name: str) -> type[Exception]:
    return revert_error(name)


def now_s(w3) -> int:
    return int(w3.eth.get_block("latest")["timestamp"])


def advance_to(w3, ts_s: int) -> None:
    w3.provider.make_request("evm_setNextBlockTimestamp", [max(ts_s, now_s(w3) + 1)])
    w3.provider.make_request("evm_mine", [])


def meter(i: int) -> str:
    return f"meter-{i}"


@dataclass
class Env:
    platform: Any
    coord_address: str
    meters: MeterOracleClient
    accounts: Sequence

    def client(self, i: int | None = None) -> FlexCoordinationClient:
        sender = None if i is None else self.platform.sender(self.accounts[i])
        return coordination_client(
            self.platform.w3, self.coord_address, self.platform.artifacts, sender
        )

    def addr(self, i: int) -> str:
        return self.accounts[i].address

    def balance(self, i_or_addr: int | str) -> int:
        a = self.addr(i_or_addr) if isinstance(i_or_addr, int) else i_or_addr
        return self.platform.token().balance_of(a)


@pytest.fixture(scope="module")
def env(platform, admin, dev_accounts, w3, artifacts) -> Env:
    oracles = platform.deployment.contracts  # the platform's MeterOracle and FlexCoordination
    deployed = platform.deployment.contracts
    rows = [
        (dev_accounts[DSO].address, Role.DSO, "feeder-1", ""),
        (dev_accounts[AGG].address, Role.AGGREGATOR, "feeder-1", ""),
        (dev_accounts[OPERATOR].address, Role.MARKET_OPERATOR, "feeder-1", ""),
        (dev_accounts[ORACLE].address, Role.ORACLE, "feeder-1", ""),
        (dev_accounts[OTHER_AREA].address, Role.PROSUMER, "feeder-2", meter(OTHER_AREA)),
    ]
    rows += [(dev_accounts[i].address, Role.PROSUMER, "feeder-1", meter(i)) for i in MEMBERS]
    platform.registry(admin).register_batch(rows)
    meters = MeterOracleClient(
        w3,
        oracles["MeterOracle"].address,
        artifacts["MeterOracle"],
        platform.sender(dev_accounts[ORACLE]),
    )
    meters.enrol_meters([meter(i) for i in MEMBERS] + [meter(OTHER_AREA)])
    address = deployed["FlexCoordination"].address
    # The DSO escrows; the aggregator, the operator and an outsider (no role at all) can post
    # a settlement's bond.
    platform.token(admin).mint_batch(
        [(dev_accounts[i].address, FUNDS) for i in (DSO, AGG, OPERATOR, OUTSIDER)]
    )
    platform.token(dev_accounts[DSO]).approve(address, FUNDS)
    return Env(platform, address, meters, dev_accounts)


@pytest.fixture()
def dso(env, snapshot) -> FlexCoordinationClient:
    return env.client(DSO)


def publish(
    env: Env,
    n: int = 4,
    q: int = 1000,
    tol: int = TOL,
    price: int = PRICE,
    escrow: int | None = None,
    lead_intervals: int = 8,
    deadline_before_start_s: int = 1800,
    direction: Direction = Direction.UP,
) -> tuple[int, int, int]:
    """A request of ``n`` intervals of ``q`` Wh (meter-before baseline: the hour before the
    window); returns (request id, window start, escrow)."""
    start = (now_s(env.platform.w3) // 900 + lead_intervals) * 900
    quantities = [q] * n
    if escrow is None:
        escrow = required_escrow(quantities, tol, price)
    _, rid = env.client(DSO).publish_request(
        start,
        quantities,
        tol,
        price,
        start - deadline_before_start_s,
        escrow,
        grid_area="feeder-1",
        direction=direction,
        penalty_per_kwh=PENALTY,
        baseline_method=int(BaselineMethod.METER_BEFORE_AFTER),
        baseline_hash=baseline_hash(BaselineMethod.METER_BEFORE_AFTER, MeterBeforeAfterParams()),
    )
    return rid, start, escrow


def opt_in_all(env: Env, rid: int, members: Sequence[int], max_wh: int = 1000) -> None:
    for i in members:
        env.client(i).opt_in(rid, max_wh)


def rows_for(env: Env, targets: dict[int, Sequence[int]]) -> list[CoalitionRow]:
    return [CoalitionRow(env.addr(i), meter(i), tuple(t)) for i, t in targets.items()]


def coalition(env: Env, n: int = 4, members: Sequence[int] = (5, 6, 7, 8), reserves=(9,)):
    """Request with an accepted coalition: each member 250 Wh per interval of 1,000 Wh."""
    rid, start, escrow = publish(env, n=n)
    opt_in_all(env, rid, list(members) + list(reserves))
    rows = rows_for(env, {i: [250] * n for i in members})
    env.client(AGG).propose_coalition(rid, PRICE, rows, [env.addr(r) for r in reserves])
    env.client(DSO).accept_coalition(rid)
    return rid, start, escrow, rows


def commit_meters(
    env: Env, start: int, n: int, members: Sequence[str], skip=(), meters=None, wh=500
) -> None:
    """The oracle commits a value (``wh``) for every (meter, interval) but those in ``skip``."""
    oracle = env.accounts[ORACLE]
    meters = env.meters if meters is None else meters
    for k in range(n):
        values = [MeterValue(m, start + 900 * k, wh, 0) for m in members if (m, k) not in skip]
        if values:
            meters.commit(oracle, values, nonce=next(NONCES))


def meter_window(
    env: Env,
    start: int,
    rows: Sequence[CoalitionRow],
    delivered: dict[str, Sequence[int]],
    skip: set[tuple[str, int]] = frozenset(),  # type: ignore[assignment]
    baseline_wh: int = LOAD_WH,
) -> None:
    """After the window: the baseline hour at ``baseline_wh`` for every row's meter, then each
    window interval at ``LOAD_WH`` less what the member delivered (``skip``: (meter, k) the
    oracle never commits)."""
    oracle = env.accounts[ORACLE]
    ids = [r.meter_id for r in rows]
    for k in range(-4, 0):
        env.meters.commit(
            oracle, [MeterValue(m, start + 900 * k, baseline_wh, 0) for m in ids], next(NONCES)
        )
    n = len(rows[0].targets_wh)
    for k in range(n):
        values = [
            MeterValue(r.meter_id, start + 900 * k, LOAD_WH - delivered[r.member][k], 0)
            for r in rows
            if (r.meter_id, k) not in skip
        ]
        if values:
            env.meters.commit(oracle, values, next(NONCES))


def honest(env: Env, rid: int, rows: Sequence[CoalitionRow]) -> ChainSettlement:
    """The settlement the chain's data gives (settlement.service, the contract's rules)."""
    values = MeterValues(env.meters)
    values.refresh()
    c = env.client()
    return compute_chain_settlement(c.request(rid), c.quantities_wh(rid), rows, values.net_wh())


def evidence(env: Env, rid: int, row: CoalitionRow) -> list[Reading]:
    values = MeterValues(env.meters)
    values.refresh()
    return row_evidence(env.client().request(rid), row, values)


def dispute(env: Env, rid: int, rows: Sequence[CoalitionRow], i: int, who: int = OUTSIDER):
    client = env.client(who)
    proposal = client.settlement_proposal(rid)
    assert proposal is not None
    return client.dispute_settlement(rid, rows, proposal, i, evidence(env, rid, rows[i]))


def finalize(env: Env, rid: int, rows: Sequence[CoalitionRow], who: int = OUTSIDER):
    """After the challenge window: anyone finalizes."""
    info = env.client().request(rid)
    advance_to(env.platform.w3, info.challenge_ends_s)
    client = env.client(who)
    proposal = client.settlement_proposal(rid)
    assert proposal is not None
    return client.finalize_settlement(rid, rows, proposal)


def tampered(
    deliveries: Sequence[MemberDeliveries], row: int, k: int, delta: int, rows, tol: int = TOL
) -> list[MemberDeliveries]:
    """``deliveries`` with ``delta`` Wh added to row ``row``'s delivery in interval ``k``."""
    out = list(deliveries)
    d = out[row]
    changed = tuple(v + (delta if j == k else 0) for j, v in enumerate(d.delivered_wh))
    out[row] = member_deliveries(changed, d.missing, rows[row].targets_wh, tol)
    return out


def results_of(receipt, client: FlexCoordinationClient, event: str = "SettlementProposed"):
    [ev] = client.events(receipt, event)
    return [unpack_result(int(w)) for w in ev["args"]["results"]]


# ---------------------------------------------------------------------------- happy path


def test_request_coalition_replacement_settlement_and_exact_token_movements(env, dso, w3):
    dso_before = env.balance(DSO)
    n, extra = 4, 5_000
    needed = required_escrow([1000] * n, TOL, PRICE)
    rid, start, escrow = publish(env, n=n, escrow=needed + extra)
    assert escrow == needed + extra and needed == 4 * (PRICE * 1100 // 1000)
    assert env.balance(DSO) == dso_before - escrow
    assert env.balance(env.coord_address) == escrow
    info = dso.request(rid)
    assert (info.status, info.intervals, info.tolerance_bp, info.escrow) == (
        RequestStatus.OPEN,
        n,
        TOL,
        escrow,
    )
    assert info.grid_area == "feeder-1"
    assert (info.baseline_method_id, info.baseline_intervals, info.baseline_gap_intervals) == (
        4,
        4,
        0,
    )
    assert info.baseline_hash == baseline_hash(4, MeterBeforeAfterParams())
    assert dso.quantities_wh(rid) == (1000,) * n

    # Two members opt in from their wallets, three by signatures the aggregator relays.
    opt_in_all(env, rid, (5, 6), max_wh=600)
    agg = env.client(AGG)
    signed = [agg.sign_opt_in(env.accounts[i], rid, 600) for i in (7, 8, 9)]
    receipt = agg.opt_in_signed(rid, signed)
    assert [
        (e["args"]["member"], e["args"]["relayer"]) for e in agg.events(receipt, "OptedIn")
    ] == [(env.addr(i), env.addr(AGG)) for i in (7, 8, 9)]
    assert dso.opt_in_of(rid, env.addr(7)) == (600, MemberStatus.OPTED_IN)

    # Targets: 300 + 300 + 250 + 150 = 1,000 Wh per interval; member 9 is the reserve.
    targets = {5: [300] * n, 6: [300] * n, 7: [250] * n, 8: [150] * n}
    rows = rows_for(env, targets)
    receipt = agg.propose_coalition(rid, PRICE, rows, [env.addr(9)])
    [ev] = agg.events(receipt, "CoalitionProposed")
    assert ev["args"]["maxPayout"] == sum(
        member_max_payout(t, TOL, PRICE) for t in targets.values()
    )
    assert dso.request(rid).status == RequestStatus.PROPOSED
    assert dso.opt_in_of(rid, env.addr(9))[1] == MemberStatus.RESERVE
    dso.accept_coalition(rid)
    assert dso.request(rid).status == RequestStatus.ACCEPTED

    # Member 6 will not deliver: the reserve takes over from interval 2.
    receipt, rows = agg.replace_member(rid, rows, env.addr(6), env.addr(9), meter(9), 2)
    [ev] = agg.events(receipt, "MemberReplaced")
    assert (ev["args"]["member"], ev["args"]["reserve"], ev["args"]["fromInterval"]) == (
        env.addr(6),
        env.addr(9),
        2,
    )
    assert [r.targets_wh for r in rows] == [
        (300,) * 4,
        (300, 300, 0, 0),
        (250,) * 4,
        (150,) * 4,
        (0, 0, 300, 300),
    ]
    assert agg.coalition_rows(rid) == rows
    assert dso.request(rid).targets_hash == words_hash(pack_table(rows, n))
    assert dso.opt_in_of(rid, env.addr(6))[1] == MemberStatus.REPLACED
    assert dso.opt_in_of(rid, env.addr(9))[1] == MemberStatus.MEMBER

    # After the window the meter data is committed (the baseline hour at 1,000 Wh, then each
    # interval less what was delivered); member 8's meter sent nothing in interval 3.
    advance_to(w3, start + 900 * n + 60)
    delivered = {
        env.addr(5): (330, 300, 400, 290),  # above target: credited up to 330 (target + 10 %)
        env.addr(6): (300, 100, 0, 0),  # replaced from interval 2
        env.addr(7): (250, 250, 100, 250),  # short in interval 2
        env.addr(8): (150, 150, 150, 0),  # no data in interval 3
        env.addr(9): (0, 0, 300, 300),
    }
    meter_window(env, start, rows, delivered, skip={(meter(8), 3)})
    expected = honest(env, rid, rows)
    assert [d.delivered_wh for d in expected.deliveries] == list(delivered.values())
    assert [d.missing for d in expected.deliveries] == [frozenset()] * 3 + [
        frozenset({3}),
        frozenset(),
    ]
    payouts = [r.payout for r in expected.results]
    # By hand: 66 + 60 + 66 + 58; 60 + 20 - 17 (170 Wh short); 50 + 50 + 20 + 50 - 12 (125 Wh
    # short); 30 * 3 - 13 (no data: 135 Wh short); 60 + 60.
    assert payouts == [250, 63, 158, 77, 120]

    # The aggregator proposes the deliveries and posts the bond; the contract computes the money.
    agg_before = env.balance(AGG)
    receipt = agg.propose_settlement(rid, rows, expected.deliveries)
    assert env.balance(AGG) == agg_before - COORDINATION_BOND
    assert env.balance(env.coord_address) == escrow + COORDINATION_BOND
    assert results_of(receipt, agg) == expected.results
    [ev] = agg.events(receipt, "SettlementProposed")
    assert (ev["args"]["payoutTotal"], ev["args"]["refund"]) == (
        sum(payouts),
        escrow - sum(payouts),
    )
    info = dso.request(rid)
    assert info.status is RequestStatus.SETTLING and info.proposer == env.addr(AGG)
    assert info.challenge_ends_s == now_s(w3) + COORDINATION_CHALLENGE_S and info.bond_held
    proposal = agg.settlement_proposal(rid)
    assert proposal is not None and proposal.settlement_hash == info.settlement_hash
    assert proposal.deliveries(rows, TOL) == expected.deliveries
    assert all(dso.account(r.member).claimable == 0 for r in rows)  # nothing paid yet
    # An honest row cannot be disputed; nothing can be finalized before the window's end.
    with pytest.raises(err("FlexCoordinationRowCorrect")):
        dispute(env, rid, rows, 0)
    with pytest.raises(err("FlexCoordinationChallengeOpen")):
        env.client(OUTSIDER).finalize_settlement(rid, rows, proposal)

    dso_mid = env.balance(DSO)
    receipt = finalize(env, rid, rows)  # anyone finalizes
    settled = agg.settlement_in(receipt)
    assert (settled.payout_total, settled.refund, settled.bond_returned) == (
        sum(payouts),
        escrow - sum(payouts),
        COORDINATION_BOND,
    )
    assert settled.results == expected.results
    assert env.balance(DSO) == dso_mid + escrow - sum(payouts)
    assert env.balance(AGG) == agg_before  # the bond came back
    assert env.balance(env.coord_address) == sum(payouts)
    info = dso.request(rid)
    assert info.status == RequestStatus.SETTLED and not info.bond_held
    awarded = agg.reputation_awarded(receipt)
    for row, r in zip(rows, expected.results, strict=True):
        acct = dso.account(row.member)
        assert acct.claimable == r.payout and acct.reputation == r.points and acct.settled == 1
        assert awarded[row.member] == (r.points, r.points)

    # Members claim; every base unit of the escrow has gone to a member or back to the DSO.
    for row, p in zip(rows, payouts, strict=True):
        i = next(j for j in MEMBERS if env.addr(j) == row.member)
        before = env.balance(i)
        env.client(i).claim_payout()
        assert env.balance(i) == before + p
        assert dso.account(row.member).claimable == 0
    assert env.balance(env.coord_address) == 0
    assert env.balance(DSO) == dso_before - sum(payouts)
    with pytest.raises(err("FlexCoordinationNothingToClaim")):
        env.client(5).claim_payout()


def test_rejected_coalition_frees_members_for_a_new_proposal(env, dso):
    rid, _, _ = publish(env)
    opt_in_all(env, rid, (5, 6, 7, 8))
    agg = env.client(AGG)
    rows = rows_for(env, {5: [500] * 4, 6: [500] * 4})
    agg.propose_coalition(rid, PRICE, rows)
    with pytest.raises(err("FlexCoordinationWrongStatus")):
        agg.propose_coalition(rid, PRICE, rows)
    with pytest.raises(err("FlexCoordinationNotRequestDSO")):
        agg.accept_coalition(rid)
    dso.reject_coalition(rid)
    assert dso.request(rid).round == 1 and dso.request(rid).status == RequestStatus.OPEN
    assert dso.opt_in_of(rid, env.addr(5))[1] == MemberStatus.OPTED_IN
    # The operator may propose too; member 5 is a member again in the new round.
    env.client(OPERATOR).propose_coalition(
        rid, PRICE - 50, rows_for(env, {5: [500] * 4, 7: [500] * 4})
    )
    dso.accept_coalition(rid)
    assert dso.request(rid).price_per_kwh == PRICE - 50


def test_reclaim_escrow_when_no_coalition_was_accepted(env, dso, w3):
    rid, start, escrow = publish(env)
    before = env.balance(DSO)
    with pytest.raises(err("FlexCoordinationWindowNotStarted")):
        dso.reclaim_escrow(rid)
    advance_to(w3, start)
    with pytest.raises(err("FlexCoordinationNotRequestDSO")):
        env.client(AGG).reclaim_escrow(rid)
    dso.reclaim_escrow(rid)
    assert env.balance(DSO) == before + escrow
    assert dso.request(rid).status == RequestStatus.RECLAIMED
    with pytest.raises(err("FlexCoordinationWrongStatus")):
        dso.reclaim_escrow(rid)


# ---------------------------------------------------------------------------- requests


def test_request_rejections(env, dso, w3):
    start = (now_s(w3) // 900 + 8) * 900
    ok = dict(
        tolerance_bp=TOL, price_cap_per_kwh=PRICE, opt_in_deadline_s=start - 900, escrow=10**9
    )
    with pytest.raises(err("FlexCoordinationEmptyWindow")):
        dso.publish_request(start, [], **ok)
    with pytest.raises(err("FlexCoordinationImpossibleTolerance")) as e:
        dso.publish_request(start, [1000], **{**ok, "tolerance_bp": 10_000})
    assert e.value.args_by_name["toleranceBp"] == 10_000
    needed = required_escrow([1000, 2000], TOL, PRICE)
    with pytest.raises(err("FlexCoordinationEscrowTooSmall")) as e:
        dso.publish_request(start, [1000, 2000], **{**ok, "escrow": needed - 1})
    assert e.value.args_by_name == {"required": needed, "escrow": needed - 1}
    with pytest.raises(err("FlexCoordinationBadWindowStart")):
        dso.publish_request(start + 1, [1000], **ok)
    with pytest.raises(err("FlexCoordinationBadOptInDeadline")):
        dso.publish_request(start, [1000], **{**ok, "opt_in_deadline_s": start + 1})
    with pytest.raises(err("FlexCoordinationZeroQuantity")):
        dso.publish_request(start, [1000, 0], **ok)
    with pytest.raises(err("FlexCoordinationWindowTooLong")):
        dso.publish_request(start, [1] * 257, **ok)
    with pytest.raises(err("FlexCoordinationUnknownBaselineMethod")):
        dso.publish_request(start, [1000], baseline_method=0, **ok)
    with pytest.raises(err("FlexCoordinationUnknownBaselineMethod")):
        dso.publish_request(start, [1000], baseline_method=5, **ok)
    # X-of-Y, same hour and forecast baselines cannot be recomputed from meter readings
    # on-chain: a dispute could not check them.
    for method in (1, 2, 3):
        with pytest.raises(err("FlexCoordinationBaselineNotOnChain")) as e:
            dso.publish_request(start, [1000], baseline_method=method, **ok)
        assert e.value.args_by_name == {"method": method}
    for k, gap in ((0, 0), (97, 0), (4, 97)):
        with pytest.raises(err("FlexCoordinationBadBaselineParams")):
            dso.publish_request(
                start, [1000], baseline_intervals=k, baseline_gap_intervals=gap, **ok
            )
    with pytest.raises(err("FlexCoordinationBaselineHashMismatch")) as e:
        dso.publish_request(start, [1000], baseline_hash=b"\x11" * 32, **ok)
    assert e.value.args_by_name["expected"] == baseline_hash(4, MeterBeforeAfterParams())
    with pytest.raises(err("FlexCoordinationNotDSO")):
        env.client(AGG).publish_request(start, [1000], **ok)
    # Exactly the required escrow is enough; a non-financial request escrows nothing.
    dso.publish_request(start, [1000, 2000], **{**ok, "escrow": needed}, direction=Direction.DOWN)
    _, rid = dso.publish_request(
        start, [1000], **{**ok, "price_cap_per_kwh": 0, "escrow": 0}, baseline_intervals=8,
        baseline_gap_intervals=2,
    )
    assert dso.request_count() == 2
    # The baseline's parameters are stored, with the hash settlement/baselines.py gives them.
    info = dso.request(rid)
    assert (info.baseline_intervals, info.baseline_gap_intervals) == (8, 2)
    assert info.baseline_hash == baseline_hash(4, MeterBeforeAfterParams(8, 2))
    with pytest.raises(err("FlexCoordinationUnknownRequest")):
        dso.request(99)


def test_opt_in_rejections(env, dso, w3):
    rid, start, _ = publish(env)
    member = env.client(5)
    with pytest.raises(err("FlexCoordinationZeroOffer")):
        member.opt_in(rid, 0)
    member.opt_in(rid, 500)
    with pytest.raises(err("FlexCoordinationAlreadyOptedIn")):
        member.opt_in(rid, 500)
    with pytest.raises(err("FlexCoordinationWrongArea")):
        env.client(OTHER_AREA).opt_in(rid, 500)
    with pytest.raises(err("FlexCoordinationNotProsumer")):
        env.client(AGG).opt_in(rid, 500)
    agg = env.client(AGG)
    forged = agg.sign_opt_in(env.accounts[7], rid, 500)
    forged = type(forged)(env.addr(6), forged.max_wh, forged.r, forged.vs)
    with pytest.raises(err("FlexCoordinationBadSignature")):
        agg.opt_in_signed(rid, [forged])
    with pytest.raises(err("FlexCoordinationNotCoordinator")):
        env.client(7).opt_in_signed(rid, [agg.sign_opt_in(env.accounts[7], rid, 500)])
    assert env.client(5).account(env.addr(5)).opt_ins >= 1
    advance_to(w3, start - 1800)
    with pytest.raises(err("FlexCoordinationOptInClosed")) as e:
        env.client(6).opt_in(rid, 500)
    assert e.value.args_by_name["optInDeadline"] == start - 1800
    with pytest.raises(err("FlexCoordinationOptInClosed")):
        agg.opt_in_signed(rid, [agg.sign_opt_in(env.accounts[7], rid, 500)])


# ---------------------------------------------------------------------------- coalitions


def test_coalition_rejections(env, dso, w3):
    rid, start, _ = publish(env, n=2, q=1000)
    opt_in_all(env, rid, (5, 6, 7), max_wh=800)
    agg = env.client(AGG)
    # A target for someone who did not opt in.
    with pytest.raises(err("FlexCoordinationNotOptedIn")) as e:
        agg.propose_coalition(rid, PRICE, rows_for(env, {5: [500, 500], 8: [500, 500]}))
    assert e.value.args_by_name["account"] == env.addr(8)
    # Outside the tolerance: 10 % of 1,000 Wh is 900..1,100 Wh.
    with pytest.raises(err("FlexCoordinationTargetsOutsideTolerance")) as e:
        agg.propose_coalition(rid, PRICE, rows_for(env, {5: [500, 500], 6: [399, 500]}))
    assert e.value.args_by_name == {"interval": 0, "sumWh": 899, "lowerWh": 900, "upperWh": 1100}
    with pytest.raises(err("FlexCoordinationTargetsOutsideTolerance")):
        agg.propose_coalition(rid, PRICE, rows_for(env, {5: [500, 500], 6: [500, 601]}))
    with pytest.raises(err("FlexCoordinationTargetAboveOffer")):
        agg.propose_coalition(rid, PRICE, rows_for(env, {5: [200, 200], 6: [801, 800]}))
    # Targets at the tolerance's top can earn more than the escrow (which covers upper(q)).
    with pytest.raises(err("FlexCoordinationEscrowInsufficient")):
        agg.propose_coalition(rid, PRICE, rows_for(env, {5: [550, 550], 6: [550, 550]}))
    with pytest.raises(err("FlexCoordinationDuplicateMember")):
        agg.propose_coalition(rid, PRICE, rows_for(env, {5: [500, 500]}) * 2)
    with pytest.raises(err("FlexCoordinationWrongMeter")):
        agg.propose_coalition(rid, PRICE, [CoalitionRow(env.addr(5), meter(6), (1000, 1000))])
    with pytest.raises(err("FlexCoordinationPriceAboveCap")):
        agg.propose_coalition(rid, PRICE + 1, rows_for(env, {5: [500, 500], 6: [500, 500]}))
    with pytest.raises(err("FlexCoordinationBadTable")):
        agg.propose_coalition_raw(
            rid, PRICE, agg.pack_table(rows_for(env, {5: [500, 500]}), 2)[:-1], []
        )
    # The wrong roles: the DSO and a prosumer.
    good = rows_for(env, {5: [500, 500], 6: [500, 500]})
    for who in (DSO, 5):
        with pytest.raises(err("FlexCoordinationNotCoordinator")):
            env.client(who).propose_coalition(rid, PRICE, good)
    with pytest.raises(err("FlexCoordinationWrongStatus")):
        dso.accept_coalition(rid)
    agg.propose_coalition(rid, PRICE, good, [env.addr(7)])
    advance_to(w3, start)
    with pytest.raises(err("FlexCoordinationWindowStarted")):
        dso.accept_coalition(rid)


def test_replacement_rejections(env, dso, w3):
    rid, start, _, rows = coalition(env, n=4, members=(5, 6, 7, 8), reserves=(9, 10))
    agg = env.client(AGG)
    with pytest.raises(err("FlexCoordinationNotMember")):
        agg.replace_member(rid, rows, env.addr(11), env.addr(9), meter(9), 1)
    with pytest.raises(err("FlexCoordinationNotMember")):
        agg.replace_member(rid, rows, env.addr(9), env.addr(10), meter(10), 1)
    with pytest.raises(err("FlexCoordinationNotReserve")):
        agg.replace_member(rid, rows, env.addr(5), env.addr(6), meter(6), 1)
    with pytest.raises(err("FlexCoordinationNotReserve")):
        agg.replace_member(rid, rows, env.addr(5), env.addr(11), meter(11), 1)
    with pytest.raises(err("FlexCoordinationWrongMeter")):
        agg.replace_member(rid, rows, env.addr(5), env.addr(9), meter(10), 1)
    with pytest.raises(err("FlexCoordinationTableMismatch")):
        agg.replace_member(rid, rows[:-1], env.addr(5), env.addr(9), meter(9), 1)
    with pytest.raises(err("FlexCoordinationNotCoordinator")):
        env.client(DSO).replace_member(rid, rows, env.addr(5), env.addr(9), meter(9), 1)
    # Intervals 0 and 1 have started; the operator may replace too.
    advance_to(w3, start + 900 + 10)
    with pytest.raises(err("FlexCoordinationIntervalStarted")) as e:
        agg.replace_member(rid, rows, env.addr(5), env.addr(9), meter(9), 1)
    assert e.value.args_by_name["interval"] == 1
    _, rows = env.client(OPERATOR).replace_member(rid, rows, env.addr(5), env.addr(9), meter(9), 2)
    # A used reserve is a member now, and the replaced member cannot be replaced again.
    with pytest.raises(err("FlexCoordinationNotMember")):
        agg.replace_member(rid, rows, env.addr(5), env.addr(10), meter(10), 3)
    _, rows = agg.replace_member(rid, rows, env.addr(9), env.addr(10), meter(10), 3)
    assert agg.coalition_rows(rid) == rows
    assert rows[0].targets_wh == (250, 250, 0, 0)
    assert rows[-2].targets_wh == (0, 0, 250, 0) and rows[-1].targets_wh == (0, 0, 0, 250)


# ---------------------------------------------------------------------------- settlement


def settled_window(env: Env, w3, n: int = 4, delivered=None, skip=frozenset()):
    """An accepted coalition of members 5..8 (250 Wh each per interval) whose window has
    ended, with its meter data committed; returns (rid, start, escrow, rows, honest)."""
    rid, start, escrow, rows = coalition(env, n=n)
    advance_to(w3, start + 900 * n + 60)
    if delivered is None:
        pattern = [(250, 250, 250, 250), (275, 300, 200, 0), (0, 0, 0, 0), (100, 250, 260, 240)]
        delivered = {r.member: p[:n] for r, p in zip(rows, pattern, strict=True)}
    meter_window(env, start, rows, delivered, skip=set(skip))
    return rid, start, escrow, rows, honest(env, rid, rows)


def test_settlement_proposal_rejections(env, dso, w3):
    n = 4
    rid, start, _, rows = coalition(env, n=n)
    agg = env.client(AGG)
    zero = [MemberDeliveries((0,) * n, (0,) * n, (0,) * n)] * len(rows)
    with pytest.raises(err("FlexCoordinationWindowNotEnded")):
        agg.propose_settlement(rid, rows, zero)
    advance_to(w3, start + 900 * n)
    delivered = {r.member: (250,) * n for r in rows}
    meter_window(env, start, rows, delivered, skip={(rows[1].meter_id, 2)})
    good = honest(env, rid, rows).deliveries
    assert good[1].missing == frozenset({2})
    # Only the coordinator (or a market operator) until the grace period has passed.
    for who in (DSO, OUTSIDER, 5):
        with pytest.raises(err("FlexCoordinationNotCoordinator")):
            env.client(who).propose_settlement(rid, rows, good)
    with pytest.raises(err("FlexCoordinationTableMismatch")):
        agg.propose_settlement(rid, rows[::-1], good)
    with pytest.raises(err("FlexCoordinationLengthMismatch")):
        agg.propose_settlement(rid, rows[:-1] + rows[-1:], good[:-1])
    # No skipping the meter check: an interval without a commitment must be flagged ...
    unflagged = list(good)
    unflagged[1] = member_deliveries((250, 250, 0, 250), frozenset(), rows[1].targets_wh, TOL)
    with pytest.raises(err("FlexCoordinationMissingMeterData")) as e:
        agg.propose_settlement(rid, rows, unflagged)
    assert (e.value.args_by_name["member"], e.value.args_by_name["intervalStart"]) == (
        rows[1].member,
        start + 1800,
    )
    # ... an interval with one may not be ...
    flagged = list(good)
    flagged[0] = member_deliveries((250, 0, 250, 250), frozenset({1}), rows[0].targets_wh, TOL)
    with pytest.raises(err("FlexCoordinationMeterDataPresent")) as e:
        agg.propose_settlement(rid, rows, flagged)
    assert e.value.args_by_name["intervalStart"] == start + 900
    # ... and nothing is delivered where there is no data.
    claimed = list(good)
    claimed[1] = member_deliveries((250, 250, 5, 250), frozenset({2}), rows[1].targets_wh, TOL)
    with pytest.raises(err("FlexCoordinationDeliveryWithoutData")) as e:
        agg.propose_settlement(rid, rows, claimed)
    assert e.value.args_by_name == {"member": rows[1].member, "interval": 2}
    # Deliveries beyond the window are refused (the packed words must be canonical).
    table = agg.pack_table(rows, n)
    words = pack_proposal_deliveries(good, n)
    beyond_window = [words[0] | 1 << n, *words[1:]]
    beyond_row = [words[0], words[1] | 7 << 160, *words[2:]]
    for bad in (beyond_window, beyond_row):
        with pytest.raises(err("FlexCoordinationDeliveryWithoutData")) as e:
            agg._transact("proposeSettlement", rid, table, bad)
        assert e.value.args_by_name["interval"] == n
    # The bond must be approved (a fresh proposer that never approved it).
    no_bond = env.client(OPERATOR)
    with pytest.raises(err("ERC20InsufficientAllowance")):
        no_bond._transact("proposeSettlement", rid, table, words)
    receipt = no_bond.propose_settlement(rid, rows, good)  # the client approves it first
    assert results_of(receipt, no_bond) == honest(env, rid, rows).results
    with pytest.raises(err("FlexCoordinationWrongStatus")) as e:
        agg.propose_settlement(rid, rows, good)
    assert e.value.args_by_name["status"] == int(RequestStatus.SETTLING)


def test_no_settlement_without_an_accepted_coalition(env, dso, w3):
    rid, start, _ = publish(env, n=1)
    opt_in_all(env, rid, (5, 6))
    rows = rows_for(env, {5: [500], 6: [500]})
    agg = env.client(AGG)
    zero = [MemberDeliveries((0,), (0,), (0,))] * 2
    with pytest.raises(err("FlexCoordinationWrongStatus")):
        agg.propose_settlement(rid, rows, zero)
    agg.propose_coalition(rid, PRICE, rows)
    advance_to(w3, start + 900)
    with pytest.raises(err("FlexCoordinationWrongStatus")) as e:
        agg.propose_settlement(rid, rows, zero)
    assert e.value.args_by_name["status"] == int(RequestStatus.PROPOSED)


# ---------------------------------------------------------------------------- the review's cheats


def test_a_moved_delivery_is_corrected_by_disputes_and_the_bond_goes_to_the_disputer(env, dso, w3):
    """Cheat: one payout unit moved between members (payouts are the contract's now, so the
    only way is to move delivered Wh). Each wrong row is corrected from its meter readings;
    the first successful disputer takes the bond; money stays conserved."""
    rid, _, escrow, rows, truth = settled_window(env, w3)
    agg = env.client(AGG)
    cheat = tampered(tampered(truth.deliveries, 0, 0, -5, rows), 3, 0, +5, rows)
    receipt = agg.propose_settlement(rid, rows, cheat)
    proposed = results_of(receipt, agg)
    assert proposed[0].payout == truth.results[0].payout - 1  # 5 Wh less at 200 per kWh
    assert proposed[3].payout == truth.results[3].payout + 1
    outsider_before, held = env.balance(OUTSIDER), env.balance(env.coord_address)
    r1 = dispute(env, rid, rows, 0)
    [ev] = agg.events(r1, "SettlementDisputed")
    assert (ev["args"]["row"], ev["args"]["member"], ev["args"]["bondPaid"]) == (
        0,
        rows[0].member,
        COORDINATION_BOND,
    )
    assert env.balance(OUTSIDER) == outsider_before + COORDINATION_BOND
    assert env.balance(env.coord_address) == held - COORDINATION_BOND
    r2 = dispute(env, rid, rows, 3, who=OPERATOR)  # a second dispute: no bond left to pay
    [ev] = agg.events(r2, "SettlementDisputed")
    assert ev["args"]["bondPaid"] == 0 and ev["args"]["payoutTotal"] == truth.payout_total
    assert ev["args"]["refund"] == escrow - truth.payout_total
    info = dso.request(rid)
    assert info.disputes == 2 and not info.bond_held
    proposal = agg.settlement_proposal(rid)
    assert proposal is not None and proposal.disputed_rows == (0, 3)
    assert proposal.results == truth.results
    assert proposal.deliveries(rows, TOL) == truth.deliveries
    # The corrected row cannot be disputed again; money is conserved to the last unit.
    with pytest.raises(err("FlexCoordinationRowCorrect")):
        dispute(env, rid, rows, 0)
    agg_before, dso_before = env.balance(AGG), env.balance(DSO)
    receipt = finalize(env, rid, rows)
    settled = agg.settlement_in(receipt)
    assert settled.results == truth.results and settled.bond_returned == 0
    assert env.balance(AGG) == agg_before  # the cheating proposer lost its bond
    assert env.balance(DSO) == dso_before + escrow - truth.payout_total
    assert sum(dso.account(r.member).claimable for r in rows) == truth.payout_total
    assert env.balance(env.coord_address) == truth.payout_total


@pytest.mark.parametrize(
    "cheat",
    ["delivered_plus_1", "shortfall_plus_5", "all_zero_full_refund", "maximum_no_delivery"],
)
def test_a_wrong_delivery_is_corrected_by_a_dispute(env, dso, w3, cheat):
    """Cheats: a delivered_wh +1; a shortfall_wh +5 (5 Wh less delivered where the member
    is short); every payout 0 with the whole escrow refunded; every payout at its maximum with
    no delivery at all. Each wrong row is disputed and corrected to what the meters show."""
    rid, _, escrow, rows, truth = settled_window(env, w3)
    agg = env.client(AGG)
    n = 4
    if cheat == "delivered_plus_1":
        lie = tampered(truth.deliveries, 1, 0, +1, rows)
        wrong = [1]
    elif cheat == "shortfall_plus_5":
        assert truth.deliveries[1].shortfall_wh[2] > 0
        lie = tampered(truth.deliveries, 1, 2, -5, rows)
        wrong = [1]
    elif cheat == "all_zero_full_refund":
        lie = [member_deliveries((0,) * n, d.missing, r.targets_wh, TOL)
               for d, r in zip(truth.deliveries, rows, strict=True)]
        wrong = [i for i, d in enumerate(truth.deliveries) if any(d.delivered_wh)]
    else:
        lie = [member_deliveries(tuple(upper_wh(t, TOL) for t in r.targets_wh), frozenset(),
                                 r.targets_wh, TOL) for r in rows]
        wrong = list(range(len(rows)))
    receipt = agg.propose_settlement(rid, rows, lie)
    proposed = results_of(receipt, agg)
    if cheat == "all_zero_full_refund":
        assert all(r.payout == 0 for r in proposed)
        [ev] = agg.events(receipt, "SettlementProposed")
        assert ev["args"]["refund"] == escrow
    if cheat == "maximum_no_delivery":
        assert [r.payout for r in proposed] == [
            member_max_payout(r.targets_wh, TOL, PRICE) for r in rows
        ]
    before = agg.settlement_proposal(rid)
    assert before is not None and before.deliveries(rows, TOL) == lie != truth.deliveries
    if cheat != "delivered_plus_1":  # (1 Wh at 200 per kWh rounds away: the money may not move)
        assert proposed != truth.results
    for i in wrong:
        dispute(env, rid, rows, i)
    for i in set(range(len(rows))) - set(wrong):
        with pytest.raises(err("FlexCoordinationRowCorrect")):
            dispute(env, rid, rows, i)
    proposal = agg.settlement_proposal(rid)
    assert proposal is not None and proposal.results == truth.results
    assert proposal.deliveries(rows, TOL) == truth.deliveries
    finalize(env, rid, rows)
    assert [dso.account(r.member).claimable for r in rows] == [r.payout for r in truth.results]
    assert [dso.account(r.member).reputation for r in rows] == [r.points for r in truth.results]


def test_a_baseline_value_corrected_before_submission_is_disputed(env, dso, w3):
    """Cheat: the proposer computes with a baseline-hour value other than the committed one
    (+100 Wh in one of the four: the baseline 25 Wh higher, every interval's delivery too).
    The dispute recomputes the meter-before baseline on-chain from the committed readings."""
    rid, start, _, rows, truth = settled_window(env, w3)
    lie = list(truth.deliveries)
    d = truth.deliveries[3]
    lie[3] = member_deliveries(tuple(v + 25 for v in d.delivered_wh), d.missing,
                               rows[3].targets_wh, TOL)
    env.client(AGG).propose_settlement(rid, rows, lie)
    # The evidence is the committed baseline hour (4 readings) and the window (4).
    readings = evidence(env, rid, rows[3])
    assert len(readings) == 8 and [r.import_wh for r in readings[:4]] == [LOAD_WH] * 4
    # A reading that is not the committed one is refused ...
    proposal = env.client().settlement_proposal(rid)
    assert proposal is not None
    forged = [Reading(LOAD_WH + 100, 0, readings[0].root, readings[0].proof), *readings[1:]]
    with pytest.raises(err("FlexCoordinationBadReading")) as e:
        env.client(OUTSIDER).dispute_settlement(rid, rows, proposal, 3, forged)
    assert e.value.args_by_name["intervalStart"] == start - 3600
    # ... so is a committed interval claimed missing, and evidence of the wrong length.
    hidden = [MISSING, *readings[1:]]
    with pytest.raises(err("FlexCoordinationReadingPresent")):
        env.client(OUTSIDER).dispute_settlement(rid, rows, proposal, 3, hidden)
    with pytest.raises(err("FlexCoordinationReadingCount")):
        env.client(OUTSIDER).dispute_settlement(rid, rows, proposal, 3, readings[1:])
    with pytest.raises(err("FlexCoordinationBadRow")):
        env.client(OUTSIDER).dispute_settlement(rid, rows, proposal, 4, readings)
    dispute(env, rid, rows, 3)
    after = env.client().settlement_proposal(rid)
    assert after is not None and after.results == truth.results
    # A stale proposal (before the correction) is refused.
    with pytest.raises(err("FlexCoordinationSettlementMismatch")):
        env.client(OUTSIDER).dispute_settlement(rid, rows, proposal, 1, evidence(env, rid, rows[1]))


def test_a_member_without_baseline_data_delivered_nothing(env, dso, w3):
    """The meter-before baseline needs the hour before the window: a member whose meter has a
    gap there delivered 0 in every interval (settlement.service's rule), and a dispute proves
    the gap on-chain (a proof of a missing reading)."""
    rid, start, _, rows = coalition(env, n=2)
    advance_to(w3, start + 1800 + 60)
    oracle = env.accounts[ORACLE]
    ids = [r.meter_id for r in rows]
    for k in range(-4, 2):
        values = [
            MeterValue(m, start + 900 * k, LOAD_WH - (250 if k >= 0 else 0), 0)
            for m in ids
            if (m, k) != (ids[2], -2)
        ]
        env.meters.commit(oracle, values, next(NONCES))
    truth = honest(env, rid, rows)
    assert truth.deliveries[2].delivered_wh == (0, 0) and truth.results[2].payout == 0
    assert truth.deliveries[0].delivered_wh == (250, 250)
    lie = tampered(truth.deliveries, 2, 0, 250, rows, TOL)
    lie = tampered(lie, 2, 1, 250, rows, TOL)
    env.client(AGG).propose_settlement(rid, rows, lie)
    assert evidence(env, rid, rows[2])[2] == MISSING
    dispute(env, rid, rows, 2)
    proposal = env.client().settlement_proposal(rid)
    assert proposal is not None and proposal.results == truth.results


def test_points_follow_the_rule_and_cannot_be_chosen(env, dso, w3):
    """Cheat: reputation points of any int32. The proposal carries no points (nor payouts):
    the contract computes energyCost(C, 1000) - energyCost(S, 1000) per interval."""
    inputs = next(f for f in env.client().contract.abi if f.get("name") == "proposeSettlement")
    assert [i["name"] for i in inputs["inputs"]] == ["requestId", "table", "deliveries"]
    rid, _, _, rows, truth = settled_window(env, w3)
    receipt = env.client(AGG).propose_settlement(rid, rows, truth.deliveries)
    for got, d in zip(results_of(receipt, env.client()), truth.deliveries, strict=True):
        want = sum(
            interval_points(c, x, 1000, 1000)
            for c, x in zip(d.credited_wh, d.shortfall_wh, strict=True)
        )
        assert got.points == want
    assert any(r.points < 0 for r in truth.results)


def test_a_vanished_coordinator_cannot_lock_the_escrow(env, dso, w3):
    """Cheat: the coordinator disappears after acceptance. During the grace period after the
    window only it (or a market operator) may propose; after it anyone may, with the bond."""
    rid, start, escrow, rows, truth = settled_window(env, w3)
    outsider = env.client(OUTSIDER)  # no role in the registry at all
    with pytest.raises(err("FlexCoordinationNotCoordinator")):
        outsider.propose_settlement(rid, rows, truth.deliveries)
    advance_to(w3, start + 900 * 4 + COORDINATION_GRACE_S)
    before = env.balance(OUTSIDER)
    outsider.propose_settlement(rid, rows, truth.deliveries)
    assert dso.request(rid).proposer == env.addr(OUTSIDER)
    dso_before = env.balance(DSO)
    finalize(env, rid, rows, who=DSO)
    assert env.balance(OUTSIDER) == before  # its bond came back
    assert env.balance(DSO) == dso_before + escrow - truth.payout_total


def test_a_proposer_correcting_itself_still_loses_its_bond(env, dso, w3):
    """The proposer could front-run a dispute of its own wrong proposal: the correction
    stands, but the bond goes to the DSO, not back to the proposer."""
    rid, _, _, rows, truth = settled_window(env, w3)
    agg = env.client(AGG)
    agg.propose_settlement(rid, rows, tampered(truth.deliveries, 3, 1, 40, rows))
    agg_before, dso_before = env.balance(AGG), env.balance(DSO)
    receipt = dispute(env, rid, rows, 3, who=AGG)
    [ev] = agg.events(receipt, "SettlementDisputed")
    assert ev["args"]["bondPaid"] == COORDINATION_BOND
    assert env.balance(AGG) == agg_before
    assert env.balance(DSO) == dso_before + COORDINATION_BOND
    finalize(env, rid, rows)
    assert env.balance(AGG) == agg_before  # no bond back at finalization either


def test_the_dispute_window_closes(env, dso, w3):
    rid, _, _, rows, truth = settled_window(env, w3)
    env.client(AGG).propose_settlement(rid, rows, tampered(truth.deliveries, 0, 0, 1, rows))
    info = dso.request(rid)
    advance_to(w3, info.challenge_ends_s)
    with pytest.raises(err("FlexCoordinationChallengeClosed")):
        dispute(env, rid, rows, 0)
    proposal = env.client().settlement_proposal(rid)
    assert proposal is not None
    with pytest.raises(err("FlexCoordinationSettlementMismatch")):
        bad = type(proposal)(**{**proposal.__dict__, "results_words": [0] * len(rows)})
        env.client(OUTSIDER).finalize_settlement(rid, rows, bad)
    finalize(env, rid, rows)
    with pytest.raises(err("FlexCoordinationWrongStatus")):
        finalize(env, rid, rows)


# ---------------------------------------------------------------------------- property


@settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_money_is_conserved_through_proposal_disputes_and_finalization(env, w3, data):
    """Any metered deliveries, any proposal of them (some rows wrong), any subset of the wrong
    rows disputed: after finalization the escrow is exactly the members' claimable payouts
    plus the DSO's refund, the bond went to the first disputer or back to the proposer, and the
    contract holds exactly what members may claim."""
    snap = w3.provider.make_request("evm_snapshot", [])["result"]
    try:
        n = data.draw(st.integers(1, 3), label="intervals")
        k = data.draw(st.integers(1, 4), label="members")
        q = 1000
        shares = [q // k + (1 if j < q % k else 0) for j in range(k)]
        members = list(MEMBERS)[:k]
        rid, start, escrow = publish(env, n=n, q=q)
        opt_in_all(env, rid, members)
        rows = rows_for(env, {i: [s] * n for i, s in zip(members, shares, strict=True)})
        env.client(AGG).propose_coalition(rid, PRICE, rows)
        env.client(DSO).accept_coalition(rid)
        advance_to(w3, start + 900 * n)
        delivered = {
            r.member: tuple(data.draw(st.integers(-300, 700), label="delivered") for _ in range(n))
            for r in rows
        }
        meter_window(env, start, rows, delivered)
        truth = honest(env, rid, rows)
        lie = list(truth.deliveries)
        for i in range(k):
            shift = data.draw(st.integers(-400, 400), label="lie")
            lie = tampered(lie, i, 0, shift, rows)
        dso_before, agg_before = env.balance(DSO), env.balance(AGG)
        held_before = env.balance(env.coord_address)
        env.client(AGG).propose_settlement(rid, rows, lie)
        wrong = [i for i in range(k) if lie[i] != truth.deliveries[i]]
        disputed = data.draw(st.lists(st.sampled_from(wrong), unique=True), label="disputed") \
            if wrong else []
        outsider_before = env.balance(OUTSIDER)
        for i in disputed:
            dispute(env, rid, rows, i)
        finalize(env, rid, rows, who=DSO)
        final = env.client().settlement(rid)
        assert final is not None
        claimable = sum(env.client().account(r.member).claimable for r in rows)
        assert claimable == final.payout_total
        assert final.payout_total + final.refund == escrow
        bond_to_disputer = COORDINATION_BOND if disputed else 0
        assert env.balance(OUTSIDER) == outsider_before + bond_to_disputer
        assert env.balance(AGG) == agg_before - bond_to_disputer
        assert env.balance(DSO) == dso_before + final.refund
        assert env.balance(env.coord_address) == held_before - escrow + claimable
        # Every disputed row ends as the meters say; the others as proposed.
        for i, res in enumerate(final.results):
            want = truth.results[i] if (i in disputed or lie[i] == truth.deliveries[i]) else None
            if want is not None:
                assert res == want
        for r in rows:
            acct = env.client().account(r.member)
            assert acct.claimable >= 0
    finally:
        w3.provider.make_request("evm_revert", [snap])
        from chain.tx import NonceManager

        NonceManager.reset_all()


def test_non_financial_request_records_reputation_only(env, dso, w3):
    """A community that does not pay in money: no price, no escrow; points are recorded,
    negative ones too, and cannot be moved (there is no transfer function)."""
    start = (now_s(w3) // 900 + 8) * 900
    _, rid = dso.publish_request(start, [1000, 1000], TOL, 0, start - 900, 0, grid_area="feeder-1")
    opt_in_all(env, rid, (5, 6))
    rows = rows_for(env, {5: [500, 500], 6: [500, 500]})
    agg = env.client(AGG)
    agg.propose_coalition(rid, 0, rows)
    dso.accept_coalition(rid)
    advance_to(w3, start + 1800)
    # Member 5 delivers its targets; member 6's meter sends nothing in the window.
    oracle = env.accounts[ORACLE]
    for k in range(-4, 2):
        values = [MeterValue(meter(5), start + 900 * k, LOAD_WH - (500 if k >= 0 else 0), 0)]
        if k < 0:
            values.append(MeterValue(meter(6), start + 900 * k, LOAD_WH, 0))
        env.meters.commit(oracle, values, next(NONCES))
    truth = honest(env, rid, rows)
    assert truth.deliveries[1].missing == frozenset({0, 1})
    before = [dso.account(env.addr(i)).reputation for i in (5, 6)]
    held = env.balance(env.coord_address)
    agg.propose_settlement(rid, rows, truth.deliveries)
    receipt = finalize(env, rid, rows)
    assert env.balance(env.coord_address) == held
    after = [dso.account(env.addr(i)).reputation for i in (5, 6)]
    # 500 + 500 credited; 450 + 450 short (no data: nothing delivered, lower(500) = 450).
    assert [a - b for a, b in zip(after, before, strict=True)] == [1000, -900]
    assert agg.reputation_awarded(receipt) == {
        env.addr(5): (1000, after[0]),
        env.addr(6): (-900, after[1]),
    }
    assert "transfer" not in {f["name"] for f in dso.contract.abi if f.get("type") == "function"}


# ---------------------------------------------------------------------------- meter indexes


def test_table_rows_carry_the_meter_index_checked_on_chain(env, dso):
    """A row's first word carries its meter's MeterOracle index: the client fills it in, the
    contract refuses a wrong one and a meter that is not enrolled."""
    rid, _, _ = publish(env, n=2)
    opt_in_all(env, rid, (5, 6), max_wh=800)
    admin = env.accounts[0]
    env.platform.registry(admin).register(env.addr(14), Role.PROSUMER, "feeder-1", meter(14))
    env.client(14).opt_in(rid, 800)
    agg = env.client(AGG)
    rows = rows_for(env, {5: [500, 500], 6: [500, 500]})
    indexes = agg.meter_indexes([meter(5), meter(6)])
    assert indexes == {
        meter(5): env.meters.index_of(meter(5)),
        meter(6): env.meters.index_of(meter(6)),
    }
    table = pack_table(rows, 2, indexes)
    assert table == agg.pack_table(rows, 2)
    assert [r.meter_index for r in unpack_table(table, 2)] == [indexes[meter(5)], indexes[meter(6)]]
    assert unpack_table(table, 2) == rows  # the index does not take part in comparisons
    with pytest.raises(EncodingError, match="index of meter"):
        pack_table(rows, 2)
    # Member 5's row with member 6's meter index.
    wrong = [table[0] - indexes[meter(5)] + indexes[meter(6)], *table[1:]]
    with pytest.raises(err("FlexCoordinationWrongMeterIndex")) as e:
        agg.propose_coalition_raw(rid, PRICE, wrong, [])
    assert e.value.args_by_name == {
        "member": env.addr(5),
        "meterId": text_to_bytes32(meter(5), "meter id"),
        "index": indexes[meter(6)],
        "expected": indexes[meter(5)],
    }
    # A registered meter the MeterOracle never enrolled: no settlement could read its data.
    lone = [CoalitionRow(env.addr(14), meter(14), (500, 500), 0), rows[1]]
    with pytest.raises(err("FlexCoordinationMeterNotEnrolled")) as e:
        agg.propose_coalition_raw(rid, PRICE, pack_table(lone, 2, indexes), [])
    assert e.value.args_by_name["member"] == env.addr(14)
    with pytest.raises(ChainError, match="not enrolled"):
        agg.propose_coalition(rid, PRICE, [CoalitionRow(env.addr(14), meter(14), (500, 500))])
    # As a reserve it may be named, but it cannot replace a member.
    agg.propose_coalition(rid, PRICE, rows, [env.addr(14)])
    dso.accept_coalition(rid)
    with pytest.raises(err("FlexCoordinationMeterNotEnrolled")):
        env.client(OPERATOR).replace_member(rid, rows, env.addr(5), env.addr(14), meter(14), 1)


def test_committed_words_view(env, dso, w3):
    """``MeterOracle.committedWords``: one bitmap word per interval, the same bits as
    ``isCommitted``; misaligned starts, overlong ranges and words past the meters refused."""
    n = 3
    start = (now_s(w3) // 900 - 10) * 900
    ids = [meter(i) for i in (5, 6, 7)]
    commit_meters(env, start, n, ids, skip={(meter(6), 1), (meter(7), 0), (meter(7), 2)})
    words = env.meters.committed_words(start, n, 0)
    assert len(words) == n
    for k in range(n):
        for m in [*ids, meter(8)]:
            bit = words[k] >> env.meters.index_of(m) & 1
            assert bool(bit) == env.meters.is_committed(m, start + 900 * k)
    assert [words[k] >> env.meters.index_of(meter(7)) & 1 for k in range(n)] == [0, 1, 0]
    assert env.meters.committed_words(start, 0, 0) == []
    with pytest.raises(err("MeterOracleMisalignedInterval")):
        env.meters.committed_words(start + 1, n, 0)
    with pytest.raises(err("MeterOracleMisalignedInterval")):
        env.meters.committed_words(0, n, 0)
    last = (2**64 - 1) // 900 * 900
    assert env.meters.committed_words(last, 1, 0) == [0]
    with pytest.raises(err("MeterOracleIntervalRangeTooLong")) as e:
        env.meters.committed_words(last, 2, 0)
    assert e.value.args_by_name == {"firstIntervalStart": last, "count": 2}
    with pytest.raises(err("MeterOracleUnknownMeterWord")) as e:
        env.meters.committed_words(start, n, 1)
    assert e.value.args_by_name == {"wordIndex": 1, "wordCount": 1}


def test_settlement_reads_meters_in_several_bitmap_words(env, dso, w3):
    """Members whose meters sit in different bitmap words (indexes 256 apart), in alternating
    rows: each word is fetched once and every member's own bit is checked."""
    admin = env.accounts[0]
    filler = [f"filler-{j}" for j in range(256)]
    # A fresh oracle client: the shared one's id cache predates the snapshot this test reverts.
    meters = MeterOracleClient(w3, env.meters.address, env.meters.artifact, env.meters.sender)
    meters.enrol_meters(filler)
    env.platform.registry(admin).register(env.addr(15), Role.PROSUMER, "feeder-1", meter(15))
    meters.enrol_meters([meter(15)])
    assert env.client().meter_index(meter(15)) >> 8 == 1
    n = 2
    members = (5, 15, 6)
    rows = rows_for(env, {5: [300] * n, 15: [400] * n, 6: [300] * n})
    agg = env.client(AGG)

    def window(skip):
        rid, start, _ = publish(env, n=n)
        opt_in_all(env, rid, members)
        agg.propose_coalition(rid, PRICE, rows)
        dso.accept_coalition(rid)
        advance_to(w3, start + 900 * n)
        commit_meters(env, start - 3600, 4, [meter(i) for i in members], meters=meters)
        commit_meters(env, start, n, [meter(i) for i in members], skip, meters)
        return rid, start

    def deliveries(flags):
        return [
            member_deliveries((0,) * n, frozenset(flags.get(i, ())), r.targets_wh, TOL)
            for i, r in zip(members, rows, strict=True)
        ]

    # Meter 15 has no data in interval 1; meter 6 has all of it.
    rid, start = window({(meter(15), 1)})
    with pytest.raises(err("FlexCoordinationMissingMeterData")) as e:
        agg.propose_settlement(rid, rows, deliveries({}))
    assert (e.value.args_by_name["member"], e.value.args_by_name["intervalStart"]) == (
        env.addr(15),
        start + 900,
    )
    receipt = agg.propose_settlement(rid, rows, deliveries({15: {1}}))
    proposal = agg.settlement_proposal(rid)
    assert proposal is not None
    assert [d.missing for d in proposal.deliveries(rows, TOL)] == [set(), {1}, set()]
    assert receipt["status"] == 1
    # Flagging meter 6's committed interval as missing is refused even in the second word's
    # shadow (a fresh request, same members).
    rid, start = window(set())
    with pytest.raises(err("FlexCoordinationMeterDataPresent")) as e:
        agg.propose_settlement(rid, rows, deliveries({6: {0}}))
    assert e.value.args_by_name["member"] == env.addr(6)
