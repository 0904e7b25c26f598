"""The offline compiler wrapper and its artifact cache."""

from __future__ import annotations

import json
import shutil

import pytest

from chain import compiler
from core.errors import ToolchainError
from core.paths import CONTRACTS_DIR


def test_core_contracts_compile_with_abi_and_bytecode(artifacts):
    for name in ("ParticipantRegistry", "FlexToken"):
        art = artifacts[name]
        assert art.bytecode.startswith("0x") and len(art.bytecode) > 1000
        assert any(i.get("name") == "register" for i in art.abi) or name == "FlexToken"
        assert art.source == f"contracts/{name}.sol"
    # Interfaces come with ABIs (events, errors) and no bytecode.
    assert artifacts["IParticipantRegistry"].bytecode == "0x"
    errors = {i["name"] for i in artifacts["IParticipantRegistry"].abi if i["type"] == "error"}
    assert "ParticipantRegistryAlreadyRegistered" in errors


def _copy_contracts(tmp_path):
    src = tmp_path / "contracts"
    shutil.copytree(CONTRACTS_DIR, src)
    return src


def test_cache_is_reused_until_a_source_changes(tmp_path, monkeypatch):
    src, out = _copy_contracts(tmp_path), tmp_path / "artifacts"
    first = compiler.compile_contracts(contracts_dir=src, out_dir=out)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["sourceHash"] == compiler.source_hash(src)

    calls = []
    real = compiler._run_solc
    monkeypatch.setattr(compiler, "_run_solc", lambda inp: calls.append(1) or real(inp))
    again = compiler.compile_contracts(contracts_dir=src, out_dir=out)
    assert calls == [] and again.keys() == first.keys()

    (src / "Extra.sol").write_text(
        "// SPDX-License-Identifier: Apache-2.0\npragma solidity ^0.8.24;\n"
        "contract Extra { function one() external pure returns (uint256) { return 1; } }\n"
    )
    changed = compiler.compile_contracts(contracts_dir=src, out_dir=out)
    assert calls == [1]
    assert "Extra" in changed and changed["Extra"].source_hash != first["FlexToken"].source_hash


def test_compile_error_names_file_and_problem(tmp_path):
    src = tmp_path / "contracts"
    src.mkdir()
    (src / "Broken.sol").write_text(
        "// SPDX-License-Identifier: Apache-2.0\npragma solidity ^0.8.24;\n"
        "contract Broken { function f() external { undefinedThing(); } }\n"
    )
    with pytest.raises(ToolchainError) as info:
        compiler.compile_contracts(contracts_dir=src, out_dir=tmp_path / "out")
    message = str(info.value)
    assert "Undeclared identifier" in message
    assert "contracts/Broken.sol:3" in message


def test_no_sources_is_a_clear_error(tmp_path):
    (tmp_path / "contracts").mkdir()
    with pytest.raises(ToolchainError, match="no Solidity sources"):
        compiler.compile_contracts(contracts_dir=tmp_path / "contracts", out_dir=tmp_path / "o")


def test_solc_wrapper_answers_version_like_native_solc():
    import subprocess

    from core.paths import SOLC_WRAPPER

    out = subprocess.run([str(SOLC_WRAPPER), "--version"], capture_output=True, text=True)
    assert out.returncode == 0
    assert f"Version: {compiler.SOLC_VERSION}+commit." in out.stdout
