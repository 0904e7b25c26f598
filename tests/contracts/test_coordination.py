"""FlexCoordination under brownie: the main revert paths of requests, opt-ins, coalitions and
settlement, and a settlement that refunds the whole escrow (nothing credited)."""

import pytest
from brownie import chain
from eth_account import Account

from tests.contracts.helpers import AGGREGATOR, DSO, ORACLE, PROSUMER, b32, reverts

PRICE, TOL = 200, 1000
FUNDS = 10**12


# MeterOracle indexes of the members' meters (enrolled in this order by the fixture).
METER_INDEX = {"m3": 0, "m4": 1, "m5": 2}


@pytest.fixture(scope="module")
def meters(MeterOracle, registry, admin, accounts):
    m = MeterOracle.deploy(registry, {"from": admin})
    registry.register(accounts[6], ORACLE, b32("feeder-1"), b"\0" * 32, {"from": admin})
    m.enrolMeters([b32(k) for k in METER_INDEX], {"from": accounts[6]})
    return m


@pytest.fixture(scope="module")
def coord(FlexCoordination, meters, registry, token, admin, accounts):
    c = FlexCoordination.deploy(registry, token, meters, {"from": admin})
    registry.register(accounts[1], DSO, b32("feeder-1"), b"\0" * 32, {"from": admin})
    registry.register(accounts[2], AGGREGATOR, b32("feeder-1"), b"\0" * 32, {"from": admin})
    for i in (3, 4, 5, 7):
        registry.register(accounts[i], PROSUMER, b32("feeder-1"), b32(f"m{i}"), {"from": admin})
    token.mint(accounts[1], FUNDS, {"from": admin})
    token.approve(c, FUNDS, {"from": accounts[1]})
    return c


def words(meters, start, count, word):
    """``committedWords`` as plain ints."""
    return [int(w) for w in meters.committedWords(start, count, word)]


