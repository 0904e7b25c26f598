#!/usr/bin/env bash
# The web UI: its npm packages (web/package-lock.json, exact pins) and its build (web/dist,
# served by the API at /). Each step runs only when its inputs changed (hash stamps), so it is
# quick when nothing did. Called by scripts/setup.sh and by the UI's end-to-end test.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf '[setup] %s\n' "$*" >&2; }
digest() { cat "$@" | sha256sum | cut -c1-16; }

want=$(digest web/package.json web/package-lock.json)
if [ "$(cat web/node_modules/.bright-stamp 2>/dev/null)" != "$want" ]; then
  say "installing the web UI's npm packages (web/package-lock.json)"
  npm --prefix web ci --no-audit --no-fund --loglevel=error >/dev/null
  echo "$want" > web/node_modules/.bright-stamp
fi

mapfile -t sources < <(find web/src web/index.html web/vite.config.ts web/tsconfig.json \
  web/package-lock.json -type f | LC_ALL=C sort)
want=$( (printf '%s\n' "${sources[@]}"; cat "${sources[@]}") | sha256sum | cut -c1-16)
if [ "$(cat web/dist/.bright-stamp 2>/dev/null)" != "$want" ]; then
  say "building the web UI (typecheck + vite build into web/dist)"
  npm --prefix web run build --silent >/dev/null
  echo "$want" > web/dist/.bright-stamp
fi
