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
    assert proc.returncode == 1
    assert proc.stderr.strip() == (
        "error: --real-time runs 15-minute sessions in wall time: no --session-seconds"
    )
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
