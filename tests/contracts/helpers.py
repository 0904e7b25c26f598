"""Helpers for the brownie contract tests."""

import re

import brownie

PROSUMER, AGGREGATOR, DSO, ORACLE, MARKET_OPERATOR = 1, 2, 3, 4, 5


def b32(text):
    return text.encode().ljust(32, b"\0")


def reverts(error_name, *args):
    """Expect a revert with custom error ``error_name`` (and, if given, exactly these args).

    Brownie renders a decoded custom error as ``Name: arg1, arg2`` (addresses in lower case).
    """
    if args:
        shown = ", ".join(str(a).lower() if str(a).startswith("0x") else str(a) for a in args)
        return brownie.reverts(f"{error_name}: {shown}")
    return brownie.reverts(revert_pattern=rf"^{re.escape(error_name)}(:.*)?$")
