"""FlexCoordination under brownie: the main revert paths of requests, opt-ins, coalitions and
settlement (proposal, dispute, finalization), one meter per member, the meter check of every
row, the results at the extremes of the fields."""

import pytest
from brownie import chain
from eth_account import Account

from tests.contracts.helpers import AGGREGATOR, DSO, ORACLE, PROSUMER, b32, reverts
from tests.contracts.market_env import ORACLE_KEY, Meters

PRICE, TOL = 200, 1000
FUNDS = 10**12
CHALLENGE_S, GRACE_S, BOND = 900, 3600, 10**6
MISSING = (0, 0, b"\0" * 32, [])


# MeterOracle indexes of the members' meters (enrolled in this order by the fixture).
METER_INDEX = {"m3": 0, "m4": 1, "m5": 2}


@pytest.fixture(scope="module")
def meters(MeterOracle, registry, admin, accounts):
    m = MeterOracle.deploy(registry, {"from": admin})
    registry.register(accounts[6], ORACLE, b32("feeder-1"), b"\0" * 32, {"from": admin})
    oracle = Account.from_key(ORACLE_KEY)
    registry.register(oracle.address, ORACLE, b32("feeder-1"), b"\0" * 32, {"from": admin})
    m.enrolMeters([b32(k) for k in METER_INDEX], {"from": accounts[6]})
    return m


def deploy_coordination(FlexCoordination, CoordinationSettlement, registry, token, meters, admin):
    CoordinationSettlement.deploy({"from": admin})
    return FlexCoordination.deploy(
        registry, token, meters, CHALLENGE_S, GRACE_S, BOND, {"from": admin}
    )


@pytest.fixture(scope="module")
def coord(FlexCoordination, CoordinationSettlement, meters, registry, token, admin, accounts):
    c = deploy_coordination(
        FlexCoordination, CoordinationSettlement, registry, token, meters, admin
    )
    registry.register(accounts[1], DSO, b32("feeder-1"), b"\0" * 32, {"from": admin})
    registry.register(accounts[2], AGGREGATOR, b32("feeder-1"), b"\0" * 32, {"from": admin})
    for i in (3, 4, 5, 7):
        registry.register(accounts[i], PROSUMER, b32("feeder-1"), b32(f"m{i}"), {"from": admin})
    for who in (1, 2, 8):
        token.mint(accounts[who], FUNDS, {"from": admin})
        token.approve(c, FUNDS, {"from": accounts[who]})
    return c


@pytest.fixture(scope="module")
def oracle_meters(meters):
    """Commitments and their Merkle proofs, as an off-chain client keeps them."""
    return Meters(meters, list(METER_INDEX))


def words(meters, start, count, word):
    """``committedWords`` as plain ints."""
    return [int(w) for w in meters.committedWords(start, count, word)]


