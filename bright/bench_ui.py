"""``bright bench ui``: the web UI's JavaScript shipped and time to a usable market page.

Against a running ``bright up`` (``url``) or one started here (``bright up --fresh`` on free
ports, temporary state folder). ``web/e2e/bench.mjs`` drives Debian's headless Chromium
through playwright-core: it opens a market session (as the demo's operator) so the order form
can be enabled, logs a member in through the API (Sign-In with Ethereum), then loads the
market page ``loads`` times, each in a fresh browser context (cold cache), and reads the page's
readiness mark (``bright:market-ready``: sessions and order book rendered, the order form
enabled). JavaScript shipped: the gzipped size (level 9) of the scripts the market page
actually loaded. Targets: at most 300 KB gzipped and under 1.5 s (median).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from core.benchutil import peak_rss_mb, stopwatch
from core.errors import BrightError
from core.paths import ROOT

JS_TARGET_KB = 300
READY_TARGET_S = 1.5
CHROMIUM = Path("/usr/bin/chromium")


class BenchUiError(BrightError):
    """The UI benchmark could not run (no Chromium, no UI build, the platform did not start)."""


def _config(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url + "config", timeout=3) as resp:
        data: dict[str, Any] = json.loads(resp.read())
        return data


def _wait_for_platform(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchUiError(f"bright up exited ({proc.returncode}); see {log}")
        try:
            if _config(url).get("dev_accounts"):
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise BenchUiError(f"bright up did not serve {url}config within 120 s; see {log}")


def bench_ui(url: str | None = None, loads: int = 5) -> dict[str, Any]:
    """Gzipped JavaScript of the market page and its median time to usable over ``loads``."""
    if loads < 1:
        raise ValueError(f"loads must be at least 1, got {loads}")
    if not CHROMIUM.exists():
        raise BenchUiError("Chromium is missing (/usr/bin/chromium): run make setup")
    if not (ROOT / "web" / "node_modules").is_dir():
        raise BenchUiError("the web UI's npm packages are missing: run make setup")
    subprocess.run(["bash", str(ROOT / "scripts" / "build_web.sh")], check=True, cwd=ROOT)
    proc: subprocess.Popen[bytes] | None = None
    tmp: tempfile.TemporaryDirectory[str] | None = None
    started_here = url is None
    try:
        if url is None:
            from chain.anvil import free_port

            tmp = tempfile.TemporaryDirectory(prefix="bench-ui-")
            state = Path(tmp.name)
            api_port = free_port()
            url = f"http://127.0.0.1:{api_port}/"
            env = {**os.environ, "BRIGHT_STATE_DIR": str(state)}
            env.pop("BRIGHT_RPC_URL", None)
            env.pop("BRIGHT_DATABASE_URL", None)
            log = state / "bright-up.log"
            with log.open("wb") as out:
                proc = subprocess.Popen(
                    [str(ROOT / ".venv" / "bin" / "bright"), "up", "--fresh",
                     "--chain-port", str(free_port()), "--api-port", str(api_port)],
                    cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            _wait_for_platform(url, proc, log)
        url = url if url.endswith("/") else url + "/"
        env = {**os.environ, "BRIGHT_UI_URL": url, "BRIGHT_BENCH_LOADS": str(loads)}
        with stopwatch() as wall:
            run = subprocess.run(
                ["node", str(ROOT / "web" / "e2e" / "bench.mjs")],
                cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
            )
        if run.returncode != 0:
            raise BenchUiError(f"the browser benchmark failed:\n{run.stdout}\n{run.stderr}")
        measured: dict[str, Any] = json.loads(run.stdout.strip().splitlines()[-1])
    finally:
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        if tmp is not None:
            tmp.cleanup()
    js_kb = round(measured["js_gzip_bytes"] / 1024, 1)
    ready = float(measured["ready_s_median"])
    return {
        "benchmark": "ui",
        "url": url,
        "platform_started_here": started_here,
        "loads": loads,
        "js_gzip_kb": js_kb,
        "js_gzip_bytes": measured["js_gzip_bytes"],
        "js_raw_bytes": measured["js_raw_bytes"],
        "js_files": measured["js_files"],
        "ready_s_median": ready,
        "ready_s_loads": measured["ready_s_loads"],
        "readiness": "performance mark bright:market-ready: sessions and order book rendered, "
        "order form enabled for an open session; each load in a fresh context (cold cache)",
        "targets": {"js_gzip_kb_max": JS_TARGET_KB, "ready_s_max": READY_TARGET_S},
        "meets_targets": {"js": js_kb <= JS_TARGET_KB, "ready": ready < READY_TARGET_S},
        "browser": measured["browser"],
        "bench_wall_s": round(wall[0], 2),
        "peak_rss_mb": peak_rss_mb(),
    }
