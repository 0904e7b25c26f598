"""``bright twin``: calibrate a CSV home, simulate it, what-ifs; clear one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys

from typer.testing import CliRunner

from analytics.thermal.cli import app
from tests.analytics.thermal.test_calibrate import generate, synthetic_winter, truth


def _csv(tmp_path):
    _, true = truth()
    data = generate(true, synthetic_winter(21), noise_c=0.1, noise_share=0.03)
    path = tmp_path / "home.csv"
    data.rename_axis("time").reset_index().to_csv(path, index=False)
    return path


def test_calibrate_simulate_whatif_from_a_csv(tmp_path) -> None:
    path = _csv(tmp_path)
    twin = tmp_path / "twin.json"
    runner = CliRunner()
    result = runner.invoke(
        app, ["calibrate", f"csv:{path}", "--lat", "52.5", "--lon", "13.4", "--out", str(twin)]
    )
    assert result.exit_code == 0, result.output
    fit = json.loads(result.stdout.strip().splitlines()[-1])
    assert fit["validation"]["rmse_c"] < 1.0 and set(fit["factors"]) == {
        "envelope",
        "ventilation",
        "capacity",
        "solar",
        "gains",
    }
    assert "calibrating" in result.stderr
    result = runner.invoke(
        app,
        ["simulate", "--twin", str(twin), "--step-s", "3600", "--out", str(tmp_path / "sim.csv")],
    )
    assert result.exit_code == 0, result.output
    totals = json.loads(result.stdout.strip().splitlines()[-1])
    assert totals["steps"] == 21 * 24 and totals["heat_kwh"] > 100
    assert (tmp_path / "sim.csv").read_text().startswith("time,indoor_c,heat_wh")
    scenario = tmp_path / "cold.json"
    scenario.write_text(
        json.dumps({"name": "cold", "description": "2 K cooler", "setpoint_offset_k": -2})
    )
    result = runner.invoke(app, ["whatif", "--twin", str(twin), "--scenario", str(scenario)])
    assert result.exit_code == 0, result.output
    rows = {s["name"]: s for s in json.loads(result.stdout.strip().splitlines()[-1])["scenarios"]}
    assert set(rows) == {"as-is", "cold"}
    assert rows["cold"]["heat_kwh"] < 0.9 * rows["as-is"]["heat_kwh"]


def test_errors_are_one_line_and_name_the_problem(tmp_path) -> None:
    bright = [sys.executable, "-m", "bright.cli"]
    bad = tmp_path / "bad.csv"
    bad.write_text("time,indoor_c,outdoor_c,heating_kwh\n2024-01-01T00:00Z,20,1,1\n")
    cases = [
        (["twin", "calibrate", f"csv:{bad}"], "needs its place"),
        (["twin", "calibrate", f"csv:{bad}", "--lat", "50", "--lon", "8"], "at least two days"),
        (["twin", "calibrate", "citylearn:nowhere/Building_1"], "unknown CityLearn set"),
        (["twin", "simulate", "--twin", str(bad)], "cannot read the twin file"),
    ]
    for args, message in cases:
        proc = subprocess.run([*bright, *args], capture_output=True, text=True, timeout=120)
        assert proc.returncode != 0
        assert message in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr
