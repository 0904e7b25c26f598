// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {PackedRows} from "../libraries/PackedRows.sol";

/// @title PackedRowsHarness
/// @notice Test-only: exposes PackedRows to the contract tests (tests/contracts), with the
/// calldata sequences passed in as arrays. Never deployed by the platform.
contract PackedRowsHarness {
    function slice(uint256[] calldata a, uint256 start, uint256 count)
        external
        pure
        returns (uint256[] memory)
    {
        return PackedRows.slice(a, start, count);
    }

    function at(uint256[] calldata words, uint256 k) external pure returns (uint256) {
        return PackedRows.at(words, k);
    }

    function scan(uint256[] calldata targets, uint256[] calldata credits, uint16 upperBp, uint40 pricePerKwh)
        external
        pure
        returns (uint256 most, bool creditAbove, bool credited)
    {
        return PackedRows.scan(targets, credits, upperBp, pricePerKwh);
    }

    /// @notice `scan` of words `start` to `start + count` of both arrays (slices that do not
    /// start at the arrays' first word).
    function scanSlices(
        uint256[] calldata targets,
        uint256[] calldata credits,
        uint256 start,
        uint256 count,
        uint16 upperBp
    ) external pure returns (uint256 most, bool creditAbove, bool credited) {
        return PackedRows.scan(
            PackedRows.slice(targets, start, count), PackedRows.slice(credits, start, count), upperBp, 1
        );
    }

    function firstAbove(uint256[] calldata targets, uint256[] calldata credits, uint16 upperBp)
        external
        pure
        returns (bool found, uint256 k, uint256 credit, uint256 bound)
    {
        return PackedRows.firstAbove(targets, credits, upperBp);
    }

    function nonZero(uint256[] calldata words, uint256 mask, uint256 n) external pure returns (uint256) {
        return PackedRows.nonZero(words, mask, n);
    }

    function zeroFrom(uint256[] calldata words, uint256 n) external pure returns (bool) {
        return PackedRows.zeroFrom(words, n);
    }

    function addTargets(
        uint256[] memory sums,
        uint256[] calldata words,
        uint256 maxValue,
        uint16 upperBp,
        uint40 pricePerKwh
    ) external pure returns (uint256 k, uint256 most, uint256[] memory after_) {
        (k, most) = PackedRows.addTargets(sums, words, maxValue, upperBp, pricePerKwh);
        after_ = sums;
    }
}
