// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title MerkleBatch
/// @notice The Merkle tree of one signed oracle batch (MeterOracle, ForecastOracle): a leaf is
/// `keccak256(abi.encode(intervalStart, word))`, a pair of nodes is hashed sorted (as
/// OpenZeppelin `MerkleProof` verifies it, `Hashes.commutativeKeccak256`), and an odd last
/// node of a level is carried up unchanged. Its Python twin is `core.oracle_codec.merkle_root`.
/// @dev Assembly, isolated here and tested on its own (tests/contracts/test_oracle_merkle_batch.py
/// through `MerkleBatchHarness`): the tree is built in place in the leaves' array and each pair
/// is hashed in scratch space, with no new array per level and no bounds checks. Measured
/// (eth_estimateGas, 100 and 1,000 leaves): about 275 gas less per leaf than the same tree in
/// plain Solidity with OpenZeppelin's `Hashes` (`MerkleBatchHarness.rootReference`), a quarter
/// of a meter commitment's 1,138 gas per value in batches of 1,000.
library MerkleBatch {
    /// @notice The leaf of `word` (a packed reading or forecast) of interval `intervalStart`.
    /// @dev A leaf hashes 64 bytes whose first word is a uint64; an inner node's smaller child
    /// would need 192 leading zero bits to pass for one, so one hash is enough (no double
    /// hashing as in OpenZeppelin's standard tree).
    function leaf(uint64 intervalStart, uint256 word) internal pure returns (bytes32 hash) {
        assembly ("memory-safe") {
            mstore(0x00, intervalStart)
            mstore(0x20, word)
            hash := keccak256(0x00, 0x40)
        }
    }

    /// @notice The root of the tree over `nodes` (the leaves, in batch order); zero for none.
    /// @dev Overwrites `nodes` (each level is written over the start of the level below it);
    /// touches no memory outside the array and the scratch space.
    function root(bytes32[] memory nodes) internal pure returns (bytes32 result) {
        assembly ("memory-safe") {
            let n := mload(nodes)
            let base := add(nodes, 0x20)
            for {} gt(n, 1) {} {
                let half := shr(1, n)
                for { let i := 0 } lt(i, half) { i := add(i, 1) } {
                    let a := mload(add(base, shl(6, i)))
                    let b := mload(add(base, add(shl(6, i), 0x20)))
                    if gt(a, b) {
                        let t := a
                        a := b
                        b := t
                    }
                    mstore(0x00, a)
                    mstore(0x20, b)
                    mstore(add(base, shl(5, i)), keccak256(0x00, 0x40))
                }
                if and(n, 1) {
                    mstore(add(base, shl(5, half)), mload(add(base, shl(5, sub(n, 1)))))
                    half := add(half, 1)
                }
                n := half
            }
            if n { result := mload(base) }
        }
    }
}
