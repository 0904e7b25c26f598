"""Behavioural features of households, one row per household.

From hourly load and PV (kWh) and the outdoor temperature:

``p00`` .. ``p23``
    Mean daily load profile by local hour, divided by its own mean (shape only, mean 1).
``level_log_kwh_day``
    log of the mean daily consumption, kWh/day.
``pv_self_consumption``
    Share of PV energy consumed on site within the hour, ``sum(min(load, pv)) / sum(pv)``;
    0 for homes without PV.
``temp_sensitivity_per_c``
    Slope of daily consumption against cooling degrees (daily mean temperature above 18 °C),
    relative to the mean daily consumption, per °C.
``flex_down_share``
    Mean ``flex_down_kw`` of :mod:`analytics.flexibility` applied to the measured
    load with the home's battery, relative to its mean load.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from analytics.data.citylearn import LOCAL_TZ
from analytics.data.validation import validate_frame
from analytics.flexibility import FlexConfig, flexibility_kw

PROFILE_COLUMNS: tuple[str, ...] = tuple(f"p{h:02d}" for h in range(24))
SCALAR_COLUMNS: tuple[str, ...] = (
    "level_log_kwh_day",
    "pv_self_consumption",
    "temp_sensitivity_per_c",
    "flex_down_share",
)


def household_features(
    load_kwh: pd.DataFrame,
    pv_kwh: pd.DataFrame,
    temp_c: pd.Series,
    battery_kwh: Mapping[str, float] | None = None,
    battery_kw: Mapping[str, float] | None = None,
    flex: FlexConfig | None = None,
) -> pd.DataFrame:
    """Feature rows (index = household id) for hourly frames whose columns are households."""
    validate_frame(load_kwh, name="household load", columns=list(load_kwh.columns),
                   resolution_s=3600, non_negative=list(load_kwh.columns))
    validate_frame(pv_kwh, name="household pv", columns=list(load_kwh.columns),
                   resolution_s=3600, non_negative=list(load_kwh.columns))
    index = pd.DatetimeIndex(load_kwh.index)
    local = index.tz_convert(LOCAL_TZ)
    load = load_kwh.to_numpy(dtype=float)
    pv = pv_kwh[load_kwh.columns].to_numpy(dtype=float)
    hours = local.hour.to_numpy()
    profile = np.vstack([load[hours == h].mean(axis=0) for h in range(24)]).T  # (n, 24)
    mean_h = profile.mean(axis=1, keepdims=True)
    shape = np.divide(profile, mean_h, out=np.ones_like(profile), where=mean_h > 0)
    days = pd.Index(local.normalize())
    daily = pd.DataFrame(load, index=days).groupby(level=0).sum()
    daily_temp = temp_c.reindex(index).groupby(np.asarray(days)).mean()
    cdd = np.clip(daily_temp.to_numpy() - 18.0, 0.0, None)
    daily_mean = daily.mean().to_numpy()
    x = cdd - cdd.mean()
    slope = (x[:, None] * (daily.to_numpy() - daily_mean)).sum(axis=0) / max((x**2).sum(), 1e-9)
    pv_sum = pv.sum(axis=0)
    self_cons = np.divide(np.minimum(load, pv).sum(axis=0), pv_sum,
                          out=np.zeros_like(pv_sum), where=pv_sum > 0)
    flex_share = np.zeros(load.shape[1])
    for j, home in enumerate(load_kwh.columns):
        _, down = flexibility_kw(load[:, j], (battery_kwh or {}).get(home, 0.0),
                                 (battery_kw or {}).get(home, 0.0), flex)
        flex_share[j] = down.mean() / max(load[:, j].mean(), 1e-9)
    out = pd.DataFrame(shape, index=load_kwh.columns.astype(str), columns=list(PROFILE_COLUMNS))
    out["level_log_kwh_day"] = np.log(np.clip(daily_mean, 1e-3, None))
    out["pv_self_consumption"] = self_cons
    out["temp_sensitivity_per_c"] = slope / np.clip(daily_mean, 1e-3, None)
    out["flex_down_share"] = flex_share
    out.index.name = "household_id"
    return out
