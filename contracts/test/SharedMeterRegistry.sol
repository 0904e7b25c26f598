// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IParticipantRegistry} from "../interfaces/IParticipantRegistry.sol";

/// @title SharedMeterRegistry
/// @notice Test-only: a participant registry that answers as `inner` does, except that
/// `shareMeter` makes an account report another meter id (ParticipantRegistry itself gives a
/// meter to one participant at most). The contract tests use it to check that FlexCoordination
/// refuses one meter for two members of a coalition without relying on the registry. Never
/// deployed by the platform.
contract SharedMeterRegistry {
    IParticipantRegistry public immutable inner;
    mapping(address account => bytes32 meterId) public sharedMeter;

    constructor(IParticipantRegistry inner_) {
        inner = inner_;
    }

    /// @notice `account` reports meter `meterId` from now on.
    function shareMeter(address account, bytes32 meterId) external {
        sharedMeter[account] = meterId;
    }

    function isActive(address account) external view returns (bool) {
        return inner.isActive(account);
    }

    function isActiveAs(address account, IParticipantRegistry.Role role) external view returns (bool) {
        return inner.isActiveAs(account, role);
    }

    function activeGridArea(address account) external view returns (bytes32) {
        return inner.activeGridArea(account);
    }

    function participant(address account) external view returns (IParticipantRegistry.Participant memory p) {
        p = inner.participant(account);
        bytes32 shared = sharedMeter[account];
        if (shared != bytes32(0)) p.meterId = shared;
    }
}
