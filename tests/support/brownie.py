"""Running brownie (its own environment, ``.venv-brownie``) from the test harness.

Brownie keeps its networks in ``~/.brownie/network-config.yaml``; the networks used here are
(re)added idempotently on every run, with free ports so a running demo chain is never hit.

    python -m tests.support.brownie contracts   # tests/contracts on a fresh anvil
"""

from __future__ import annotations

import os
import subprocess
import sys

from chain.anvil import free_port
from core.paths import ANVIL_BIN, ROOT

BROWNIE = ROOT / ".venv-brownie" / "bin" / "brownie"
SOLCX_DIR = ROOT / ".cache" / "solcx"


def brownie_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["SOLCX_BINARY_PATH"] = str(SOLCX_DIR)
    env["PATH"] = f"{ANVIL_BIN.parent}{os.pathsep}{env.get('PATH', '')}"
    env.pop("VIRTUAL_ENV", None)
    env.update(extra or {})
    return env


def _brownie(*args: str, env: dict[str, str], check: bool = True, timeout: float = 120):
    if not BROWNIE.exists():
        raise RuntimeError(f"{BROWNIE} is missing: run `make setup`")
    proc = subprocess.run(
        [str(BROWNIE), *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )
    if check and proc.returncode != 0:
        raise RuntimeError(f"brownie {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


def network_name(base: str) -> str:
    """``base`` made unique to this checkout: brownie keeps one network list per user, so two
    checkouts testing at once would otherwise redefine each other's network."""
    import hashlib

    return f"{base}-{hashlib.sha256(str(ROOT).encode()).hexdigest()[:8]}"


def set_network(network_id: str, env: dict[str, str], **settings: str | int) -> None:
    """(Re)define development network ``network_id`` running anvil with ``settings``."""
    _brownie("networks", "delete", network_id, env=env, check=False)
    args = [f"{k}={v}" for k, v in settings.items()]
    _brownie(
        "networks",
        "add",
        "Development",
        network_id,
        "cmd=anvil",
        "host=http://127.0.0.1",
        *args,
        env=env,
    )


def run_tests(path: str, network_id: str, env: dict[str, str], timeout: float = 900):
    """``brownie test path --network network_id``; output streams through, returns the process."""
    if not BROWNIE.exists():
        raise RuntimeError(f"{BROWNIE} is missing: run `make setup`")
    return subprocess.run(
        [str(BROWNIE), "test", path, "--network", network_id, "-W", "ignore::FutureWarning"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def main(argv: list[str]) -> int:
    if argv != ["contracts"]:
        print("usage: python -m tests.support.brownie contracts", file=sys.stderr)
        return 2
    env = brownie_env()
    network = network_name("bright-test")
    set_network(network, env, port=free_port(), accounts=20, base_fee=0, gas_limit=30_000_000)
    proc = run_tests("tests/contracts", network, env)
    sys.stdout.write(proc.stdout)
    sys.stderr.write(proc.stderr)
    return proc.returncode


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
