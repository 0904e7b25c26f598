"""Solar gains through glazing: the sun's position and the irradiance on each facade (pvlib).

Weather data gives the direct normal irradiance (DNI) and the diffuse horizontal irradiance
(DHI), as hourly (or 15-minute) means. The sun's position is taken at the middle of each
interval (pvlib's NREL SPA), the global horizontal irradiance is ``DNI cos(zenith) + DHI``, and
the irradiance on the four vertical facades (south, east, west, north) follows pvlib's
isotropic-sky transposition with a ground albedo of 0.2. The twin multiplies each facade's
irradiance by its effective glazing (:meth:`analytics.thermal.network.Building.solar_area_m2`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pvlib

from analytics.thermal.errors import ThermalConfigError

FACADE_AZIMUTHS = (180.0, 90.0, 270.0, 0.0)
"""South, east, west, north (degrees from north, clockwise), the order of ``window_m2``."""


_CACHE: dict[tuple, np.ndarray] = {}


def facade_irradiance(
    times_utc: pd.DatetimeIndex,
    latitude: float,
    longitude: float,
    dni_w_m2: np.ndarray,
    dhi_w_m2: np.ndarray,
    step_s: int,
) -> np.ndarray:
    """Mean irradiance on the four vertical facades over each interval, W/m2, shape (T, 4).

    Cached per place and weather: the sun's position over a year takes about 0.13 s, and every
    home at a place, every calibration step and every scenario shares it."""
    if not -90 <= latitude <= 90 or not -180 <= longitude <= 180:
        raise ThermalConfigError(f"location ({latitude}, {longitude}) is not a latitude/longitude")
    dni_in = np.ascontiguousarray(dni_w_m2, dtype=float)
    dhi_in = np.ascontiguousarray(dhi_w_m2, dtype=float)
    key = (
        int(times_utc[0].value),
        len(times_utc),
        latitude,
        longitude,
        step_s,
        hash(dni_in.tobytes()),
        hash(dhi_in.tobytes()),
    )
    cached = _CACHE.get(key)
    if cached is None:
        if len(_CACHE) > 16:
            _CACHE.clear()
        cached = _CACHE[key] = _facades(times_utc, latitude, longitude, dni_in, dhi_in, step_s)
    return cached


def _facades(
    times_utc: pd.DatetimeIndex,
    latitude: float,
    longitude: float,
    dni_w_m2: np.ndarray,
    dhi_w_m2: np.ndarray,
    step_s: int,
) -> np.ndarray:
    mid = times_utc + pd.Timedelta(seconds=step_s / 2)
    sun = pvlib.solarposition.get_solarposition(mid, latitude, longitude)
    zenith = sun["apparent_zenith"].to_numpy()
    azimuth = sun["azimuth"].to_numpy()
    dni = np.clip(np.nan_to_num(np.asarray(dni_w_m2, dtype=float)), 0, None)
    dhi = np.clip(np.nan_to_num(np.asarray(dhi_w_m2, dtype=float)), 0, None)
    dni = np.where(zenith < 90, dni, 0.0)
    ghi = dni * np.cos(np.radians(np.minimum(zenith, 90.0))) + dhi
    out = np.empty((len(times_utc), 4))
    for i, az in enumerate(FACADE_AZIMUTHS):
        poa = pvlib.irradiance.get_total_irradiance(
            surface_tilt=90.0,
            surface_azimuth=az,
            solar_zenith=zenith,
            solar_azimuth=azimuth,
            dni=dni,
            ghi=ghi,
            dhi=dhi,
            albedo=0.2,
            model="isotropic",
        )["poa_global"]
        out[:, i] = np.nan_to_num(np.asarray(poa, dtype=float))
    return np.clip(out, 0.0, None)
