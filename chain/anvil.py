"""Starting and stopping a local anvil (the embedded default chain), with durable state.

``Anvil`` runs the pinned anvil binary from ``node_modules`` on a chosen port with a chosen
block time. With a ``state_file`` the chain is saved and restored, durably:

* **Saved by us, atomically.** Every ``state_interval_s`` seconds (when the chain moved) and at
  stop, a thread takes anvil's state with ``anvil_dumpState`` (gzipped JSON: accounts, code,
  storage, and every block, transaction and receipt, so past logs survive a restart) and
  writes it beside the file, flushes it to disk and renames it over the file. anvil itself
  never writes the file (it did before, in place: a kill while it rewrote a large file left
  0 bytes and a chain that could not start again). A kill at any moment leaves either the
  previous complete file or the new one; what happened after the last save (at most
  ``state_interval_s``) is lost, as after a reorg, which every service and the read side
  handle.
* **Restored at start**: unpacked beside the file and given to anvil with ``--load-state``
  (``anvil_loadState`` over JSON-RPC is refused beyond anvil's 2 MB request limit, which a
  demo passes in about 10 accelerated hours). A file that cannot be read (truncated, not
  gzip, not anvil's JSON, or refused by anvil) raises :class:`ChainStateError`, which says
  what happened and what to do; nothing is changed. A chain whose last block is ahead of the
  wall clock (the accelerated demo) goes on from that block's time (anvil would restart its
  clock at the wall clock, hours before the last block).
  A plain ``state.json`` beside the file, written by anvil in earlier versions, is loaded
  once and removed after the first save in the new format.
* **Bounded.** anvil keeps only the ``history_states`` most recent block states in memory
  (``--prune-history``), enough for the reorgs the services are tested against and for calls
  at recent blocks; older states are neither kept in memory nor written to
  ``~/.foundry/anvil/tmp`` (anvil's default spills them there without limit). The saved file
  holds the latest state plus the blocks, transactions and receipts, so it grows with the
  chain's events, not with its states (``--preserve-historical-states`` grew it to 1.29 GB in
  a 26-minute demo).
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import zlib
from pathlib import Path
from types import TracebackType
from typing import IO

from core.errors import ChainError, ToolchainError
from core.paths import ANVIL_BIN
from core.settings import DEV_MNEMONIC


class ChainStateError(ChainError):
    """The saved chain state cannot be read (it is left as it is)."""


LEGACY_STATE_NAME = "state.json"  # written in place by anvil itself before the atomic saves


def read_state_file(path: Path) -> bytes:
    """The saved state as anvil's JSON (from the gzipped file, or the legacy plain one),
    checked.

    Raises :class:`ChainStateError` naming the file, what is wrong with it and what to do."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise _damaged(path, f"it cannot be read ({exc.strerror or exc})") from exc
    if not raw:
        raise _damaged(path, "it is empty (0 bytes)")
    try:
        text = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
        head = text[:200].lstrip()
    except (OSError, EOFError, zlib.error) as exc:
        raise _damaged(path, f"it is not a complete gzip file ({exc})") from exc
    if not head.startswith(b"{") or not text.rstrip().endswith(b"}"):
        raise _damaged(path, "it is not anvil's JSON state (truncated or another file)")
    return text


def _damaged(path: Path, why: str) -> ChainStateError:
    return ChainStateError(
        f"the saved chain state {path} is damaged: {why}. Nothing was changed. To start a new "
        f"chain, run `bright up --fresh` (it removes the file; copy it elsewhere first to keep "
        f"it); or put back a copy of the file you trust."
    )


