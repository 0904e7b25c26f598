// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Panic} from "@openzeppelin/contracts/utils/Panic.sol";

/// @title PackedWords
/// @notice 32-bit fields packed eight to a 256-bit word: field `k` of a word sits at bits
/// `32 * k` (k in 0..7), so value `k` of a packed sequence is field `k % 8` of word `k / 8`.
/// FlexCoordination's targets, credits, deliveries (int32, two's complement) and shortfalls
/// travel in this form (see IFlexCoordination). The word-level rules, in plain Solidity; the
/// scans over whole rows are in PackedRows.
library PackedWords {
    /// @notice Fields in one word.
    uint256 internal constant FIELDS = 8;
    /// @notice The largest value of a field.
    uint256 internal constant MAX_FIELD = type(uint32).max;

    /// @notice Words needed for `n` fields.
    function wordsFor(uint256 n) internal pure returns (uint256) {
        return n / FIELDS + (n % FIELDS == 0 ? 0 : 1);
    }

    /// @notice Field `k` of `word`; `k` of 8 or more panics as an array index out of bounds.
    function get(uint256 word, uint256 k) internal pure returns (uint256) {
        if (k >= FIELDS) Panic.panic(Panic.ARRAY_OUT_OF_BOUNDS);
        return (word >> (32 * k)) & MAX_FIELD;
    }

    /// @notice `word` split at field `k`: `low` keeps the fields below `k`, `high` the fields
    /// from `k` on, each in place (`k` of 8 and more: everything is below).
    function splitAt(uint256 word, uint256 k) internal pure returns (uint256 low, uint256 high) {
        if (k >= FIELDS) return (word, 0);
        uint256 keep = (uint256(1) << (32 * k)) - 1;
        return (word & keep, word & ~keep);
    }

    /// @notice The most a target of `target` Wh is paid for: `target * upperBp / 10000`,
    /// rounded down (`upperBp`: 10000 plus the tolerance in basis points).
    function upper(uint256 target, uint16 upperBp) internal pure returns (uint256) {
        return target * upperBp / 10_000;
    }

    /// @notice True when `credit` is above `upper(target, upperBp)`, one field.
    function above(uint256 target, uint256 credit, uint16 upperBp) internal pure returns (bool) {
        return credit > upper(target, upperBp);
    }
}
