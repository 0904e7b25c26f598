"""FlexToken: 6 decimals, minting by role only, batch minting, ERC-20 errors."""

from brownie import web3

from tests.contracts.helpers import reverts


def test_metadata(token):
    assert token.decimals() == 6
    assert token.symbol() == "FLEX"
    assert token.totalSupply() == 0


def test_mint_by_minter(token, admin, accounts):
    tx = token.mint(accounts[1], 5_000_000, {"from": admin})
    assert token.balanceOf(accounts[1]) == 5_000_000
    assert tx.events["Transfer"]["to"] == accounts[1]
    assert tx.events["Transfer"]["value"] == 5_000_000


def test_mint_zero_reverts(token, admin, accounts):
    with reverts("FlexTokenZeroAmount", accounts[1].address):
        token.mint(accounts[1], 0, {"from": admin})


def test_only_minter_mints(token, accounts):
    with reverts("AccessControlUnauthorizedAccount"):
        token.mint(accounts[1], 1, {"from": accounts[1]})


def test_granted_minter_can_mint(token, admin, accounts):
    token.grantRole(web3.keccak(text="MINTER_ROLE"), accounts[2], {"from": admin})
    token.mint(accounts[3], 7, {"from": accounts[2]})
    assert token.balanceOf(accounts[3]) == 7


def test_mint_batch(token, admin, accounts):
    tx = token.mintBatch(accounts[1:4], [1, 2, 3], {"from": admin})
    assert [token.balanceOf(a) for a in accounts[1:4]] == [1, 2, 3]
    assert tx.events["BatchMinted"]["count"] == 3
    assert tx.events["BatchMinted"]["total"] == 6


def test_mint_batch_errors(token, admin, accounts):
    with reverts("FlexTokenLengthMismatch", 2, 1):
        token.mintBatch(accounts[1:3], [1], {"from": admin})
    with reverts("FlexTokenZeroAmount", accounts[2].address):
        token.mintBatch(accounts[1:3], [1, 0], {"from": admin})


def test_transfer_more_than_balance_reverts(token, admin, accounts):
    token.mint(accounts[1], 10, {"from": admin})
    with reverts("ERC20InsufficientBalance", accounts[1].address, 10, 11):
        token.transfer(accounts[2], 11, {"from": accounts[1]})
    token.transfer(accounts[2], 10, {"from": accounts[1]})
    assert token.balanceOf(accounts[2]) == 10
