"""ParticipantRegistry: registration, roles, delegation, deactivation and every error path."""

import brownie
import pytest
from brownie import ZERO_ADDRESS, web3

from tests.contracts.helpers import AGGREGATOR, DSO, MARKET_OPERATOR, ORACLE, PROSUMER, b32, reverts

AREA = b32("feeder-1")
METER = b32("meter-1")


def role_id(name):
    return web3.keccak(text=name)


@pytest.fixture(scope="module")
def member(accounts):
    return accounts[1]


@pytest.fixture(scope="module")
def aggregator(accounts):
    return accounts[2]


def test_register_records_participant_and_grants_role(registry, admin, member):
    tx = registry.register(member, PROSUMER, AREA, METER, {"from": admin})

    role, active, registered_at, agg, area, meter = registry.participant(member)
    assert (role, active, agg, area, meter) == (
        PROSUMER,
        True,
        ZERO_ADDRESS,
        "0x" + AREA.hex(),
        "0x" + METER.hex(),
    )
    assert registered_at == tx.timestamp
    assert registry.hasRole(role_id("PROSUMER_ROLE"), member)
    assert registry.isActive(member) and registry.isActiveAs(member, PROSUMER)
    assert not registry.isActiveAs(member, DSO)
    assert registry.participantCount() == 1
    event = tx.events["ParticipantRegistered"]
    assert event["account"] == member
    assert event["role"] == PROSUMER
    assert event["gridArea"] == "0x" + AREA.hex()
    assert event["meterId"] == "0x" + METER.hex()


@pytest.mark.parametrize(
    "role,role_name",
    [
        (PROSUMER, "PROSUMER_ROLE"),
        (AGGREGATOR, "AGGREGATOR_ROLE"),
        (DSO, "DSO_ROLE"),
        (ORACLE, "ORACLE_ROLE"),
        (MARKET_OPERATOR, "MARKET_OPERATOR_ROLE"),
    ],
)
def test_each_role_maps_to_its_access_control_role(registry, admin, accounts, role, role_name):
    registry.register(accounts[3], role, AREA, METER, {"from": admin})
    assert registry.hasRole(role_id(role_name), accounts[3])
    assert registry.roleId(role) == "0x" + role_id(role_name).hex()


def test_register_batch_registers_all(registry, admin, accounts):
    people = accounts[3:8]
    tx = registry.registerBatch(
        people, [PROSUMER] * 4 + [DSO], [AREA] * 5, [METER] * 4 + [b"\0" * 32], {"from": admin}
    )
    assert registry.participantCount() == 5
    assert len(tx.events["ParticipantRegistered"]) == 5
    assert registry.isActiveAs(accounts[7], DSO)


def test_register_twice_reverts(registry, admin, member):
    registry.register(member, PROSUMER, AREA, METER, {"from": admin})
    with reverts("ParticipantRegistryAlreadyRegistered", member.address):
        registry.register(member, DSO, AREA, METER, {"from": admin})


@pytest.mark.parametrize("bad_role", [0, 6, 255])
def test_unknown_role_reverts(registry, admin, member, bad_role):
    with reverts("ParticipantRegistryUnknownRole", bad_role):
        registry.register(member, bad_role, AREA, METER, {"from": admin})


def test_zero_address_reverts(registry, admin):
    with reverts("ParticipantRegistryZeroAddress"):
        registry.register(ZERO_ADDRESS, PROSUMER, AREA, METER, {"from": admin})


def test_missing_grid_area_reverts(registry, admin, member):
    with reverts("ParticipantRegistryMissingGridArea", member.address):
        registry.register(member, PROSUMER, b"\0" * 32, METER, {"from": admin})


def test_prosumer_without_meter_reverts_but_dso_may_have_none(registry, admin, member, accounts):
    with reverts("ParticipantRegistryMissingMeterId", member.address):
        registry.register(member, PROSUMER, AREA, b"\0" * 32, {"from": admin})
    registry.register(accounts[4], DSO, AREA, b"\0" * 32, {"from": admin})
    assert registry.isActiveAs(accounts[4], DSO)


def test_batch_length_mismatch_reverts(registry, admin, accounts):
    with reverts("ParticipantRegistryLengthMismatch", 2, 1):
        registry.registerBatch(
            accounts[3:5], [PROSUMER], [AREA, AREA], [METER, METER], {"from": admin}
        )


def test_only_registrar_may_register(registry, member, accounts):
    with reverts("AccessControlUnauthorizedAccount"):
        registry.register(accounts[5], PROSUMER, AREA, METER, {"from": member})


