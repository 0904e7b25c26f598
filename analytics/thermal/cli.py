"""``bright twin``: calibrate a home's thermal twin, simulate it, ask what-ifs, write a report.

Progress goes to stderr, results (JSON) to stdout. A twin is kept in a *twin file* (JSON) that
``calibrate`` writes and the other commands read.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from analytics.thermal.learn import Learned

app = typer.Typer(
    help="Thermal twin of a home (SLC): calibrate, simulate, what-if, report.", no_args_is_help=True
)

SOURCE_HELP = (
    "The home's measured data: csv:PATH (columns: analytics/thermal/calibrate.py) or "
    "citylearn:SET/Building_N (e.g. citylearn:baeda_3dem/Building_1)."
)


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _emit(payload: object) -> None:
    typer.echo(json.dumps(payload, default=str))


@app.command()
def calibrate(
    source: Annotated[str, typer.Argument(help=SOURCE_HELP)],
    out: Annotated[Path, typer.Option(help="Twin file to write.")] = Path("twin.json"),
    lat: Annotated[
        float | None, typer.Option(min=-90, max=90, help="Latitude (CSV homes).")
    ] = None,
    lon: Annotated[
        float | None, typer.Option(min=-180, max=180, help="Longitude (CSV homes).")
    ] = None,
    train_share: Annotated[
        float,
        typer.Option(min=0.3, max=1.0, help="Share of the data fitted on; the rest validates."),
    ] = 0.75,
) -> None:
    """Fit the twin to measured indoor temperature and heating/cooling energy."""
    from analytics.thermal.service import calibrate_source, load_source

    src = load_source(source, lat, lon)
    _, twin_file = calibrate_source(src, _progress, train_share)
    out.write_text(json.dumps(twin_file, indent=1))
    _progress(f"wrote {out}")
    _emit({"twin_file": str(out), **twin_file["fit"]})


@app.command()
def simulate(
    twin: Annotated[Path, typer.Option(help="Twin file (from `bright twin calibrate`).")] = Path(
        "twin.json"
    ),
    weather: Annotated[
        str,
        typer.Option(
            help="'source' (the twin's own data period) or 'try' (a heating year: DWD TRY Potsdam)."
        ),
    ] = "source",
    step_s: Annotated[int, typer.Option(help="900 or 3600.")] = 900,
    out: Annotated[Path | None, typer.Option(help="CSV of the simulated series.")] = None,
) -> None:
    """Simulate the twin; print its totals (and write the series as CSV)."""
    from analytics.thermal.calibrate import check_measured, drivers_for
    from analytics.thermal.errors import ThermalConfigError
    from analytics.thermal.scenarios import totals
    from analytics.thermal.service import load_source, read_twin_file
    from analytics.thermal.twin import TwinConfig
    from analytics.thermal.twin import simulate as run
    from analytics.thermal.weather import try_weather

    if step_s not in (900, 3600):
        raise ThermalConfigError(f"--step-s must be 900 or 3600, got {step_s}")
    data = read_twin_file(twin)
    config = TwinConfig.from_json(data["config"])
    if weather == "source":
        m = check_measured(
            load_source(data["source"], data.get("latitude"), data.get("longitude")).frame
        )
        d, c = drivers_for(m)
        if step_s != m.step_s:
            raise ThermalConfigError(
                f"the source is at {m.step_s} s steps; use --step-s {m.step_s} "
                "with --weather source"
            )
        _progress(f"simulating {len(m.frame)} steps of the source period ...")
        result = run(
            config,
            m.frame[["outdoor_c", "direct_w_m2", "diffuse_w_m2"]],
            step_s=step_s,
            drivers=[d],
            controls=c,
        )
    elif weather == "try":
        _progress("simulating a test reference year (Potsdam) ...")
        result = run(config, try_weather(), step_s=step_s)
    else:
        raise ThermalConfigError(f"--weather must be 'source' or 'try', got {weather!r}")
    if out is not None:
        result.home().to_csv(out, index_label="time")
        _progress(f"wrote {out}")
    _emit({"steps": len(result.times), "step_s": step_s, **totals(result, config)})


@app.command()
def whatif(
    twin: Annotated[Path, typer.Option(help="Twin file.")] = Path("twin.json"),
    scenario: Annotated[
        list[Path] | None,
        typer.Option(
            help="Scenario JSON file(s) (analytics/thermal/scenarios.py); "
            "default: the four standard ones."
        ),
    ] = None,
) -> None:
    """As-is against what-if scenarios over the twin's data period: totals side by side."""
    from analytics.thermal.errors import ThermalConfigError
    from analytics.thermal.scenarios import Scenario
    from analytics.thermal.service import build_record, read_twin_file

    data = read_twin_file(twin)
    chosen = None
    if scenario:
        chosen = []
        for path in scenario:
            try:
                chosen.append(Scenario.from_json(json.loads(path.read_text())))
            except (OSError, ValueError) as exc:
                raise ThermalConfigError(f"cannot read scenario {path}: {exc}") from exc
    record = build_record(data, scenarios=chosen, progress=_progress)
    _emit(
        {
            "home_id": record.home_id,
            "scenarios": [
                {"name": s.name, "description": s.description, **s.totals} for s in record.scenarios
            ],
        }
    )


