#!/usr/bin/env bash
# The whole test suite: contract tests under brownie against anvil, then every Python test
# (which starts its own anvil, Mosquitto, ... and runs brownie on a fork of a demo chain).
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== contract tests (brownie, tests/contracts)"
.venv/bin/python -m tests.support.brownie contracts
echo "== Python tests (pytest)"
exec .venv/bin/python -m pytest "$@"
