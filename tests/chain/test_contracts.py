"""Typed clients of the core contracts: behaviour and typed errors for bad input."""

from __future__ import annotations

import pytest

from chain.contracts import ZERO_ADDRESS
from chain.domain import Role
from chain.errors import RevertError, revert_error
from core.codec import EncodingError, text_to_bytes32

pytestmark = pytest.mark.usefixtures("snapshot")


@pytest.fixture()
def registry(platform, admin):
    return platform.registry(admin)


def test_register_and_read_back(registry, dev_accounts):
    member = dev_accounts[10]
    receipt = registry.register(member.address, Role.PROSUMER, "feeder-1", "meter-10")
    p = registry.participant(member.address)
    assert (p.role, p.active, p.grid_area, p.meter_id, p.aggregator) == (
        Role.PROSUMER,
        True,
        "feeder-1",
        "meter-10",
        None,
    )
    [event] = registry.events(receipt, "ParticipantRegistered")
    assert event["args"]["account"] == member.address
    assert event["args"]["role"] == Role.PROSUMER
    assert registry.has_role("PROSUMER_ROLE", member.address)


def test_registering_twice_raises_typed_error_naming_it(registry, dev_accounts):
    member = dev_accounts[11].address
    registry.register(member, Role.DSO, "feeder-1")
    with pytest.raises(revert_error("ParticipantRegistryAlreadyRegistered")) as info:
        registry.register(member, Role.DSO, "feeder-1")
    assert info.value.args_by_name == {"account": member}
    assert "ParticipantRegistryAlreadyRegistered" in str(info.value)
    assert isinstance(info.value, RevertError)


def test_unknown_role_is_rejected_by_the_contract(registry, dev_accounts):
    with pytest.raises(revert_error("ParticipantRegistryUnknownRole")) as info:
        registry.register_raw(
            dev_accounts[12].address, 7, text_to_bytes32("a"), text_to_bytes32("m")
        )
    assert info.value.args_by_name == {"role": 7}


def test_unknown_role_name_is_rejected_in_python():
    with pytest.raises(EncodingError, match=r"unknown role 'landlord'.*prosumer"):
        Role.parse("landlord")
    assert Role.parse("market-operator") is Role.MARKET_OPERATOR


def test_zero_address_is_rejected(registry):
    with pytest.raises(revert_error("ParticipantRegistryZeroAddress")):
        registry.register(ZERO_ADDRESS, Role.PROSUMER, "feeder-1", "m")


def test_wrong_role_caller_gets_access_control_error(platform, dev_accounts):
    outsider = platform.registry(dev_accounts[13])
    with pytest.raises(revert_error("AccessControlUnauthorizedAccount")) as info:
        outsider.register(dev_accounts[14].address, Role.PROSUMER, "feeder-1", "m")
    assert info.value.args_by_name["account"] == dev_accounts[13].address


def test_too_long_grid_area_is_refused_before_sending(registry, dev_accounts):
    with pytest.raises(EncodingError, match="at most 32"):
        registry.register(dev_accounts[15].address, Role.PROSUMER, "x" * 33, "m")


def test_batch_registration_and_delegation(platform, registry, dev_accounts):
    agg, m1, m2 = dev_accounts[16], dev_accounts[17], dev_accounts[18]
    registry.register_batch(
        [
            (agg.address, Role.AGGREGATOR, "feeder-1", ""),
            (m1.address, Role.PROSUMER, "feeder-1", "meter-17"),
            (m2.address, Role.PROSUMER, "feeder-2", "meter-18"),
        ]
    )
    assert registry.participant_count() == 3
    platform.registry(m1).delegate_to(agg.address)
    assert registry.acts_for(agg.address, m1.address)
    assert not registry.acts_for(agg.address, m2.address)
    assert registry.participant(m1.address).aggregator == agg.address
    with pytest.raises(revert_error("ParticipantRegistryNotAggregator")):
        platform.registry(m2).delegate_to(m1.address)


def test_deactivated_participant_loses_role(registry, dev_accounts):
    who = dev_accounts[19].address
    registry.register(who, Role.ORACLE, "feeder-1")
    registry.deactivate(who)
    assert not registry.has_role("ORACLE_ROLE", who)
    with pytest.raises(revert_error("ParticipantRegistryInactive")):
        registry.deactivate(who)


def test_token_mint_transfer_and_insufficient_balance(platform, admin, dev_accounts):
    a, b = dev_accounts[20], dev_accounts[21]
    token = platform.token(admin)
    assert token.decimals() == 6
    token.mint(a.address, 5_000_000)
    platform.token(a).transfer(b.address, 2_000_000)
    assert (token.balance_of(a.address), token.balance_of(b.address)) == (3_000_000, 2_000_000)
    with pytest.raises(revert_error("ERC20InsufficientBalance")) as info:
        platform.token(a).transfer(b.address, 3_000_001)
    assert info.value.args_by_name["needed"] == 3_000_001
    with pytest.raises(revert_error("FlexTokenZeroAmount")):
        token.mint(a.address, 0)
