"""ParticipantRegistry: registration, roles, delegation, deactivation, meter holders and every
error path."""

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
        people,
        [PROSUMER] * 4 + [DSO],
        [AREA] * 5,
        [b32(f"meter-{i}") for i in range(4)] + [b"\0" * 32],
        {"from": admin},
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


ZERO32 = "0x" + "00" * 32


def test_meter_holder_names_the_participant_and_its_grid_area(registry, admin, member, accounts):
    assert registry.meterHolder(METER) == (ZERO_ADDRESS, ZERO32)
    registry.register(member, PROSUMER, AREA, METER, {"from": admin})
    registry.register(accounts[3], PROSUMER, b32("feeder-2"), b32("meter-2"), {"from": admin})
    assert registry.meterHolder(METER) == (member, "0x" + AREA.hex())
    assert registry.meterHolder(b32("meter-2")) == (accounts[3], "0x" + b32("feeder-2").hex())
    # the zero meter id of participants without a meter is held by no one
    registry.register(accounts[4], DSO, AREA, b"\0" * 32, {"from": admin})
    assert registry.meterHolder(b"\0" * 32) == (ZERO_ADDRESS, ZERO32)
    # a deactivated participant keeps its meter
    registry.deactivate(member, {"from": admin})
    assert registry.meterHolder(METER) == (member, "0x" + AREA.hex())


def test_a_meter_held_by_a_participant_cannot_back_another(registry, admin, member, accounts):
    registry.register(member, PROSUMER, AREA, METER, {"from": admin})
    with reverts("ParticipantRegistryMeterIdTaken", accounts[3].address, METER, member.address):
        registry.register(accounts[3], PROSUMER, b32("feeder-2"), METER, {"from": admin})
    # whatever the role, and even once the holder is deactivated
    registry.deactivate(member, {"from": admin})
    with reverts("ParticipantRegistryMeterIdTaken", accounts[3].address, METER, member.address):
        registry.register(accounts[3], AGGREGATOR, AREA, METER, {"from": admin})
    assert registry.participantCount() == 1
    assert not registry.isActive(accounts[3])


def test_a_batch_may_not_name_one_meter_twice(registry, admin, accounts):
    meter = b32("meter-9")
    with reverts(
        "ParticipantRegistryMeterIdTaken",
        accounts[4].address,
        meter,
        accounts[3].address,
    ):
        registry.registerBatch(
            accounts[3:5], [PROSUMER, PROSUMER], [AREA, AREA], [meter, meter], {"from": admin}
        )
    assert registry.participantCount() == 0
    assert registry.meterHolder(meter) == (ZERO_ADDRESS, ZERO32)


def test_meter_admin_role_is_granted_by_the_admin(registry, admin, accounts):
    meter_admin = role_id("METER_ADMIN_ROLE")
    assert registry.METER_ADMIN_ROLE() == "0x" + meter_admin.hex()
    with reverts("AccessControlUnauthorizedAccount"):
        registry.grantRole(meter_admin, accounts[5], {"from": accounts[5]})
    registry.grantRole(meter_admin, accounts[5], {"from": admin})
    assert registry.hasRole(meter_admin, accounts[5])
    registry.revokeRole(meter_admin, accounts[5], {"from": admin})
    assert not registry.hasRole(meter_admin, accounts[5])
