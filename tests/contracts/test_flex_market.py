"""FlexMarket under brownie: every order-side revert and the clearing checks on a small book
whose result is worked out by hand (uniform price: the marginal offer's price)."""

import pytest
from brownie import chain, web3

from tests.contracts.helpers import MARKET_OPERATOR, PROSUMER, b32, reverts

DEPOSIT = 10**9
BID, OFFER = 0, 1


@pytest.fixture(scope="module")
def market(FlexMarket, registry, token, admin, accounts):
    m = FlexMarket.deploy(registry, token, {"from": admin})
    registry.register(accounts[1], MARKET_OPERATOR, b32("feeder-1"), b"\0" * 32, {"from": admin})
    for i in (2, 3, 4, 5):
        registry.register(
            accounts[i], PROSUMER, b32(f"feeder-{i % 2 + 1}"), b32(f"m{i}"), {"from": admin}
        )
        token.mint(accounts[i], DEPOSIT, {"from": admin})
        token.approve(m, DEPOSIT, {"from": accounts[i]})
        m.deposit(DEPOSIT, {"from": accounts[i]})
    return m


@pytest.fixture
def session(market, accounts):
    start = (chain.time() // 900 + 4) * 900
    tx = market.openSession(
        start, 900, start - 600, 0, 0, False, 0, b"\0" * 32, {"from": accounts[1]}
    )
    return tx.events["SessionOpened"]["sessionId"]


def word(trader, side, qty, price, area_index=0):
    return (int(trader.address, 16) << 96) | (area_index << 89) | (side << 88) | (qty << 40) | price


def test_order_reverts(market, session, accounts):
    with reverts("FlexMarketNotParticipant", accounts[9].address):
        market.placeOrder(session, BID, 100, 100, {"from": accounts[9]})
    with reverts("FlexMarketQuantityOutOfRange"):
        market.placeOrder(session, BID, 0, 100, {"from": accounts[2]})
    with reverts("FlexMarketPriceOutOfRange"):
        market.placeOrder(session, BID, 10, 10**12 + 1, {"from": accounts[2]})
    with reverts("FlexMarketUnknownSide", 2):
        market.placeOrder(session, 2, 10, 10, {"from": accounts[2]})
    with reverts("FlexMarketInsufficientDeposit", accounts[2].address, 10**10, DEPOSIT):
        market.placeOrder(session, BID, 10**10, 1000, {"from": accounts[2]})
    with reverts("FlexMarketUnknownSession", session + 1):
        market.placeOrder(session + 1, BID, 10, 10, {"from": accounts[2]})
    chain.sleep(3600)
    chain.mine()
    with reverts("FlexMarketGateClosed"):
        market.placeOrder(session, BID, 10, 10, {"from": accounts[2]})


def test_reveal_with_wrong_salt_reverts(market, accounts):
    start = (chain.time() // 900 + 4) * 900
    sid = market.openSession(
        start, 900, start - 1200, 0, 0, True, start - 600, b"\0" * 32, {"from": accounts[1]}
    ).events["SessionOpened"]["sessionId"]
    salt = b"\x07" * 32
    commitment = web3.keccak(
        web3.codec.encode(
            ["uint256", "address", "uint8", "uint48", "uint40", "bytes32"],
            [sid, accounts[2].address, BID, 100, 120, salt],
        )
    )
    market.commitOrder(sid, commitment, {"from": accounts[2]})
    chain.sleep(start - 1200 - chain.time() + 1)
    chain.mine()
    with reverts("FlexMarketUnknownCommitment"):
        market.revealOrder(sid, BID, 100, 120, b"\x08" * 32, {"from": accounts[2]})
    tx = market.revealOrder(sid, BID, 100, 120, salt, {"from": accounts[2]})
    assert tx.events["OrderPlaced"]["trader"] == accounts[2]


def test_clearing_checks(market, session, accounts):
    a, b, c, d = accounts[2], accounts[3], accounts[4], accounts[5]
    market.placeOrder(session, BID, 1000, 150, {"from": a})  # order 0, feeder-1
    market.placeOrder(session, OFFER, 600, 80, {"from": b})  # order 1, feeder-2
    market.placeOrder(session, BID, 500, 120, {"from": c})  # order 2, feeder-1
    market.placeOrder(session, OFFER, 900, 100, {"from": d})  # order 3, feeder-2
    chain.sleep(3600)
    chain.mine()
    areas = [b32("feeder-1"), b32("feeder-2")]
    orders = [
        word(a, BID, 1000, 150),
        word(b, OFFER, 600, 80, 1),
        word(c, BID, 500, 120),
        word(d, OFFER, 900, 100, 1),
    ]
    # By hand: bids 150 (1000 Wh) then 120 (500); offers 80 (600) then 100 (900). All 1,500 Wh
    # of demand meet 1,500 Wh of supply, every order is filled, and the uniform price is the
    # marginal (highest filled) offer's: 100.
    matches = [
        (0 << 80) | (1 << 48) | 600,
        (0 << 80) | (3 << 48) | 400,
        (2 << 80) | (3 << 48) | 500,
    ]
    with reverts("FlexMarketWrongPrice", 100, 101):
        market.clearSession(session, (orders, areas, [], matches, 101), {"from": accounts[1]})
    with reverts("FlexMarketOrderLeftOut", 0):
        market.clearSession(session, (orders, areas, [], matches[2:], 100), {"from": accounts[1]})
    over = [matches[0] + 1, *matches[1:]]
    with reverts("FlexMarketOverfill"):
        market.clearSession(session, (orders, areas, [], over, 100), {"from": accounts[1]})
    with reverts("FlexMarketOrderBookMismatch"):
        market.clearSession(session, (orders[:3], areas, [], matches, 100), {"from": accounts[1]})
    with reverts("FlexMarketNotOperator"):
        market.clearSession(session, (orders, areas, [], matches, 100), {"from": a})
    tx = market.clearSession(session, (orders, areas, [], matches, 100), {"from": accounts[1]})
    assert tx.events["SessionCleared"]["volumeWh"] == 1500
    assert tx.events["SessionCleared"]["escrowed"] == (1000 + 500) * 100 // 1000
    assert len(tx.events["OrderMatched"]) == 3
    with reverts("FlexMarketAlreadyCleared", session):
        market.clearSession(session, (orders, areas, [], matches, 100), {"from": accounts[1]})
