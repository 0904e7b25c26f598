"""A heating climate's weather: the German test reference years (DWD TRY 2010) that demandlib
ships, hourly, for the twin's heating-dominated checks and what-ifs.

The CityLearn homes the twin is developed on are in cooling-dominated summers; a heating season
needs a cold climate. TRY 2010 region 4 is Potsdam (52.38 N, 13.07 E), an average year of
1988-2007 observations. The file gives hours 1..24 of Central European Time (UTC+1, no daylight
saving), the air temperature and the *horizontal* direct and diffuse irradiance; the direct
normal irradiance the twin takes is the horizontal beam over the cosine of the sun's zenith
(zenith capped at 85 degrees).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pvlib

from analytics.thermal.errors import ThermalDataError

REGIONS = {4: ("Potsdam", 52.38, 13.07)}


def _try_file(region: int) -> Path:
    import demandlib.vdi

    path = (
        Path(demandlib.vdi.__file__).parent / "resources_weather" / f"TRY2010_{region:02d}_Jahr.dat"
    )
    if not path.exists():
        raise ThermalDataError(f"no TRY 2010 weather for region {region} in demandlib ({path})")
    return path


@lru_cache(maxsize=4)
def try_weather(region: int = 4, year: int = 2023) -> pd.DataFrame:
    """Hourly weather of a TRY region laid on ``year`` (UTC index): ``outdoor_c``,
    ``direct_w_m2`` (normal), ``diffuse_w_m2`` (horizontal)."""
    if region not in REGIONS:
        raise ThermalDataError(f"TRY region {region} is not located here; known: {sorted(REGIONS)}")
    _, lat, lon = REGIONS[region]
    lines = _try_file(region).read_text(encoding="latin-1").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("***")) + 1
    rows = [line.split() for line in lines[start:] if line.strip()]
    data = np.array(
        [
            [float(r[2]), float(r[3]), float(r[4]), float(r[8]), float(r[13]), float(r[14])]
            for r in rows
        ]
    )
    if len(data) != 8760:
        raise ThermalDataError(f"TRY region {region}: {len(data)} hours, expected 8760")
    idx = pd.date_range(f"{year}-01-01 00:00", periods=8760, freq="h") - pd.Timedelta(hours=1)
    idx = idx.tz_localize("UTC")
    mid = idx + pd.Timedelta(minutes=30)
    zenith = pvlib.solarposition.get_solarposition(mid, lat, lon)["apparent_zenith"].to_numpy()
    cosz = np.cos(np.radians(np.minimum(zenith, 85.0)))
    beam_h = np.clip(data[:, 4], 0, None)
    dni = np.where(zenith < 90, beam_h / cosz, 0.0)
    return pd.DataFrame(
        {
            "outdoor_c": data[:, 3],
            "direct_w_m2": np.minimum(dni, 1100.0),
            "diffuse_w_m2": np.clip(data[:, 5], 0, None),
        },
        index=idx.rename("interval_start"),
    )


def try_place(region: int = 4) -> tuple[float, float]:
    return REGIONS[region][1], REGIONS[region][2]
