"""FlexCoordination with tokens other than FlexToken: an escrow or a settlement bond that does
not arrive in full (a fee-on-transfer token) is refused, and a token with a transfer hook
cannot re-enter the functions that move tokens (publishRequest, proposeSettlement,
disputeSettlement, finalizeSettlement, claimPayout, reclaimEscrow)."""

import pytest
from brownie import ZERO_ADDRESS, chain
from eth_account import Account

from tests.contracts.helpers import AGGREGATOR, DSO, ORACLE, PROSUMER, b32, reverts
from tests.contracts.market_env import ORACLE_KEY, Meters
from tests.contracts.test_coordination import (
    BOND,
    PRICE,
    chain_hash,
    delivery_row,
    deploy_coordination,
    escrow_for,
    goto,
    params,
    result_word,
    row,
    window_start,
)

FUNDS = 10**12
FEE_BP = 100
ESCROW_AT = 10  # index of `escrow` in the Request tuple


@pytest.fixture(scope="module")
def meters(MeterOracle, registry, admin, accounts):
    m = MeterOracle.deploy(registry, {"from": admin})
    registry.register(accounts[6], ORACLE, b32("feeder-1"), b"\0" * 32, {"from": admin})
    oracle = Account.from_key(ORACLE_KEY)
    registry.register(oracle.address, ORACLE, b32("feeder-1"), b"\0" * 32, {"from": admin})
    m.enrolMeters([b32("m3")], {"from": accounts[6]})
    registry.register(accounts[1], DSO, b32("feeder-1"), b"\0" * 32, {"from": admin})
    registry.register(accounts[2], AGGREGATOR, b32("feeder-1"), b"\0" * 32, {"from": admin})
    registry.register(accounts[3], PROSUMER, b32("feeder-1"), b32("m3"), {"from": admin})
    return m


def coordination_with(
    FlexCoordination, CoordinationSettlement, registry, meters, token, admin, accounts
):
    c = deploy_coordination(
        FlexCoordination, CoordinationSettlement, registry, token, meters, admin
    )
    for who in (accounts[1], accounts[2], accounts[9]):  # the DSO, the aggregator, a disputer
        token.mint(who, FUNDS, {"from": admin})
        token.approve(c, FUNDS, {"from": who})
    return c


@pytest.fixture(scope="module")
def fee_token(FeeOnTransferToken, admin):
    return FeeOnTransferToken.deploy(FEE_BP, {"from": admin})


@pytest.fixture(scope="module")
def hook_token(ReentrantToken, admin):
    return ReentrantToken.deploy({"from": admin})


def one_member_request(c, accounts, start, escrow):
    """Request of one interval with member 3 (meter m3) accepted for all of it."""
    tx = c.publishRequest(params(start, escrow), [1000], {"from": accounts[1]})
    rid = tx.events["RequestPublished"]["requestId"]
    c.optIn(rid, 1000, {"from": accounts[3]})
    table = row(accounts[3], "m3", [1000])
    c.proposeCoalition(rid, PRICE, table, [], {"from": accounts[2]})
    c.acceptCoalition(rid, {"from": accounts[1]})
    return rid, table


def test_an_escrow_or_a_bond_that_arrives_short_is_refused(
    FlexCoordination, CoordinationSettlement, registry, meters, fee_token, admin, accounts
):
    dso = accounts[1]
    c = coordination_with(
        FlexCoordination, CoordinationSettlement, registry, meters, fee_token, admin, accounts
    )
    start = window_start()
    escrow = escrow_for([1000])
    received = escrow - escrow * FEE_BP // 10_000
    with reverts("FlexCoordinationEscrowNotReceived", escrow, received):
        c.publishRequest(params(start, escrow), [1000], {"from": dso})
    assert c.requestCount() == 0 and fee_token.balanceOf(c) == 0
    # Without the fee the same request is taken, and the contract holds what it records.
    fee_token.setFeeBp(0, {"from": admin})
    rid, table = one_member_request(c, accounts, start, escrow)
    assert fee_token.balanceOf(c) == escrow == c.request(rid)[ESCROW_AT]
    # The settlement's bond must arrive in full too (every interval of the window flagged:
    # the oracle committed nothing).
    goto(start + 900)
    fee_token.setFeeBp(FEE_BP, {"from": admin})
    deliveries = delivery_row([0], missing=[0])
    with reverts("FlexCoordinationBondNotReceived", BOND, BOND - BOND * FEE_BP // 10_000):
        c.proposeSettlement(rid, table, deliveries, {"from": accounts[2]})
    fee_token.setFeeBp(0, {"from": admin})
    c.proposeSettlement(rid, table, deliveries, {"from": accounts[2]})
    assert fee_token.balanceOf(c) == escrow + BOND


def test_token_moving_functions_cannot_be_reentered(
    FlexCoordination, CoordinationSettlement, registry, meters, hook_token, admin, accounts
):
    """Each time, the token's hook calls claimPayout from inside the transfer: the guard
    refuses it (without the guard the inner call would fail otherwise, with nothing to claim)
    and the whole call reverts; disarmed, the same call goes through."""
    dso, agg, member, disputer = accounts[1], accounts[2], accounts[3], accounts[9]
    c = coordination_with(
        FlexCoordination, CoordinationSettlement, registry, meters, hook_token, admin, accounts
    )
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
    # Request 1: a coalition of one, delivering its target against the hour before.
    c.optIn(1, 1000, {"from": member})
    table = row(member, "m3", [1000])
    c.proposeCoalition(1, PRICE, table, [], {"from": agg})
    c.acceptCoalition(1, {"from": dso})
    goto(start + 900)
    oracle = Meters(meters, ["m3"])
    for k in range(-4, 0):
        oracle.commit(start + 900 * k, {"m3": (1500, 0)})
    oracle.commit(start, {"m3": (500, 0)})
    lie = delivery_row([900])  # it delivered 1,000 Wh
    tx = armed(c.proposeSettlement, 1, table, lie, {"from": agg})
    results = list(tx.events["SettlementProposed"]["results"])
    assert results == [result_word(180, 0, 900)]
    readings = [oracle.reading("m3", start + 900 * k) for k in range(-4, 1)]
    armed(c.disputeSettlement, 1, table, (0, results, lie, readings), {"from": disputer})
    pay = PRICE * 1000 // 1000
    goto(chain.time() + 900)
    final = [result_word(pay, 0, 1000)]
    armed(c.finalizeSettlement, 1, table, final, chain_hash(delivery_row([1000])), {"from": dso})
    before = hook_token.balanceOf(member)
    armed(c.claimPayout, {"from": member})
    assert hook_token.balanceOf(member) == before + pay
    # Request 2: no coalition; the DSO takes its escrow back.
    armed(c.reclaimEscrow, 2, {"from": dso})
    assert hook_token.balanceOf(c) == 0
