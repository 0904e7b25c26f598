"""`bright up`: the demo community on a local chain, restartable with its state."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from bright.demo import DSO_START_TOKENS, PROSUMER_START_TOKENS, bring_up, demo_community
from chain.anvil import free_port
from chain.domain import Role
from core.paths import ROOT
from core.settings import ChainSettings


def test_demo_community_is_built_from_the_real_homes():
    members = demo_community()
    prosumers = [m for m in members if m.role is Role.PROSUMER]
    assert len(prosumers) == 17
    assert {m.role for m in members} == {
        Role.PROSUMER,
        Role.AGGREGATOR,
        Role.DSO,
        Role.ORACLE,
        Role.MARKET_OPERATOR,
    }
    assert prosumers[0].meter_id == "citylearn-2022/Building_1"
    assert {m.grid_area for m in prosumers} == {"feeder-1", "feeder-2"}
    assert len({m.address for m in members}) == len(members)


def test_bring_up_registers_once_and_reuses_saved_state(tmp_path):
    settings = ChainSettings(state_dir=tmp_path, chain_port=free_port())
    first = bring_up(settings, quiet=True)
    try:
        assert first.deployed_now and first.registered_now == len(first.members) == 21
        registry, token = first.platform.registry(), first.platform.token()
        for m in first.members:
            p = registry.participant(m.address)
            assert (p.role, p.active, p.grid_area, p.meter_id) == (
                m.role,
                True,
                m.grid_area,
                m.meter_id,
            )
        dso = next(m for m in first.members if m.role is Role.DSO)
        home = next(m for m in first.members if m.role is Role.PROSUMER)
        assert token.balance_of(dso.address) == DSO_START_TOKENS
        assert token.balance_of(home.address) == PROSUMER_START_TOKENS
        addresses = {n: c.address for n, c in first.platform.deployment.contracts.items()}
        # ... through the import of `bright member import`: the directory has their names,
        # in the read-model database of the run (the state folder's)
        chain_id = first.platform.deployment.chain_id
        assert _names(settings, chain_id) == {m.address: m.display_name for m in first.members}
        assert _names(settings, chain_id)[home.address] == "Anna Becker"
        _rename(settings, chain_id, home.address, "Anna B.")  # as her PUT /profile does
    finally:
        first.stop()

    again = bring_up(settings, quiet=True)
    try:
        assert not again.deployed_now and again.registered_now == 0
        assert _names(settings, chain_id)[home.address] == "Anna B."  # a restart keeps it
        assert {n: c.address for n, c in again.platform.deployment.contracts.items()} == addresses
        assert again.platform.token().balance_of(home.address) == PROSUMER_START_TOKENS
    finally:
        again.stop()

    fresh = bring_up(settings, fresh=True, quiet=True)
    try:
        assert fresh.deployed_now and fresh.registered_now == 21
    finally:
        fresh.stop()


def _names(settings: ChainSettings, chain_id: int) -> dict[str, str]:
    from sqlalchemy.orm import Session

    from bright.members import read_models_url
    from streams.db import open_database
    from streams.directory import display_names

    engine = open_database(read_models_url(settings))
    try:
        with Session(engine) as s:
            return display_names(s, chain_id)
    finally:
        engine.dispose()


def _rename(settings: ChainSettings, chain_id: int, address: str, name: str) -> None:
    from sqlalchemy.orm import Session

    from bright.members import read_models_url
    from streams.db import open_database
    from streams.directory import put_profile

    engine = open_database(read_models_url(settings))
    with Session(engine) as s, s.begin():
        put_profile(s, chain_id, address, name)
    engine.dispose()


def _bright(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "bright.cli", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_bright_up_runs_until_interrupted_and_restarts_with_its_state(tmp_path):
    env = {
        **os.environ,
        "BRIGHT_STATE_DIR": str(tmp_path),
        "BRIGHT_CHAIN_PORT": str(free_port()),
        "BRIGHT_API_PORT": "0",
    }
    proc = _bright("up", env=env)
    assert proc.stdout is not None
    lines = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        lines.append(line)
        if "platform running" in line or not line:
            break
    text = "".join(lines)
    assert "platform running" in text, text + proc.stderr.read() if proc.stderr else text
    assert "ParticipantRegistry" in text and "home-17" in text
    assert "0x" in text and "(public development keys" in text
    # The REST API is served over the read models.
    import re
    import urllib.request

    api_url = re.search(r"api: (http://\S+)", text)
    assert api_url, text
    with urllib.request.urlopen(api_url.group(1) + "/health", timeout=10) as resp:
        assert resp.status == 200
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "chain state saved" in err
    assert (tmp_path / "chain" / "state.json.gz").exists()

    again = subprocess.run(
        [sys.executable, "-m", "bright.cli", "up", "--once", "--json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert again.returncode == 0, again.stderr
    summary = json.loads(again.stdout.strip().splitlines()[-1])
    assert summary["deployed_now"] is False and summary["registered_now"] == 0
    assert len(summary["members"]) == 21


def test_bright_up_reports_a_busy_port(tmp_path):
    from chain.anvil import Anvil

    with Anvil(accounts=1) as other:
        env = {
            **os.environ,
            "BRIGHT_STATE_DIR": str(tmp_path),
            "BRIGHT_CHAIN_PORT": str(other.port),
        }
        proc = subprocess.run(
            [sys.executable, "-m", "bright.cli", "up", "--once"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert proc.returncode == 2  # a setting to change
    assert f"port {other.port}" in proc.stderr and "already in use" in proc.stderr
    assert "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1


def test_an_external_json_rpc_node_is_a_setting(tmp_path):
    """With BRIGHT_RPC_URL set, nothing is started: the platform deploys to that node."""
    from chain.anvil import Anvil

    with Anvil(accounts=30) as external:
        settings = ChainSettings(state_dir=tmp_path, rpc_url=external.url)
        running = bring_up(settings, quiet=True)
        try:
            assert running.anvil is None and running.rpc_url == external.url
            assert running.deployed_now and running.registered_now == 21
            assert not (tmp_path / "chain" / "state.json.gz").exists()
        finally:
            running.stop()
        assert external.running  # bright did not stop a node it did not start


def test_bright_up_with_the_kafka_bus_projects_through_faust(tmp_path):
    """`make demo BUS=kafka`: indexer -> Kafka -> faust workers -> the same read models."""
    import sqlite3

    env = {
        **os.environ,
        "BRIGHT_STATE_DIR": str(tmp_path),
        "BRIGHT_CHAIN_PORT": str(free_port()),
        "BRIGHT_API_PORT": "0",
    }
    env.pop("BRIGHT_DATABASE_URL", None)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bright.cli",
            "up",
            "--bus",
            "kafka",
            "--no-data",
            "--rounds",
            "2",
            "--session-seconds",
            "3",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "chain.events -> faust" in proc.stdout
    db = sqlite3.connect(tmp_path / "read_models.sqlite")
    (participants,) = db.execute("select count(*) from participants").fetchone()
    (sessions,) = db.execute("select count(*) from market_sessions").fetchone()
    assert participants == 21 and sessions >= 1


def test_unknown_bus_is_a_clear_error(tmp_path):
    env = {
        **os.environ,
        "BRIGHT_STATE_DIR": str(tmp_path),
        "BRIGHT_CHAIN_PORT": str(free_port()),
        "BRIGHT_API_PORT": "0",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "bright.cli", "up", "--bus", "rabbit", "--no-data"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    assert "--bus: must be embedded or kafka" in proc.stderr
