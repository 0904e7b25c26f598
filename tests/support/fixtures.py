"""Fixtures for the Python tests that need a chain: one anvil per test session, a fresh
deployment per test module, and isolation per test by anvil snapshots."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from core.settings import DEV_MNEMONIC


@pytest.fixture(scope="session")
def artifacts():
    from chain.compiler import compile_contracts

    return compile_contracts()


@pytest.fixture(scope="session")
def anvil() -> Iterator[object]:
    from chain.anvil import Anvil

    node = Anvil(accounts=30)
    node.start()
    yield node
    node.stop()


@pytest.fixture(scope="session")
def w3(anvil):
    from chain.platform import connect

    return connect(anvil.url)


@pytest.fixture(scope="session")
def dev_accounts():
    from chain.platform import dev_accounts as derive

    return derive(DEV_MNEMONIC, 30)


@pytest.fixture(scope="session")
def admin(dev_accounts):
    return dev_accounts[0]


@pytest.fixture(scope="module")
def platform(w3, artifacts, admin):
    """The core contracts freshly deployed by ``admin`` (once per test module)."""
    from chain.deploy import deploy_platform
    from chain.platform import Platform, make_sender

    deployment = deploy_platform(w3, make_sender(w3, admin, artifacts), artifacts)
    return Platform(w3, deployment, artifacts)


@pytest.fixture()
def snapshot(w3):
    """Revert the chain to where it was before the test."""
    from chain.tx import NonceManager

    snap = w3.provider.make_request("evm_snapshot", [])["result"]
    yield
    w3.provider.make_request("evm_revert", [snap])
    NonceManager.reset_all()
