"""PackedWords under brownie: 32-bit fields eight to a word (edge values: zero, the top of
uint32, the last field, an index past the word) and the one-field credit bound."""

import brownie
import pytest

MAX32 = 2**32 - 1


@pytest.fixture(scope="module")
def words(PackedWordsHarness, admin):
    return PackedWordsHarness.deploy({"from": admin})


def pack(values):
    return sum(v << (32 * k) for k, v in enumerate(values))


def split(words, word, k):
    return tuple(int(x) for x in words.splitAt(word, k))


def test_words_for_rounds_up_to_whole_words(words):
    expected = {0: 0, 1: 1, 7: 1, 8: 1, 9: 2, 16: 2, 17: 3, 255: 32, 256: 32}
    assert {n: words.wordsFor(n) for n in expected} == expected


def test_get_reads_each_field_in_place(words):
    values = [MAX32, 0, 1, 0x80000000, 7, MAX32 - 1, 0, MAX32]
    word = pack(values)
    assert [words.get(word, k) for k in range(8)] == values
    # A field at the top of uint32 does not spill into its neighbours.
    lone = pack([0, 0, 0, MAX32])
    assert [words.get(lone, k) for k in range(8)] == [0, 0, 0, MAX32, 0, 0, 0, 0]


def test_get_past_the_word_panics_as_an_index_out_of_bounds(words):
    with brownie.reverts("Index out of range"):
        words.get(2**256 - 1, 8)


def test_split_at_keeps_the_fields_below_and_moves_the_rest(words):
    word = pack([1, 2, 3, 4, 5, 6, 7, MAX32])
    assert split(words, word, 0) == (0, word)
    assert split(words, word, 3) == (pack([1, 2, 3]), pack([0, 0, 0, 4, 5, 6, 7, MAX32]))
    assert split(words, word, 7) == (pack([1, 2, 3, 4, 5, 6, 7]), MAX32 << 224)
    # From field 8 on there is nothing: everything stays.
    assert split(words, word, 8) == (word, 0)
    assert split(words, word, 2**255) == (word, 0)
    full = 2**256 - 1
    low, high = split(words, full, 5)
    assert low | high == full and low & high == 0 and low == 2**160 - 1


def test_upper_and_above_round_down_at_the_extremes(words):
    # upper(T) = T * upperBp / 10000, floor; above: credit > upper(T).
    for target in (0, 1, 9_999, 10_001, MAX32):
        for upper_bp in (10_000, 10_001, 11_000, 19_999):
            bound = target * upper_bp // 10_000
            assert words.upper(target, upper_bp) == bound
            assert words.above(target, bound, upper_bp) is False
            assert words.above(target, bound + 1, upper_bp) is True
    assert words.above(0, 0, 10_000) is False and words.above(0, 1, 19_999) is True
