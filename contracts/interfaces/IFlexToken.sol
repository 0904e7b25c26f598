// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title FlexToken events and errors beyond ERC-20's own
interface IFlexToken {
    /// @notice Emitted when `minter` mints a batch of `count` payments totalling `total`.
    event BatchMinted(address indexed minter, uint256 count, uint256 total);

    /// @notice Thrown when an amount of zero is minted.
    error FlexTokenZeroAmount(address to);

    /// @notice Thrown when the arrays of a batch call differ in length.
    error FlexTokenLengthMismatch(uint256 expected, uint256 actual);
}
