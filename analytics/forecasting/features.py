"""Feature frames for the gradient-boosted forecaster and the baselines.

The data are hourly, so models work on hours; forecasts are spread to the platform's 900 s
intervals afterwards (:func:`analytics.forecasting.engine.to_intervals`). A row is one
(target hour ``t``, horizon ``h``) pair; ``h`` = 1 means the hour that starts at the origin.
Every feature of a row uses only what is known at its origin ``o = t - (h - 1) h``:
measurements before ``o`` and weather forecasts issued before ``o``.

Day-ahead: the origin is midnight UTC and the rows are the 24 hours of that day (h = 1..24).
Intraday: for every hour, rows for h = 1..``max_h``.

Features: lags at and before the origin (``last_obs``, ``last_obs_2``, ``mean_3h``), lags of the
target hour (24 h, 48 h, 168 h), the 7-day mean of the same hour, yesterday's and last week's
mean, local calendar (hour, weekday, day of year as sin/cos), and the weather *forecast* for
``t`` issued 24 h (day-ahead) or 6 h (intraday) before it, plus the temperature observed just
before the origin. Baselines read from the same frame: ``base_seasonal_naive`` (same hour the
day before), ``base_mean_7d`` (mean of the same hour over the previous 7 days) and, intraday,
``base_persistence`` (last observed hour).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from analytics.data.citylearn import LOCAL_TZ
from analytics.errors import InsufficientDataError
from analytics.forecasting.domain import Horizon

FEATURES: tuple[str, ...] = (
    "h",
    "last_obs",
    "last_obs_2",
    "mean_3h",
    "lag_24",
    "lag_48",
    "lag_168",
    "mean_7d",
    "max_7d",
    "prev_day_mean",
    "prev_week_mean",
    "last_obs_vs_day_before",
    "hour_local",
    "dow_local",
    "doy_sin",
    "doy_cos",
    "temp_c_fc",
    "rh_pct_fc",
    "direct_w_m2_fc",
    "diffuse_w_m2_fc",
    "temp_c_at_origin",
    "temp_c_fc_delta_24h",
    "temp_c_fc24_day_max",
    "temp_c_fc24_day_mean",
)
"""Model inputs, in order."""
BASELINES: tuple[str, ...] = ("base_seasonal_naive", "base_mean_7d", "base_persistence")
WEATHER_NEEDED: tuple[str, ...] = (
    "temp_c",
    "temp_c_pred_6h",
    "temp_c_pred_24h",
    "rh_pct_pred_6h",
    "rh_pct_pred_24h",
    "direct_w_m2_pred_6h",
    "direct_w_m2_pred_24h",
    "diffuse_w_m2_pred_6h",
    "diffuse_w_m2_pred_24h",
)
MIN_HISTORY_H = 24 * 8


def _shift(values: np.ndarray, k: int) -> np.ndarray:
    """``values`` delayed by ``k`` steps (NaN-padded)."""
    out = np.full(values.shape, np.nan)
    if k < len(values):
        out[k:] = values[: len(values) - k]
    return out


def _rolling_mean(values: np.ndarray, window: int) -> np.ndarray:
    return pd.Series(values).rolling(window, min_periods=max(1, window // 2)).mean().to_numpy()


def build_features(
    y: pd.Series,
    weather: pd.DataFrame,
    horizon: Horizon,
    max_intraday_h: int = 4,
) -> pd.DataFrame:
    """Feature rows for every target hour of ``y``'s index (hourly, UTC, no holes).

    ``y`` may end with NaN (the future to forecast); ``weather`` must cover ``y``'s index.
    Returns a frame with columns ``interval_start`` (UTC hour), ``origin``, ``y`` (truth or
    NaN), :data:`FEATURES` and :data:`BASELINES`.
    """
    if len(y) < MIN_HISTORY_H:
        raise InsufficientDataError("forecast features", f"{MIN_HISTORY_H} h of history",
                                    f"{len(y)} h")
    index = pd.DatetimeIndex(y.index)
    w = weather.reindex(index)
    v = y.to_numpy(dtype=float)
    n = len(v)
    local = index.tz_convert(LOCAL_TZ)
    doy = local.dayofyear.to_numpy()
    calendar = {
        "hour_local": local.hour.to_numpy(),
        "dow_local": local.dayofweek.to_numpy(),
        "doy_sin": np.sin(2 * np.pi * doy / 365.25),
        "doy_cos": np.cos(2 * np.pi * doy / 365.25),
    }
    lag_24 = _shift(v, 24)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns in the future part
        same_hour = np.vstack([_shift(v, 24 * k) for k in range(1, 8)])
        mean_7d = np.nanmean(same_hour, axis=0)
        max_7d = np.nanmax(same_hour, axis=0)
    day_mean = _rolling_mean(v, 24)
    week_mean = _rolling_mean(v, 168)
    temp = w["temp_c"].to_numpy(dtype=float)
    # Day-ahead: the 24 h-ahead temperature forecasts of every hour of t's UTC day were all
    # issued before that day began (= the origin). Intraday: the 24 hours ending at t, whose
    # 24 h-ahead forecasts were issued at or before t - 24 h, before any intraday origin.
    fc24 = pd.Series(_shift(w["temp_c_pred_24h"].to_numpy(dtype=float), 24), index=index)
    if horizon is Horizon.DAY_AHEAD:
        day_key = index.floor("D")
        fc24_day_max = fc24.groupby(day_key).transform("max").to_numpy()
        fc24_day_mean = fc24.groupby(day_key).transform("mean").to_numpy()
    else:
        fc24_day_max = fc24.rolling(24, min_periods=12).max().to_numpy()
        fc24_day_mean = fc24.rolling(24, min_periods=12).mean().to_numpy()
    common = {
        "lag_24": lag_24,
        "lag_48": _shift(v, 48),
        "lag_168": _shift(v, 168),
        "mean_7d": mean_7d,
        "max_7d": max_7d,
        "temp_c_fc24_day_max": fc24_day_max,
        "temp_c_fc24_day_mean": fc24_day_mean,
        **calendar,
    }
    if horizon is Horizon.DAY_AHEAD:
        origin = index.floor("D")
        h_all = ((index - origin) // pd.Timedelta(hours=1)).to_numpy() + 1
        hs: list[int | None] = [None]
    else:
        hs = list(range(1, max_intraday_h + 1))
    parts = []
    for h_fixed in hs:
        if h_fixed is None:
            h = h_all
            pos = np.arange(n) - h  # position of the last observed hour before the origin
        else:
            h = np.full(n, h_fixed)
            pos = np.arange(n) - h_fixed
        valid = pos >= 0
        safe = np.where(valid, pos, 0)

        def at_origin(series: np.ndarray, safe: np.ndarray = safe, valid: np.ndarray = valid
                      ) -> np.ndarray:
            return np.where(valid, series[safe], np.nan)

        last = at_origin(v)
        day_before = at_origin(_shift(v, 24))
        if h_fixed is None:
            fc = "pred_24h"
            lag_fc = 24
        else:
            fc = "pred_6h"
            lag_fc = 6
        temp_fc = _shift(w[f"temp_c_{fc}"].to_numpy(dtype=float), lag_fc)
        frame = pd.DataFrame(
            {
                "interval_start": index,
                "origin": index - pd.to_timedelta(h - 1, unit="h"),
                "y": v,
                "h": h,
                "last_obs": last,
                "last_obs_2": at_origin(_shift(v, 1)),
                "mean_3h": at_origin(_rolling_mean(v, 3)),
                "prev_day_mean": at_origin(day_mean),
                "prev_week_mean": at_origin(week_mean),
                "last_obs_vs_day_before": last - day_before,
                "temp_c_fc": temp_fc,
                "rh_pct_fc": _shift(w[f"rh_pct_{fc}"].to_numpy(dtype=float), lag_fc),
                "direct_w_m2_fc": _shift(w[f"direct_w_m2_{fc}"].to_numpy(dtype=float), lag_fc),
                "diffuse_w_m2_fc": _shift(w[f"diffuse_w_m2_{fc}"].to_numpy(dtype=float), lag_fc),
                "temp_c_at_origin": at_origin(temp),
                "temp_c_fc_delta_24h": temp_fc - _shift(temp, 24),
                "base_seasonal_naive": lag_24,
                "base_mean_7d": mean_7d,
                "base_persistence": last,
                **common,
            }
        )
        parts.append(frame)
    out = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    # Rows need a week of history for the lags.
    return out[out["interval_start"] >= index[0] + pd.Timedelta(hours=168)].reset_index(drop=True)
