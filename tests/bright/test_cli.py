"""The `bright` command line: doctor, compile, bench gas."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from core.paths import ROOT


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bright.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_doctor_json_lists_every_component():
    proc = _run("doctor", "--json")
    assert proc.returncode == 0, proc.stderr
    checks = {c["component"]: c for c in json.loads(proc.stdout)}
    assert set(checks) == {
        "python-deps",
        "anvil",
        "solidity-compiler",
        "brownie",
        "kafka",
        "postgresql",
        "mosquitto",
        "chromium",
    }
    # What `make setup` installs for the spine must be there, with a version.
    for name in ("python-deps", "anvil", "solidity-compiler", "brownie"):
        assert checks[name]["installed"] and checks[name]["version"], checks[name]


def test_compile_lists_contracts():
    proc = _run("compile")
    assert proc.returncode == 0, proc.stderr
    assert "ParticipantRegistry" in proc.stdout and "FlexToken" in proc.stdout


def test_bench_gas_prints_json_on_its_last_line_from_real_receipts():
    proc = _run("bench", "gas", "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    ops = result["operations"]
    for op in ("register", "grant_role", "transfer", "mint", "register_batch_per_participant"):
        assert 21_000 < ops[op] < 500_000 or op.endswith("per_participant"), (op, ops[op])
    # Batching is the point of the batch call: cheaper per participant than one by one.
    assert ops["register_batch_per_participant"] < ops["register"]
    assert result["peak_rss_mb"] > 0
    assert result["baseline"] == "gas-report.json"
    assert result["worse_than_report"] == [], result["changes_vs_report"]


def test_bad_flag_is_a_clear_error():
    proc = _run("up", "--block-time", "soon")
    assert proc.returncode == 2
    assert "block-time" in proc.stderr


def test_real_time_runs_the_demo_at_the_wall_clocks_pace():
    from bright.cli import REAL_TIME_POLL_S, demo_pace

    accelerated = demo_pace(market=True, real_time=False, session_seconds=None)
    assert (accelerated.accelerated, accelerated.round_s, accelerated.data_speed) == (
        True, 5.0, 180.0
    )
    assert demo_pace(market=True, real_time=False, session_seconds=9.0).data_speed == 100.0
    for pace in (
        demo_pace(market=True, real_time=True, session_seconds=None),
        demo_pace(market=False, real_time=False, session_seconds=None),
    ):
        assert (pace.accelerated, pace.round_s, pace.data_speed) == (False, REAL_TIME_POLL_S, 1.0)
    proc = _run("up", "--real-time", "--session-seconds", "3")
    assert proc.returncode == 2
    [line] = proc.stderr.strip().splitlines()
    assert "--real-time" in line and "give no --session-seconds" in line
    assert "--real-time" in _run("up", "--help").stdout


def test_fail_share_is_a_checked_setting_from_the_option_or_the_environment():
    proc = _run("up", "--fail-share", "1.5")
    assert proc.returncode == 2 and "fail-share" in proc.stderr
    env = {**os.environ, "BRIGHT_DEMO_FAIL_SHARE": "-0.1"}
    proc = subprocess.run(
        [sys.executable, "-m", "bright.cli", "up"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2 and "fail-share" in proc.stderr


def test_control_is_checked_before_anything_starts():
    proc = _run("up", "--control", "psychic")
    assert proc.returncode == 2
    assert "must be mpc, rule or replay, got 'psychic'" in proc.stderr
    assert "Traceback" not in proc.stderr


# ---- errors: one line, what to do, exit 2 (input, options, settings) or 1 (runtime) ---------


def _one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    """The error line of a failed command; asserts it is the only line and no traceback."""
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: "), proc.stderr
    return lines[0]


def test_a_missing_file_is_one_line_naming_it(tmp_path):
    proc = _run("gateway", "run", "--site", str(tmp_path / "site.json"))
    line = _one_line_error(proc)
    assert proc.returncode == 2
    assert str(tmp_path / "site.json") in line and "check the path" in line


def test_a_bad_option_value_is_one_line_pointing_at_the_help():
    proc = _run("up", "--chain-port", "eighty")
    line = _one_line_error(proc)
    assert proc.returncode == 2
    assert "--chain-port" in line and "bright.cli up --help" in line
    proc = _run("up", "--bus", "rabbit")
    assert proc.returncode == 2 and "--bus" in _one_line_error(proc)


def test_a_malformed_rpc_url_is_input_and_an_unreachable_one_a_runtime_failure():
    proc = _run("deploy", "--rpc-url", "node.example")
    line = _one_line_error(proc)
    assert proc.returncode == 2
    assert "rpc_url must start with http" in line and "pydantic" not in line
    from chain.anvil import free_port

    url = f"http://127.0.0.1:{free_port()}"
    proc = _run("deploy", "--rpc-url", url)
    line = _one_line_error(proc)
    assert proc.returncode == 1
    assert f"no EVM node answers at {url}" in line and "BRIGHT_RPC_URL" in line


def test_a_busy_api_port_is_one_line_before_anything_starts(tmp_path):
    import os
    import socket

    from chain.anvil import free_port

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = subprocess.run(
            [sys.executable, "-m", "bright.cli", "up", "--api-port", str(port)],
            cwd=ROOT,
            env={
                **os.environ,
                "BRIGHT_STATE_DIR": str(tmp_path),
                "BRIGHT_CHAIN_PORT": str(free_port()),
            },
            capture_output=True,
            text=True,
            timeout=120,
        )
    line = _one_line_error(proc)
    assert proc.returncode == 2
    assert f"port {port} on 127.0.0.1 is already in use" in line and "--api-port" in line
    assert not (tmp_path / "chain").exists()  # the chain was never started


def test_api_serve_refuses_a_busy_port_in_one_line():
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = _run("api", "serve", "--port", str(port), "--database-url", "sqlite://")
    line = _one_line_error(proc)
    assert proc.returncode == 2 and f"port {port} on 127.0.0.1" in line


def test_up_names_its_two_ports_and_keeps_port_as_a_hidden_alias():
    help_text = _run("up", "--help").stdout
    assert "--chain-port" in help_text and "--api-port" in help_text
    assert "--port " not in help_text.replace("--chain-port", "").replace("--api-port", "")
    proc = _run("up", "--port", "8545", "--chain-port", "8546")
    assert proc.returncode == 2
    assert "--port is the deprecated name of --chain-port" in _one_line_error(proc)


def test_debug_shows_the_traceback_and_still_ends_with_the_line():
    proc = _run("--debug", "deploy", "--rpc-url", "node.example")
    assert proc.returncode == 2
    assert "Traceback" in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("error: rpc_url must start")


def test_index_status_refuses_a_sqlite_file_that_does_not_exist(tmp_path):
    typo = tmp_path / "typo.sqlite"
    proc = _run("index", "status", "--database-url", f"sqlite:///{typo}")
    line = _one_line_error(proc)
    assert proc.returncode == 2
    assert str(typo) in line and "bright index run" in line
    assert not typo.exists()  # nothing created


def test_errors_become_one_line_through_the_test_runner_too():
    from typer.testing import CliRunner

    from bright.cli import app

    result = CliRunner().invoke(app, ["oracle", "status", "--state-dir", "/nonexistent/oracle"])
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "error: no meter-oracle state at /nonexistent/oracle/meter-oracle.sqlite; check "
        "--state-dir or BRIGHT_ORACLE_STATE_DIR"
    )


# ---- bright up: one state folder, clean Ctrl-C ------------------------------------------------


def _listing(folder):
    """Every file under ``folder`` with its size and mtime (Kafka's jars are an install cache)."""
    if not folder.exists():
        return {}
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in folder.rglob("*")
        if p.is_file() and "kafka/libs" not in str(p)
    }


