#!/usr/bin/env bash
# The whole test suite: contract tests under brownie against anvil, the web UI's component
# tests (vitest), then every Python test
# (which starts its own anvil, Mosquitto, ... and runs brownie on a fork of a demo chain).
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== contract tests (brownie, tests/contracts)"
.venv/bin/python -m tests.support.brownie contracts
echo "== web UI component tests (vitest, web/src)"
npm --prefix web test --silent
echo "== Python tests (pytest; tests/web runs the UI end to end in headless Chromium)"
exec .venv/bin/python -m pytest "$@"
