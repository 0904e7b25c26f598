// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {PackedWords} from "../libraries/PackedWords.sol";

/// @title PackedWordsHarness
/// @notice Test-only: exposes PackedWords to the contract tests (tests/contracts). Never
/// deployed by the platform (chain/deploy.py deploys contracts by name).
contract PackedWordsHarness {
    function wordsFor(uint256 n) external pure returns (uint256) {
        return PackedWords.wordsFor(n);
    }

    function get(uint256 word, uint256 k) external pure returns (uint256) {
        return PackedWords.get(word, k);
    }

    function splitAt(uint256 word, uint256 k) external pure returns (uint256 low, uint256 high) {
        return PackedWords.splitAt(word, k);
    }

    function upper(uint256 target, uint16 upperBp) external pure returns (uint256) {
        return PackedWords.upper(target, upperBp);
    }

    function above(uint256 target, uint256 credit, uint16 upperBp) external pure returns (bool) {
        return PackedWords.above(target, credit, upperBp);
    }
}
