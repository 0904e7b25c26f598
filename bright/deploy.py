"""Deploying the whole platform: the core contracts, the oracles, the DSO coordination."""

from __future__ import annotations

from web3 import Web3

from chain.compiler import Artifact
from chain.coordination import deploy_coordination
from chain.deploy import CORE_CONTRACTS, Deployment, deploy_core
from chain.tx import TxSender
from oracles.deploy import ORACLE_CONTRACTS, deploy_oracles

PLATFORM_CONTRACTS = (*CORE_CONTRACTS, *ORACLE_CONTRACTS, "FlexCoordination")


def deploy_platform(w3: Web3, sender: TxSender, artifacts: dict[str, Artifact]) -> Deployment:
    """Deploy every contract of the platform with ``sender`` as admin."""
    deployment = deploy_core(w3, sender, artifacts)
    deployment.contracts.update(
        deploy_oracles(w3, sender, artifacts, deployment.address("ParticipantRegistry"))
    )
    deployment.contracts.update(
        deploy_coordination(
            w3,
            sender,
            artifacts,
            deployment.address("ParticipantRegistry"),
            deployment.address("FlexToken"),
            deployment.address("MeterOracle"),
        )
    )
    return deployment
