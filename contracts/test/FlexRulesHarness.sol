// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {FlexRules} from "../libraries/FlexRules.sol";

/// @title FlexRulesHarness
/// @notice Test-only: exposes the `FlexRules` library so the golden vectors run against it
/// (tests/contracts/test_rules_golden.py). The platform never deploys it.
contract FlexRulesHarness {
    function energyCost(uint256 wh, uint256 pricePerKwh) external pure returns (uint256) {
        return FlexRules.energyCost(wh, pricePerKwh);
    }

    function proRata(uint256 amount, uint256 part, uint256 whole) external pure returns (uint256) {
        return FlexRules.proRata(amount, part, whole);
    }

    function upperWh(uint256 targetWh, uint256 toleranceBp) external pure returns (uint256) {
        return FlexRules.upperWh(targetWh, toleranceBp);
    }

    function lowerWh(uint256 targetWh, uint256 toleranceBp) external pure returns (uint256) {
        return FlexRules.lowerWh(targetWh, toleranceBp);
    }

    function withinTolerance(uint256 totalWh, uint256 quantityWh, uint256 toleranceBp)
        external
        pure
        returns (bool)
    {
        return FlexRules.withinTolerance(totalWh, quantityWh, toleranceBp);
    }

    function creditedWh(int256 delivered, uint256 capWh) external pure returns (uint256) {
        return FlexRules.creditedWh(delivered, capWh);
    }

    function shortfallWh(int256 delivered, uint256 lower) external pure returns (uint256) {
        return FlexRules.shortfallWh(delivered, lower);
    }

    function deliveredWh(uint8 direction, int256 baselineWh, int256 meteredWh)
        external
        pure
        returns (int256)
    {
        return FlexRules.deliveredWh(direction, baselineWh, meteredWh);
    }

    function divRound(int256 numerator, int256 denominator) external pure returns (int256) {
        return FlexRules.divRound(numerator, denominator);
    }

    function intervalPoints(
        uint256 credited,
        uint256 shortfall,
        uint256 pointsPerKwh,
        uint256 penaltyPointsPerKwh
    ) external pure returns (int256) {
        return FlexRules.intervalPoints(credited, shortfall, pointsPerKwh, penaltyPointsPerKwh);
    }
}
