"""MerkleBatch (the assembly of the oracles' batch trees) through MerkleBatchHarness: the root
equals the plain-Solidity reference built with OpenZeppelin's Hashes and the Python twin
(core.oracle_codec), every leaf's proof verifies with OpenZeppelin's MerkleProof, and the library
writes no memory outside the leaves' array."""

import random

import pytest
from eth_abi import encode
from eth_utils import keccak

from core.oracle_codec import leaf_hash, merkle_proof, merkle_root

START = 1_700_000_100  # a multiple of 900


@pytest.fixture(scope="module")
def merkle(MerkleBatchHarness, admin):
    return MerkleBatchHarness.deploy({"from": admin})


def words_of(n, seed):
    rng = random.Random(seed)
    return [rng.getrandbits(256) for _ in range(n)]


def test_leaf_is_the_abi_encoded_interval_and_word(merkle):
    for word in (0, 1, 2**256 - 1, 7 << 192 | 1234 << 96 | 56):
        expected = keccak(encode(["uint64", "uint256"], [START, word]))
        assert bytes(merkle.leaf(START, word)) == expected == leaf_hash(START, word)


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 33, 100])
def test_root_equals_the_reference_and_the_python_twin(merkle, n):
    words = words_of(n, n)
    root, memory_intact = merkle.root(START, words)
    assert memory_intact
    assert bytes(root) == bytes(merkle.rootReference(START, words))
    assert bytes(root) == merkle_root([leaf_hash(START, w) for w in words])


def test_root_depends_on_every_word_and_on_the_interval(merkle):
    words = words_of(9, 1)
    root, _ = merkle.root(START, words)
    for i in range(len(words)):
        changed = list(words)
        changed[i] ^= 1
        assert merkle.root(START, changed)[0] != root
    assert merkle.root(START + 900, words)[0] != root


def test_no_leaves_give_a_zero_root(merkle):
    root, memory_intact = merkle.root(START, [])
    assert memory_intact
    assert bytes(root) == b"\0" * 32 == bytes(merkle.rootReference(START, []))


@pytest.mark.parametrize("n", [1, 2, 6, 11])
def test_every_proof_verifies_with_openzeppelin_and_a_wrong_word_does_not(merkle, n):
    words = words_of(n, 100 + n)
    root, _ = merkle.root(START, words)
    leaves = [leaf_hash(START, w) for w in words]
    for position, word in enumerate(words):
        proof = merkle_proof(leaves, position)
        assert merkle.verify(proof, root, START, word)
        assert not merkle.verify(proof, root, START, word ^ 1)
        assert not merkle.verify(proof, root, START + 900, word)
