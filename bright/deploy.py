"""Deploying the whole platform: the core contracts, then the oracles."""

from __future__ import annotations

from web3 import Web3

from chain.compiler import Artifact
from chain.deploy import CORE_CONTRACTS, Deployment, deploy_core
from chain.tx import TxSender
from oracles.deploy import ORACLE_CONTRACTS, deploy_oracles

PLATFORM_CONTRACTS = (*CORE_CONTRACTS, *ORACLE_CONTRACTS)


def deploy_platform(w3: Web3, sender: TxSender, artifacts: dict[str, Artifact]) -> Deployment:
    """Deploy every contract of the platform with ``sender`` as admin."""
    deployment = deploy_core(w3, sender, artifacts)
    deployment.contracts.update(
        deploy_oracles(w3, sender, artifacts, deployment.address("ParticipantRegistry"))
    )
    return deployment
