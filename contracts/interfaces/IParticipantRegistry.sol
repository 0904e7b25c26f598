// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

// The AccessControl role, granted on the ParticipantRegistry by its admin (`grantRole`), whose
// holders may sign corrections of any meter's values in the MeterOracle: other oracles may
// correct only meters held in their own grid area (`meterHolder`).
bytes32 constant METER_ADMIN_ROLE = keccak256("METER_ADMIN_ROLE");

/// @title Registry of the community's participants (CBFM-1)
/// @notice Who may act on the platform, in which role, in which grid area and behind which
/// meter. The other contracts ask it whether an account is an active participant of a role.
/// A meter id belongs to one participant at most: it backs one member's deliveries.
interface IParticipantRegistry {
    /// @notice The role a participant registers with. `None` marks an unregistered account.
    enum Role {
        None,
        Prosumer,
        Aggregator,
        DSO,
        Oracle,
        MarketOperator
    }

    /// @notice A registered participant. Packed: role, active, registeredAt and aggregator
    /// share one storage slot.
    struct Participant {
        Role role;
        bool active;
        uint40 registeredAt;
        address aggregator;
        bytes32 gridArea;
        bytes32 meterId;
    }

    /// @notice Emitted when `account` is registered.
    /// @param account the participant's wallet
    /// @param role the role it registered with (see `Role`)
    /// @param gridArea the grid area (feeder, substation) it is connected to
    /// @param meterId the id of its meter (zero for participants without one)
    event ParticipantRegistered(
        address indexed account, Role indexed role, bytes32 indexed gridArea, bytes32 meterId
    );

    /// @notice Emitted when `account` is deactivated: it keeps its record but loses its role.
    event ParticipantDeactivated(address indexed account, Role indexed role);

    /// @notice Emitted when a deactivated `account` is made active again.
    event ParticipantReactivated(address indexed account, Role indexed role);

    /// @notice Emitted when prosumer `member` lets `aggregator` act for it.
    event AggregatorDelegated(address indexed member, address indexed aggregator);

    /// @notice Emitted when prosumer `member` withdraws the delegation to `aggregator`.
    event AggregatorDelegationRevoked(address indexed member, address indexed aggregator);

    /// @notice Thrown when the zero address is given as a participant or an aggregator.
    error ParticipantRegistryZeroAddress();

    /// @notice Thrown when `account` is registered a second time.
    error ParticipantRegistryAlreadyRegistered(address account);

    /// @notice Thrown when `role` is not one of the roles a participant can register with.
    error ParticipantRegistryUnknownRole(uint8 role);

    /// @notice Thrown when `account` is not registered.
    error ParticipantRegistryNotRegistered(address account);

    /// @notice Thrown when `account` is registered but deactivated.
    error ParticipantRegistryInactive(address account);

    /// @notice Thrown when reactivating `account` that is already active.
    error ParticipantRegistryAlreadyActive(address account);

    /// @notice Thrown when `account` must be an active prosumer and is not (it has `role`).
    error ParticipantRegistryNotProsumer(address account, Role role);

    /// @notice Thrown when `account` must be an active aggregator and is not (it has `role`).
    error ParticipantRegistryNotAggregator(address account, Role role);

    /// @notice Thrown when `account` is registered without a grid area.
    error ParticipantRegistryMissingGridArea(address account);

    /// @notice Thrown when prosumer `account` is registered without a meter id.
    error ParticipantRegistryMissingMeterId(address account);

    /// @notice Thrown when `account` is registered with meter `meterId`, which `holder` holds.
    error ParticipantRegistryMeterIdTaken(address account, bytes32 meterId, address holder);

    /// @notice Thrown when the arrays of a batch call differ in length.
    error ParticipantRegistryLengthMismatch(uint256 expected, uint256 actual);

    /// @notice Thrown when `grantRole`/`revokeRole` is used on a participant role, which only
    /// registration and deactivation may change.
    error ParticipantRegistryRoleManagedByRegistry(bytes32 role);

    /// @notice True when `account` is registered and active.
    function isActive(address account) external view returns (bool);

    /// @notice True when `account` is registered, active and has `role`.
    function isActiveAs(address account, Role role) external view returns (bool);

    /// @notice True when `agent` may act for `member`: it is the member itself, or the active
    /// aggregator the active member delegated to.
    function actsFor(address agent, address member) external view returns (bool);

    /// @notice The grid area of `account` if it is an active participant, else zero (two
    /// storage reads: what markets need per order).
    function activeGridArea(address account) external view returns (bytes32);

    /// @notice The record of `account` (role `None` when unregistered).
    function participant(address account) external view returns (Participant memory);

    /// @notice The participant registered with meter `meterId` and its grid area (zeros when
    /// no participant has it). A deactivated participant keeps its meter.
    function meterHolder(bytes32 meterId)
        external
        view
        returns (address account, bytes32 gridArea);
}
