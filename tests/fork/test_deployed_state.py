"""Runs under brownie on a development network that forks a running demo chain
(tests/chain/test_brownie_fork.py starts the chain and runs this module).

It checks the deployed state through brownie, then changes the fork: the demo chain itself
must not see that change.
"""

import json
import os
from pathlib import Path

import pytest
from brownie import Contract, accounts, chain

ROOT = Path(__file__).resolve().parents[2]
ROLE_NUMBERS = {"prosumer": 1, "aggregator": 2, "dso": 3, "oracle": 4, "market-operator": 5}
FORK_ONLY = "0x000000000000000000000000000000000000f0f0"


def _contract(name, deployments):
    abi = json.loads((ROOT / "build" / "artifacts" / f"{name}.json").read_text())["abi"]
    return Contract.from_abi(name, deployments[name]["address"], abi)


@pytest.fixture(scope="module")
def demo():
    return json.loads(Path(os.environ["BRIGHT_DEMO_FILE"]).read_text())


@pytest.fixture(scope="module")
def deployments(demo):
    data = json.loads(Path(os.environ["BRIGHT_DEPLOYMENTS_FILE"]).read_text())
    return data[str(demo["chain_id"])]


def test_fork_has_the_demo_community(demo, deployments):
    registry = _contract("ParticipantRegistry", deployments)
    token = _contract("FlexToken", deployments)
    assert registry.participantCount() == len(demo["members"])
    for m in demo["members"]:
        role, active, *_ = registry.participant(m["address"])
        assert role == ROLE_NUMBERS[m["role"]], m
        assert active
        if m["role"] == "prosumer":
            assert token.balanceOf(m["address"]) == 1_000 * 10**6


def test_fork_accepts_new_state(demo, deployments):
    registry = _contract("ParticipantRegistry", deployments)
    admin = accounts[0]  # the same development mnemonic: the demo's admin
    assert registry.hasRole(registry.REGISTRAR_ROLE(), admin)
    area = b"fork-area".ljust(32, b"\0")
    registry.register(FORK_ONLY, 1, area, b"fork-meter".ljust(32, b"\0"), {"from": admin})
    assert registry.isActive(FORK_ONLY)
    assert chain.id == demo["chain_id"]
