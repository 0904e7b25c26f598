"""FlexCoordination through its typed client against anvil: a DSO request with escrow,
opt-ins from wallets and relayed signatures, a coalition within tolerance, acceptance,
replacement of a member by a reserve, settlement against the escrow and the committed meter
data with exact token movements, and every rejection as a typed error."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chain.coordination import (
    FlexCoordinationClient,
    MemberStatus,
    RequestStatus,
    coordination_client,
)
from chain.domain import Role
from chain.errors import revert_error
from chain.oracles import MeterOracleClient
from core.codec import (
    CoalitionRow,
    EncodingError,
    MemberDeliveries,
    MemberResult,
    pack_table,
    text_to_bytes32,
    unpack_table,
    words_hash,
)
from core.errors import ChainError
from core.oracle_codec import MeterValue
from core.rules import Direction, lower_wh, member_max_payout, required_escrow, upper_wh
from settlement.baselines import BaselineMethod

DSO, AGG, OPERATOR, ORACLE = 1, 2, 3, 4
MEMBERS = range(5, 13)
OTHER_AREA, OUTSIDER = 13, 25
FUNDS = 10**12
PRICE, PENALTY, TOL = 200, 100, 1000  # base units per kWh, per kWh, basis points
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
    platform.token(admin).mint_batch([(dev_accounts[DSO].address, FUNDS)])
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
) -> tuple[int, int, int]:
    """A request of ``n`` intervals of ``q`` Wh; returns (request id, window start, escrow)."""
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
        penalty_per_kwh=PENALTY,
        baseline_method=int(BaselineMethod.X_OF_Y),
        baseline_hash=b"\x11" * 32,
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
    env: Env, start: int, n: int, members: Sequence[str], skip=(), meters=None
) -> None:
    """The oracle commits a value for every (meter, interval) but those in ``skip``."""
    oracle = env.accounts[ORACLE]
    meters = env.meters if meters is None else meters
    for k in range(n):
        values = [MeterValue(m, start + 900 * k, 500, 0) for m in members if (m, k) not in skip]
        if values:
            meters.commit(oracle, values, nonce=next(NONCES))


def full_credit(rows: Sequence[CoalitionRow], tol: int = TOL, price: int = PRICE):
    """Every member delivered its target exactly: results and deliveries."""
    results, deliveries = [], []
    for row in rows:
        credited = tuple(min(t, upper_wh(t, tol)) for t in row.targets_wh)
        results.append(
            MemberResult(
                payout=sum(price * c // 1000 for c in credited), points=sum(credited) // 100
            )
        )
        deliveries.append(MemberDeliveries(credited, credited, (0,) * len(credited)))
    return results, deliveries


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
    assert info.grid_area == "feeder-1" and info.baseline_hash == b"\x11" * 32
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

    # After the window the meter data is committed; member 8's meter sent nothing in interval 3.
    advance_to(w3, start + 900 * n + 60)
    commit_meters(env, start, n, [meter(i) for i in (5, 6, 7, 8, 9)], skip={(meter(8), 3)})
    delivered = {
        5: (330, 300, 400, 290),  # above target: credited up to 330 (target + 10 %)
        6: (300, 100, 0, 0),  # replaced from interval 2
        7: (250, 250, 100, 250),  # short in interval 2
        8: (150, 150, 150, 0),  # no data in interval 3
        9: (0, 0, 300, 300),
    }
    results, deliveries = [], []
    for row, i in zip(rows, (5, 6, 7, 8, 9), strict=True):
        d = delivered[i]
        credited = tuple(
            max(0, min(x, upper_wh(t, TOL))) for x, t in zip(d, row.targets_wh, strict=True)
        )
        shortfall = tuple(
            max(0, lower_wh(t, TOL) - x) for x, t in zip(d, row.targets_wh, strict=True)
        )
        reward = sum(PRICE * c // 1000 for c in credited)
        penalty = sum(PENALTY * s // 1000 for s in shortfall)
        results.append(
            MemberResult(max(0, reward - penalty), max(0, penalty - reward), sum(credited) // 10)
        )
        missing = frozenset({3}) if i == 8 else frozenset()
        deliveries.append(MemberDeliveries(d, credited, shortfall, missing))
    payouts = [r.payout for r in results]
    # By hand: 66 + 60 + 66 + 58; 60 + 20 - 17 (170 Wh short); 50 + 50 + 20 + 50 - 12 (125 Wh
    # short); 30 * 3 - 13 (no data: 135 Wh short); 60 + 60.
    assert payouts == [250, 63, 158, 77, 120]
    refund = escrow - sum(payouts)
    dso_mid = env.balance(DSO)
    receipt = agg.settle(rid, rows, results, deliveries, refund)

    settled = agg.settlement_in(receipt, n)
    assert (settled.payout_total, settled.refund) == (sum(payouts), refund)
    assert settled.results == results and settled.deliveries == deliveries
    assert env.balance(DSO) == dso_mid + refund
    assert env.balance(env.coord_address) == sum(payouts)
    info = dso.request(rid)
    assert info.status == RequestStatus.SETTLED and info.settlement_hash != b"\x00" * 32
    awarded = agg.reputation_awarded(receipt)
    for row, r in zip(rows, results, strict=True):
        acct = dso.account(row.member)
        assert acct.claimable == r.payout and acct.reputation == r.points and acct.settled == 1
        assert awarded[row.member] == (r.points, r.points)

    # Members claim; every base unit of the escrow has gone to a member or back to the DSO.
    for i, p in zip((5, 6, 7, 8, 9), payouts, strict=True):
        before = env.balance(i)
        env.client(i).claim_payout()
        assert env.balance(i) == before + p
        assert dso.account(env.addr(i)).claimable == 0
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
    with pytest.raises(err("FlexCoordinationNotDSO")):
        env.client(AGG).publish_request(start, [1000], **ok)
    # Exactly the required escrow is enough; a non-financial request escrows nothing.
    dso.publish_request(start, [1000, 2000], **{**ok, "escrow": needed}, direction=Direction.DOWN)
    dso.publish_request(start, [1000], **{**ok, "price_cap_per_kwh": 0, "escrow": 0})
    assert dso.request_count() == 2
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


def test_settlement_rejections(env, dso, w3):
    n = 4
    rid, start, escrow, rows = coalition(env, n=n)
    agg = env.client(AGG)
    results, deliveries = full_credit(rows)
    refund = escrow - sum(r.payout for r in results)
    with pytest.raises(err("FlexCoordinationWindowNotEnded")):
        agg.settle(rid, rows, results, deliveries, refund)
    advance_to(w3, start + 900 * n)
    members = [r.meter_id for r in rows]
    commit_meters(env, start, n, members, skip={(members[1], 2)})
    # Delivery claimed where the oracle committed nothing.
    with pytest.raises(err("FlexCoordinationMissingMeterData")) as e:
        agg.settle(rid, rows, results, deliveries, refund)
    assert e.value.args_by_name["intervalStart"] == start + 1800
    # Flagged as missing: nothing may be delivered or credited there ...
    d1 = deliveries[1]
    flagged = MemberDeliveries(d1.delivered_wh, d1.credited_wh, d1.shortfall_wh, frozenset({2}))
    with pytest.raises(err("FlexCoordinationDeliveryWithoutData")):
        agg.settle(rid, rows, results, [deliveries[0], flagged, *deliveries[2:]], refund)
    # ... and an interval that has data may not be flagged as missing.
    zero2 = tuple(0 if k == 2 else c for k, c in enumerate(d1.credited_wh))
    wrong_flag = MemberDeliveries(zero2, zero2, d1.shortfall_wh, frozenset({1}))
    with pytest.raises(err("FlexCoordinationDeliveryWithoutData")):
        agg.settle(rid, rows, results, [deliveries[0], wrong_flag, *deliveries[2:]], refund)
    wrong_flag = MemberDeliveries(
        tuple(0 if k in (1, 2) else c for k, c in enumerate(d1.credited_wh)),
        tuple(0 if k in (1, 2) else c for k, c in enumerate(d1.credited_wh)),
        d1.shortfall_wh,
        frozenset({1, 2}),
    )
    with pytest.raises(err("FlexCoordinationMeterDataPresent")):
        agg.settle(rid, rows, results, [deliveries[0], wrong_flag, *deliveries[2:]], refund)
    ok = MemberDeliveries(zero2, zero2, d1.shortfall_wh, frozenset({2}))
    deliveries = [deliveries[0], ok, *deliveries[2:]]
    results[1] = MemberResult(PRICE * sum(zero2) // 1000)
    refund = escrow - sum(r.payout for r in results)
    # Payouts and refund must make the escrow exactly.
    with pytest.raises(err("FlexCoordinationPayoutMismatch")) as e:
        agg.settle(rid, rows, results, deliveries, refund + 1)
    assert e.value.args_by_name == {
        "escrow": escrow,
        "payoutTotal": escrow - refund,
        "refund": refund + 1,
    }
    # No payout above what the member's targets can earn.
    top = member_max_payout(rows[0].targets_wh, TOL, PRICE)
    over = [MemberResult(top + 1), *results[1:]]
    with pytest.raises(err("FlexCoordinationPayoutAboveMax")) as e:
        agg.settle(rid, rows, over, deliveries, escrow - sum(r.payout for r in over))
    assert e.value.args_by_name["maxPayout"] == top
    credit_high = MemberDeliveries((276,) * n, (276,) * n, (0,) * n)
    with pytest.raises(err("FlexCoordinationCreditAboveTarget")):
        agg.settle(rid, rows, results, [credit_high, *deliveries[1:]], refund)
    with pytest.raises(err("FlexCoordinationLengthMismatch")):
        agg.settle(rid, rows, results[:-1], deliveries, refund)
    with pytest.raises(err("FlexCoordinationTableMismatch")):
        agg.settle(rid, rows[::-1], results, deliveries, refund)
    with pytest.raises(err("FlexCoordinationNotCoordinator")):
        env.client(DSO).settle(rid, rows, results, deliveries, refund)
    agg.settle(rid, rows, results, deliveries, refund)
    with pytest.raises(err("FlexCoordinationAlreadySettled")):
        env.client(OPERATOR).settle(rid, rows, results, deliveries, refund)


def test_no_settlement_without_an_accepted_coalition(env, dso, w3):
    rid, start, escrow = publish(env, n=1)
    opt_in_all(env, rid, (5, 6))
    rows = rows_for(env, {5: [500], 6: [500]})
    agg = env.client(AGG)
    results, deliveries = full_credit(rows)
    with pytest.raises(err("FlexCoordinationWrongStatus")):
        agg.settle(rid, rows, results, deliveries, 0)
    agg.propose_coalition(rid, PRICE, rows)
    advance_to(w3, start + 900)
    with pytest.raises(err("FlexCoordinationWrongStatus")) as e:
        agg.settle(rid, rows, results, deliveries, escrow - sum(r.payout for r in results))
    assert e.value.args_by_name["status"] == int(RequestStatus.PROPOSED)


# ---------------------------------------------------------------------------- property


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_money_is_conserved_for_any_payouts_within_bounds(env, w3, data):
    """Any payouts within the members' maxima: the escrow ends exactly as payouts + refund,
    every balance stays non-negative, the contract keeps exactly what members may claim."""
    snap = w3.provider.make_request("evm_snapshot", [])["result"]
    try:
        n = data.draw(st.integers(1, 3), label="intervals")
        k = data.draw(st.integers(1, 4), label="members")
        q = 1000
        shares = [q // k + (1 if j < q % k else 0) for j in range(k)]
        extra = data.draw(st.integers(0, 10_000), label="extra escrow")
        members = list(MEMBERS)[:k]
        rid, start, escrow = publish(
            env, n=n, q=q, escrow=required_escrow([q] * n, TOL, PRICE) + extra
        )
        opt_in_all(env, rid, members)
        rows = rows_for(env, {i: [s] * n for i, s in zip(members, shares, strict=True)})
        env.client(AGG).propose_coalition(rid, PRICE, rows)
        env.client(DSO).accept_coalition(rid)
        advance_to(w3, start + 900 * n)
        commit_meters(env, start, n, [r.meter_id for r in rows])
        results, deliveries = [], []
        for row in rows:
            top = member_max_payout(row.targets_wh, TOL, PRICE)
            payout = data.draw(st.integers(0, top), label="payout")
            points = data.draw(st.integers(-1000, 1000), label="points")
            credited = tuple(upper_wh(t, TOL) for t in row.targets_wh)
            results.append(MemberResult(payout, 0, points))
            deliveries.append(MemberDeliveries(credited, credited, (0,) * n))
        dso_before = env.balance(DSO)
        held_before = env.balance(env.coord_address)
        refund = escrow - sum(r.payout for r in results)
        assert refund >= 0
        env.client(AGG).settle(rid, rows, results, deliveries, refund)
        assert env.balance(DSO) == dso_before + refund
        assert env.balance(env.coord_address) == held_before - refund
        claimable = {row.member: env.client().account(row.member).claimable for row in rows}
        assert sum(claimable.values()) + refund == escrow
        for i, r in zip(members, results, strict=True):
            if r.payout:
                before = env.balance(i)
                env.client(i).claim_payout()
                assert env.balance(i) == before + r.payout >= 0
            assert env.client().account(env.addr(i)).reputation == r.points
        assert env.balance(env.coord_address) == held_before - escrow
        assert env.balance(DSO) >= 0 and env.balance(env.coord_address) >= 0
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
    commit_meters(env, start, 2, [meter(5)])
    before = [dso.account(env.addr(i)).reputation for i in (5, 6)]
    results = [MemberResult(0, 0, 10), MemberResult(0, 0, -7)]
    deliveries = [
        MemberDeliveries((500, 500), (500, 500), (0, 0)),
        MemberDeliveries((0, 0), (0, 0), (450, 450), frozenset({0, 1})),
    ]
    # A missing-data flag beyond the window is refused.
    beyond = MemberDeliveries((0, 0), (0, 0), (450, 450), frozenset({0, 1, 2}))
    with pytest.raises(err("FlexCoordinationDeliveryWithoutData")):
        agg.settle(rid, rows, results, [deliveries[0], beyond], 0)
    with pytest.raises(err("FlexCoordinationPayoutAboveMax")):
        agg.settle(rid, rows, [MemberResult(1), results[1]], deliveries, 0)
    held = env.balance(env.coord_address)
    receipt = agg.settle(rid, rows, results, deliveries, 0)
    assert env.balance(env.coord_address) == held
    after = [dso.account(env.addr(i)).reputation for i in (5, 6)]
    assert [a - b for a, b in zip(after, before, strict=True)] == [10, -7]
    assert agg.reputation_awarded(receipt) == {
        env.addr(5): (10, after[0]),
        env.addr(6): (-7, after[1]),
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
    rid, start, escrow = publish(env, n=n)
    members = (5, 15, 6)
    opt_in_all(env, rid, members)
    rows = rows_for(env, {5: [300] * n, 15: [400] * n, 6: [300] * n})
    env.client(AGG).propose_coalition(rid, PRICE, rows)
    dso.accept_coalition(rid)
    advance_to(w3, start + 900 * n)
    # Meter 15 has no data in interval 1; meter 6 has all of it.
    commit_meters(env, start, n, [meter(i) for i in members], {(meter(15), 1)}, meters)
    results, deliveries = full_credit(rows)
    agg = env.client(AGG)
    with pytest.raises(err("FlexCoordinationMissingMeterData")) as e:
        agg.settle(rid, rows, results, deliveries, escrow - sum(r.payout for r in results))
    assert (e.value.args_by_name["member"], e.value.args_by_name["intervalStart"]) == (
        env.addr(15),
        start + 900,
    )
    d = deliveries[1]
    zero1 = (d.credited_wh[0], 0)
    deliveries[1] = MemberDeliveries(zero1, zero1, (0, 360), frozenset({1}))
    results[1] = MemberResult(PRICE * zero1[0] // 1000)
    receipt = agg.settle(rid, rows, results, deliveries, escrow - sum(r.payout for r in results))
    assert agg.settlement_in(receipt, n).deliveries == deliveries
    # Flagging meter 6's committed interval as missing is refused even in the second word's
    # shadow (a fresh request, same members).
    rid, start, escrow = publish(env, n=n)
    opt_in_all(env, rid, members)
    env.client(AGG).propose_coalition(rid, PRICE, rows)
    dso.accept_coalition(rid)
    advance_to(w3, start + 900 * n)
    commit_meters(env, start, n, [meter(i) for i in members], meters=meters)
    results, deliveries = full_credit(rows)
    deliveries[2] = MemberDeliveries((0, 300), (0, 300), (270, 0), frozenset({0}))
    results[2] = MemberResult(PRICE * 300 // 1000)
    with pytest.raises(err("FlexCoordinationMeterDataPresent")) as e:
        agg.settle(rid, rows, results, deliveries, escrow - sum(r.payout for r in results))
    assert e.value.args_by_name["member"] == env.addr(6)
