// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {FlexRules} from "../libraries/FlexRules.sol";
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

    /// @notice `tally` from zero sums: rewards, penalties, points for credits, points taken.
    function tally(uint256 targetsWord, uint256 deliveredWord, PackedRows.Rates memory rates)
        external
        pure
        returns (uint256[4] memory acc)
    {
        PackedRows.tally(acc, targetsWord, deliveredWord, rates);
    }

    /// @notice `tally` of `words` words (the same pair each time), and the same in plain
    /// Solidity with FlexRules' functions per field (`plain`): what the assembly is
    /// measured against (the results must agree).
    function tallyRow(
        uint256 targetsWord,
        uint256 deliveredWord,
        PackedRows.Rates memory rates,
        uint256 words,
        bool plain
    ) external pure returns (uint256[4] memory acc) {
        for (uint256 j; j < words; ++j) {
            if (!plain) {
                PackedRows.tally(acc, targetsWord, deliveredWord, rates);
                continue;
            }
            for (uint256 f; f < 8; ++f) {
                uint256 t = (targetsWord >> (32 * f)) & type(uint32).max;
                int256 d = int32(uint32(deliveredWord >> (32 * f)));
                uint256 c = FlexRules.creditedWh(d, t * rates.upperBp / 10_000);
                uint256 s = FlexRules.shortfallWh(d, t * rates.lowerBp / 10_000);
                acc[0] += FlexRules.energyCost(c, rates.price);
                acc[1] += FlexRules.energyCost(s, rates.penalty);
                acc[2] += FlexRules.energyCost(c, rates.points);
                acc[3] += FlexRules.energyCost(s, rates.penaltyPoints);
            }
        }
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