def write_atomically(path: Path, data: bytes) -> None:
    """``data`` into ``path`` so that a kill at any moment leaves the old file or the new one:
    written beside it, flushed to disk, renamed over it, the folder flushed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def anvil_binary() -> Path:
    """Path of the anvil binary: the pinned npm package, else one on PATH."""
    if ANVIL_BIN.exists():
        return ANVIL_BIN
    found = shutil.which("anvil")
    if found:
        return Path(found)
    raise ToolchainError(
        "anvil is not installed (node_modules/@foundry-rs/anvil-linux-amd64): run `make setup`"
    )


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


def rpc_call(
    url: str, method: str, params: list[object] | None = None, timeout: float = 2.0
) -> object:
    """One raw JSON-RPC call (used before web3 is set up and for anvil_* methods)."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []})
    req = urllib.request.Request(url, body.encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        data = json.loads(resp.read())
    if "error" in data:
        raise ChainError(f"{method} failed: {data['error']}")
    return data.get("result")


class Anvil:
    """A local anvil process. Use as a context manager or call ``start``/``stop``."""

    def __init__(
        self,
        port: int | None = None,
        host: str = "127.0.0.1",
        block_time: float = 0,
        accounts: int = 32,
        mnemonic: str = DEV_MNEMONIC,
        state_file: Path | None = None,
        state_interval_s: float = 2.0,
        chain_id: int = 31337,
        log_file: Path | None = None,
        history_states: int = 256,
        genesis_timestamp: int | None = None,
    ) -> None:
        if block_time < 0:
            raise ValueError(f"block_time must be >= 0 seconds, got {block_time}")
        if state_interval_s <= 0:
            raise ValueError(f"state_interval_s must be > 0 seconds, got {state_interval_s}")
        if history_states < 1:
            raise ValueError(f"history_states must be >= 1, got {history_states}")
        self.host = host
        self.port = port if port is not None else free_port(host)
        self.block_time = block_time
        self.accounts = accounts
        self.mnemonic = mnemonic
        self.state_file = state_file
        self.state_interval_s = state_interval_s
        self.chain_id = chain_id
        self.log_file = log_file
        self.history_states = history_states
        self.genesis_timestamp = genesis_timestamp  # a fresh chain's clock; a saved one's own
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_handle: IO[bytes] | None = None
        self._save_lock = threading.Lock()
        self._saved_head: object = None
        self._saver_stop = threading.Event()
        self._saver: threading.Thread | None = None
        self.last_save: dict[str, float] = {}  # bytes, seconds, at (monotonic) of the last save

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def command(self) -> list[str]:
        cmd = [
            str(anvil_binary()),
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--accounts",
            str(self.accounts),
            "--mnemonic",
            self.mnemonic,
            "--chain-id",
            str(self.chain_id),
            "--silent",
        ]
        if self.block_time:
            cmd += ["--block-time", f"{self.block_time:g}"]
        if self.genesis_timestamp is not None:
            cmd += ["--timestamp", str(self.genesis_timestamp)]
        # Recent states in memory only, none spilled to ~/.foundry (see the module).
        cmd += ["--prune-history", str(self.history_states)]
        return cmd

    @property
    def legacy_state_file(self) -> Path | None:
        """anvil's own plain ``state.json`` of earlier versions, beside the state file."""
        if self.state_file is None or self.state_file.name == LEGACY_STATE_NAME:
            return None
        return self.state_file.with_name(LEGACY_STATE_NAME)

    def _saved_state(self) -> tuple[Path, bytes] | None:
        """The state to restore (checked), if one was saved."""
        if self.state_file is None:
            return None
        for path in (self.state_file, self.legacy_state_file):
            if path is not None and path.exists():
                return path, read_state_file(path)
        return None

    def start(self, timeout_s: float = 15.0) -> Anvil:
        """Start anvil, wait until it answers ``eth_chainId`` and restore the saved state."""
        if self.running:
            return self
        saved = self._saved_state()  # a damaged file stops us here, before anything runs
        if port_in_use(self.host, self.port):
            raise ChainError(
                f"port {self.port} on {self.host} is already in use: stop what runs there, or "
                f"choose another port (BRIGHT_CHAIN_PORT)"
            )
        # anvil loads the saved state from a plain JSON file at start (--load-state): the
        # gzipped file is unpacked beside it for that and removed once anvil answers. (Loading
        # over JSON-RPC, anvil_loadState, is refused beyond anvil's 2 MB request limit.)
        load: Path | None = None
        command = self.command()
        if saved is not None:
            path, text = saved
            load = path.with_name(f".{path.name}.load.json")
            load.write_bytes(text)
            command += ["--load-state", str(load)]
            timeout_s += len(text) / 20e6  # about a second per 20 MB of JSON
        out: int | IO[bytes] = subprocess.DEVNULL
        if self.log_file is not None:
            self.log_file.parent.mkdir(parents=True, exist_ok=True)
            self._log_handle = out = self.log_file.open("ab")
        try:
            self._proc = subprocess.Popen(
                command,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                if self._proc.poll() is not None:
                    code = self._proc.returncode
                    self._kill()
                    if saved is not None:
                        raise _damaged(
                            saved[0],
                            f"anvil could not load it (exit code {code}; see "
                            f"{self.log_file or 'its output'})",
                        )
                    raise ChainError(
                        f"anvil exited with code {code} at start; see "
                        f"{self.log_file or 'its output'}"
                    )
                try:
                    rpc_call(self.url, "eth_chainId", timeout=0.5)
                    break
                except (OSError, ChainError):
                    time.sleep(0.05)
            else:
                self._kill()
                raise ChainError(f"anvil did not answer on {self.url} within {timeout_s:.0f} s")
        finally:
            if load is not None:
                load.unlink(missing_ok=True)
        if saved is not None:
            self._keep_the_clock()
        if self.state_file is not None:
            self._saved_head = self._head()
            self._saver_stop.clear()
            self._saver = threading.Thread(
                target=self._save_loop, name="anvil-state-saver", daemon=True
            )
            self._saver.start()
        return self

    def _keep_the_clock(self) -> None:
        """A restored chain's clock goes on from its last block: anvil restarts its clock at
        the wall clock, so a chain that ran ahead of it (the accelerated demo) would mine its
        next block hours before its last one, and every contract would see time go back."""
        block = rpc_call(self.url, "eth_getBlockByNumber", ["latest", False], timeout=5)
        last = int(str(block["timestamp"]), 16) if isinstance(block, dict) else 0
        if last >= int(time.time()):
            rpc_call(self.url, "evm_setTime", [last + 1], timeout=5)

    # -- saving ----------------------------------------------------------------------------
    def _head(self) -> object:
        """What identifies the chain's current state cheaply: the latest block's hash."""
        block = rpc_call(self.url, "eth_getBlockByNumber", ["latest", False], timeout=5)
        return block.get("hash") if isinstance(block, dict) else block

    def save_state(self, force: bool = False) -> bool:
        """Saves the chain's state atomically into the state file if the chain moved since
        the last save (or ``force``); True if it wrote. See the module."""
        if self.state_file is None or not self.running:
            return False
        with self._save_lock:
            head = self._head()
            if head == self._saved_head and not force and self.state_file.exists():
                return False
            t0 = time.perf_counter()
            result = rpc_call(self.url, "anvil_dumpState", timeout=120)
            if not isinstance(result, str) or not result.startswith("0x"):
                raise ChainError(f"anvil_dumpState answered {str(result)[:80]!r}")
            data = bytes.fromhex(result[2:])
            write_atomically(self.state_file, data)
            legacy = self.legacy_state_file
            if legacy is not None and legacy.exists():
                legacy.unlink()  # superseded by the file just written
            self._saved_head = head
            self.last_save = {
                "bytes": float(len(data)),
                "seconds": time.perf_counter() - t0,
                "at": time.monotonic(),
            }
            return True

    def _save_loop(self) -> None:
        while not self._saver_stop.wait(self.state_interval_s):
            try:
                self.save_state()
            except (OSError, ChainError) as exc:  # the node stopping, a full disk: say it
                if self.running and not self._saver_stop.is_set():
                    print(f"anvil: saving the chain state failed: {exc}", file=sys.stderr,
                          flush=True)

    def stop(self, timeout_s: float = 20.0) -> None:
        """Save the state (with a state file), then stop anvil (SIGINT, killed after a
        timeout: killing it cannot damage the saved state, which only we write)."""
        self._saver_stop.set()
        if self._saver is not None:
            self._saver.join(timeout=60)
            self._saver = None
        if self.state_file is not None and self.running:
            try:
                self.save_state(force=not self.state_file.exists())
            except (OSError, ChainError) as exc:
                print(f"anvil: the final save of the chain state failed: {exc}",
                      file=sys.stderr, flush=True)
        self._kill(timeout_s)

    def _kill(self, timeout_s: float = 20.0) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        if self._log_handle is not None:
            self._log_handle.close()
            self._log_handle = None

    def __enter__(self) -> Anvil:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
