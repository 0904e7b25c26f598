"""What the web UI needs to talk to the chain, so it has no build-time addresses: the chain id,
the JSON-RPC URL, the platform's contract addresses, their ABIs, what each custom error means
(from the contracts' NatSpec), and whether the development wallet may be offered.

The development wallet (the demo accounts' keys, derived from the public development mnemonic)
is offered only on the local dev chain (chain id 31337), with the public mnemonic, in a
``development`` API: never on another chain or with a real mnemonic.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from api.deps import ScopeDep, ServiceDep
from api.errors import NotFoundError, UnavailableError
from core.paths import ARTIFACTS_DIR, CONTRACTS_DIR, NODE_MODULES
from core.units import TOKEN_DECIMALS

router = APIRouter(tags=["config"])

DEV_CHAIN_ID = 31337
UI_CONTRACTS = ("ParticipantRegistry", "FlexToken", "FlexMarket", "FlexCoordination")
"""The contracts the UI calls (their ABIs are served)."""

_OZ_ERRORS = (
    NODE_MODULES / "@openzeppelin" / "contracts" / "interfaces" / "draft-IERC6093.sol",
    NODE_MODULES / "@openzeppelin" / "contracts" / "access" / "IAccessControl.sol",
)
_DOC_LINE = re.compile(r"^\s*///\s?(.*)$")
_ERROR_DECL = re.compile(r"^\s*error\s+([A-Za-z_][A-Za-z0-9_]*)\s*\(")


class DevAccount(BaseModel):
    name: str
    role: str
    address: str
    private_key: str = Field(description="Public development key (anvil's test mnemonic).")


class ConfigPublic(BaseModel):
    chain_id: int
    rpc_url: str = Field(description="JSON-RPC URL of the chain, for reads and the dev wallet.")
    contracts: dict[str, str] = Field(description="Deployed address per contract name.")
    abis: dict[str, list[dict[str, Any]]] = Field(description="ABI per contract name.")
    errors: dict[str, str] = Field(
        description="What each custom error means (NatSpec), by error name."
    )
    token_decimals: int = TOKEN_DECIMALS
    interval_s: int = 900
    time_zone: str = Field(
        "UTC",
        description="The community's time zone (IANA name, BRIGHT_API_TIME_ZONE): the UI shows "
        "times in it, with UTC on hover.",
    )
    dev_wallet: bool = Field(
        description="Whether the development wallet (demo keys) may be offered: the local dev "
        "chain with the public development mnemonic only."
    )
    dev_accounts: list[DevAccount] = Field(
        default_factory=list, description="The demo accounts (only when dev_wallet)."
    )


def error_docs(paths: list[Path]) -> dict[str, str]:
    """``{ErrorName: text}`` from the ``///`` NatSpec comment above each ``error`` declaration
    (``@notice`` or ``@dev``; "Thrown when x" reads "x")."""
    out: dict[str, str] = {}
    for path in paths:
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError:
            continue
        doc: list[str] = []
        in_block = False
        for line in lines:
            stripped = line.strip()
            if in_block or stripped.startswith("/**"):
                in_block = not stripped.endswith("*/")
                text = stripped.removeprefix("/**").removesuffix("*/").lstrip("*").strip()
                if text:
                    doc.append(text)
                continue
            m = _DOC_LINE.match(line)
            if m:
                doc.append(m.group(1).strip())
                continue
            decl = _ERROR_DECL.match(line)
            if decl and doc:
                text = " ".join(d for d in doc if not d.startswith("@param"))
                text = re.sub(r"@(notice|dev)\s+", "", text).strip()
                text = re.sub(r"^(Thrown when|Indicates)\s+", "", text)
                out.setdefault(decl.group(1), text[:1].upper() + text[1:])
            if stripped:
                doc = []
    return out


@functools.lru_cache(maxsize=4)
def _static_parts(
    artifacts_dir: Path, contracts_dir: Path
) -> tuple[dict[str, Any], dict[str, str]]:
    abis: dict[str, Any] = {}
    for name in UI_CONTRACTS:
        path = artifacts_dir / f"{name}.json"
        try:
            abis[name] = json.loads(path.read_text())["abi"]
        except (OSError, ValueError, KeyError) as exc:
            raise UnavailableError(
                f"the compiled contract {name} is missing ({path}): run `bright compile`"
            ) from exc
    sources = sorted(contracts_dir.rglob("*.sol")) + [p for p in _OZ_ERRORS if p.exists()]
    return abis, error_docs(sources)


@functools.lru_cache(maxsize=2)
def _dev_keys(mnemonic: str, count: int) -> dict[str, str]:
    from chain.platform import dev_accounts

    return {str(a.address): "0x" + bytes(a.key).hex() for a in dev_accounts(mnemonic, count)}


def _dev_accounts(state_dir: Path, mnemonic: str, derived: int) -> list[DevAccount]:
    """The demo community of ``bright up`` (its ``demo.json``), with their development keys."""
    try:
        members = json.loads((state_dir / "demo.json").read_text())["members"]
    except (OSError, ValueError, KeyError):
        return []
    keys = _dev_keys(mnemonic, max(derived, len(members) + 1))
    return [
        DevAccount(
            name=m["name"], role=m["role"], address=m["address"], private_key=keys[m["address"]]
        )
        for m in members
        if m.get("address") in keys
    ]


@router.get(
    "/config",
    response_model=ConfigPublic,
    summary="Chain, contracts, ABIs and wallet options for the web UI (public)",
)
def get_config(service: ServiceDep, scope: ScopeDep) -> ConfigPublic:
    from chain.deploy import DeploymentsFile
    from core.settings import DEV_MNEMONIC, ChainSettings

    chain = ChainSettings()
    deployment = DeploymentsFile(chain.deployments_file).get(scope.chain_id)
    if deployment is None:
        raise NotFoundError(
            f"contracts of chain {scope.chain_id} in {chain.deployments_file} "
            "(deploy them: `bright up` or `bright deploy`)"
        )
    abis, errors = _static_parts(ARTIFACTS_DIR, CONTRACTS_DIR)
    deployed = deployment.contracts
    contracts = {n: deployed[n].address for n in UI_CONTRACTS if n in deployed}
    dev = (
        scope.chain_id == DEV_CHAIN_ID
        and chain.mnemonic == DEV_MNEMONIC
        and service.settings.env == "development"
        and chain.env != "production"
    )
    return ConfigPublic(
        chain_id=scope.chain_id,
        rpc_url=service.settings.rpc_url,
        contracts=contracts,
        abis=abis,
        errors=errors,
        time_zone=service.settings.time_zone,
        dev_wallet=dev,
        dev_accounts=_dev_accounts(chain.state_dir, chain.mnemonic, chain.accounts) if dev else [],
    )