def test_ctrl_c_stops_bright_up_cleanly_and_the_run_wrote_only_its_state_folder(tmp_path):
    """SIGINT to the whole process group, as Ctrl-C in a terminal sends it: no traceback,
    exit 0 after "stopped; chain state saved"; the clusters, read models, oracle, broker and
    chain went to BRIGHT_STATE_DIR and nothing in the project's own .bright/ changed."""
    import os
    import signal
    import threading
    import time

    from chain.anvil import free_port
    from core.paths import DEFAULT_STATE_DIR

    project_before = _listing(DEFAULT_STATE_DIR)
    state = tmp_path / "state"
    env = {**os.environ, "BRIGHT_STATE_DIR": str(state)}
    for var in ("BRIGHT_DATABASE_URL", "BRIGHT_ANALYTICS_CLUSTERS_DIR", "BRIGHT_DEBUG"):
        env.pop(var, None)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bright.cli",
            "up",
            "--no-market",
            "--chain-port",
            str(free_port()),
            "--api-port",
            str(free_port()),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, signalled as a terminal would
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout or []), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 240
        while not any(line.startswith("clusters: ") for line in lines):  # the forecast feed's
            assert proc.poll() is None, "".join(lines)
            assert time.monotonic() < deadline, "".join(lines)
            time.sleep(0.2)
        assert any("platform running" in line for line in lines)
        os.killpg(proc.pid, signal.SIGINT)
        code = proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    reader.join(timeout=10)
    output = "".join(lines)
    assert "Traceback" not in output, output
    assert code == 0, output
    assert "stopped; chain state saved" in output, output
    for written in ("clusters", "read_models.sqlite", "oracle", "mosquitto", "chain"):
        assert (state / written).exists(), written
    assert _listing(DEFAULT_STATE_DIR) == project_before
