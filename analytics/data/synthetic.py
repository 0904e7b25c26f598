"""Larger synthetic communities built from the real CityLearn homes and BDEW standard profiles.

A community of ``n`` homes holds the 17 real homes first, then synthetic ones, alternating
between two documented recipes (``seed`` makes them reproducible):

``resampled_real``
    A real home chosen at random; its year is rotated by a whole number of days
    (``shift_days`` in -3..3, not 0, so days do not coincide with the original), scaled by a
    per-home level factor ``exp(N(0, 0.25))`` and multiplied hour by hour by noise
    ``exp(N(0, 0.15))``. Its PV is the original home's PV rotated the same way and scaled by
    the same kWp factor drawn from U(0.5, 1.5).
``bdew_h0``
    demandlib's BDEW H0 household standard load profile (German standard, 15 min, dynamised),
    summed to hours and laid on the data set's *local* clock (same wall-clock hour and date),
    scaled to an annual energy drawn uniformly between the smallest and largest annual energy
    of the real homes, and multiplied hour by hour by noise ``exp(N(0, 0.20))``. PV: a random
    real home's per-kWp PV profile times a kWp drawn from {0, 3, 4, 5}.

The BDEW profiles come from demandlib (``demandlib==0.2.2``, installed from PyPI). demandlib
sets ``warnings.simplefilter("error")`` inside ``ElecSlp``; the call is wrapped in
``warnings.catch_warnings()`` so that the change does not leak into the process.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import pandas as pd

from analytics.data import citylearn


@lru_cache(maxsize=4)
def bdew_h0_hourly(periods: int = citylearn.HOURS) -> pd.Series:
    """BDEW H0 profile on the data set's hourly UTC index, normalised to 1 kWh per year.

    Values are kWh per hour for an annual consumption of 1 kWh over ``periods`` hours.
    """
    from demandlib import bdew

    local = pd.date_range(
        citylearn.FIRST_INTERVAL_LOCAL, periods=periods, freq="h"
    )  # naive local wall clock
    parts = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for year in sorted(set(local.year)):
            prof = bdew.ElecSlp(year).get_scaled_profiles({"h0": 1.0})["h0"]
            parts.append(prof.resample("h").sum())
    hourly = pd.concat(parts)
    values = hourly.reindex(local).to_numpy(dtype=float)
    values = values / values.sum()
    return pd.Series(values, index=citylearn.hourly_index(periods), name="bdew_h0")


@dataclass
class Community:
    """Hourly load and PV of a community (columns = home ids, UTC index)."""

    load_kwh: pd.DataFrame
    pv_kwh: pd.DataFrame
    kinds: dict[str, str] = field(default_factory=dict)
    """home id -> ``real``, ``resampled_real`` or ``bdew_h0``."""


def real_community(fetch: bool = True) -> Community:
    """The 17 real homes."""
    load = citylearn.load_matrix("load_kwh", fetch=fetch)
    pv = citylearn.load_matrix("pv_kwh", fetch=fetch)
    return Community(load, pv, {h: "real" for h in load.columns})


def synthetic_community(n_homes: int, seed: int = 0, fetch: bool = True) -> Community:
    """A community of ``n_homes`` homes: the real ones, then synthetic ones (module docstring).

    With ``n_homes`` < 17 the first ``n_homes`` real homes are returned.
    """
    real = real_community(fetch)
    if n_homes <= len(real.load_kwh.columns):
        cols = list(real.load_kwh.columns[:n_homes])
        return Community(real.load_kwh[cols], real.pv_kwh[cols], {c: "real" for c in cols})
    rng = np.random.default_rng(seed)
    index = real.load_kwh.index
    real_ids = list(real.load_kwh.columns)
    infos = {h.home_id: h for h in citylearn.homes(fetch)}
    annual = real.load_kwh.sum()
    h0 = bdew_h0_hourly(len(index)).to_numpy()
    loads: dict[str, np.ndarray] = {c: real.load_kwh[c].to_numpy() for c in real_ids}
    pvs: dict[str, np.ndarray] = {c: real.pv_kwh[c].to_numpy() for c in real_ids}
    kinds = dict(real.kinds)
    for i in range(len(real_ids), n_homes):
        home_id = f"Synthetic_{i + 1}"
        base = real_ids[int(rng.integers(len(real_ids)))]
        if (i - len(real_ids)) % 2 == 0:
            shift = int(rng.choice([-3, -2, -1, 1, 2, 3])) * 24
            level = float(np.exp(rng.normal(0.0, 0.25)))
            noise = np.exp(rng.normal(0.0, 0.15, len(index)))
            loads[home_id] = np.roll(loads[base], shift) * level * noise
            pvs[home_id] = np.roll(pvs[base], shift) * float(rng.uniform(0.5, 1.5))
            kinds[home_id] = "resampled_real"
        else:
            energy = float(rng.uniform(annual.min(), annual.max()))
            noise = np.exp(rng.normal(0.0, 0.20, len(index)))
            loads[home_id] = h0 * energy * noise
            kwp_real = infos[base].pv_kw or 1.0
            pvs[home_id] = pvs[base] / kwp_real * float(rng.choice([0.0, 3.0, 4.0, 5.0]))
            kinds[home_id] = "bdew_h0"
    return Community(pd.DataFrame(loads, index=index), pd.DataFrame(pvs, index=index), kinds)
