// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

/// @title FlexRules
/// @notice The one rule set of flexibility money, as the contracts use it. Its specification
/// is the Python module `core/rules.py`; golden vectors (`tests/golden/rules.json`) run against
/// both, so the two cannot drift. Money rounds down, always, in `energyCost` and `proRata`;
/// baselines (energy) round to the nearest Wh, halves up, with floor division (`divRound`).
library FlexRules {
    /// @notice Basis points in one.
    uint256 internal constant BP = 10_000;
    /// @notice Delivery intervals are 15 minutes, aligned to UTC.
    uint64 internal constant INTERVAL_S = 900;

    /// @notice What `wh` Wh cost at `pricePerKwh` (token base units per kWh), rounded down.
    function energyCost(uint256 wh, uint256 pricePerKwh) internal pure returns (uint256) {
        return wh * pricePerKwh / 1000;
    }

    /// @notice The share `part / whole` of `amount`, rounded down (0 when `whole` is 0).
    function proRata(uint256 amount, uint256 part, uint256 whole) internal pure returns (uint256) {
        return whole == 0 ? 0 : Math.mulDiv(amount, part, whole);
    }

    /// @notice Target plus tolerance, Wh, rounded down: the most a delivery is paid for.
    function upperWh(uint256 targetWh, uint256 toleranceBp) internal pure returns (uint256) {
        return targetWh * (BP + toleranceBp) / BP;
    }

    /// @notice Target minus tolerance, Wh, rounded down: below it the shortfall is penalised.
    function lowerWh(uint256 targetWh, uint256 toleranceBp) internal pure returns (uint256) {
        return targetWh * (BP - toleranceBp) / BP;
    }

    /// @notice Whether `totalWh` lies within the tolerance of `quantityWh` (both bounds of
    /// `lowerWh` and `upperWh` included).
    function withinTolerance(uint256 totalWh, uint256 quantityWh, uint256 toleranceBp)
        internal
        pure
        returns (bool)
    {
        return totalWh >= lowerWh(quantityWh, toleranceBp) && totalWh <= upperWh(quantityWh, toleranceBp);
    }

    /// @notice `clamp(delivered, 0, capWh)`: what a delivery is paid for.
    function creditedWh(int256 delivered, uint256 capWh) internal pure returns (uint256) {
        if (delivered <= 0) return 0;
        uint256 d = uint256(delivered);
        return d < capWh ? d : capWh;
    }

    /// @notice `max(0, lower - delivered)`: what is missing beyond the tolerance.
    function shortfallWh(int256 delivered, uint256 lower) internal pure returns (uint256) {
        int256 l = SafeCast.toInt256(lower);
        return delivered >= l ? 0 : uint256(l - delivered);
    }

    /// @notice Flexibility delivered in `direction` (0 upward: baseline - metered; 1 downward:
    /// metered - baseline); meter values are net import, Wh.
    function deliveredWh(uint8 direction, int256 baselineWh, int256 meteredWh)
        internal
        pure
        returns (int256)
    {
        return direction == 0 ? baselineWh - meteredWh : meteredWh - baselineWh;
    }

    /// @notice `numerator / denominator` rounded to the nearest int, halves up:
    /// `floor((2 * numerator + denominator) / (2 * denominator))`; `denominator > 0`.
    function divRound(int256 numerator, int256 denominator) internal pure returns (int256 q) {
        int256 n = 2 * numerator + denominator;
        int256 d = 2 * denominator;
        q = n / d;
        // Solidity truncates towards zero; floor division steps one further down for a
        // negative quotient with a remainder.
        if (n % d != 0 && n < 0) q -= 1;
    }

    /// @notice Reputation points of one interval: `energyCost(C, pointsPerKwh) -
    /// energyCost(S, penaltyPointsPerKwh)`.
    function intervalPoints(
        uint256 creditedWh_,
        uint256 shortfallWh_,
        uint256 pointsPerKwh,
        uint256 penaltyPointsPerKwh
    ) internal pure returns (int256) {
        return SafeCast.toInt256(energyCost(creditedWh_, pointsPerKwh))
            - SafeCast.toInt256(energyCost(shortfallWh_, penaltyPointsPerKwh));
    }
}
