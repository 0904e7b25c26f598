"""Deploying the platform's contracts and recording where they are.

Addresses are recorded per chain id in a deployments file (JSON, default
``.bright/deployments.json``) together with the block, the transaction and the source hash of
the artifacts, so a restarted chain reuses its contracts and a changed source is noticed.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from web3 import Web3

from chain.compiler import Artifact
from chain.tx import TxSender
from core.errors import ChainError

CORE_CONTRACTS = ("ParticipantRegistry", "FlexToken", "FlexMarket")


@dataclass(frozen=True)
class DeployedContract:
    address: str
    block: int
    tx_hash: str
    source_hash: str


@dataclass
class Deployment:
    chain_id: int
    contracts: dict[str, DeployedContract] = field(default_factory=dict)

    def address(self, name: str) -> str:
        try:
            return self.contracts[name].address
        except KeyError:
            raise ChainError(
                f"{name} is not deployed on chain {self.chain_id}; run `bright deploy`"
            ) from None

    @property
    def start_block(self) -> int:
        """The first block holding one of these contracts (where indexing starts)."""
        return min((c.block for c in self.contracts.values()), default=0)


class DeploymentsFile:
    """The deployments file: ``{"<chain id>": {"<name>": {address, block, ...}}}``."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _read(self) -> dict[str, dict[str, dict[str, object]]]:
        if not self.path.exists():
            return {}
        try:
            data = json.loads(self.path.read_text())
        except ValueError as exc:
            raise ChainError(f"deployments file {self.path} is not valid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise ChainError(f"deployments file {self.path} must hold an object per chain id")
        return data

    def get(self, chain_id: int) -> Deployment | None:
        entry = self._read().get(str(chain_id))
        if not entry:
            return None
        try:
            contracts = {
                name: DeployedContract(**v)  # type: ignore[arg-type]
                for name, v in entry.items()
            }
        except TypeError as exc:
            raise ChainError(f"deployments file {self.path}: malformed entry: {exc}") from exc
        return Deployment(chain_id, contracts)

    def save(self, deployment: Deployment) -> None:
        data = self._read()
        data[str(deployment.chain_id)] = {n: asdict(c) for n, c in deployment.contracts.items()}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
        os.replace(tmp, self.path)

    def forget(self, chain_id: int) -> None:
        data = self._read()
        if data.pop(str(chain_id), None) is not None:
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
            os.replace(tmp, self.path)


def deploy_contract(
    w3: Web3, sender: TxSender, artifact: Artifact, *args: object
) -> DeployedContract:
    """Deploy one contract and wait for it to be mined."""
    if artifact.bytecode in ("", "0x"):
        raise ChainError(f"{artifact.name} has no bytecode (an interface or abstract contract)")
    factory = w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    receipt = sender.transact(factory.constructor(*args))
    address = receipt["contractAddress"]
    if address is None:
        raise ChainError(f"deploying {artifact.name} returned no contract address")
    return DeployedContract(
        address=str(address),
        block=int(receipt["blockNumber"]),
        tx_hash="0x" + bytes(receipt["transactionHash"]).hex(),
        source_hash=artifact.source_hash,
    )


def deploy_core(w3: Web3, sender: TxSender, artifacts: dict[str, Artifact]) -> Deployment:
    """Deploy the core contracts with ``sender`` as admin."""
    deployment = Deployment(chain_id=int(w3.eth.chain_id))
    admin = sender.address
    deployment.contracts["ParticipantRegistry"] = deploy_contract(
        w3, sender, artifacts["ParticipantRegistry"], admin
    )
    deployment.contracts["FlexToken"] = deploy_contract(w3, sender, artifacts["FlexToken"], admin)
    deployment.contracts["FlexMarket"] = deploy_contract(
        w3,
        sender,
        artifacts["FlexMarket"],
        deployment.contracts["ParticipantRegistry"].address,
        deployment.contracts["FlexToken"].address,
    )
    return deployment


def is_live(
    w3: Web3,
    deployment: Deployment,
    artifacts: dict[str, Artifact],
    required: tuple[str, ...] = CORE_CONTRACTS,
) -> bool:
    """True when every ``required`` contract is recorded, has code on the chain and matches the
    current sources."""
    for name, deployed in deployment.contracts.items():
        art = artifacts.get(name)
        if art is None or art.source_hash != deployed.source_hash:
            return False
        if len(w3.eth.get_code(Web3.to_checksum_address(deployed.address))) == 0:
            return False
    return all(name in deployment.contracts for name in required)
