"""PackedRows under brownie: slices of calldata rows, the settlement's one-pass scan (the
credit check in 64-bit lanes, the most the targets can earn) against a plain Python rule, and
the proposal's and the meter checks' scans, with edge values: zero, the top of uint32 in every
field, the unused fields of the last word, signed (negative) deliveries."""

import brownie
import pytest
from brownie.test import given
from hypothesis import strategies as st

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
    """The rule scan implements (settlement/engine.py's upper and money rules)."""
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


@given(
    data=st.lists(st.tuples(value32, value32), min_size=1, max_size=20),
    upper_bp=st.sampled_from([10_000, 10_001, 11_000, 19_999]),
    price=st.sampled_from([0, 1, 200, 2**40 - 1]),
)
def test_scan_follows_the_rule(rows, data, upper_bp, price):
    targets = pack([t for t, _ in data])
    credits = pack([c for _, c in data])
    assert tuple(rows.scan(targets, credits, upper_bp, price)) == scan_rule(
        targets, credits, upper_bp, price
    )


def test_scan_credit_bound_in_every_lane(rows):
    """A credit equal to the bound passes in each of the eight fields (even and odd lanes);
    one more in any single field is above, and nothing leaks into the neighbouring field."""
    upper_bp = 11_000
    targets = pack([MAX32, 1, 9_999, MAX32 - 1, 0, 10_000, MAX32, 3])
    bounds = [t * upper_bp // 10_000 for t in unpack(targets)]
    assert bounds[0] > MAX32  # the bound of a top target is above uint32: every credit passes
    credits = [min(b, MAX32) for b in bounds]
    most, above, credited = rows.scan(targets, pack(credits), upper_bp, 1)
    assert not above and credited
    assert most == sum(b // 1000 for b in bounds)
    for k in range(8):
        over = list(credits)
        over[k] += 1
        if over[k] > MAX32:
            continue  # cannot be above: the bound is above uint32
        assert rows.scan(targets, pack(over), upper_bp, 1)[1] is True, k
    # Top of uint32 everywhere, no tolerance: equal passes, and the top credit against a
    # target one below is above.
    top = pack([MAX32] * 8)
    assert tuple(rows.scan(top, top, 10_000, 2**40 - 1)) == scan_rule(top, top, 10_000, 2**40 - 1)
    assert rows.scan(pack([MAX32 - 1] * 8), top, 10_000, 1)[1] is True


def test_scan_unused_fields_and_lengths(rows):
    # One interval: fields 1..7 of the word are unused, their targets zero; a credit there
    # is above its zero target.
    targets = pack([1000])
    assert rows.scan(targets, [5 << 32], 11_000, 200)[1:] == (True, True)
    assert tuple(rows.scan(targets, [0], 11_000, 200)) == (200 * 1100 // 1000, False, False)
    # No words: nothing earned, nothing credited.
    assert tuple(rows.scan([], [], 11_000, 200)) == (0, False, False)
    # Fewer targets than credits: out of range, not a read of the next argument.
    with brownie.reverts("Index out of range"):
        rows.scan([], [1], 11_000, 200)


def test_scan_of_slices_inside_longer_arrays(rows):
    targets = pack([500] * 8) + pack([400] * 8) + pack([MAX32] * 8)
    credits = [pack([MAX32] * 8)[0], pack([440] * 8)[0], 0]
    # The middle word only: 440 <= 400 * 1.1, the neighbours (above, and a huge target) unseen.
    most, above, credited = rows.scanSlices(targets, credits, 1, 1, 11_000)
    assert (most, above, credited) == (8 * (440 // 1000), False, True)
    assert rows.scanSlices(targets, credits, 0, 1, 11_000)[1] is True


def test_first_above_names_the_first_interval_and_its_bound(rows):
    targets = pack([100, 200, 300, 400, 500, 600, 700, 800, 900])
    credits = pack([110, 220, 330, 440, 550, 661, 780, 0, 991])
    assert tuple(rows.firstAbove(targets, credits, 11_000)) == (True, 5, 661, 660)
    assert tuple(rows.firstAbove(targets, pack([0] * 9), 11_000)) == (False, 0, 0, 0)
    # An unused field of the last word has target zero.
    assert tuple(rows.firstAbove(pack([100]), [7 << 32], 11_000)) == (True, 1, 7, 0)


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
