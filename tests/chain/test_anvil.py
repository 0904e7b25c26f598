"""Starting, stopping and restarting a local anvil with saved state: saved atomically, a kill
at any moment leaves a state that starts, a damaged file is refused with what to do."""

from __future__ import annotations

import gzip
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from chain.anvil import Anvil, ChainStateError, rpc_call
from core.errors import ChainError


def test_start_answers_and_stop_frees_the_port():
    node = Anvil(accounts=2).start()
    try:
        assert rpc_call(node.url, "eth_chainId") == hex(31337)
    finally:
        node.stop()
    assert not node.running
    with pytest.raises(OSError):
        rpc_call(node.url, "eth_chainId", timeout=0.5)


def test_busy_port_is_a_clear_error():
    with (
        Anvil(accounts=1) as first,
        pytest.raises(ChainError, match=f"port {first.port} .* already in use"),
    ):
        Anvil(port=first.port, accounts=1).start()


def test_state_survives_a_restart(tmp_path, w3, artifacts, admin):
    state = tmp_path / "state.json.gz"
    node = Anvil(accounts=2, state_file=state).start()
    from chain.deploy import deploy_contract
    from chain.platform import connect, make_sender

    w3_local = connect(node.url)
    deployed = deploy_contract(
        w3_local, make_sender(w3_local, admin, artifacts), artifacts["FlexToken"], admin.address
    )
    block = w3_local.eth.block_number
    node.stop()
    assert state.exists()

    node = Anvil(accounts=2, state_file=state, port=node.port).start()
    try:
        w3_again = connect(node.url)
        assert w3_again.eth.block_number == block
        assert len(w3_again.eth.get_code(deployed.address)) > 0
        # Past blocks (and so past logs) are kept: the read side re-indexes from block 0.
        assert w3_again.eth.get_block(deployed.block)["number"] == deployed.block
    finally:
        node.stop()


def test_block_time_mines_on_its_own():
    import time

    with Anvil(accounts=1, block_time=0.2) as node:
        first = int(str(rpc_call(node.url, "eth_blockNumber")), 16)
        time.sleep(0.7)
        assert int(str(rpc_call(node.url, "eth_blockNumber")), 16) >= first + 2


def test_negative_block_time_is_refused():
    with pytest.raises(ValueError, match="block_time"):
        Anvil(block_time=-1)


def _block(url: str) -> int:
    return int(str(rpc_call(url, "eth_blockNumber")), 16)


def _mine(url: str, blocks: int) -> None:
    rpc_call(url, "anvil_mine", [hex(blocks)])


def test_the_saver_writes_only_when_the_chain_moved_and_never_in_place(tmp_path):
    state = tmp_path / "chain" / "state.json.gz"
    with Anvil(accounts=1, state_file=state, state_interval_s=0.1) as node:
        _mine(node.url, 5)
        deadline = time.monotonic() + 10
        while not state.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        first = state.stat()
        time.sleep(0.5)  # the chain did not move: nothing is rewritten
        assert state.stat().st_mtime_ns == first.st_mtime_ns
        assert state.stat().st_ino == first.st_ino
        _mine(node.url, 1)
        assert node.save_state()
        # A new file renamed over the old one (a new inode), never rewritten in place.
        assert state.stat().st_ino != first.st_ino
        assert not [p for p in state.parent.iterdir() if p.name.endswith(".tmp")]
    assert gzip.decompress(state.read_bytes()).startswith(b"{")


def test_states_and_blocks_survive_a_restart_and_history_is_not_kept_as_states(tmp_path):
    """The file keeps blocks and logs (the read side re-indexes from block 0) but not past
    states: a call at an old block after a restart is refused rather than stored."""
    state = tmp_path / "state.json.gz"
    with Anvil(accounts=2, state_file=state) as node:
        _mine(node.url, 300)
        head = _block(node.url)
    size = state.stat().st_size
    with Anvil(accounts=2, state_file=state, port=node.port) as node:
        assert _block(node.url) == head
        assert rpc_call(node.url, "eth_getBlockByNumber", [hex(1), False])["number"] == "0x1"
    # 300 empty blocks: a few hundred bytes each, not a copy of the state per block.
    assert size < 300 * 1000


