"""PackedRows under brownie: slices of calldata rows, a settlement row's money and points eight
intervals at a time (``tally``) against the one rule set (core.rules), and the proposal's and
the meter checks' scans, with edge values: zero, the top of uint32 in every field, the ends of
int32 in deliveries, the unused fields of the last word."""

import brownie
import pytest
from brownie.test import given
from hypothesis import strategies as st

from core.rules import credited_wh, energy_cost, lower_wh, shortfall_wh, upper_wh

MAX32 = 2**32 - 1


@pytest.fixture(scope="module")
def rows(PackedRowsHarness, admin):
    return PackedRowsHarness.deploy({"from": admin})


def pack(values):
    """Values eight to a word, value k in word k // 8 at bits 32 * (k % 8)."""
    words = [0] * ((len(values) + 7) // 8)
    for k, v in enumerate(values):
        words[k // 8] |= (v & MAX32) << (32 * (k % 8))
    return words


def unpack(words):
    return [(w >> (32 * f)) & MAX32 for w in words for f in range(8)]


def scan_rule(targets, credits, upper_bp, price):
    """The most targets can earn (settlement/engine.py's upper and money rules), whether a
    credit is above its bound, whether anything is credited."""
    ts, cs = unpack(targets[: len(credits)]), unpack(credits)
    most = sum(price * (t * upper_bp // 10_000) // 1000 for t in ts)
    above = any(c > t * upper_bp // 10_000 for t, c in zip(ts, cs, strict=False))
    return most, above, any(c != 0 for c in cs)


def test_slice_is_the_range_and_refuses_one_past_the_end(rows):
    a = [10, 11, 12, 13]
    assert list(rows.slice(a, 1, 2)) == [11, 12]
    assert list(rows.slice(a, 0, 4)) == a
    assert list(rows.slice(a, 4, 0)) == []
    for start, count in ((3, 2), (5, 0), (2**256 - 1, 2), (1, 2**256 - 1)):
        with brownie.reverts("Index out of range"):
            rows.slice(a, start, count)


def test_at_reads_across_words_and_refuses_past_the_end(rows):
    values = list(range(1, 11))
    words = pack(values)
    assert [rows.at(words, k) for k in range(10)] == values
    assert rows.at(words, 15) == 0  # an unused field of the last word
    with brownie.reverts("Index out of range"):
        rows.at(words, 16)


value32 = st.one_of(st.sampled_from([0, 1, MAX32 - 1, MAX32]), st.integers(0, MAX32))
int32 = st.one_of(
    st.sampled_from([0, 1, -1, 2**31 - 1, -(2**31)]), st.integers(-(2**31), 2**31 - 1)
)
rate = st.sampled_from([0, 1, 100, 1000, 2**40 - 1])


def tally_rule(targets, delivered, tol_bp, price, penalty, points, penalty_points):
    """What ``tally`` adds for one word (core.rules: the one rule set)."""
    acc = [0, 0, 0, 0]
    for t, d in zip(targets, delivered, strict=True):
        c = credited_wh(d, upper_wh(t, tol_bp))
        s = shortfall_wh(d, lower_wh(t, tol_bp))
        acc[0] += energy_cost(c, price)
        acc[1] += energy_cost(s, penalty)
        acc[2] += energy_cost(c, points)
        acc[3] += energy_cost(s, penalty_points)
    return acc


@given(
    data=st.lists(st.tuples(value32, int32), min_size=8, max_size=8),
    tol_bp=st.sampled_from([0, 1, 1000, 9_999]),
    rates=st.tuples(rate, rate, rate, rate),
)
def test_tally_follows_the_rule(rows, data, tol_bp, rates):
    """Credited, shortfall, rewards, penalties and points of eight intervals at once, for any
    targets (top of uint32 included) and any int32 deliveries (negative ones included), as
    core.rules computes them."""
    targets = [t for t, _ in data]
    delivered = [d for _, d in data]
    got = rows.tally(
        pack(targets)[0], pack(delivered)[0], (10_000 + tol_bp, 10_000 - tol_bp, *rates)
    )
    assert list(got) == tally_rule(targets, delivered, tol_bp, *rates)


@given(
    data=st.lists(st.tuples(value32, int32), min_size=8, max_size=8),
    tol_bp=st.sampled_from([0, 1000, 9_999]),
)
def test_tally_agrees_with_the_plain_solidity_reference(rows, data, tol_bp):
    """The assembly and the same loop in checked Solidity with FlexRules' functions (what it
    is measured against) give the same sums over a row of two words."""
    targets, delivered = pack([t for t, _ in data])[0], pack([d for _, d in data])[0]
    rates = (10_000 + tol_bp, 10_000 - tol_bp, 200, 100, 1000, 1000)
    assert list(rows.tallyRow(targets, delivered, rates, 2, False)) == list(
        rows.tallyRow(targets, delivered, rates, 2, True)
    )


def test_tally_edges_of_each_field(rows):
    """A delivery at the bound is credited whole, one above is capped; a negative delivery is
    credited nothing and short by the whole lower bound plus itself; unused fields (zero
    target, zero delivery) add nothing; no field leaks into its neighbour."""
    targets = [1000, 1000, 1000, 0, MAX32, 0, 0, 0]
    delivered = [1100, 1101, -5, 0, 2**31 - 1, 0, 0, 0]
    acc = rows.tally(pack(targets)[0], pack(delivered)[0], (11_000, 9_000, 1000, 1000, 1000, 1000))
    credited = 1100 + 1100 + 0 + 0 + (2**31 - 1)
    shortfall = 0 + 0 + 905 + 0 + (MAX32 * 9_000 // 10_000 - (2**31 - 1))
    assert list(acc) == [credited, shortfall, credited, shortfall]
    assert list(rows.tally(0, 0, (11_000, 9_000, 1, 1, 1, 1))) == [0, 0, 0, 0]


def test_non_zero_sees_negative_deliveries_and_respects_mask_and_length(rows):
    minus_one, int32_min = MAX32, 0x80000000  # -1 and -2^31 as int32 fields
    delivered = pack([0, minus_one, 0, int32_min, 5, 0, 0, 0, minus_one])
    everything = 2**256 - 1
    assert rows.nonZero(delivered, everything, 9) == (1 << 1) | (1 << 3) | (1 << 4) | (1 << 8)
    assert rows.nonZero(delivered, (1 << 3) | (1 << 5), 9) == 1 << 3
    # Only the first n values count.
    assert rows.nonZero(delivered, everything, 8) == (1 << 1) | (1 << 3) | (1 << 4)
    assert rows.nonZero(delivered, everything, 0) == 0
    # A negative value's sign bit (bit 31 of its field) does not touch the next field.
    assert rows.nonZero(pack([int32_min, 0]), everything, 2) == 1


def test_zero_from_checks_the_unused_fields_and_later_words(rows):
    assert rows.zeroFrom(pack([1, 2, 3]), 3)
    assert not rows.zeroFrom(pack([1, 2, 3, 4]), 3)
    assert rows.zeroFrom(pack([MAX32] * 8), 8)  # a full last word has no unused field
    assert rows.zeroFrom(pack([MAX32] * 16), 16)
    assert not rows.zeroFrom([*pack([MAX32] * 8), 1], 8)
    assert not rows.zeroFrom([*pack([1]), 0, 1 << 255], 1)
    assert rows.zeroFrom([], 0) and rows.zeroFrom([0], 0)
    assert not rows.zeroFrom([1], 0)


def test_add_targets_adds_up_to_the_first_above_the_offer(rows):
    values = [500, 600, MAX32, 0, 7, 8, 9, 10, 11, 12]
    words = pack(values)
    k, most, sums = rows.addTargets([1] * 10, words, MAX32, 11_000, 200)
    assert k == 10 and list(sums) == [1 + v for v in values]
    assert most == scan_rule(words, words, 11_000, 200)[0]
    # Stops at the first value above the offer: the sums before it are added, not after.
    k, most, sums = rows.addTargets([0] * 10, words, 600, 11_000, 200)
    assert k == 2 and list(sums) == [500, 600] + [0] * 8
    assert most == 200 * (500 * 11_000 // 10_000) // 1000 + 200 * (600 * 11_000 // 10_000) // 1000
    # Only len(sums) values are read: the unused fields of the last word are not added.
    assert list(rows.addTargets([0] * 3, pack([1, 2, 3, 4]), MAX32, 10_000, 1)[2]) == [1, 2, 3]


def test_add_targets_refuses_short_rows_and_sums_that_could_wrap(rows):
    with brownie.reverts("Index out of range"):
        rows.addTargets([0] * 9, pack([1] * 8), MAX32, 10_000, 1)
    # A sum at 2^255 or more before an addition panics as an overflow (a sum wraps only
    # from 2^256 - 2^32).
    with brownie.reverts("Integer overflow"):
        rows.addTargets([0, 2**256 - 1], pack([1, 1]), MAX32, 10_000, 1)
    with brownie.reverts("Integer overflow"):
        rows.addTargets([2**255, 0], pack([0, 1]), MAX32, 10_000, 1)
    assert list(rows.addTargets([2**255 - 1 - MAX32], pack([MAX32]), MAX32, 10_000, 1)[2]) == [
        2**255 - 1
    ]
