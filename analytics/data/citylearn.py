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

from bright.errors import DataError, ToolchainError
from bright.paths import CACHE_DIR

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
        cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
               "--dest", tmp, f"citylearn=={CITYLEARN_VERSION}"]
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
        battery = (spec.get("electrical_storage") or {}).get("attributes", {}).get("capacity", 0.0)
        result.append(HomeInfo(home_id=name, pv_kw=float(pv or 0.0), battery_kwh=float(battery or 0.0)))
    result.sort(key=lambda h: int(h.home_id.rsplit("_", 1)[-1]) if h.home_id[-1].isdigit() else 0)
    return result