@app.command()
def report(
    twin: Annotated[Path, typer.Option(help="Twin file.")] = Path("twin.json"),
    out: Annotated[Path, typer.Option(help="HTML file to write.")] = Path("twin-report.html"),
) -> None:
    """A self-contained HTML report: parameters, fit, measured against simulated, what-ifs."""
    from analytics.thermal.report import write_report
    from analytics.thermal.service import build_record, read_twin_file

    record = build_record(read_twin_file(twin), progress=_progress)
    path = write_report(record, out)
    _progress(f"wrote {path}")
    _emit({"report": str(path), "home_id": record.home_id})


@app.command()
def learn(
    source: Annotated[str, typer.Argument(help=SOURCE_HELP)],
    out: Annotated[Path, typer.Option(help="Model file to write (torch).")] = Path("pimf.pt"),
    lat: Annotated[
        float | None, typer.Option(min=-90, max=90, help="Latitude (CSV homes).")
    ] = None,
    lon: Annotated[
        float | None, typer.Option(min=-180, max=180, help="Longitude (CSV homes).")
    ] = None,
    checkpoint: Annotated[
        Path | None,
        typer.Option(help="Checkpoint file: written every 10 epochs; an interrupted run resumes."),
    ] = None,
    warm_start: Annotated[
        bool, typer.Option(help="Start from the generic model shipped with the code.")
    ] = True,
    epochs: Annotated[
        int | None, typer.Option(min=0, max=1000, help="Default: 20 warm, 40 from scratch.")
    ] = None,
    account: Annotated[
        str | None,
        typer.Option(
            help="Store the model (and its forecast) in the read models for this member's "
            "address (BRIGHT_DATABASE_URL): GET /twin/model serves it."
        ),
    ] = None,
    chain_id: Annotated[
        int, typer.Option(min=1, help="The chain the member is registered on (--account).")
    ] = 31337,
) -> None:
    """Train the home's physics-informed model (PIMF) and check its validation gate."""
    from analytics.thermal.learn import learn as run
    from analytics.thermal.learn import utc_offset_for
    from analytics.thermal.service import load_source

    src = load_source(source, lat, lon)
    _progress(f"training the physics-informed model of {src.home_id} ({len(src.frame)} rows) ...")
    learned = run(
        src.frame,
        name=src.home_id,
        utc_offset_h=utc_offset_for(source, src.longitude),
        warm_start=warm_start,
        epochs=epochs,
        checkpoint=checkpoint,
        progress=_progress,
    )
    model = learned.result.model
    model.save(out)
    _progress(f"wrote {out}")
    summary = learned.summary()
    if not summary["usable"]:
        _progress(f"the model failed its validation gate: {summary['reason']}")
    if account is not None:
        _store_model(account, chain_id, src.home_id, learned)
    _emit({"model": str(out), **summary, "forecast": learned.forecast})


STORE_MODEL: Callable[[str, int, str, Learned], None] | None = None
"""Stores a trained model in the read models; set by the application (``bright/cli.py``), which
owns the database (the analytics layer does not open it)."""


def _store_model(account: str, chain_id: int, home_id: str, learned: Learned) -> None:
    from analytics.thermal.errors import ThermalConfigError

    if STORE_MODEL is None:
        raise ThermalConfigError("--account needs the read models: run this as `bright twin`")
    STORE_MODEL(account, chain_id, home_id, learned)
    _progress(f"stored the model of {account} in the read models")


@app.command()
def forecast(
    source: Annotated[str, typer.Argument(help=SOURCE_HELP)],
    model: Annotated[Path, typer.Option(help="Model file (from `bright twin learn`).")] = Path(
        "pimf.pt"
    ),
    lat: Annotated[
        float | None, typer.Option(min=-90, max=90, help="Latitude (CSV homes).")
    ] = None,
    lon: Annotated[
        float | None, typer.Option(min=-180, max=180, help="Longitude (CSV homes).")
    ] = None,
    origin: Annotated[
        str | None,
        typer.Option(
            help="Last measured interval (ISO 8601 start, UTC); default: a day before the end."
        ),
    ] = None,
    hours: Annotated[int, typer.Option(min=1, max=24, help="Hours ahead.")] = 24,
    setpoint_offset: Annotated[
        list[float] | None,
        typer.Option(help="What-if plans: the measured setpoints moved by K (default: -1)."),
    ] = None,
) -> None:
    """Indoor temperature and the heat needed, up to 24 h ahead, under setpoint plans
    (refuses a model that failed its validation gate)."""
    import pandas as pd

    from analytics.thermal.errors import ThermalConfigError
    from analytics.thermal.learn import forecast as run
    from analytics.thermal.pimf import PimfModel
    from analytics.thermal.service import load_source

    if not model.exists():
        raise ThermalConfigError(f"no model file {model}; make one with `bright twin learn`")
    pm = PimfModel.load(model)
    src = load_source(source, lat, lon)
    at = None
    if origin is not None:
        try:
            at = pd.Timestamp(origin)
        except ValueError as exc:
            raise ThermalConfigError(f"--origin {origin!r} is not ISO 8601: {exc}") from exc
        at = at.tz_localize("UTC") if at.tzinfo is None else at.tz_convert("UTC")
    offsets = setpoint_offset if setpoint_offset is not None else [-1.0]
    plans = {"as-is": 0.0} | {f"setpoint{k:+g}": k for k in offsets if k != 0}
    _emit(run(pm, src.frame, origin=at, hours=hours, plans=plans))
