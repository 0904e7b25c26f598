"""Fixtures for the contract tests, run under brownie against anvil (`brownie test`)."""

import pytest


@pytest.fixture(scope="module")
def admin(accounts):
    return accounts[0]


@pytest.fixture(scope="module")
def registry(ParticipantRegistry, admin):
    return ParticipantRegistry.deploy(admin, {"from": admin})


@pytest.fixture(scope="module")
def token(FlexToken, admin):
    return FlexToken.deploy(admin, {"from": admin})


@pytest.fixture(autouse=True)
def isolation(fn_isolation):
    """Every test starts from the module's deployment (brownie snapshots and reverts)."""


@pytest.fixture(scope="module")
def market_env(
    FlexMarket, MarketBook, MarketSettlement, MeterOracle, registry, token, admin, accounts
):
    """A funded FlexMarket with its libraries, a MeterOracle and six traders with meters
    (tests/contracts/market_env.py)."""
    from tests.contracts.market_env import deploy_market_env

    return deploy_market_env(
        accounts, FlexMarket, MarketBook, MarketSettlement, MeterOracle, registry, token, admin
    )
