"""Starting, stopping and restarting a local anvil with saved state."""

from __future__ import annotations

import pytest

from chain.anvil import Anvil, rpc_call
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
    state = tmp_path / "state.json"
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
