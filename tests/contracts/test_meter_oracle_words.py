"""MeterOracle.committedWords under brownie: one bitmap word per interval of a range, the same
bits as isCommitted, and its refusals (misaligned start, a range past uint64, a word past the
enrolled meters)."""

import pytest
from brownie import chain
from eth_account import Account

from tests.contracts.helpers import ORACLE, b32, reverts

Q = 900
ORACLE_KEY = "0x" + "43" * 32


@pytest.fixture(scope="module")
def meters(MeterOracle, registry, admin, accounts):
    m = MeterOracle.deploy(registry, {"from": admin})
    oracle = Account.from_key(ORACLE_KEY)
    registry.register(oracle.address, ORACLE, b32("feeder-1"), b"\0" * 32, {"from": admin})
    registry.register(accounts[1], ORACLE, b32("feeder-1"), b"\0" * 32, {"from": admin})
    # 258 meters: indexes 0..255 in word 0, 256 and 257 in word 1.
    m.enrolMeters([b32(f"m{i}") for i in range(258)], {"from": accounts[1]})
    return m


def words(meters, start, count, word):
    """``committedWords`` as plain ints."""
    return [int(w) for w in meters.committedWords(start, count, word)]


def commit(meters, start, indexes, nonce):
    readings = [(i << 192) | (100 << 96) for i in sorted(indexes)]
    digest = meters.batchDigest(start, readings, nonce, False)
    signature = Account.unsafe_sign_hash(digest, ORACLE_KEY).signature
    meters.commitReadings(start, readings, nonce, signature)


def test_committed_words_are_the_bitmaps_of_a_range(meters, accounts):
    start = (chain.time() // Q - 10) * Q
    commit(meters, start, [0, 5, 256], 1)
    commit(meters, start + Q, [5, 257], 2)
    commit(meters, start + 3 * Q, [0], 3)
    assert words(meters, start, 4, 0) == [1 | 1 << 5, 1 << 5, 0, 1]
    assert words(meters, start, 4, 1) == [1, 1 << 1, 0, 0]
    assert words(meters, start + Q, 2, 1) == [1 << 1, 0]
    assert words(meters, start, 0, 0) == []
    for k in range(4):
        word = words(meters, start + k * Q, 1, 0)[0]
        for i in (0, 5, 7):
            assert bool(word >> i & 1) == meters.isCommitted(b32(f"m{i}"), start + k * Q)


def test_committed_words_refusals(meters):
    start = (chain.time() // Q - 10) * Q
    with reverts("MeterOracleMisalignedInterval", start + 1):
        meters.committedWords(start + 1, 1, 0)
    with reverts("MeterOracleMisalignedInterval", 0):
        meters.committedWords(0, 1, 0)
    last = (2**64 - 1) // Q * Q
    assert words(meters, last, 1, 0) == [0]
    with reverts("MeterOracleIntervalRangeTooLong", last, 2):
        meters.committedWords(last, 2, 0)
    with reverts("MeterOracleIntervalRangeTooLong", Q, 2**255):
        meters.committedWords(Q, 2**255, 0)
    with reverts("MeterOracleUnknownMeterWord", 2, 2):
        meters.committedWords(start, 1, 2)
