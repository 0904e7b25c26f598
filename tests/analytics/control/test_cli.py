"""``bright control``: compare the policies and store a member's comparison, estimate
flexibility; one-line errors that say what was wrong."""

from __future__ import annotations

import json
import subprocess
import sys

from typer.testing import CliRunner

SET = "citylearn_challenge_2023_phase_2_online_evaluation_1"


def test_compare_stores_a_members_comparison_and_flex_answers_per_interval(
    tmp_path, monkeypatch
) -> None:
    from analytics.control.store import get_comparison
    from bright.cli import app  # `bright control` stores into the read models
    from streams.db import open_database

    db = f"sqlite:///{tmp_path / 'read_models.sqlite'}"
    monkeypatch.setenv("BRIGHT_DATABASE_URL", db)
    account = "0x" + "c1" * 20
    cost = tmp_path / "cost.json"
    cost.write_text(json.dumps({"weights": {"cost": 1, "peak": 0.2}}))
    runner = CliRunner()
    result = runner.invoke(
        app,
        [
            "control",
            "compare",
            "--set",
            SET,
            "--days",
            "1",
            "--policies",
            "bau,rule,mpc",
            "--home",
            "Building_2",
            "--account",
            account,
            "--cost",
            str(cost),
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(report["policies"]) == {"bau", "rule", "mpc"}
    assert report["period"]["homes"] == 1 and report["period"]["steps"] == 96
    assert report["cost_function"]["weights"]["peak"] == 0.2
    assert "stored the comparison" in result.stderr
    stored = get_comparison(open_database(db), 31337, account)
    assert stored is not None and stored[0]["policies"]["mpc"] == report["policies"]["mpc"]

    result = runner.invoke(
        app, ["control", "flex", "--set", SET, "--home", "Building_1", "--hours", "2"]
    )
    assert result.exit_code == 0, result.output
    flex = json.loads(result.stdout.strip().splitlines()[-1])
    [home] = flex.values()
    assert len(home["up_wh"]) == len(home["down_wh"]) == 8
    assert all(v >= 0 for v in home["up_wh"] + home["down_wh"])


def test_errors_are_one_line_and_name_the_problem(tmp_path) -> None:
    bad = tmp_path / "cost.json"
    bad.write_text(json.dumps({"weights": {"comfrot": 3}}))
    bright = [sys.executable, "-m", "bright.cli", "control"]
    for args, message in (
        (["compare", "--cost", str(bad)], "unknown term(s) comfrot"),
        (["compare", "--policies", "bau,magic", "--days", "1"], "unknown policy 'magic'"),
        (["compare", "--account", "0x" + "c1" * 20], "--account needs --home"),
    ):
        proc = subprocess.run([*bright, *args], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2, (args, proc.stderr)
        assert message in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr


def test_compare_on_a_homes_own_csv_and_twin_file(tmp_path) -> None:
    from analytics.thermal.service import calibrate_source, load_source
    from bright.cli import app
    from tests.analytics.control.test_control import _own_frame

    _, twin_file = calibrate_source(load_source(f"citylearn:{SET}/Building_1"))
    twin = tmp_path / "twin.json"
    twin.write_text(json.dumps(twin_file))
    data = tmp_path / "my-home.csv"
    _own_frame().rename_axis("time").reset_index().to_csv(data, index=False)
    runner = CliRunner()
    result = runner.invoke(
        app,
        [
            "control",
            "compare",
            "--data",
            str(data),
            "--twin",
            str(twin),
            "--days",
            "1",
            "--policies",
            "bau,mpc",
            "--battery-kwh",
            "4",
            "--battery-kw",
            "3.3",
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["period"]["homes"] == 1
    p = report["policies"]
    assert p["mpc"]["totals"]["cost"] < p["bau"]["totals"]["cost"]
    assert p["mpc"]["totals"]["violation_kh"] <= p["bau"]["totals"]["violation_kh"] + 1e-6
    result = runner.invoke(app, ["control", "compare", "--data", str(data), "--days", "1"])
    assert result.exit_code != 0
    assert result.exit_code == 2
    assert "needs --data FILE.csv and --twin FILE" in result.stderr
