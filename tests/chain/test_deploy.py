"""Deployments file and reuse of a live deployment."""

from __future__ import annotations

import pytest

from chain.deploy import DeployedContract, Deployment, DeploymentsFile, is_live
from core.errors import ChainError


def test_deployments_file_round_trip_per_chain(tmp_path):
    f = DeploymentsFile(tmp_path / "d.json")
    assert f.get(1) is None
    d = Deployment(1, {"FlexToken": DeployedContract("0x" + "11" * 20, 5, "0xab", "h")})
    f.save(d)
    f.save(Deployment(2, {}))
    assert f.get(1) == d
    assert f.get(1).start_block == 5
    f.forget(1)
    assert f.get(1) is None


def test_malformed_deployments_file_is_a_clear_error(tmp_path):
    path = tmp_path / "d.json"
    path.write_text("{not json")
    with pytest.raises(ChainError, match="not valid JSON"):
        DeploymentsFile(path).get(1)
    path.write_text('{"1": {"FlexToken": {"address": "0x1"}}}')
    with pytest.raises(ChainError, match="malformed"):
        DeploymentsFile(path).get(1)


def test_missing_contract_address_names_the_fix():
    with pytest.raises(ChainError, match="bright deploy"):
        Deployment(31337).address("FlexMarket")


def test_is_live_needs_code_and_matching_sources(platform, artifacts):
    dep = platform.deployment
    assert is_live(platform.w3, dep, artifacts)
    stale = Deployment(
        dep.chain_id,
        {
            **dep.contracts,
            "FlexToken": DeployedContract(
                dep.contracts["FlexToken"].address, 1, "0x", "an-older-source-hash"
            ),
        },
    )
    assert not is_live(platform.w3, stale, artifacts)
    nowhere = Deployment(
        dep.chain_id,
        {
            **dep.contracts,
            "FlexToken": DeployedContract(
                "0x" + "42" * 20, 1, "0x", artifacts["FlexToken"].source_hash
            ),
        },
    )
    assert not is_live(platform.w3, nowhere, artifacts)
