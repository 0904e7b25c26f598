"""Where the project keeps its tools, build outputs and runtime state.

Everything is relative to the repository root so that a fresh clone works without
configuration. ``DEFAULT_STATE_DIR`` is only the default of the state folder: code that writes
run state asks :func:`core.settings.state_dir`, which ``BRIGHT_STATE_DIR`` moves.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONTRACTS_DIR = ROOT / "contracts"
NODE_MODULES = ROOT / "node_modules"
BUILD_DIR = ROOT / "build"
ARTIFACTS_DIR = BUILD_DIR / "artifacts"
TOOLS_DIR = ROOT / "scripts"
SOLC_WRAPPER = TOOLS_DIR / "solc"
ANVIL_BIN = NODE_MODULES / "@foundry-rs" / "anvil-linux-amd64" / "bin" / "anvil"
CACHE_DIR = ROOT / ".cache"
DEFAULT_STATE_DIR = ROOT / ".bright"
# Kafka's jars: an install cache that `make setup` fills, shared by every state folder.
KAFKA_LIBS_DIR = DEFAULT_STATE_DIR / "kafka" / "libs"
BENCHMARKS_DIR = ROOT / "benchmarks"
