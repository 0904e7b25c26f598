"""Deploying the platform's contracts and recording where they are: the one place that knows
the order they go in and what each one's constructor is given.

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

PLATFORM_CONTRACTS = (
    "ParticipantRegistry",
    "FlexToken",
    "MeterOracle",
    "ForecastOracle",
    "MarketBook",
    "MarketSettlement",
    "FlexMarket",
    "CoordinationSettlement",
    "FlexCoordination",
)
"""Every contract of the platform, in deployment order (libraries before their users)."""

COORDINATION_CHALLENGE_S = 900
"""Seconds a proposed settlement of a DSO request stays open to disputes (one interval: short,
for the demo's accelerated clock; a production deployment gives its own)."""
COORDINATION_GRACE_S = 3600
"""Seconds after a request's window during which only its coordinator (or a market operator)
may propose the settlement; after them anyone may."""
COORDINATION_BOND = 10_000_000
"""FlexToken base units (10 tokens) a settlement's proposer posts."""


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
    w3: Web3,
    sender: TxSender,
    artifact: Artifact,
    *args: object,
    libraries: dict[str, str] | None = None,
) -> DeployedContract:
    """Deploy one contract (linked with the ``libraries`` it needs) and wait for it."""
    if artifact.bytecode in ("", "0x"):
        raise ChainError(f"{artifact.name} has no bytecode (an interface or abstract contract)")
    bytecode = artifact.bytecode
    if artifact.libraries:
        bytecode = artifact.linked_bytecode(libraries or {})
    factory = w3.eth.contract(abi=artifact.abi, bytecode=bytecode)
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


def deploy_platform(
    w3: Web3,
    sender: TxSender,
    artifacts: dict[str, Artifact],
    treasury: str | None = None,
    challenge_window_s: int = COORDINATION_CHALLENGE_S,
    proposal_grace_s: int = COORDINATION_GRACE_S,
    settlement_bond: int = COORDINATION_BOND,
) -> Deployment:
    """Deploy every contract of the platform with ``sender`` as admin (and, unless another
    ``treasury`` is named, as the market's treasury): the registry, the token, the two oracles,
    the market's libraries, the market, the coordination's settlement library and the DSO
    coordination (with its challenge window, proposal grace and settlement bond)."""
    missing = [n for n in PLATFORM_CONTRACTS if n not in artifacts]
    if missing:
        raise ChainError(f"artifacts lack {missing}: recompile (`bright compile`)")
    deployment = Deployment(chain_id=int(w3.eth.chain_id))
    c = deployment.contracts
    admin = sender.address

    def put(name: str, *args: object) -> str:
        libs = {lib: c[lib].address for lib in artifacts[name].libraries if lib in c}
        c[name] = deploy_contract(w3, sender, artifacts[name], *args, libraries=libs)
        return c[name].address

    registry = put("ParticipantRegistry", admin)
    token = put("FlexToken", admin)
    meter_oracle = put("MeterOracle", registry)
    put("ForecastOracle", registry)
    put("MarketBook")
    put("MarketSettlement")
    put("FlexMarket", registry, token, meter_oracle, Web3.to_checksum_address(treasury or admin))
    put("CoordinationSettlement")
    put(
        "FlexCoordination",
        registry,
        token,
        meter_oracle,
        challenge_window_s,
        proposal_grace_s,
        settlement_bond,
    )
    return deployment


def is_live(
    w3: Web3,
    deployment: Deployment,
    artifacts: dict[str, Artifact],
    required: tuple[str, ...] = PLATFORM_CONTRACTS,
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
