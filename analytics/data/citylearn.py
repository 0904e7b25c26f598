"""The real CityLearn 2022 homes: 17 measured homes with PV, hourly, one year (MIT licence).

The data ships inside the ``citylearn==2.1.2`` wheel on PyPI. It is fetched with
``pip download --no-deps`` (citylearn itself is never installed: it pins old pandas and
scikit-learn) and only the data folder is extracted into ``.cache/data``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from core.errors import DataError, ToolchainError
from core.paths import CACHE_DIR

CITYLEARN_VERSION = "2.1.2"
DATASET = "citylearn_challenge_2022_phase_all"
DATA_ROOT = CACHE_DIR / "data" / f"citylearn-{CITYLEARN_VERSION}"


@dataclass(frozen=True)
class HomeInfo:
    """A home of the data set and the equipment its schema declares."""

    home_id: str
    """Building name in the data set, e.g. ``Building_1``."""
    pv_kw: float
    """Nominal PV power, kWp (0 where the home has none)."""
    battery_kwh: float
    """Battery capacity, kWh (0 where the home has none)."""
    battery_kw: float = 0.0
    """Battery nominal (dis)charge power, kW (0 where the home has none)."""


def dataset_dir(fetch: bool = True) -> Path:
    """Folder holding the CSV files and ``schema.json`` of the 2022 homes.

    Downloads the wheel from PyPI on first use when ``fetch`` is true; raises
    :class:`DataError` when the data is missing and ``fetch`` is false.
    """
    target = DATA_ROOT / DATASET
    if (target / "schema.json").exists():
        return target
    if not fetch:
        raise DataError(f"CityLearn data not found in {target}; run `make setup` to fetch it")
    DATA_ROOT.mkdir(parents=True, exist_ok=True)
    print(f"fetching citylearn=={CITYLEARN_VERSION} data from PyPI ...", file=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--dest",
            tmp,
            f"citylearn=={CITYLEARN_VERSION}",
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise ToolchainError(f"pip download citylearn failed: {proc.stderr.strip()[-500:]}")
        wheels = list(Path(tmp).glob("*.whl"))
        if not wheels:
            raise ToolchainError("pip download citylearn produced no wheel")
        prefix = f"citylearn/data/{DATASET}/"
        with zipfile.ZipFile(wheels[0]) as zf:
            members = [m for m in zf.namelist() if m.startswith(prefix) and not m.endswith("/")]
            staging = DATA_ROOT / f".{DATASET}.partial"
            staging.mkdir(parents=True, exist_ok=True)
            for member in members:
                (staging / Path(member).name).write_bytes(zf.read(member))
        staging.rename(target)
    return target


def homes(fetch: bool = True) -> list[HomeInfo]:
    """The homes of the data set in their natural order (``Building_1`` ... ``Building_17``)."""
    schema_path = dataset_dir(fetch) / "schema.json"
    try:
        buildings = json.loads(schema_path.read_text())["buildings"]
    except (OSError, ValueError, KeyError) as exc:
        raise DataError(f"cannot read the buildings of {schema_path}: {exc}") from exc
    result = []
    for name, spec in buildings.items():
        pv = (spec.get("pv") or {}).get("attributes", {}).get("nominal_power", 0.0)
        storage = (spec.get("electrical_storage") or {}).get("attributes", {})
        battery = storage.get("capacity", 0.0)
        result.append(
            HomeInfo(home_id=name, pv_kw=float(pv or 0.0), battery_kwh=float(battery or 0.0),
                     battery_kw=float(storage.get("nominal_power", 0.0) or 0.0))
        )
    result.sort(key=lambda h: int(h.home_id.rsplit("_", 1)[-1]) if h.home_id[-1].isdigit() else 0)
    return result


# --------------------------------------------------------------------------------------------
# Frame loaders. The CSV files carry no dates: rows are hours of one year, with Month, Hour
# (1..24, hour *ending*) and Day Type (1 = Monday .. 7 = Sunday). The first row is
# Month 7 / Hour 24 / Day Type 7 and the next Month 8 / Hour 1 / Day Type 1: the year runs from
# Sunday 2016-07-31 23:00 to 2017-07-31 23:00 local time (1 Aug 2016 was a Monday). The homes
# are in California; the daylight-saving column is 0 throughout and every day has 24 rows, so
# the clock is taken as Pacific *standard* time (UTC-8, no DST). Each row becomes the hour
# interval starting at its local start time, converted to UTC.
# --------------------------------------------------------------------------------------------

LOCAL_TZ = "Etc/GMT+8"
"""Time zone of the data's clock: fixed UTC-8 (POSIX sign convention)."""
FIRST_INTERVAL_LOCAL = "2016-07-31 23:00"
HOURS = 8760