def test_admin_can_grant_registrar_role(registry, admin, accounts):
    tx = registry.grantRole(role_id("REGISTRAR_ROLE"), accounts[6], {"from": admin})
    assert tx.events["RoleGranted"]["account"] == accounts[6]
    registry.register(accounts[5], PROSUMER, AREA, METER, {"from": accounts[6]})
    assert registry.isActive(accounts[5])


def test_participant_roles_cannot_be_granted_directly(registry, admin, accounts):
    with reverts("ParticipantRegistryRoleManagedByRegistry"):
        registry.grantRole(role_id("ORACLE_ROLE"), accounts[5], {"from": admin})
    registry.register(accounts[5], ORACLE, AREA, METER, {"from": admin})
    with reverts("ParticipantRegistryRoleManagedByRegistry"):
        registry.revokeRole(role_id("ORACLE_ROLE"), accounts[5], {"from": admin})
    with reverts("ParticipantRegistryRoleManagedByRegistry"):
        registry.renounceRole(role_id("ORACLE_ROLE"), accounts[5], {"from": accounts[5]})


def test_deactivate_revokes_role_and_reactivate_restores_it(registry, admin, member):
    registry.register(member, PROSUMER, AREA, METER, {"from": admin})
    tx = registry.deactivate(member, {"from": admin})
    assert tx.events["ParticipantDeactivated"]["account"] == member
    assert tx.events["RoleRevoked"]["account"] == member
    assert not registry.isActive(member)
    assert not registry.hasRole(role_id("PROSUMER_ROLE"), member)
    with reverts("ParticipantRegistryInactive", member.address):
        registry.deactivate(member, {"from": admin})
    tx = registry.reactivate(member, {"from": admin})
    assert tx.events["ParticipantReactivated"]["role"] == PROSUMER
    assert registry.hasRole(role_id("PROSUMER_ROLE"), member)
    with reverts("ParticipantRegistryAlreadyActive", member.address):
        registry.reactivate(member, {"from": admin})


def test_deactivate_unregistered_reverts(registry, admin, member):
    with reverts("ParticipantRegistryNotRegistered", member.address):
        registry.deactivate(member, {"from": admin})


def test_delegation_to_aggregator(registry, admin, member, aggregator, accounts):
    registry.register(member, PROSUMER, AREA, METER, {"from": admin})
    registry.register(aggregator, AGGREGATOR, AREA, b"\0" * 32, {"from": admin})
    assert not registry.actsFor(aggregator, member)
    tx = registry.delegateTo(aggregator, {"from": member})
    assert tx.events["AggregatorDelegated"]["member"] == member
    assert tx.events["AggregatorDelegated"]["aggregator"] == aggregator
    assert registry.actsFor(aggregator, member)
    assert registry.actsFor(member, member)
    assert not registry.actsFor(accounts[7], member)
    # A deactivated aggregator no longer acts for anyone.
    registry.deactivate(aggregator, {"from": admin})
    assert not registry.actsFor(aggregator, member)
    registry.reactivate(aggregator, {"from": admin})
    tx = registry.revokeDelegation({"from": member})
    assert tx.events["AggregatorDelegationRevoked"]["aggregator"] == aggregator
    assert not registry.actsFor(aggregator, member)
    with reverts("ParticipantRegistryNotAggregator"):
        registry.revokeDelegation({"from": member})


def test_delegation_errors(registry, admin, member, aggregator, accounts):
    registry.register(member, PROSUMER, AREA, METER, {"from": admin})
    registry.register(accounts[4], DSO, AREA, b"\0" * 32, {"from": admin})
    with reverts("ParticipantRegistryZeroAddress"):
        registry.delegateTo(ZERO_ADDRESS, {"from": member})
    with reverts("ParticipantRegistryNotAggregator", accounts[4].address, DSO):
        registry.delegateTo(accounts[4], {"from": member})
    with reverts("ParticipantRegistryNotRegistered", accounts[8].address):
        registry.delegateTo(accounts[4], {"from": accounts[8]})
    registry.register(aggregator, AGGREGATOR, AREA, b"\0" * 32, {"from": admin})
    with reverts("ParticipantRegistryNotProsumer", accounts[4].address, DSO):
        registry.delegateTo(aggregator, {"from": accounts[4]})


def test_constructor_refuses_zero_admin(ParticipantRegistry, admin):
    with reverts("ParticipantRegistryZeroAddress"):
        ParticipantRegistry.deploy(ZERO_ADDRESS, {"from": admin})
