"""FlexCoordination under brownie: the main revert paths of requests, opt-ins, coalitions and
settlement, and a settlement that refunds the whole escrow (nothing credited)."""

import pytest
from brownie import chain

from tests.contracts.helpers import AGGREGATOR, DSO, PROSUMER, b32, reverts

PRICE, TOL = 200, 1000
FUNDS = 10**12


@pytest.fixture(scope="module")
def coord(FlexCoordination, MeterOracle, registry, token, admin, accounts):
    meters = MeterOracle.deploy(registry, {"from": admin})
    c = FlexCoordination.deploy(registry, token, meters, {"from": admin})
    registry.register(accounts[1], DSO, b32("feeder-1"), b"\0" * 32, {"from": admin})
    registry.register(accounts[2], AGGREGATOR, b32("feeder-1"), b"\0" * 32, {"from": admin})
    for i in (3, 4, 5):
        registry.register(accounts[i], PROSUMER, b32("feeder-1"), b32(f"m{i}"), {"from": admin})
    token.mint(accounts[1], FUNDS, {"from": admin})
    token.approve(c, FUNDS, {"from": accounts[1]})
    return c


def escrow_for(quantities, tol=TOL, price=PRICE):
    return sum(price * (q * (10_000 + tol) // 10_000) // 1000 for q in quantities)


def params(start, escrow, tol=TOL, deadline=None):
    # (gridArea, windowStart, optInDeadline, direction, toleranceBp, priceCap, penalty,
    #  baselineMethod, baselineHash, escrow)
    deadline = start - 900 if deadline is None else deadline
    return (b32("feeder-1"), start, deadline, 0, tol, PRICE, 100, 1, b"\x11" * 32, escrow)


def window_start():
    return (chain.time() // 900 + 8) * 900


def row(account, meter, targets):
    words = [int(account.address, 16) << 96, int.from_bytes(b32(meter), "big")]
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
