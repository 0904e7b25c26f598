"""Deploying the two oracle contracts next to the core contracts."""

from __future__ import annotations

from web3 import Web3

from chain.compiler import Artifact
from chain.deploy import DeployedContract, deploy_contract
from chain.tx import TxSender
from core.errors import ChainError

ORACLE_CONTRACTS = ("MeterOracle", "ForecastOracle")


def deploy_oracles(
    w3: Web3, sender: TxSender, artifacts: dict[str, Artifact], registry_address: str
) -> dict[str, DeployedContract]:
    """Deploy MeterOracle and ForecastOracle, both asking ``registry_address`` for roles.

    Returns ``{"MeterOracle": ..., "ForecastOracle": ...}`` for the deployments file.
    """
    if len(w3.eth.get_code(Web3.to_checksum_address(registry_address))) == 0:
        raise ChainError(f"no ParticipantRegistry at {registry_address}")
    missing = [n for n in ORACLE_CONTRACTS if n not in artifacts]
    if missing:
        raise ChainError(f"artifacts lack {missing}: recompile (`bright compile`)")
    return {
        name: deploy_contract(
            w3, sender, artifacts[name], Web3.to_checksum_address(registry_address)
        )
        for name in ORACLE_CONTRACTS
    }
