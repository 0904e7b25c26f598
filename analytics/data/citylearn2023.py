"""The CityLearn 2023 homes: hourly indoor temperature, setpoints, HVAC loads, occupancy, weather.

These homes were simulated with EnergyPlus (ResStock archetypes), not measured; they are the
only homes at hand with an indoor temperature and the heating/cooling energy that held it, so the
thermal twin (``analytics/thermal``) is developed on them. Each building also ships the LSTM
dynamics model (``Building_N.pth``) CityLearn uses to predict its indoor temperature: the peer
the twin is compared with (:mod:`analytics.thermal.lstm_peer`).

The data ships inside the ``citylearn==2.1.2`` wheel (MIT licence), fetched with
``pip download --no-deps`` like the 2022 homes (:mod:`analytics.data.citylearn`).

**Development and held-out sets.** :data:`DEVELOP` (the 3 homes of
``citylearn_challenge_2023_phase_2_online_evaluation_1`` and the 4 of ``baeda_3dem``) are the
sets the twin and the physics-informed model are developed and tuned on. :data:`HELD_OUT` are
kept apart for independent checks: nothing is tuned on them.

**Clock and place.** The CSV files carry Month, Hour (1..24, hour *ending*) and Day Type
(1 = Monday) but no year. The 2023 challenge sets start on a Tuesday 1 June: 2021; they are
Austin, Texas homes, and the hour of peak irradiance (12:00-13:00 on the data's clock) matches
solar noon in Central *standard* time (UTC-6, the daylight-saving column is 0), so the clock is
taken as UTC-6 throughout. ``baeda_3dem`` starts on a Monday 1 June (2020) with daylight saving
flagged on; its location is not given: it is taken as Turin, Italy (the BAEDA lab), on Central
European Summer Time (UTC+2). Both places are cooling-dominated in these months: there is no
heating season in the development data (README, "Thermal twin").
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from analytics.data.citylearn import CITYLEARN_VERSION, DATA_ROOT
from core.errors import DataError, ToolchainError


@dataclass(frozen=True)
class DataSet:
    """One CityLearn 2023 data set: where its clock is and where its homes are."""

    name: str
    first_local: str
    """Local start of the first hourly interval."""
    utc_offset_h: int
    """Fixed offset of the data's clock from UTC, hours."""
    latitude: float
    longitude: float
    place: str


AUSTIN_LAT, AUSTIN_LON, AUSTIN = 30.27, -97.74, "Austin, Texas (assumed)"
DEVELOP: dict[str, DataSet] = {
    "citylearn_challenge_2023_phase_2_online_evaluation_1": DataSet(
        "citylearn_challenge_2023_phase_2_online_evaluation_1",
        "2021-06-01 00:00",
        -6,
        AUSTIN_LAT,
        AUSTIN_LON,
        AUSTIN,
    ),
    "baeda_3dem": DataSet(
        "baeda_3dem",
        "2020-06-01 00:00",
        2,
        latitude=45.07,
        longitude=7.69,
        place="Turin, Italy (assumed)",
    ),
}
"""The sets the thermal models are developed and tuned on."""

HELD_OUT: dict[str, DataSet] = {
    name: DataSet(name, "2021-06-01 00:00", -6, AUSTIN_LAT, AUSTIN_LON, AUSTIN)
    for name in (
        "citylearn_challenge_2023_phase_1",
        "citylearn_challenge_2023_phase_2_local_evaluation",
        "citylearn_challenge_2023_phase_2_online_evaluation_2",
        "citylearn_challenge_2023_phase_2_online_evaluation_3",
    )
}
"""Kept apart for independent checks: never tuned on. (Their start dates are not checked
against the calendar here; only the development sets' are.)"""

ALL = {**DEVELOP, **HELD_OUT}

_HOME_COLUMNS = {
    "Indoor Temperature": "indoor_c",
    "Average Unmet Cooling Setpoint Difference": "unmet_cooling_k",
    "Indoor Relative Humidity": "indoor_rh_pct",
    "Equipment Electric Power": "equipment_kwh",
    "DHW Heating": "dhw_kwh",
    "Cooling Load": "cooling_kwh",
    "Heating Load": "heating_kwh",
    "Solar Generation": "pv_w_per_kw",
    "Occupant Count": "occupants",
    "Temperature Set Point": "setpoint_c",
    "HVAC Mode": "hvac_mode",
}
_WEATHER_COLUMNS = {
    "Outdoor Drybulb Temperature": "outdoor_c",
    "Outdoor Relative Humidity": "outdoor_rh_pct",
    "Diffuse Solar Radiation": "diffuse_w_m2",
    "Direct Solar Radiation": "direct_w_m2",
}


def _plain(column: str) -> str:
    """``'6h Prediction Outdoor Drybulb Temperature [C]'`` ->
    ``'6h Outdoor Drybulb Temperature'``."""
    column = re.sub(r"\s*[\[(][^\])]*[\])]\s*$", "", column.strip())
    return column.replace("Prediction ", "")


