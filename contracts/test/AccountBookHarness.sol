// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IFlexCoordination} from "../interfaces/IFlexCoordination.sol";
import {AccountBook} from "../libraries/AccountBook.sol";

/// @title AccountBookHarness
/// @notice Test-only: `IFlexCoordination.Account`s kept as FlexCoordination keeps them (a
/// mapping of the struct), written and read through the struct's fields (the compiler's
/// layout) and through AccountBook, so the contract tests can check that the two agree.
/// Never deployed by the platform.
contract AccountBookHarness {
    using AccountBook for IFlexCoordination.Account;

    mapping(address member => IFlexCoordination.Account) private _accounts;

    /// @notice Sets every field through the struct (named, so a reordered struct still gets
    /// each value in its own field).
    function write(address member, uint96 claimable, int64 reputation, uint32 optIns, uint32 settled)
        external
    {
        _accounts[member] = IFlexCoordination.Account({
            claimable: claimable,
            reputation: reputation,
            optIns: optIns,
            settled: settled
        });
    }

    /// @notice Every field, read through the struct.
    function read(address member) external view returns (IFlexCoordination.Account memory) {
        return _accounts[member];
    }

    function credit(address member, uint96 payout, int32 points) external {
        _accounts[member].credit(payout, points);
    }

    function countOptIn(address member) external {
        _accounts[member].countOptIn();
    }

    function takeClaimable(address member) external returns (uint256 amount) {
        amount = _accounts[member].takeClaimable();
    }

    /// @notice Where `Account` is declared (no contract: address zero). Named as a contract
    /// type so that brownie's incremental build, which follows contract types but not struct
    /// types, rebuilds this harness when IFlexCoordination.sol changes.
    function accountDeclaredIn() external pure returns (IFlexCoordination) {
        return IFlexCoordination(address(0));
    }
}
