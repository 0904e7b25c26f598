"""``bright bench demo``: the demo run for many accelerated hours, killed and restarted.

A soak of the whole platform as ``make demo`` runs it (``bright up`` in its own state folder:
anvil, market, simulated homes over MQTT, meter oracle, coordination, forecasts, read side,
API), for ``hours`` of chain time (the demo accelerates: one 15-minute market session per
``session_seconds`` of wall time). Along the way:

* at random moments it is **killed** (SIGKILL to every process of the tree, anvil and
  Mosquitto included, so nothing gets to save or clean up) and started again;
* at each checkpoint (``checkpoints``, in accelerated hours) it is **stopped** with Ctrl-C and
  started again, and measures the saved chain state's size, the restart time (start to the
  chain answering with its restored head, and start to "platform running") and the memory
  of the whole process tree (sum of resident set sizes, sampled every second: at the
  checkpoint and the peak since the previous one).

Every start after the first must find its deployment (no "deploying contracts"), and its
chain must not be behind the last head seen before the stop by more than the blocks of one
save interval (2 s of blocks); both are counted and reported. Goals (issue 16): restart under
2 s and memory under 1 GB at every point, state growing linearly in the chain's events.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from core.benchutil import peak_rss_mb
from core.paths import ROOT

__all__ = ["bench_demo"]

RESTART_TARGET_S = 2.0
MEMORY_TARGET_MB = 1024.0


def _say(message: str) -> None:
    print(f"[bench demo] {message}", file=sys.stderr, flush=True)


def _rpc(url: str, method: str, params: list[Any] | None = None) -> Any:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []})
    req = urllib.request.Request(url, body.encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=2) as resp:
        return json.loads(resp.read())["result"]


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(ppid, []).append(int(entry))
    return tree


def _tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (anvil runs in its own session, still a child)."""
    tree, out, todo = _children(), [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(tree.get(p, []))
    return out


def _rss_mb(pids: list[int]) -> float:
    total = 0
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


class _Run:
    """One ``bright up`` process: its output, its tree's memory, when it became ready."""

    def __init__(self, env: dict[str, str], log: Path, rpc_url: str, args: list[str]) -> None:
        self.rpc_url = rpc_url
        self.lines: list[str] = []
        self.started = time.perf_counter()
        self.chain_ready_s: float | None = None
        self.anvil_started_s: float | None = None  # "starting anvil" printed
        self.running_s: float | None = None
        self.peak_mb = 0.0
        self.rss_mb = 0.0
        self._log = log.open("a")
        self.proc = subprocess.Popen(
            [str(ROOT / ".venv" / "bin" / "bright"), "up", *args],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True,
        )
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._sample, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._log.write(line)
            self._log.flush()
            self.lines.append(line)
            if line.startswith("starting anvil") and self.anvil_started_s is None:
                self.anvil_started_s = time.perf_counter() - self.started
            if "platform running" in line and self.running_s is None:
                self.running_s = time.perf_counter() - self.started

    def _sample(self) -> None:
        while self.proc.poll() is None:
            self.rss_mb = _rss_mb(_tree(self.proc.pid))
            self.peak_mb = max(self.peak_mb, self.rss_mb)
            time.sleep(1.0)

    def wait_ready(self, restored_head: int, timeout_s: float = 600) -> None:
        deadline = time.monotonic() + timeout_s
        while self.chain_ready_s is None:
            self._alive_or_fail()
            try:
                if int(_rpc(self.rpc_url, "eth_blockNumber"), 16) >= restored_head:
                    self.chain_ready_s = time.perf_counter() - self.started
            except (OSError, KeyError, ValueError):
                pass
            if time.monotonic() > deadline:
                raise TimeoutError("the chain did not come back")
            time.sleep(0.02)
        while self.running_s is None:
            self._alive_or_fail()
            if time.monotonic() > deadline:
                raise TimeoutError("bright up did not print 'platform running'")
            time.sleep(0.05)

    def _alive_or_fail(self) -> None:
        if self.proc.poll() is not None:
            raise RuntimeError(
                f"bright up exited with {self.proc.returncode}:\n{''.join(self.lines[-30:])}"
            )

    def head(self) -> tuple[int, int]:
        """The chain's (block number, timestamp)."""
        block = _rpc(self.rpc_url, "eth_getBlockByNumber", ["latest", False])
        return int(block["number"], 16), int(block["timestamp"], 16)

    def kill(self) -> None:
        """SIGKILL to every process of the tree at once: nothing saves, nothing cleans up."""
        pids = _tree(self.proc.pid)
        for p in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(p, signal.SIGKILL)
        self.proc.wait()
        self._log.close()

    def stop(self, timeout_s: float = 120) -> float:
        """Ctrl-C; seconds until it exited."""
        t0 = time.perf_counter()
        os.killpg(self.proc.pid, signal.SIGINT)
        try:
            self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
            raise
        self._log.close()
        return time.perf_counter() - t0


def bench_demo(
    hours: float = 24.0,
    checkpoints: tuple[float, ...] = (1.0, 6.0, 24.0),
    kills: int = 3,
    session_seconds: float = 5.0,
    forecasts: bool = True,
    seed: int = 0,
    state_dir: Path | None = None,
) -> dict[str, Any]:
    """Runs the demo for ``hours`` accelerated hours with ``kills`` SIGKILLs at random moments
    and a Ctrl-C restart at each checkpoint; see the module."""
    from chain.anvil import free_port

    if hours <= 0 or not checkpoints or any(not 0 < c <= hours for c in checkpoints):
        raise ValueError("hours must be > 0 and every checkpoint within 0 < c <= hours")
    if kills < 0 or session_seconds <= 0:
        raise ValueError("kills must be >= 0 and session_seconds > 0")
    rng = random.Random(seed)
    tmp = None if state_dir is not None else tempfile.TemporaryDirectory(prefix="bench-demo-")
    state = state_dir if state_dir is not None else Path(tmp.name)  # type: ignore[union-attr]
    chain_port, api_port = free_port(), free_port()
    rpc_url = f"http://127.0.0.1:{chain_port}"
    env = {**os.environ, "BRIGHT_STATE_DIR": str(state), "BRIGHT_API_PORT": str(api_port)}
    for name in ("BRIGHT_RPC_URL", "BRIGHT_DATABASE_URL", "BRIGHT_BUS"):
        env.pop(name, None)
    args = ["--chain-port", str(chain_port), "--session-seconds", f"{session_seconds:g}"]
    if not forecasts:
        args.append("--no-forecasts")
    log = state / "bench-demo.log"
    state.mkdir(parents=True, exist_ok=True)
    # Kill moments, in accelerated hours, away from the checkpoints.
    kill_at = sorted(rng.uniform(0.1, hours * 0.98) for _ in range(kills))
    stops = sorted(set(checkpoints))
    points: list[dict[str, Any]] = []
    restarts: list[dict[str, Any]] = []
    redeployed = 0
    max_lost_blocks = 0
    _say(f"state {state}; {hours:g} accelerated h, kills at {[round(k, 2) for k in kill_at]} h")
    run = _Run(env, log, rpc_url, ["--fresh", *args])
    try:
        run.wait_ready(0)
        _say(f"first start: platform running after {run.running_s:.1f} s")
        first_head, t_start = run.head()
        last_seen = first_head
        while stops:
            number, ts = run.head()
            last_seen = max(last_seen, number)
            done_h = (ts - t_start) / 3600
            event: str | None = None
            if kill_at and done_h >= kill_at[0]:
                kill_at.pop(0)
                event = "kill"
            elif done_h >= stops[0]:
                event = "stop"
            if event is None:
                run._alive_or_fail()
                time.sleep(0.2)
                continue
            memory_mb, peak_mb = run.rss_mb, run.peak_mb
            # meter readings refused as going backwards during the run now ending (after a
            # restart the simulated meters must go on from where they were)
            backwards = sum("counter_decreased" in line for line in run.lines)
            if event == "kill":
                run.kill()
                stop_s = None
            else:
                stop_s = run.stop()
            size = (state / "chain" / "state.json.gz").stat().st_size
            run = _Run(env, log, rpc_url, args)
            run.wait_ready(1)
            restored, _ = run.head()
            before, last_seen = last_seen, restored  # later losses count from the restored chain
            lost = max(0, before - restored)
            max_lost_blocks = max(max_lost_blocks, lost)
            if any("deploying contracts" in line for line in run.lines):
                redeployed += 1
            record = {
                "event": event,
                "accelerated_h": round(done_h, 2),
                "blocks": before,
                "state_bytes": size,
                "stop_s": None if stop_s is None else round(stop_s, 2),
                "restart_chain_s": round(run.chain_ready_s or 0, 2),
                # of which anvil starting and loading the saved state (the rest: Python
                # starting the CLI and checking the compiled contracts)
                "restart_anvil_load_s": round(
                    (run.chain_ready_s or 0) - (run.anvil_started_s or 0), 2
                ),
                "restart_running_s": round(run.running_s or 0, 2),
                "blocks_lost": lost,
                "readings_refused_backwards_before": backwards,
            }
            restarts.append(record)
            _say(json.dumps(record))
            if event == "stop":
                stops.pop(0)
                points.append({**record, "tree_rss_mb": round(memory_mb, 1),
                               "tree_peak_rss_mb": round(peak_mb, 1)})
    finally:
        if run.proc.poll() is None:
            run.stop()
        if tmp is not None:
            tmp.cleanup()
    worst_restart = max(r["restart_chain_s"] for r in restarts)
    worst_load = max(r["restart_anvil_load_s"] for r in restarts)
    worst_memory = max(p["tree_peak_rss_mb"] for p in points)
    return {
        "bench": "demo_soak",
        "hours": hours,
        "session_seconds": session_seconds,
        "acceleration": round(900 / session_seconds, 1),
        "forecasts": forecasts,
        "checkpoints": points,
        "restarts": restarts,
        "kills": kills,
        "redeployed_after_restart": redeployed,
        "max_blocks_lost_by_a_kill": max_lost_blocks,
        "worst_restart_chain_s": worst_restart,
        "worst_restart_anvil_load_s": worst_load,
        "worst_tree_peak_rss_mb": worst_memory,
        "targets": {"restart_s_max": RESTART_TARGET_S, "tree_rss_mb_max": MEMORY_TARGET_MB},
        "meets_targets": {
            "restart": worst_restart < RESTART_TARGET_S,
            "memory": worst_memory < MEMORY_TARGET_MB,
        },
        "peak_rss_mb": peak_rss_mb(),
    }