def escrow_for(quantities, tol=TOL, price=PRICE):
    return sum(price * (q * (10_000 + tol) // 10_000) // 1000 for q in quantities)


def params(start, escrow, tol=TOL, deadline=None, price=PRICE):
    # (gridArea, windowStart, optInDeadline, direction, toleranceBp, priceCap, penalty,
    #  baselineMethod, baselineHash, escrow)
    deadline = start - 900 if deadline is None else deadline
    return (b32("feeder-1"), start, deadline, 0, tol, price, 100, 1, b"\x11" * 32, escrow)


def window_start():
    return (chain.time() // 900 + 8) * 900


def row(account, meter, targets, index=None):
    index = METER_INDEX.get(meter, 0) if index is None else index
    words = [int(account.address, 16) << 96 | index, int.from_bytes(b32(meter), "big")]
    packed = [0] * ((len(targets) + 7) // 8)
    for k, t in enumerate(targets):
        packed[k // 8] |= t << (32 * (k % 8))
    return words + packed


def publish(coord, accounts, quantities=(1000, 1000)):
    start = window_start()
    tx = coord.publishRequest(
        params(start, escrow_for(quantities)), list(quantities), {"from": accounts[1]}
    )
    return tx.events["RequestPublished"]["requestId"], start


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


def test_settlement_only_after_the_window_and_only_once(coord, token, accounts):
    rid, start = publish(coord, accounts, quantities=(1000,))
    coord.optIn(rid, 1000, {"from": accounts[3]})
    table = row(accounts[3], "m3", [1000])
    coord.proposeCoalition(rid, PRICE, table, [], {"from": accounts[2]})
    coord.acceptCoalition(rid, {"from": accounts[1]})
    escrow = escrow_for([1000])
    results = [0]
    deliveries = [0, 0, 0, 0]  # nothing delivered, nothing credited, no shortfall
    with reverts("FlexCoordinationWindowNotEnded"):
        coord.settle(rid, table, results, deliveries, escrow, {"from": accounts[2]})
    chain.sleep(start + 900 - chain.time())
    chain.mine()
    with reverts("FlexCoordinationPayoutMismatch", escrow, 0, escrow - 1):
        coord.settle(rid, table, results, deliveries, escrow - 1, {"from": accounts[2]})
    over = [(escrow + 1) << 160]
    with reverts("FlexCoordinationPayoutAboveMax"):
        coord.settle(rid, table, over, deliveries, 0, {"from": accounts[2]})
    before = token.balanceOf(accounts[1])
    coord.settle(rid, table, results, deliveries, escrow, {"from": accounts[2]})
    assert token.balanceOf(accounts[1]) == before + escrow
    assert token.balanceOf(coord) == 0
    with reverts("FlexCoordinationAlreadySettled", rid):
        coord.settle(rid, table, results, deliveries, escrow, {"from": accounts[2]})


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


def test_settlement_checks_each_members_own_meter_bit(coord, meters, registry, admin, accounts):
    """Two members, one bitmap word: a credit where only the other member's meter has data
    is refused; the settlement logs results and deliveries, and no per-member event."""
    oracle = Account.from_key("0x" + "42" * 32)
    registry.register(oracle.address, ORACLE, b32("feeder-1"), b"\0" * 32, {"from": admin})
    rid, start = publish(coord, accounts, quantities=(1000,))
    coord.optIn(rid, 1000, {"from": accounts[3]})
    coord.optIn(rid, 1000, {"from": accounts[4]})
    table = row(accounts[3], "m3", [500]) + row(accounts[4], "m4", [500])
    coord.proposeCoalition(rid, PRICE, table, [], {"from": accounts[2]})
    coord.acceptCoalition(rid, {"from": accounts[1]})
    chain.sleep(start + 900 - chain.time())
    chain.mine()
    # Only meter m3 (index 0) gets a commitment for the interval.
    reading = (METER_INDEX["m3"] << 192) | (500 << 96)
    digest = meters.batchDigest(start, [reading], 1, False)
    signature = Account.unsafe_sign_hash(digest, oracle.key).signature
    meters.commitReadings(start, [reading], 1, signature, {"from": accounts[0]})
    assert words(meters, start, 1, 0) == [1 << METER_INDEX["m3"]]
    credited = 550
    pay = PRICE * credited // 1000
    results = [pay << 160 | 7 << 64, pay << 160]
    both = [0, credited, credited, 0] * 2
    escrow = escrow_for([1000])
    with reverts("FlexCoordinationMissingMeterData"):
        coord.settle(rid, table, results, both, escrow - 2 * pay, {"from": accounts[2]})
    # Member 4 flagged as without data: credited nothing, no commitment: accepted.
    deliveries = [0, credited, credited, 0, 1, 0, 0, 450]
    results = [pay << 160 | 7 << 64, 0]
    tx = coord.settle(rid, table, results, deliveries, escrow - pay, {"from": accounts[2]})
    ev = tx.events["RequestSettled"]
    assert list(ev["results"]) == results and list(ev["deliveries"]) == deliveries
    assert "ReputationAwarded" not in tx.events
    assert coord.account(accounts[3])[1] == 7 and coord.account(accounts[3])[0] == pay


def test_a_credit_in_an_unused_field_is_above_its_zero_target(coord, accounts):
    """One interval: fields 1..7 of the packed words are outside the window; a credit there
    is refused as a credit above target (interval 1, target 0)."""
    rid, start = publish(coord, accounts, quantities=(1000,))
    coord.optIn(rid, 1000, {"from": accounts[3]})
    table = row(accounts[3], "m3", [1000])
    coord.proposeCoalition(rid, PRICE, table, [], {"from": accounts[2]})
    coord.acceptCoalition(rid, {"from": accounts[1]})
    chain.sleep(start + 900 - chain.time())
    chain.mine()
    escrow = escrow_for([1000])
    beyond = [0, 0, 5 << 32, 0]  # nothing in interval 0, 5 Wh credited in field 1
    with reverts("FlexCoordinationCreditAboveTarget", accounts[3].address, 1, 5, 0):
        coord.settle(rid, table, [0], beyond, escrow, {"from": accounts[2]})
    coord.settle(rid, table, [0], [0, 0, 0, 0], escrow, {"from": accounts[2]})


def test_credit_bound_at_the_extremes_of_the_fields(coord, meters, registry, admin, accounts):
    """Targets and credits at the top of uint32, no tolerance: the credit check (done four
    fields at a time) accepts a credit equal to the target and refuses one 1 Wh above it, in
    an even and in an odd field."""
    oracle = Account.from_key("0x" + "44" * 32)
    registry.register(oracle.address, ORACLE, b32("feeder-1"), b"\0" * 32, {"from": admin})
    top = 2**32 - 2
    start = window_start()
    quantities = [top] * 3
    escrow = escrow_for(quantities, tol=0, price=1)
    tx = coord.publishRequest(
        params(start, escrow, tol=0, price=1), quantities, {"from": accounts[1]}
    )
    rid = tx.events["RequestPublished"]["requestId"]
    coord.optIn(rid, top, {"from": accounts[3]})
    table = row(accounts[3], "m3", quantities)
    coord.proposeCoalition(rid, 1, table, [], {"from": accounts[2]})
    coord.acceptCoalition(rid, {"from": accounts[1]})
    chain.sleep(start + 3 * 900 - chain.time())
    chain.mine()
    reading = (METER_INDEX["m3"] << 192) | (1 << 96)
    for k in range(3):
        digest = meters.batchDigest(start + 900 * k, [reading], 10 + k, False)
        signature = Account.unsafe_sign_hash(digest, oracle.key).signature
        meters.commitReadings(start + 900 * k, [reading], 10 + k, signature)

    def deliveries(credited):
        packed = sum(c << (32 * k) for k, c in enumerate(credited))
        return [0, packed, packed, 0]

    pay = 3 * (top // 1000)
    for k in (1, 2):
        over = [top] * 3
        over[k] = top + 1
        with reverts("FlexCoordinationCreditAboveTarget", accounts[3].address, k, top + 1, top):
            coord.settle(rid, table, [0], deliveries(over), escrow, {"from": accounts[2]})
    exact = deliveries([top] * 3)
    coord.settle(rid, table, [pay << 160], exact, escrow - pay, {"from": accounts[2]})
    assert coord.account(accounts[3])[0] == pay


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


def test_a_negative_delivery_in_a_flagged_interval_is_refused(coord, accounts):
    """Deliveries are int32: -1 Wh (all 32 bits set) in an interval flagged as without meter
    data is a delivery there and is refused; with nothing delivered the settlement books the
    member's negative points."""
    rid, start = publish(coord, accounts, quantities=(1000, 1000))
    coord.optIn(rid, 1000, {"from": accounts[3]})
    table = row(accounts[3], "m3", [1000, 1000])
    coord.proposeCoalition(rid, PRICE, table, [], {"from": accounts[2]})
    coord.acceptCoalition(rid, {"from": accounts[1]})
    chain.sleep(start + 2 * 900 - chain.time())
    chain.mine()
    escrow = escrow_for([1000, 1000])
    minus_one = 2**32 - 1
    flagged = [0b10, minus_one << 32, 0, 0]  # interval 1 without data, -1 Wh delivered there
    with reverts("FlexCoordinationDeliveryWithoutData", accounts[3].address, 1):
        coord.settle(rid, table, [0], flagged, escrow, {"from": accounts[2]})
    points = (-5) & (2**32 - 1)
    coord.settle(rid, table, [points << 64], [0b10, minus_one, 0, 0], escrow, {"from": accounts[2]})
    claimable, reputation, opt_ins, settled = coord.account(accounts[3])
    assert (claimable, reputation, opt_ins, settled) == (0, -5, 1, 1)