def escrow_for(quantities, tol=TOL, price=PRICE):
    return sum(price * (q * (10_000 + tol) // 10_000) // 1000 for q in quantities)


def params(start, escrow, tol=TOL, deadline=None, price=PRICE, method=4, k=4, gap=0):
    # (gridArea, windowStart, optInDeadline, direction, toleranceBp, priceCap, penalty,
    #  baselineMethod, baselineHash, escrow, baselineIntervals, baselineGapIntervals)
    deadline = start - 900 if deadline is None else deadline
    return (
        b32("feeder-1"), start, deadline, 0, tol, price, 100, method, b"\0" * 32, escrow, k, gap
    )


def window_start():
    return (chain.time() // 900 + 8) * 900


def row(account, meter, targets, index=None):
    index = METER_INDEX.get(meter, 0) if index is None else index
    words = [int(account.address, 16) << 96 | index, int.from_bytes(b32(meter), "big")]
    packed = [0] * ((len(targets) + 7) // 8)
    for k, t in enumerate(targets):
        packed[k // 8] |= t << (32 * (k % 8))
    return words + packed


def packed(values):
    """int32 values packed eight to a word."""
    out = [0] * ((len(values) + 7) // 8)
    for k, v in enumerate(values):
        out[k // 8] |= (v & 0xFFFFFFFF) << (32 * (k % 8))
    return out


def delivery_row(delivered, missing=()):
    return [sum(1 << k for k in missing), *packed(delivered)]


def result_word(payout, uncovered=0, points=0):
    return payout << 160 | uncovered << 96 | (points & 0xFFFFFFFF) << 64


def publish(coord, accounts, quantities=(1000, 1000)):
    start = window_start()
    tx = coord.publishRequest(
        params(start, escrow_for(quantities)), list(quantities), {"from": accounts[1]}
    )
    return tx.events["RequestPublished"]["requestId"], start


def goto(t):
    chain.sleep(max(0, t - chain.time()))
    chain.mine()


def accepted(coord, accounts, targets, quantities):
    """A request of ``quantities`` with an accepted coalition (``targets``: account index ->
    per-interval targets, meters m3, m4, ...); its table and window start."""
    rid, start = publish(coord, accounts, quantities)
    table = []
    for i, t in targets.items():
        coord.optIn(rid, max(t), {"from": accounts[i]})
        table += row(accounts[i], f"m{i}", t)
    coord.proposeCoalition(rid, PRICE, table, [], {"from": accounts[2]})
    coord.acceptCoalition(rid, {"from": accounts[1]})
    return rid, start, table


def test_publish_reverts(coord, token, accounts):
    start = window_start()
    with reverts("FlexCoordinationEmptyWindow"):
        coord.publishRequest(params(start, 10**9), [], {"from": accounts[1]})
    with reverts("FlexCoordinationImpossibleTolerance", 10_000):
        coord.publishRequest(params(start, 10**9, tol=10_000), [1000], {"from": accounts[1]})
    needed = escrow_for([1000, 500])
    with reverts("FlexCoordinationEscrowTooSmall", needed, needed - 1):
        coord.publishRequest(params(start, needed - 1), [1000, 500], {"from": accounts[1]})
    with reverts("FlexCoordinationNotDSO", accounts[2].address):
        coord.publishRequest(params(start, needed), [1000, 500], {"from": accounts[2]})
    # Only the meter-before baseline can be recomputed on-chain when a row is disputed.
    for method in (1, 2, 3):
        with reverts("FlexCoordinationBaselineNotOnChain", method):
            coord.publishRequest(
                params(start, needed, method=method), [1000], {"from": accounts[1]}
            )
    with reverts("FlexCoordinationBadBaselineParams", 0, 0):
        coord.publishRequest(params(start, needed, k=0), [1000], {"from": accounts[1]})
    before = token.balanceOf(accounts[1])
    coord.publishRequest(params(start, needed), [1000, 500], {"from": accounts[1]})
    assert token.balanceOf(accounts[1]) == before - needed
    assert token.balanceOf(coord) == needed


def test_opt_in_after_deadline_reverts(coord, accounts):
    rid, start = publish(coord, accounts)
    coord.optIn(rid, 600, {"from": accounts[3]})
    with reverts("FlexCoordinationAlreadyOptedIn", rid, accounts[3].address):
        coord.optIn(rid, 600, {"from": accounts[3]})
    chain.sleep(start - 900 - chain.time())
    chain.mine()
    with reverts("FlexCoordinationOptInClosed"):
        coord.optIn(rid, 600, {"from": accounts[4]})


def test_coalition_reverts(coord, accounts):
    rid, _ = publish(coord, accounts)
    coord.optIn(rid, 800, {"from": accounts[3]})
    coord.optIn(rid, 800, {"from": accounts[4]})
    good = row(accounts[3], "m3", [500, 500]) + row(accounts[4], "m4", [500, 500])
    with reverts("FlexCoordinationNotOptedIn", rid, accounts[5].address):
        coord.proposeCoalition(
            rid, PRICE, good[:3] + row(accounts[5], "m5", [500, 500]), [], {"from": accounts[2]}
        )
    low = row(accounts[3], "m3", [500, 500]) + row(accounts[4], "m4", [300, 500])
    with reverts("FlexCoordinationTargetsOutsideTolerance", 0, 800, 900, 1100):
        coord.proposeCoalition(rid, PRICE, low, [], {"from": accounts[2]})
    with reverts("FlexCoordinationNotCoordinator", rid, accounts[1].address):
        coord.proposeCoalition(rid, PRICE, good, [], {"from": accounts[1]})
    coord.proposeCoalition(rid, PRICE, good, [], {"from": accounts[2]})
    with reverts("FlexCoordinationNotRequestDSO", rid, accounts[2].address):
        coord.acceptCoalition(rid, {"from": accounts[2]})
    coord.acceptCoalition(rid, {"from": accounts[1]})
    assert coord.request(rid)[4] == 2  # Accepted


def test_coalition_rows_carry_the_checked_meter_index(coord, accounts):
    rid, _ = publish(coord, accounts)
    for i in (3, 4, 7):
        coord.optIn(rid, 800, {"from": accounts[i]})
    good = row(accounts[3], "m3", [500, 500]) + row(accounts[4], "m4", [500, 500])
    wrong = row(accounts[3], "m3", [500, 500]) + row(accounts[4], "m4", [500, 500], index=0)
    # (the pytest suite checks the arguments: brownie renders a bytes32 argument as bytes)
    with reverts("FlexCoordinationWrongMeterIndex"):
        coord.proposeCoalition(rid, PRICE, wrong, [], {"from": accounts[2]})
    # Member 7's meter is registered but was never enrolled in the MeterOracle.
    lone = row(accounts[3], "m3", [500, 500]) + row(accounts[7], "m7", [500, 500])
    with reverts("FlexCoordinationMeterNotEnrolled"):
        coord.proposeCoalition(rid, PRICE, lone, [], {"from": accounts[2]})
    tx = coord.proposeCoalition(rid, PRICE, good, [accounts[7]], {"from": accounts[2]})
    assert list(tx.events["CoalitionProposed"]["table"]) == good
    coord.acceptCoalition(rid, {"from": accounts[1]})
    with reverts("FlexCoordinationMeterNotEnrolled"):
        coord.replaceMember(
            rid, good, accounts[3], accounts[7], b32("m7"), 1, {"from": accounts[2]}
        )


def test_proposal_checks_each_target_and_the_unused_fields(coord, accounts):
    rid, _ = publish(coord, accounts)  # two intervals of 1,000 Wh
    coord.optIn(rid, 600, {"from": accounts[3]})
    coord.optIn(rid, 600, {"from": accounts[4]})
    over = row(accounts[3], "m3", [500, 500]) + row(accounts[4], "m4", [400, 601])
    with reverts("FlexCoordinationTargetAboveOffer", accounts[4].address, 1, 601, 600):
        coord.proposeCoalition(rid, PRICE, over, [], {"from": accounts[2]})
    stray = row(accounts[3], "m3", [500, 500, 7]) + row(accounts[4], "m4", [500, 500])
    with reverts("FlexCoordinationBadTable", 6, 3):
        coord.proposeCoalition(rid, PRICE, stray, [], {"from": accounts[2]})
    good = row(accounts[3], "m3", [500, 450]) + row(accounts[4], "m4", [500, 550])
    tx = coord.proposeCoalition(rid, PRICE, good, [], {"from": accounts[2]})
    most = sum(PRICE * (t * (10_000 + TOL) // 10_000) // 1000 for t in (500, 450, 500, 550))
    assert tx.events["CoalitionProposed"]["maxPayout"] == most


def test_one_meter_cannot_back_two_members(
    FlexCoordination, CoordinationSettlement, SharedMeterRegistry, registry, token, meters, admin,
    accounts,
):
    """A registry that lets member 4 report member 3's meter (ParticipantRegistry would not):
    the coalition refuses a second row on the same meter index, and so does a replacement."""
    shared = SharedMeterRegistry.deploy(registry, {"from": admin})
    c = deploy_coordination(FlexCoordination, CoordinationSettlement, shared, token, meters, admin)
    for i in (1, 2, 3, 4, 5):
        if not registry.isActive(accounts[i]):
            role = {1: DSO, 2: AGGREGATOR}.get(i, PROSUMER)
            meter = b32(f"m{i}") if role == PROSUMER else b"\0" * 32
            registry.register(accounts[i], role, b32("feeder-1"), meter, {"from": admin})
    token.mint(accounts[1], FUNDS, {"from": admin})
    token.approve(c, FUNDS, {"from": accounts[1]})
    shared.shareMeter(accounts[4], b32("m3"), {"from": admin})
    start = window_start()
    tx = c.publishRequest(params(start, escrow_for([1000])), [1000], {"from": accounts[1]})
    rid = tx.events["RequestPublished"]["requestId"]
    for i in (3, 4, 5):
        c.optIn(rid, 1000, {"from": accounts[i]})
    twice = row(accounts[3], "m3", [500]) + row(accounts[4], "m3", [500])
    with reverts("FlexCoordinationDuplicateMeter", accounts[4].address, METER_INDEX["m3"]):
        c.proposeCoalition(rid, PRICE, twice, [], {"from": accounts[2]})
    # Member 5 reports member 3's meter too: as a reserve it cannot replace member 4.
    table = row(accounts[3], "m3", [500]) + row(accounts[5], "m5", [500])
    c.proposeCoalition(rid, PRICE, table, [accounts[4]], {"from": accounts[2]})
    c.acceptCoalition(rid, {"from": accounts[1]})
    with reverts("FlexCoordinationDuplicateMeter", accounts[4].address, METER_INDEX["m3"]):
        c.replaceMember(rid, table, accounts[5], accounts[4], b32("m3"), 0, {"from": accounts[2]})


def test_settlement_is_proposed_disputed_and_finalized(
    coord, meters, oracle_meters, token, accounts
):
    """Two members, one bitmap word, member 4's meter silent in interval 1. The proposal must
    flag exactly the silent interval; a wrong delivery is disputed with the readings and
    their Merkle proofs and corrected; the bond goes to the disputer; finalization credits the
    payouts and pays the refund."""
    rid, start, table = accepted(coord, accounts, {3: [500, 500], 4: [500, 500]}, (1000, 1000))
    escrow = escrow_for([1000, 1000])
    with reverts("FlexCoordinationWindowNotEnded"):
        coord.proposeSettlement(rid, table, delivery_row([0, 0]) * 2, {"from": accounts[2]})
    goto(start + 2 * 900)
    for k in range(-4, 0):
        oracle_meters.commit(start + 900 * k, {"m3": (1000, 0), "m4": (1000, 0)})
    oracle_meters.commit(start, {"m3": (500, 0), "m4": (600, 0)})
    oracle_meters.commit(start + 900, {"m3": (450, 0)})
    assert words(meters, start, 2, 0) == [0b11, 0b01]
    truth = delivery_row([500, 550]) + delivery_row([400, 0], missing=[1])
    unflagged = delivery_row([500, 550]) + delivery_row([400, 0])
    with reverts("FlexCoordinationMissingMeterData"):
        coord.proposeSettlement(rid, table, unflagged, {"from": accounts[2]})
    claimed = delivery_row([500, 550]) + delivery_row([400, 3], missing=[1])
    with reverts("FlexCoordinationDeliveryWithoutData", accounts[4].address, 1):
        coord.proposeSettlement(rid, table, claimed, {"from": accounts[2]})
    with reverts("FlexCoordinationNotCoordinator"):
        coord.proposeSettlement(rid, table, truth, {"from": accounts[8]})
    # The aggregator claims member 3 delivered 50 Wh more in interval 0 (credited 550).
    lie = delivery_row([550, 550]) + delivery_row([400, 0], missing=[1])
    agg_before = token.balanceOf(accounts[2])
    tx = coord.proposeSettlement(rid, table, lie, {"from": accounts[2]})
    assert token.balanceOf(accounts[2]) == agg_before - BOND
    ev = tx.events["SettlementProposed"]
    # Member 3: 550 + 550 credited at 200 per kWh; member 4: 400 credited, 50 Wh short in
    # interval 0 (lower 450), 450 short in interval 1 (no data), at 100 per kWh.
    results = [result_word(220, 0, 1100), result_word(80 - 5 - 45, 0, 400 - 50 - 450)]
    assert list(ev["results"]) == results and list(ev["deliveries"]) == lie
    assert ev["payoutTotal"] == 250 and ev["refund"] == escrow - 250
    assert coord.account(accounts[3])[0] == 0  # nothing credited before finalization
    readings = [oracle_meters.reading("m3", start + 900 * k) for k in range(-4, 2)]
    dispute = (0, results, lie, readings)
    with reverts("FlexCoordinationRowCorrect", rid, 1):
        readings4 = [oracle_meters.reading("m4", start + 900 * k) for k in range(-4, 1)]
        coord.disputeSettlement(rid, table, (1, results, lie, [*readings4, MISSING]),
                                {"from": accounts[9]})
    with reverts("FlexCoordinationReadingPresent"):
        coord.disputeSettlement(rid, table, (0, results, lie, [*readings[:-1], MISSING]),
                                {"from": accounts[9]})
    before = token.balanceOf(accounts[9])
    tx = coord.disputeSettlement(rid, table, dispute, {"from": accounts[9]})
    d = tx.events["SettlementDisputed"]
    assert (d["row"], d["member"], d["bondPaid"]) == (0, accounts[3].address, BOND)
    assert list(d["deliveries"]) == delivery_row([500, 550])
    assert d["result"] == result_word(210, 0, 1050)
    assert token.balanceOf(accounts[9]) == before + BOND
    corrected = [result_word(210, 0, 1050), results[1]]
    with reverts("FlexCoordinationChallengeOpen"):
        coord.finalizeSettlement(rid, table, corrected, chain_hash(truth), {"from": accounts[9]})
    goto(chain.time() + CHALLENGE_S)
    with reverts("FlexCoordinationSettlementMismatch"):
        coord.finalizeSettlement(rid, table, results, chain_hash(truth), {"from": accounts[9]})
    dso_before = token.balanceOf(accounts[1])
    tx = coord.finalizeSettlement(rid, table, corrected, chain_hash(truth), {"from": accounts[9]})
    f = tx.events["SettlementFinalized"]
    assert (f["payoutTotal"], f["refund"], f["bondReturned"]) == (240, escrow - 240, 0)
    assert token.balanceOf(accounts[1]) == dso_before + escrow - 240
    assert tuple(coord.account(accounts[3]))[:2] == (210, 1050)
    assert tuple(coord.account(accounts[4]))[:2] == (30, -100)
    assert token.balanceOf(coord) == 240
    assert coord.request(rid)[4] == 3  # Settled


def chain_hash(words):
    from brownie import web3

    return web3.keccak(b"".join(int(w).to_bytes(32, "big") for w in words))


def test_results_at_the_extremes_of_the_fields(coord, oracle_meters, accounts):
    """Targets of 2^31 - 1 Wh, no tolerance, deliveries at the ends of int32: the contract
    computes whole credits and shortfalls, the payout and the uncovered penalty exactly, and
    caps the points to the results word's int32 field (up and down); a delivery in an unused
    field of the last word is refused."""
    t = 2**31 - 1
    start = window_start()
    quantities = [2 * t] * 3
    escrow = escrow_for(quantities, tol=0, price=1)
    tx = coord.publishRequest(
        params(start, escrow, tol=0, price=1), quantities, {"from": accounts[1]}
    )
    rid = tx.events["RequestPublished"]["requestId"]
    coord.optIn(rid, t, {"from": accounts[3]})
    coord.optIn(rid, t, {"from": accounts[4]})
    table = row(accounts[3], "m3", [t] * 3) + row(accounts[4], "m4", [t] * 3)
    coord.proposeCoalition(rid, 1, table, [], {"from": accounts[2]})
    coord.acceptCoalition(rid, {"from": accounts[1]})
    goto(start + 3 * 900)
    for k in range(-4, 3):
        oracle_meters.commit(start + 900 * k, {"m3": (1, 0), "m4": (1, 0)})
    beyond = [0, packed([1, 1, 1])[0] | 5 << 96, *delivery_row([0, 0, 0])]
    with reverts("FlexCoordinationDeliveryWithoutData", accounts[3].address, 3):
        coord.proposeSettlement(rid, table, beyond, {"from": accounts[2]})
    deliveries = delivery_row([-(2**31)] * 3) + delivery_row([t] * 3)
    tx = coord.proposeSettlement(rid, table, deliveries, {"from": accounts[2]})
    short, full = tx.events["SettlementProposed"]["results"]
    # Member 3: nothing credited, 2^32 - 1 Wh short per interval at 100 per kWh.
    assert short == result_word(0, 3 * ((2**32 - 1) * 100 // 1000), -(2**31))
    # Member 4: its targets whole at 1 per kWh; 3 * (2^31 - 1) points, capped.
    assert full == result_word(3 * (t // 1000), 0, 2**31 - 1)
