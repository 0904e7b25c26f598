"""Brownie against a fork of a running dev chain: the demo chain is started, a brownie
development network forks it, and tests/fork runs there. Changes on the fork stay there."""

from __future__ import annotations

from bright.demo import bring_up
from chain.anvil import free_port
from core.settings import ChainSettings
from tests.support.brownie import brownie_env, network_name, run_tests, set_network

FORK_ONLY = "0x000000000000000000000000000000000000f0f0"


def test_brownie_checks_deployed_state_on_a_fork(tmp_path):
    settings = ChainSettings(state_dir=tmp_path / "state", chain_port=free_port())
    running = bring_up(settings, quiet=True)
    try:
        env = brownie_env(
            {
                "BRIGHT_DEMO_FILE": str(settings.state_dir / "demo.json"),
                "BRIGHT_DEPLOYMENTS_FILE": str(settings.deployments_file),
            }
        )
        network = network_name("bright-fork")
        set_network(network, env, fork=running.rpc_url, port=free_port(), accounts=10, base_fee=0)
        proc = run_tests("tests/fork", network, env, timeout=300)
        output = proc.stdout + proc.stderr
        assert proc.returncode == 0, output[-4000:]
        assert "2 passed" in output, output[-4000:]
        # The registration made on the fork did not reach the demo chain.
        assert not running.platform.registry().participant(FORK_ONLY).registered
        assert running.platform.registry().participant_count() == len(running.members)
    finally:
        running.stop()
