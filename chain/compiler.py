"""Compiles the Solidity sources offline with the pinned solc-js and caches the artifacts.

Artifacts (ABI, bytecode, source hash) are written to ``build/artifacts/<Name>.json``. They
are rebuilt only when a source, the compiler version, the OpenZeppelin version or the settings
change: the cache key is a hash of all of them, kept in ``build/artifacts/manifest.json``.
Brownie compiles the same sources with the same compiler (``scripts/solc``) and settings
(``brownie-config.yaml``).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import ToolchainError
from core.paths import ARTIFACTS_DIR, CONTRACTS_DIR, NODE_MODULES, ROOT, TOOLS_DIR

SOLC_VERSION = "0.8.37"
EVM_VERSION = "cancun"
OPTIMIZER_RUNS = 200
REMAPPINGS = ["@openzeppelin/=node_modules/@openzeppelin/"]


@dataclass(frozen=True)
class Artifact:
    """One compiled contract."""

    name: str
    source: str
    abi: list[dict[str, Any]]
    bytecode: str
    deployed_bytecode: str
    source_hash: str
    link_references: dict[str, dict[str, list[dict[str, int]]]] = field(default_factory=dict)
    """Where the bytecode holds placeholders for linked libraries: ``{source: {library:
    [{"start": byte offset, "length": 20}]}}`` (solc's ``linkReferences``)."""

    @property
    def libraries(self) -> list[str]:
        """Names of the libraries this contract must be linked with before it is deployed."""
        return sorted({lib for refs in self.link_references.values() for lib in refs})

    def linked_bytecode(self, addresses: dict[str, str]) -> str:
        """The bytecode with each library placeholder replaced by ``addresses[library]``."""
        chars = list(self.bytecode[2:])
        for refs in self.link_references.values():
            for lib, places in refs.items():
                if lib not in addresses:
                    raise ToolchainError(f"{self.name} needs library {lib} linked first")
                addr = addresses[lib].lower().removeprefix("0x")
                for place in places:
                    at = 2 * int(place["start"])
                    chars[at : at + 40] = list(addr)
        return "0x" + "".join(chars)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Artifact:
        return cls(
            name=data["contractName"],
            source=data["sourceName"],
            abi=data["abi"],
            bytecode=data["bytecode"],
            deployed_bytecode=data["deployedBytecode"],
            source_hash=data["sourceHash"],
            link_references=data.get("linkReferences", {}),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "contractName": self.name,
            "sourceName": self.source,
            "abi": self.abi,
            "bytecode": self.bytecode,
            "deployedBytecode": self.deployed_bytecode,
            "sourceHash": self.source_hash,
            "linkReferences": self.link_references,
            "compiler": {"solc": SOLC_VERSION, "evmVersion": EVM_VERSION, "runs": OPTIMIZER_RUNS},
        }


def _settings() -> dict[str, Any]:
    return {
        "optimizer": {"enabled": True, "runs": OPTIMIZER_RUNS},
        "evmVersion": EVM_VERSION,
        "remappings": REMAPPINGS,
        "outputSelection": {
            "*": {
                "*": [
                    "abi",
                    "evm.bytecode.object",
                    "evm.bytecode.linkReferences",
                    "evm.deployedBytecode.object",
                ]
            },
        },
    }


def _sources(contracts_dir: Path) -> dict[str, str]:
    files = sorted(contracts_dir.rglob("*.sol"))
    if not files:
        raise ToolchainError(f"no Solidity sources under {contracts_dir}")
    return {f"contracts/{f.relative_to(contracts_dir).as_posix()}": f.read_text() for f in files}


def _oz_version() -> str:
    pkg = NODE_MODULES / "@openzeppelin" / "contracts" / "package.json"
    if not pkg.exists():
        raise ToolchainError(
            "OpenZeppelin contracts are not installed (node_modules/@openzeppelin/contracts): "
            "run `make setup`"
        )
    return str(json.loads(pkg.read_text())["version"])


def source_hash(contracts_dir: Path = CONTRACTS_DIR) -> str:
    """Hash of everything that determines the artifacts."""
    h = hashlib.sha256()
    h.update(json.dumps([SOLC_VERSION, _oz_version(), _settings()], sort_keys=True).encode())
    for name, text in _sources(contracts_dir).items():
        h.update(name.encode() + b"\0" + text.encode() + b"\0")
    return h.hexdigest()


def _run_solc(standard_input: dict[str, Any]) -> dict[str, Any]:
    if shutil.which("node") is None:
        raise ToolchainError("node is not on PATH; it runs the solc-js compiler")
    if not (NODE_MODULES / "solc").exists():
        raise ToolchainError("solc-js is not installed (node_modules/solc): run `make setup`")
    proc = subprocess.run(
        ["node", str(TOOLS_DIR / "solc_compile.js"), "--standard-json", "--base-path", str(ROOT)],
        input=json.dumps(standard_input),
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    if proc.returncode != 0:
        raise ToolchainError(f"solc-js failed (exit {proc.returncode}): {proc.stderr.strip()}")
    try:
        output: dict[str, Any] = json.loads(proc.stdout)
    except ValueError as exc:
        raise ToolchainError(f"solc-js printed no JSON: {proc.stdout[:300]!r}") from exc
    errors = [e for e in output.get("errors", []) if e.get("severity") == "error"]
    if errors:
        text = "\n".join(e.get("formattedMessage", e.get("message", "?")) for e in errors)
        raise ToolchainError(f"Solidity compilation failed:\n{text}")
    return output


def compile_contracts(
    force: bool = False,
    contracts_dir: Path = CONTRACTS_DIR,
    out_dir: Path = ARTIFACTS_DIR,
) -> dict[str, Artifact]:
    """Compile every contract under ``contracts/`` (cached) and return the artifacts by name.

    Interfaces and abstract contracts (no bytecode) are returned too, so their ABIs can be
    used to decode events and errors.
    """
    digest = source_hash(contracts_dir)
    manifest = out_dir / "manifest.json"
    if not force and manifest.exists():
        try:
            cached = json.loads(manifest.read_text())
            if cached.get("sourceHash") == digest:
                return {
                    name: Artifact.from_json(json.loads((out_dir / f"{name}.json").read_text()))
                    for name in cached["contracts"]
                }
        except (OSError, ValueError, KeyError):
            pass  # a damaged cache is rebuilt below
    sources = _sources(contracts_dir)
    output = _run_solc(
        {
            "language": "Solidity",
            "sources": {name: {"content": text} for name, text in sources.items()},
            "settings": _settings(),
        }
    )
    artifacts: dict[str, Artifact] = {}
    for source_name, contracts in output.get("contracts", {}).items():
        if not source_name.startswith("contracts/"):
            continue
        for name, data in contracts.items():
            if name in artifacts:
                raise ToolchainError(f"two contracts are named {name}; names must be unique")
            artifacts[name] = Artifact(
                name=name,
                source=source_name,
                abi=data["abi"],
                bytecode="0x" + data["evm"]["bytecode"]["object"],
                deployed_bytecode="0x" + data["evm"]["deployedBytecode"]["object"],
                source_hash=digest,
                link_references=data["evm"]["bytecode"].get("linkReferences", {}),
            )
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, art in artifacts.items():
        tmp = out_dir / f".{name}.json.tmp"
        tmp.write_text(json.dumps(art.to_json(), indent=1))
        os.replace(tmp, out_dir / f"{name}.json")
    tmp = out_dir / ".manifest.json.tmp"
    tmp.write_text(json.dumps({"sourceHash": digest, "contracts": sorted(artifacts)}, indent=1))
    os.replace(tmp, manifest)
    return artifacts


def load_artifacts() -> dict[str, Artifact]:
    """The current artifacts, compiling first if the sources changed."""
    return compile_contracts()
