"""Starting and stopping a local anvil (the embedded default chain).

``Anvil`` runs the pinned anvil binary from ``node_modules`` on a chosen port with a chosen
block time. With a ``state_file`` the chain is loaded from it at start (if it exists) and
dumped to it on stop and every ``state_interval_s`` seconds, so a demo chain restarts with its
state.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import IO

from core.errors import ChainError, ToolchainError
from core.paths import ANVIL_BIN
from core.settings import DEV_MNEMONIC


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
        state_interval_s: int = 10,
        chain_id: int = 31337,
        log_file: Path | None = None,
    ) -> None:
        if block_time < 0:
            raise ValueError(f"block_time must be >= 0 seconds, got {block_time}")
        self.host = host
        self.port = port if port is not None else free_port(host)
        self.block_time = block_time
        self.accounts = accounts
        self.mnemonic = mnemonic
        self.state_file = state_file
        self.state_interval_s = state_interval_s
        self.chain_id = chain_id
        self.log_file = log_file
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_handle: IO[bytes] | None = None

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
        if self.state_file is not None:
            self.state_file.parent.mkdir(parents=True, exist_ok=True)
            cmd += ["--state", str(self.state_file), "--state-interval", str(self.state_interval_s)]
            # Keep past blocks and logs across restarts: the read side re-indexes from block 0.
            cmd += ["--preserve-historical-states"]
        return cmd

    def start(self, timeout_s: float = 15.0) -> Anvil:
        """Start anvil and wait until it answers ``eth_chainId``."""
        if self.running:
            return self
        if port_in_use(self.host, self.port):
            raise ChainError(
                f"port {self.port} on {self.host} is already in use: stop what runs there, or "
                f"choose another port (BRIGHT_CHAIN_PORT)"
            )
        out: int | IO[bytes] = subprocess.DEVNULL
        if self.log_file is not None:
            self.log_file.parent.mkdir(parents=True, exist_ok=True)
            self._log_handle = out = self.log_file.open("ab")
        self._proc = subprocess.Popen(
            self.command(),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise ChainError(
                    f"anvil exited with code {self._proc.returncode} at start "
                    f"(state file {self.state_file}); see {self.log_file or 'its output'}"
                )
            try:
                rpc_call(self.url, "eth_chainId", timeout=0.5)
                return self
            except (OSError, ChainError):
                time.sleep(0.05)
        self.stop()
        raise ChainError(f"anvil did not answer on {self.url} within {timeout_s} s")

    def stop(self, timeout_s: float = 20.0) -> None:
        """Stop anvil gracefully (SIGINT: it dumps its state), killing it after a timeout."""
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
