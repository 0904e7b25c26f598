"""Shared test setup.

``tests/contracts`` and ``tests/fork`` run under brownie (its own environment, see
scripts/test.sh); the rest runs under plain pytest in ``.venv``.
"""

try:
    import brownie  # noqa: F401

    UNDER_BROWNIE = True
except ImportError:
    UNDER_BROWNIE = False

if not UNDER_BROWNIE:
    collect_ignore = ["contracts", "fork"]
    from tests.support.fixtures import *  # noqa: F403
