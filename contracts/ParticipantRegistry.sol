// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {
    IParticipantRegistry, METER_ADMIN_ROLE as METER_ADMIN_ROLE_ID
} from "./interfaces/IParticipantRegistry.sol";

/// @title ParticipantRegistry
/// @notice Registers prosumers, aggregators, the DSO, oracles and market operators (CBFM-1).
/// Each registration grants the matching AccessControl role, so other contracts and off-chain
/// services can check roles with `hasRole`; deactivation revokes it. Participant roles change
/// only through registration and deactivation, never through `grantRole`. A meter id is held
/// by one participant at most (`meterHolder`).
contract ParticipantRegistry is AccessControl, IParticipantRegistry {
    /// @notice May register, deactivate and reactivate participants.
    bytes32 public constant REGISTRAR_ROLE = keccak256("REGISTRAR_ROLE");
    bytes32 public constant PROSUMER_ROLE = keccak256("PROSUMER_ROLE");
    bytes32 public constant AGGREGATOR_ROLE = keccak256("AGGREGATOR_ROLE");
    bytes32 public constant DSO_ROLE = keccak256("DSO_ROLE");
    bytes32 public constant ORACLE_ROLE = keccak256("ORACLE_ROLE");
    bytes32 public constant MARKET_OPERATOR_ROLE = keccak256("MARKET_OPERATOR_ROLE");
    /// @notice May sign corrections of any meter's values in the MeterOracle (other oracles
    /// only of meters in their own grid area); granted and revoked by the admin.
    bytes32 public constant METER_ADMIN_ROLE = METER_ADMIN_ROLE_ID;

    mapping(address account => Participant) private _participants;
    /// @notice The participant registered with each meter id (zero: none).
    mapping(bytes32 meterId => address account) private _meterHolders;

    /// @notice Number of registered participants, active or not.
    uint256 public participantCount;

    constructor(address admin) {
        if (admin == address(0)) revert ParticipantRegistryZeroAddress();
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(REGISTRAR_ROLE, admin);
    }

    /// @notice The AccessControl role id of participant role `role`.
    function roleId(Role role) public pure returns (bytes32) {
        if (role == Role.Prosumer) return PROSUMER_ROLE;
        if (role == Role.Aggregator) return AGGREGATOR_ROLE;
        if (role == Role.DSO) return DSO_ROLE;
        if (role == Role.Oracle) return ORACLE_ROLE;
        if (role == Role.MarketOperator) return MARKET_OPERATOR_ROLE;
        revert ParticipantRegistryUnknownRole(uint8(role));
    }

    /// @notice Registers `account` with `role` (given as its number so that a wrong value gets
    /// a clear error rather than a panic), in `gridArea`, behind meter `meterId`.
    function register(address account, uint8 role, bytes32 gridArea, bytes32 meterId)
        external
        onlyRole(REGISTRAR_ROLE)
    {
        _register(account, role, gridArea, meterId);
    }

    /// @notice Registers many participants in one transaction (same rules as `register`).
    function registerBatch(
        address[] calldata accounts,
        uint8[] calldata roles,
        bytes32[] calldata gridAreas,
        bytes32[] calldata meterIds
    ) external onlyRole(REGISTRAR_ROLE) {
        uint256 n = accounts.length;
        if (roles.length != n) revert ParticipantRegistryLengthMismatch(n, roles.length);
        if (gridAreas.length != n) revert ParticipantRegistryLengthMismatch(n, gridAreas.length);
        if (meterIds.length != n) revert ParticipantRegistryLengthMismatch(n, meterIds.length);
        for (uint256 i; i < n; ++i) {
            _register(accounts[i], roles[i], gridAreas[i], meterIds[i]);
        }
    }

    /// @notice Deactivates `account`: it keeps its record and loses its role.
    function deactivate(address account) external onlyRole(REGISTRAR_ROLE) {
        Participant storage p = _requireRegistered(account);
        if (!p.active) revert ParticipantRegistryInactive(account);
        p.active = false;
        _revokeRole(roleId(p.role), account);
        emit ParticipantDeactivated(account, p.role);
    }

    /// @notice Makes a deactivated `account` active again with its former role.
    function reactivate(address account) external onlyRole(REGISTRAR_ROLE) {
        Participant storage p = _requireRegistered(account);
        if (p.active) revert ParticipantRegistryAlreadyActive(account);
        p.active = true;
        _grantRole(roleId(p.role), account);
        emit ParticipantReactivated(account, p.role);
    }

    /// @notice The caller, an active prosumer, lets active aggregator `aggregator` act for it.
    function delegateTo(address aggregator) external {
        if (aggregator == address(0)) revert ParticipantRegistryZeroAddress();
        Participant storage member = _requireActive(msg.sender);
        if (member.role != Role.Prosumer) {
            revert ParticipantRegistryNotProsumer(msg.sender, member.role);
        }
        Participant storage agg = _participants[aggregator];
        if (agg.role != Role.Aggregator || !agg.active) {
            revert ParticipantRegistryNotAggregator(aggregator, agg.role);
        }
        member.aggregator = aggregator;
        emit AggregatorDelegated(msg.sender, aggregator);
    }

    /// @notice The caller withdraws its delegation (a no-op error if it has none).
    function revokeDelegation() external {
        Participant storage member = _requireRegistered(msg.sender);
        address aggregator = member.aggregator;
        if (aggregator == address(0)) revert ParticipantRegistryNotAggregator(address(0), Role.None);
        member.aggregator = address(0);
        emit AggregatorDelegationRevoked(msg.sender, aggregator);
    }

    /// @inheritdoc IParticipantRegistry
    function isActive(address account) external view returns (bool) {
        return _participants[account].active;
    }

    /// @inheritdoc IParticipantRegistry
    function isActiveAs(address account, Role role) external view returns (bool) {
        Participant storage p = _participants[account];
        return p.active && p.role == role;
    }

    /// @inheritdoc IParticipantRegistry
    function actsFor(address agent, address member) external view returns (bool) {
        Participant storage m = _participants[member];
        if (!m.active) return false;
        if (agent == member) return true;
        if (m.aggregator != agent || agent == address(0)) return false;
        Participant storage a = _participants[agent];
        return a.active && a.role == Role.Aggregator;
    }

    /// @inheritdoc IParticipantRegistry
    function activeGridArea(address account) external view returns (bytes32) {
        Participant storage p = _participants[account];
        return p.active ? p.gridArea : bytes32(0);
    }

    /// @inheritdoc IParticipantRegistry
    function participant(address account) external view returns (Participant memory) {
        return _participants[account];
    }

    /// @inheritdoc IParticipantRegistry
    function meterHolder(bytes32 meterId)
        external
        view
        returns (address account, bytes32 gridArea)
    {
        account = _meterHolders[meterId];
        if (account != address(0)) gridArea = _participants[account].gridArea;
    }

    /// @notice Participant roles are managed by registration; other roles as usual.
    function grantRole(bytes32 role, address account) public override {
        _refuseParticipantRole(role);
        super.grantRole(role, account);
    }

    /// @notice Participant roles are managed by deactivation; other roles as usual.
    function revokeRole(bytes32 role, address account) public override {
        _refuseParticipantRole(role);
        super.revokeRole(role, account);
    }

    /// @notice Participant roles are managed by deactivation; other roles as usual.
    function renounceRole(bytes32 role, address callerConfirmation) public override {
        _refuseParticipantRole(role);
        super.renounceRole(role, callerConfirmation);
    }

    function _register(address account, uint8 role, bytes32 gridArea, bytes32 meterId) private {
        if (account == address(0)) revert ParticipantRegistryZeroAddress();
        if (role == 0 || role > uint8(type(Role).max)) revert ParticipantRegistryUnknownRole(role);
        Participant storage p = _participants[account];
        if (p.role != Role.None) revert ParticipantRegistryAlreadyRegistered(account);
        if (gridArea == bytes32(0)) revert ParticipantRegistryMissingGridArea(account);
        Role r = Role(role);
        if (r == Role.Prosumer && meterId == bytes32(0)) {
            revert ParticipantRegistryMissingMeterId(account);
        }
        if (meterId != bytes32(0)) {
            address holder = _meterHolders[meterId];
            if (holder != address(0)) {
                revert ParticipantRegistryMeterIdTaken(account, meterId, holder);
            }
        }
        p.role = r;
        p.active = true;
        p.registeredAt = uint40(block.timestamp);
        p.gridArea = gridArea;
        if (meterId != bytes32(0)) {
            p.meterId = meterId;
            _meterHolders[meterId] = account;
        }
        // Cannot overflow: one increment per registered account.
        unchecked {
            ++participantCount;
        }
        _grantRole(roleId(r), account);
        emit ParticipantRegistered(account, r, gridArea, meterId);
    }

    function _requireRegistered(address account) private view returns (Participant storage p) {
        p = _participants[account];
        if (p.role == Role.None) revert ParticipantRegistryNotRegistered(account);
    }

    function _requireActive(address account) private view returns (Participant storage p) {
        p = _requireRegistered(account);
        if (!p.active) revert ParticipantRegistryInactive(account);
    }

    function _refuseParticipantRole(bytes32 role) private pure {
        if (
            role == PROSUMER_ROLE || role == AGGREGATOR_ROLE || role == DSO_ROLE
                || role == ORACLE_ROLE || role == MARKET_OPERATOR_ROLE
        ) revert ParticipantRegistryRoleManagedByRegistry(role);
    }
}