def test_a_state_larger_than_an_rpc_request_is_restored(tmp_path):
    """A demo passes anvil's 2 MB JSON-RPC request limit in about ten accelerated hours: the
    state is loaded at start from a file (loading it over JSON-RPC failed there)."""
    state = tmp_path / "state.json.gz"
    with Anvil(accounts=1, state_file=state) as node:
        for i in range(120):  # 120 contracts of 24 KB of random code: about 3 MB of gzip
            address = "0x" + f"{i + 1:040x}"
            rpc_call(node.url, "anvil_setCode", [address, "0x" + os.urandom(24_000).hex()])
        _mine(node.url, 1)
        head = _block(node.url)
    assert state.stat().st_size > 2_500_000
    with Anvil(accounts=1, state_file=state) as node:
        assert _block(node.url) == head
        code = rpc_call(node.url, "eth_getCode", ["0x" + f"{120:040x}", "latest"])
        assert len(str(code)) == 2 + 48_000
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".load.json")]


def test_a_restored_chain_ahead_of_the_wall_clock_keeps_its_time(tmp_path):
    """The accelerated demo runs its chain hours ahead of the wall clock; after a restart the
    next block must not be older than the last one (anvil restarts its clock at the wall
    clock: the next block came 10 h before the last, and contracts saw time go back)."""
    state = tmp_path / "state.json.gz"
    with Anvil(accounts=1, state_file=state) as node:
        rpc_call(node.url, "evm_increaseTime", [36_000])
        _mine(node.url, 1)
        last = int(rpc_call(node.url, "eth_getBlockByNumber", ["latest", False])["timestamp"], 16)
    with Anvil(accounts=1, state_file=state) as node:
        _mine(node.url, 1)
        block = rpc_call(node.url, "eth_getBlockByNumber", ["latest", False])
        assert last < int(block["timestamp"], 16) < last + 60


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b"", "empty"),
        (b"\x1f\x8b\x08\x00garbage", "not a complete gzip file"),
        (gzip.compress(b'{"block": {"number"'), "not anvil's JSON state"),
    ],
)
def test_a_damaged_state_is_refused_with_what_to_do_and_left_as_it_is(tmp_path, content, why):
    state = tmp_path / "state.json.gz"
    state.write_bytes(content)
    node = Anvil(accounts=1, state_file=state)
    with pytest.raises(ChainStateError, match=why) as info:
        node.start()
    assert "bright up --fresh" in str(info.value) and str(state) in str(info.value)
    assert not node.running and state.read_bytes() == content


def test_a_legacy_plain_state_is_loaded_once_then_replaced(tmp_path):
    legacy = tmp_path / "state.json"
    with Anvil(accounts=1) as node:
        _mine(node.url, 7)
        dump = rpc_call(node.url, "anvil_dumpState")
    legacy.write_bytes(gzip.decompress(bytes.fromhex(str(dump)[2:])))
    state = tmp_path / "state.json.gz"
    with Anvil(accounts=1, state_file=state) as node:
        assert _block(node.url) == 7
    assert state.exists() and not legacy.exists()


KILLED_SAVER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from chain.anvil import Anvil, rpc_call
    node = Anvil(accounts=1, state_file=Path(sys.argv[1]), state_interval_s=0.02).start()
    print(node._proc.pid, flush=True)
    while True:  # the chain moves all the time, so the saver writes all the time
        rpc_call(node.url, "anvil_mine", ["0x20"])
    """
)


def test_a_kill_at_any_moment_leaves_a_state_that_starts(tmp_path):
    """The process that saves is killed (SIGKILL, it and its anvil) at random moments while
    it saves every 20 ms and the chain grows: every restart loads a complete state, and the
    chain never goes back further than the last save."""
    import random

    state = tmp_path / "state.json.gz"
    rng = random.Random(7)
    last = 0
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    for _ in range(6):
        proc = subprocess.Popen(
            [sys.executable, "-c", KILLED_SAVER, str(state)],
            stdout=subprocess.PIPE, env=env, start_new_session=True,
        )
        assert proc.stdout is not None
        anvil_pid = int(proc.stdout.readline())
        time.sleep(rng.uniform(0.3, 1.5))
        os.killpg(proc.pid, signal.SIGKILL)  # the saver mid-write, then its anvil
        os.killpg(anvil_pid, signal.SIGKILL)
        proc.wait()
        with Anvil(accounts=1, state_file=state) as node:  # raises if the file were damaged
            now = _block(node.url)
        assert now >= last
        last = now
    assert last > 0