LOAD_COLUMN = "Equipment Electric Power [kWh]"
PV_COLUMN = "Solar Generation [W/kW]"
WEATHER_COLUMNS = {
    "Outdoor Drybulb Temperature [C]": "temp_c",
    "Relative Humidity [%]": "rh_pct",
    "Diffuse Solar Radiation [W/m2]": "diffuse_w_m2",
    "Direct Solar Radiation [W/m2]": "direct_w_m2",
    "6h Prediction Outdoor Drybulb Temperature [C]": "temp_c_pred_6h",
    "12h Prediction Outdoor Drybulb Temperature [C]": "temp_c_pred_12h",
    "24h Prediction Outdoor Drybulb Temperature [C]": "temp_c_pred_24h",
    "6h Prediction Relative Humidity [%]": "rh_pct_pred_6h",
    "12h Prediction Relative Humidity [%]": "rh_pct_pred_12h",
    "24h Prediction Relative Humidity [%]": "rh_pct_pred_24h",
    "6h Prediction Diffuse Solar Radiation [W/m2]": "diffuse_w_m2_pred_6h",
    "12h Prediction Diffuse Solar Radiation [W/m2]": "diffuse_w_m2_pred_12h",
    "24h Prediction Diffuse Solar Radiation [W/m2]": "diffuse_w_m2_pred_24h",
    "6h Prediction Direct Solar Radiation [W/m2]": "direct_w_m2_pred_6h",
    "12h Prediction Direct Solar Radiation [W/m2]": "direct_w_m2_pred_12h",
    "24h Prediction Direct Solar Radiation [W/m2]": "direct_w_m2_pred_24h",
}
"""CSV column -> frame column. A ``_pred_Nh`` value on the row of hour t is the forecast, issued
at hour t, for hour t + N."""
PRICE_COLUMNS = {
    "Electricity Pricing [$/kWh]": "price_usd_per_kwh",
    "6h Prediction Electricity Pricing [$/kWh]": "price_usd_per_kwh_pred_6h",
    "12h Prediction Electricity Pricing [$/kWh]": "price_usd_per_kwh_pred_12h",
    "24h Prediction Electricity Pricing [$/kWh]": "price_usd_per_kwh_pred_24h",
}


def hourly_index(periods: int = HOURS) -> pd.DatetimeIndex:
    """UTC start times of the data set's hourly intervals."""
    local = pd.date_range(FIRST_INTERVAL_LOCAL, periods=periods, freq="h", tz=LOCAL_TZ)
    return local.tz_convert("UTC").rename("interval_start")


def _read_csv(name: str, fetch: bool) -> pd.DataFrame:
    path = dataset_dir(fetch) / name
    try:
        frame = pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read {path}: {exc}") from exc
    if len(frame) != HOURS:
        raise DataError(f"{path}: expected {HOURS} hourly rows, found {len(frame)}")
    frame.index = hourly_index(len(frame))
    return frame


def _home_info(home_id: str, fetch: bool) -> HomeInfo:
    known = homes(fetch)
    for info in known:
        if info.home_id == home_id:
            return info
    from analytics.errors import UnknownHomeError

    raise UnknownHomeError(home_id, [h.home_id for h in known])


def load_home(home_id: str, fetch: bool = True) -> pd.DataFrame:
    """Measured load and PV of one home, hourly.

    Returns a frame indexed by the UTC start of each hour with columns ``load_kwh`` (equipment
    electric energy in the hour, kWh; equals mean power in kW) and ``pv_kwh`` (PV energy in the
    hour, kWh: ``Solar Generation [W/kW]`` x nominal kWp / 1000).
    """
    info = _home_info(home_id, fetch)
    raw = _read_csv(f"{home_id}.csv", fetch)
    for col in (LOAD_COLUMN, PV_COLUMN):
        if col not in raw.columns:
            from analytics.errors import MissingColumnsError

            raise MissingColumnsError(f"{home_id}.csv", [col], list(raw.columns))
    return pd.DataFrame(
        {
            "load_kwh": raw[LOAD_COLUMN].astype(float),
            "pv_kwh": raw[PV_COLUMN].astype(float) * info.pv_kw / 1000.0,
        },
        index=raw.index,
    )


def load_homes(home_ids: list[str] | None = None, fetch: bool = True) -> dict[str, pd.DataFrame]:
    """:func:`load_home` for several homes (all of them by default), in data-set order."""
    ids = home_ids if home_ids is not None else [h.home_id for h in homes(fetch)]
    return {home_id: load_home(home_id, fetch) for home_id in ids}


def load_matrix(
    column: str = "load_kwh", home_ids: list[str] | None = None, fetch: bool = True
) -> pd.DataFrame:
    """One column (``load_kwh`` or ``pv_kwh``) of every home side by side: columns are home ids."""
    frames = load_homes(home_ids, fetch)
    return pd.DataFrame({home_id: frame[column] for home_id, frame in frames.items()})


def load_weather(fetch: bool = True) -> pd.DataFrame:
    """Hourly weather with its 6/12/24 h forecasts (column names in :data:`WEATHER_COLUMNS`)."""
    raw = _read_csv("weather.csv", fetch)
    return raw[list(WEATHER_COLUMNS)].rename(columns=WEATHER_COLUMNS).astype(float)


def load_prices(fetch: bool = True) -> pd.DataFrame:
    """Hourly electricity price and its 6/12/24 h forecasts, USD/kWh (:data:`PRICE_COLUMNS`)."""
    raw = _read_csv("pricing.csv", fetch)
    return raw[list(PRICE_COLUMNS)].rename(columns=PRICE_COLUMNS).astype(float)
