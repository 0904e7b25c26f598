"""From data to a stored twin: the steps ``bright twin`` and the demo share.

A *source* is where a home's measured data comes from: a CSV file (:func:`calibrate.load_csv`),
a data frame, or one of the CityLearn 2023 homes (``citylearn:SET/Building_N``). A *twin file*
(JSON) holds the calibrated configuration, the fit report and the source, so that ``simulate``,
``whatif`` and ``report`` can run later without calibrating again.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analytics.data import citylearn2023 as cl
from analytics.thermal.calibrate import (
    Calibration,
    _floor_guess,
    calibrate,
    check_measured,
    drivers_for,
    load_csv,
)
from analytics.thermal.errors import ThermalConfigError, ThermalDataError
from analytics.thermal.network import Building
from analytics.thermal.results import Series, TwinRecord
from analytics.thermal.scenarios import Scenario, run_scenarios
from analytics.thermal.twin import TwinConfig

Progress = Callable[[str], None]
TWIN_FILE_VERSION = 1


def _quiet(_: str) -> None:
    pass


@dataclass
class Source:
    """Where a home's data comes from, and where the home is."""

    key: str
    """``csv:PATH`` or ``citylearn:SET/Building_N``."""
    frame: pd.DataFrame
    latitude: float
    longitude: float

    @property
    def home_id(self) -> str:
        return self.key.split(":", 1)[1]


def load_source(key: str, latitude: float | None = None, longitude: float | None = None) -> Source:
    """A source by its key (module docstring); a CSV needs the home's place."""
    kind, _, rest = key.partition(":")
    if kind == "citylearn":
        set_name, _, home = rest.partition("/")
        if set_name not in cl.ALL:
            raise ThermalDataError(
                f"unknown CityLearn set {set_name!r}; known: {', '.join(cl.ALL)}"
            )
        data = cl.ALL[set_name]
        frame = cl.load_home(set_name, home)
        return Source(
            key,
            frame,
            latitude if latitude is not None else data.latitude,
            longitude if longitude is not None else data.longitude,
        )
    if kind == "csv":
        if latitude is None or longitude is None:
            raise ThermalConfigError("a CSV home needs its place: give --lat and --lon")
        return Source(key, load_csv(Path(rest)), latitude, longitude)
    raise ThermalDataError(f"unknown source {key!r}: use csv:PATH or citylearn:SET/Building_N")


def calibrate_source(
    source: Source, progress: Progress = _quiet, train_share: float = 0.75
) -> tuple[Calibration, dict[str, Any]]:
    """Calibrate a twin on a source; returns the calibration and the twin file's content."""
    progress(f"checking {source.key} ({len(source.frame)} rows) ...")
    measured = check_measured(source.frame)
    start = TwinConfig(
        building=Building.typical(_floor_guess(measured)),
        latitude=source.latitude,
        longitude=source.longitude,
    )
    progress("calibrating (least squares) ...")
    started = time.perf_counter()
    cal = calibrate(
        measured, start, train_share=train_share, progress=lambda n: progress(f"  {n} simulations")
    )
    progress(
        f"calibrated in {time.perf_counter() - started:.1f} s; validation RMSE "
        f"{(cal.fit['validation'] or cal.fit['train'])['rmse_c']:.2f} K"
    )
    twin_file = {
        "version": TWIN_FILE_VERSION,
        "home_id": source.home_id,
        "source": source.key,
        "latitude": source.latitude,
        "longitude": source.longitude,
        "config": cal.config.to_json(),
        "fit": cal.report(),
    }
    return cal, twin_file


_CALIBRATED: dict[tuple[str, float], tuple[Source, Calibration, dict[str, Any]]] = {}
_CALIBRATED_LOCK = threading.Lock()


def calibrated_citylearn(
    key: str, train_share: float = 0.75
) -> tuple[Source, Calibration, dict[str, Any]]:
    """A CityLearn home's source and calibrated twin, calibrated once per process (the
    packaged data does not change): ``bright up``'s twins and its controlled homes share it."""
    if not key.startswith("citylearn:"):
        raise ThermalDataError(f"{key}: only CityLearn homes are calibrated once per process")
    with _CALIBRATED_LOCK:
        found = _CALIBRATED.get((key, train_share))
        if found is None:
            source = load_source(key)
            cal, twin_file = calibrate_source(source, train_share=train_share)
            found = _CALIBRATED[(key, train_share)] = (source, cal, twin_file)
        return found


def read_twin_file(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise ThermalConfigError(f"cannot read the twin file {path}: {exc}") from exc
    if (
        not isinstance(data, dict)
        or data.get("version") != TWIN_FILE_VERSION
        or "config" not in data
    ):
        raise ThermalConfigError(f"{path} is not a twin file (made by `bright twin calibrate`)")
    TwinConfig.from_json(data["config"])  # validates
    return data


def measured_series(source: Source) -> Series:
    m = check_measured(source.frame)
    f = m.frame
    wh = 1000.0

    def r(values: np.ndarray, digits: int) -> list[float | None]:
        return [round(float(v), digits) if np.isfinite(v) else None for v in values]

    return Series(
        start_s=int(f.index[0].timestamp()),
        step_s=m.step_s,
        indoor_c=r(f["indoor_c"].to_numpy(), 2),
        heat_wh=r(m.heat_kwh * wh, 1),
        electricity_wh=[None] * len(f),
        fuel_wh=[],
        outdoor_c=r(f["outdoor_c"].to_numpy(), 2),
        setpoint_c=r(f["setpoint_c"].to_numpy(), 2) if "setpoint_c" in f.columns else [],
    )


def build_record(
    twin_file: dict[str, Any],
    source: Source | None = None,
    scenarios: list[Scenario] | None = None,
    progress: Progress = _quiet,
) -> TwinRecord:
    """The twin's record (what is stored and served): the measured series and ``as-is`` plus
    the scenarios, simulated over the source's period with its measured setpoints and gains."""
    config = TwinConfig.from_json(twin_file["config"])
    source = source or load_source(
        twin_file["source"], twin_file.get("latitude"), twin_file.get("longitude")
    )
    m = check_measured(source.frame)
    drivers, controls = drivers_for(m)
    progress(f"simulating as-is and {len(scenarios) if scenarios is not None else 4} scenarios ...")
    results = run_scenarios(
        config,
        m.frame[["outdoor_c", "direct_w_m2", "diffuse_w_m2"]],
        scenarios,
        step_s=m.step_s,
        drivers=drivers,
        controls=controls,
    )
    return TwinRecord(
        home_id=twin_file["home_id"],
        params=twin_file["config"],
        fit=twin_file["fit"],
        measured=measured_series(source),
        scenarios=results,
        created_s=int(time.time()),
    )
