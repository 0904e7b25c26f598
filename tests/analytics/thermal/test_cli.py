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


def test_learn_forecast_and_store_the_physics_informed_model(tmp_path) -> None:
    """A development home: trained (warm start), gate passed, stored for the API; forecasts
    under setpoint plans; a model whose gate failed is refused with the reason."""
    from analytics.thermal.pimf import PimfModel
    from analytics.thermal.store import get_model_bytes, get_model_info
    from streams.db import open_database

    home = "citylearn:citylearn_challenge_2023_phase_2_online_evaluation_1/Building_1"
    model = tmp_path / "pimf.pt"
    db = f"sqlite:///{tmp_path / 'read_models.sqlite'}"
    account = "0x" + "a1" * 20
    runner = CliRunner()
    from bright.cli import app as bright_app  # `bright twin` stores into the read models

    result = runner.invoke(
        bright_app,
        ["twin", "learn", home, "--out", str(model), "--account", account, "--chain-id", "31337"],
        env={"BRIGHT_DATABASE_URL": db},
    )
    assert result.exit_code == 0, result.output
    learned = json.loads(result.stdout.strip().splitlines()[-1])
    assert learned["usable"] is True and learned["gate"]["worst_lead_share_within"] >= 0.95
    assert "epoch 20/20" in result.stderr
    plans = learned["forecast"]["plans"]
    assert set(plans) == {"as-is", "setpoint-1"} and len(plans["as-is"]["indoor_c"]) == 24
    engine = open_database(db)
    info = get_model_info(engine, 31337, account)
    assert info is not None and info.usable and info.forecast == learned["forecast"]
    assert get_model_bytes(engine, 31337, account) is not None
    engine.dispose()

    result = runner.invoke(app, ["forecast", home, "--model", str(model), "--hours", "12"])
    assert result.exit_code == 0, result.output
    made = json.loads(result.stdout.strip().splitlines()[-1])
    as_is, lower = made["plans"]["as-is"], made["plans"]["setpoint-1"]
    measured = made["measured"]["indoor_c"]
    assert len(as_is["indoor_c"]) == 12
    assert sum(abs(a - b) for a, b in zip(as_is["indoor_c"], measured, strict=True)) / 12 < 1.0
    # a summer day in a cooled home: 1 K lower takes more cooling (heat is negative)
    assert sum(lower["heat_kwh"]) < sum(as_is["heat_kwh"])
    assert sum(lower["indoor_c"]) < sum(as_is["indoor_c"])

    refused = PimfModel.load(model)
    assert refused.gate is not None
    refused.gate = refused.gate.__class__(
        **{**refused.gate.to_json(), "usable": False, "reason": "at 3 h ahead only 90% ..."}
    )
    refused.save(tmp_path / "refused.pt")
    bright = [sys.executable, "-m", "bright.cli", "twin", "forecast", home]
    run = subprocess.run(
        [*bright, "--model", str(tmp_path / "refused.pt")], capture_output=True, text=True
    )
    assert run.returncode == 1
    assert "failed its validation gate: at 3 h ahead only 90%" in run.stderr
    assert run.stdout == ""
