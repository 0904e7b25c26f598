"""FlexCoordination with tokens other than FlexToken: an escrow that does not arrive in full (a
fee-on-transfer token) is refused, and a token with a transfer hook cannot re-enter the four
functions that move tokens (publishRequest, settle, claimPayout, reclaimEscrow)."""

import pytest
from brownie import ZERO_ADDRESS, chain

from tests.contracts.helpers import AGGREGATOR, DSO, ORACLE, PROSUMER, b32, reverts
from tests.contracts.test_coordination import PRICE, escrow_for, params, row, window_start

FUNDS = 10**12
FEE_BP = 100
ESCROW_AT = 10  # index of `escrow` in the Request tuple


@pytest.fixture(scope="module")
def meters(MeterOracle, registry, admin, accounts):
    m = MeterOracle.deploy(registry, {"from": admin})
    registry.register(accounts[6], ORACLE, b32("feeder-1"), b"\0" * 32, {"from": admin})
    m.enrolMeters([b32("m3")], {"from": accounts[6]})
    registry.register(accounts[1], DSO, b32("feeder-1"), b"\0" * 32, {"from": admin})
    registry.register(accounts[2], AGGREGATOR, b32("feeder-1"), b"\0" * 32, {"from": admin})
    registry.register(accounts[3], PROSUMER, b32("feeder-1"), b32("m3"), {"from": admin})
    return m


def coordination_with(FlexCoordination, registry, meters, token, admin, dso):
    c = FlexCoordination.deploy(registry, token, meters, {"from": admin})
    token.mint(dso, FUNDS, {"from": admin})
    token.approve(c, FUNDS, {"from": dso})
    return c


@pytest.fixture(scope="module")
def fee_token(FeeOnTransferToken, admin):
    return FeeOnTransferToken.deploy(FEE_BP, {"from": admin})


@pytest.fixture(scope="module")
def hook_token(ReentrantToken, admin):
    return ReentrantToken.deploy({"from": admin})


def test_an_escrow_that_arrives_short_is_refused(
    FlexCoordination, registry, meters, fee_token, admin, accounts
):
    dso = accounts[1]
    c = coordination_with(FlexCoordination, registry, meters, fee_token, admin, dso)
    start = window_start()
    escrow = escrow_for([1000])
    received = escrow - escrow * FEE_BP // 10_000
    with reverts("FlexCoordinationEscrowNotReceived", escrow, received):
        c.publishRequest(params(start, escrow), [1000], {"from": dso})
    assert c.requestCount() == 0 and fee_token.balanceOf(c) == 0
    # Without the fee the same request is taken, and the contract holds what it records.
    fee_token.setFeeBp(0, {"from": admin})
    c.publishRequest(params(start, escrow), [1000], {"from": dso})
    assert fee_token.balanceOf(c) == escrow == c.request(1)[ESCROW_AT]


def test_token_moving_functions_cannot_be_reentered(
    FlexCoordination, registry, meters, hook_token, admin, accounts
):
    """Each time, the token's hook calls claimPayout from inside the transfer: the guard
    refuses it (without the guard the inner call would fail otherwise, with nothing to claim)
    and the whole call reverts; disarmed, the same call goes through."""
    dso, agg, member = accounts[1], accounts[2], accounts[3]
    c = coordination_with(FlexCoordination, registry, meters, hook_token, admin, dso)
    reenter = c.claimPayout.encode_input()

    def armed(call, *args):
        hook_token.arm(c, reenter, {"from": admin})
        with reverts("ReentrancyGuardReentrantCall"):
            call(*args)
        hook_token.arm(ZERO_ADDRESS, b"", {"from": admin})
        return call(*args)

    start = window_start()
    escrow = escrow_for([1000])
    armed(c.publishRequest, params(start, escrow), [1000], {"from": dso})
    c.publishRequest(params(start, escrow), [1000], {"from": dso})
    assert hook_token.balanceOf(c) == 2 * escrow
    # Request 1: a coalition of one, settled with a payout and a refund.
    c.optIn(1, 1000, {"from": member})
    table = row(member, "m3", [1000])
    c.proposeCoalition(1, PRICE, table, [], {"from": agg})
    c.acceptCoalition(1, {"from": dso})
    chain.sleep(start + 900 - chain.time())
    chain.mine()
    pay = PRICE * 1000 // 1000
    armed(c.settle, 1, table, [pay << 160], [0, 0, 0, 0], escrow - pay, {"from": agg})
    before = hook_token.balanceOf(member)
    armed(c.claimPayout, {"from": member})
    assert hook_token.balanceOf(member) == before + pay
    # Request 2: no coalition; the DSO takes its escrow back.
    armed(c.reclaimEscrow, 2, {"from": dso})
    assert hook_token.balanceOf(c) == 0