def dataset_dir(name: str, fetch: bool = True) -> Path:
    """Folder of one 2023 data set (CSV files, ``schema.json`` and the LSTM ``.pth`` files).

    The first call fetches the wheel from PyPI and extracts every 2023 set at once."""
    if name not in ALL:
        raise DataError(f"unknown CityLearn 2023 data set {name!r}; known: {', '.join(ALL)}")
    target = DATA_ROOT / name
    if (target / "schema.json").exists():
        return target
    if not fetch:
        raise DataError(f"CityLearn data set {name} not found in {target}; run `make setup`")
    DATA_ROOT.mkdir(parents=True, exist_ok=True)
    print(f"fetching citylearn=={CITYLEARN_VERSION} (2023 homes) from PyPI ...", file=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-deps",
                "--dest",
                tmp,
                f"citylearn=={CITYLEARN_VERSION}",
            ],
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            raise ToolchainError(f"pip download citylearn failed: {proc.stderr.strip()[-500:]}")
        wheels = list(Path(tmp).glob("*.whl"))
        if not wheels:
            raise ToolchainError("pip download citylearn produced no wheel")
        with zipfile.ZipFile(wheels[0]) as zf:
            for set_name in ALL:
                final = DATA_ROOT / set_name
                if (final / "schema.json").exists():
                    continue
                prefix = f"citylearn/data/{set_name}/"
                members = [m for m in zf.namelist() if m.startswith(prefix) and not m.endswith("/")]
                staging = DATA_ROOT / f".{set_name}.partial"
                staging.mkdir(parents=True, exist_ok=True)
                for member in members:
                    (staging / Path(member).name).write_bytes(zf.read(member))
                staging.rename(final)
    return target


def schema(name: str, fetch: bool = True) -> dict:
    path = dataset_dir(name, fetch) / "schema.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read {path}: {exc}") from exc


def home_ids(name: str, fetch: bool = True) -> list[str]:
    """The buildings of a set, ``Building_1`` ... in their natural order."""
    names = list(schema(name, fetch)["buildings"])
    return sorted(names, key=lambda b: int(b.rsplit("_", 1)[-1]))


def _index(data: DataSet, periods: int) -> pd.DatetimeIndex:
    local = pd.date_range(data.first_local, periods=periods, freq="h")
    return (
        (local - pd.Timedelta(hours=data.utc_offset_h)).tz_localize("UTC").rename("interval_start")
    )


def _read(path: Path, columns: dict[str, str], forecasts: bool) -> pd.DataFrame:
    try:
        raw = pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read {path}: {exc}") from exc
    out = {}
    for column in raw.columns:
        plain = _plain(column)
        if plain in columns:
            out[columns[plain]] = raw[column].astype(float)
        elif forecasts:
            m = re.match(r"^(\d+)h (.+)$", plain)
            if m and m.group(2) in columns:
                out[f"{columns[m.group(2)]}_pred_{m.group(1)}h"] = raw[column].astype(float)
    missing = [v for v in columns.values() if v not in out]
    if missing:
        raise DataError(f"{path}: columns missing: {', '.join(missing)}")
    return pd.DataFrame(out)


def load_home(name: str, home_id: str, fetch: bool = True) -> pd.DataFrame:
    """One home of a 2023 set with its weather, hourly, indexed by the UTC start of each hour.

    Columns: ``indoor_c``, ``setpoint_c``, ``hvac_mode`` (0 off, 1 cooling, 2 heating),
    ``cooling_kwh`` and ``heating_kwh`` (thermal energy the HVAC delivered in the hour),
    ``dhw_kwh``, ``equipment_kwh``, ``occupants``, ``indoor_rh_pct``, ``unmet_cooling_k``,
    ``pv_w_per_kw``, ``outdoor_c``, ``outdoor_rh_pct``, ``direct_w_m2``, ``diffuse_w_m2`` and the
    weather forecasts issued at each hour for 6, 12 and 24 h later (``outdoor_c_pred_24h``, ...).
    """
    data = ALL.get(name)
    if data is None:
        raise DataError(f"unknown CityLearn 2023 data set {name!r}; known: {', '.join(ALL)}")
    folder = dataset_dir(name, fetch)
    if home_id not in home_ids(name, fetch):
        raise DataError(f"{name} has no home {home_id!r}; it has {', '.join(home_ids(name))}")
    home = _read(folder / f"{home_id}.csv", _HOME_COLUMNS, forecasts=False)
    weather = _read(folder / "weather.csv", _WEATHER_COLUMNS, forecasts=True)
    if len(weather) < len(home):
        raise DataError(f"{folder}/weather.csv has {len(weather)} rows, the home {len(home)}")
    frame = pd.concat([home, weather.iloc[: len(home)].reset_index(drop=True)], axis=1)
    frame.index = _index(data, len(frame))
    return frame


def lstm_spec(name: str, home_id: str, fetch: bool = True) -> dict:
    """The schema's description of a building's LSTM dynamics model (cooling side) and the path
    of its state dict."""
    building = schema(name, fetch)["buildings"][home_id]
    dyn = building.get("dynamics") or {}
    spec = dyn.get("cooling") or dyn.get("heating")
    if spec is None:
        raise DataError(f"{name}/{home_id} has no LSTM dynamics model in its schema")
    attributes = dict(spec["attributes"])
    attributes["path"] = str(dataset_dir(name, fetch) / attributes.pop("filename"))
    return attributes
