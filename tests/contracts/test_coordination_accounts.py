"""AccountBook under brownie: a member's Account written through the struct (the layout the
compiler gives IFlexCoordination.Account) and credited through the library's one-slot read
and write, and the other way round. These tests fail when the struct is reordered or a field
resized without AccountBook's bit positions following. Edge values: zero, the top of each
field, negative points, the counts wrapping."""

import brownie
import pytest

MAX96, MAX32 = 2**96 - 1, 2**32 - 1
INT64_MAX, INT64_MIN = 2**63 - 1, -(2**63)


@pytest.fixture(scope="module")
def book(AccountBookHarness, admin):
    return AccountBookHarness.deploy({"from": admin})


def fields(book, member):
    """(claimable, reputation, optIns, settled), read through the struct."""
    return tuple(book.read(member))


@pytest.mark.parametrize(
    "claimable, reputation, opt_ins, settled",
    [
        (0, 0, 0, 0),
        (MAX96, INT64_MAX, MAX32, MAX32 - 1),
        (1, INT64_MIN, 1, 0),
        (0x0123456789ABCDEF01234567, -0x0123456789ABCDEF, 0x89ABCDEF, 0x01234567),
    ],
)
def test_struct_and_library_agree_on_every_field(
    book, accounts, claimable, reputation, opt_ins, settled
):
    """Written through the struct, credited nothing through the library: only `settled`
    moves, by one; every other field reads back unchanged through the struct."""
    m = accounts[1]
    book.write(m, claimable, reputation, opt_ins, settled, {"from": m})
    book.credit(m, 0, 0, {"from": m})
    assert fields(book, m) == (claimable, reputation, opt_ins, settled + 1)


def test_library_writes_land_in_the_struct_fields(book, accounts):
    m = accounts[2]
    book.credit(m, 123_456, -7, {"from": m})
    book.countOptIn(m, {"from": m})
    book.credit(m, 1, 9, {"from": m})
    assert fields(book, m) == (123_457, 2, 1, 2)
    assert book.takeClaimable.call(m) == 123_457
    book.takeClaimable(m, {"from": m})
    assert fields(book, m) == (0, 2, 1, 2)


def test_money_and_reputation_overflow_panic(book, accounts):
    m = accounts[3]
    book.write(m, MAX96 - 5, INT64_MAX - 1, 0, 0, {"from": m})
    book.credit(m, 5, 1, {"from": m})
    assert fields(book, m) == (MAX96, INT64_MAX, 0, 1)
    with brownie.reverts("Integer overflow"):
        book.credit(m, 1, 0, {"from": m})
    with brownie.reverts("Integer overflow"):
        book.credit(m, 0, 1, {"from": m})
    book.write(m, 0, INT64_MIN + 2, 0, 0, {"from": m})
    book.credit(m, 0, -2, {"from": m})
    assert fields(book, m)[1] == INT64_MIN
    with brownie.reverts("Integer overflow"):
        book.credit(m, 0, -1, {"from": m})
    # The largest points either way are taken whole.
    book.write(m, 0, 0, 0, 0, {"from": m})
    book.credit(m, 0, -(2**31), {"from": m})
    book.credit(m, 0, 2**31 - 1, {"from": m})
    assert fields(book, m)[1] == -1


def test_counts_wrap_without_touching_the_other_fields(book, accounts):
    m = accounts[4]
    book.write(m, 77, -3, MAX32, MAX32, {"from": m})
    book.credit(m, 0, 0, {"from": m})
    assert fields(book, m) == (77, -3, MAX32, 0)
    book.countOptIn(m, {"from": m})
    assert fields(book, m) == (77, -3, 0, 0)
