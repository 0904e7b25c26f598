// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Hashes} from "@openzeppelin/contracts/utils/cryptography/Hashes.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {MerkleBatch} from "../libraries/MerkleBatch.sol";

/// @title MerkleBatchHarness
/// @notice Test-only: exposes `MerkleBatch` to tests/contracts/test_oracle_merkle_batch.py. The
/// platform never deploys it (chain/deploy.py deploys contracts by name).
contract MerkleBatchHarness {
    /// @notice `MerkleBatch.leaf`.
    function leaf(uint64 intervalStart, uint256 word) external pure returns (bytes32) {
        return MerkleBatch.leaf(intervalStart, word);
    }

    /// @notice `MerkleBatch.root` of the leaves of `words`, and whether the memory around the
    /// leaves' array was left alone: a guard word written right after the array is unchanged
    /// and the free memory pointer did not move.
    function root(uint64 intervalStart, uint256[] calldata words)
        external
        pure
        returns (bytes32 result, bool memoryIntact)
    {
        bytes32[] memory nodes = new bytes32[](words.length);
        for (uint256 i; i < words.length; ++i) {
            nodes[i] = MerkleBatch.leaf(intervalStart, words[i]);
        }
        bytes32 guard = keccak256("guard");
        uint256 freeBefore;
        assembly ("memory-safe") {
            freeBefore := mload(0x40)
            mstore(freeBefore, guard)
            mstore(0x40, add(freeBefore, 0x20))
        }
        result = MerkleBatch.root(nodes);
        uint256 freeAfter;
        bytes32 guardAfter;
        assembly ("memory-safe") {
            freeAfter := mload(0x40)
            guardAfter := mload(freeBefore)
        }
        memoryIntact = freeAfter == freeBefore + 0x20 && guardAfter == guard;
    }

    /// @notice The same root in plain Solidity with OpenZeppelin's `Hashes` (new arrays per
    /// level): the reference the assembly is tested against, and its gas the comparison.
    function rootReference(uint64 intervalStart, uint256[] calldata words)
        external
        pure
        returns (bytes32)
    {
        if (words.length == 0) return bytes32(0);
        bytes32[] memory level = new bytes32[](words.length);
        for (uint256 i; i < words.length; ++i) {
            level[i] = keccak256(abi.encode(intervalStart, words[i]));
        }
        while (level.length > 1) {
            bytes32[] memory up = new bytes32[]((level.length + 1) / 2);
            for (uint256 i; i + 1 < level.length; i += 2) {
                up[i / 2] = Hashes.commutativeKeccak256(level[i], level[i + 1]);
            }
            if (level.length % 2 == 1) up[up.length - 1] = level[level.length - 1];
            level = up;
        }
        return level[0];
    }

    /// @notice OpenZeppelin `MerkleProof.verify` of `proof` for the leaf of `word`.
    function verify(bytes32[] calldata proof, bytes32 batchRoot, uint64 intervalStart, uint256 word)
        external
        pure
        returns (bool)
    {
        return MerkleProof.verify(proof, batchRoot, MerkleBatch.leaf(intervalStart, word));
    }
}
