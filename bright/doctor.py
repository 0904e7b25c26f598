"""``bright doctor``: is each component the platform uses installed, and which version."""

from __future__ import annotations

import glob
import importlib.metadata as md
import re
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

from core.paths import ANVIL_BIN, KAFKA_LIBS_DIR, NODE_MODULES, ROOT, SOLC_WRAPPER

KAFKA_LIBS = KAFKA_LIBS_DIR


@dataclass(frozen=True)
class Check:
    component: str
    installed: bool
    version: str | None
    detail: str


def _run(cmd: list[str], timeout: float = 10) -> str | None:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired):
        return None
    out = (proc.stdout + proc.stderr).strip()
    return out if proc.returncode == 0 or out else None


def _first_version(text: str | None) -> str | None:
    if not text:
        return None
    m = re.search(r"\d+\.\d+(\.\d+)?", text)
    return m.group(0) if m else None


def check_python() -> Check:
    wanted = ["web3", "eth-account", "typer", "pydantic-settings", "hypothesis", "pytest"]
    found, missing = [], []
    for name in wanted:
        try:
            found.append(f"{name} {md.version(name)}")
        except md.PackageNotFoundError:
            missing.append(name)
    detail = ", ".join(found) + (f"; missing: {', '.join(missing)}" if missing else "")
    import platform

    return Check("python-deps", not missing, platform.python_version(), detail)


def check_anvil() -> Check:
    binary = str(ANVIL_BIN) if ANVIL_BIN.exists() else shutil.which("anvil")
    out = _run([binary, "--version"]) if binary else None
    return Check("anvil", out is not None, _first_version(out), binary or "not found")


def check_compiler() -> Check:
    out = _run([str(SOLC_WRAPPER), "--version"]) if (NODE_MODULES / "solc").exists() else None
    node = _run(["node", "--version"])
    version = _first_version(out.split("Version:")[-1]) if out else None
    detail = f"solc-js via scripts/solc, node {node or 'not found'}"
    return Check("solidity-compiler", out is not None and "Version:" in out, version, detail)


def check_brownie() -> Check:
    binary = ROOT / ".venv-brownie" / "bin" / "brownie"
    out = _run([str(binary), "--version"]) if binary.exists() else None
    return Check("brownie", out is not None, _first_version(out), str(binary))


def check_kafka() -> Check:
    jars = sorted(glob.glob(str(KAFKA_LIBS / "kafka_2.13-*.jar")))
    java = _run(["java", "-version"])
    if not jars:
        return Check(
            "kafka", False, None, f"no broker jars in {KAFKA_LIBS}; java: {_first_version(java)}"
        )
    return Check("kafka", True, _first_version(Path(jars[0]).name.split("-", 1)[1]), jars[0])


def check_postgres() -> Check:
    servers = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))
    binary = servers[-1] if servers else shutil.which("postgres")
    out = _run([binary, "--version"]) if binary else None
    return Check("postgresql", out is not None, _first_version(out), binary or "server not found")


def check_mosquitto() -> Check:
    binary = shutil.which("mosquitto") or (
        "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
    )
    out = _run([binary, "-h"]) if binary else None
    return Check("mosquitto", out is not None, _first_version(out), binary or "not found")


def check_chromium() -> Check:
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    out = _run([binary, "--version"]) if binary else None
    return Check("chromium", out is not None, _first_version(out), binary or "not found")


CHECKS = [
    check_python,
    check_anvil,
    check_compiler,
    check_brownie,
    check_kafka,
    check_postgres,
    check_mosquitto,
    check_chromium,
]


def run_checks() -> list[Check]:
    return [check() for check in CHECKS]


def as_json(checks: list[Check]) -> list[dict[str, object]]:
    return [asdict(c) for c in checks]
