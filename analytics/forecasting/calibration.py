"""Interval calibration: conformalised quantile regression on a trailing calibration window.

The LightGBM q10/q90 models alone under-cover when the test period is more variable than the
training data (the final quarter, May to July, has the year's highest and most variable load:
q10..q90 covered 67 % instead of 80 %). The fix is the split-conformal adjustment of quantile
regression (CQR, Romano et al. 2019) on a *calibration slice that precedes each forecast*:

* conformity score of a past out-of-sample forecast: ``s = max(q10 - y, y - q90) / q50``
  (relative, because the error grows with the load level; rows whose median is under 10 % of
  the mean median, PV at night, dawn and dusk, are left out);
* the adjustment is the ``level * (1 + 1/n)`` quantile of the ``n`` scores of the forecasts
  whose target hour had ended before the origin and lies within ``window_days`` of it;
* the interval becomes ``[q10 - a * q50, q90 + a * q50]``, q10 clipped at zero. The median
  (the point forecast) is unchanged. Only widening (``a >= 0``): shrinking a too-wide interval
  would lift q10 above zero where PV is zero at night (it cost 20 points of PV coverage).

Scores are grouped by intraday horizon ``h`` (1 h ahead is tighter than 4 h ahead); day-ahead
rows form one group. Only forecasts made before the origin are used, so the backtest stays
out-of-sample: its calibration window precedes the test quarter for the first test day and then
rolls forward with the forecasts already scored.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

MIN_SCORES = 48
"""Fewer past forecasts than this in a group: no adjustment."""


def conformity_scores(rows: pd.DataFrame) -> np.ndarray:
    """Relative CQR scores of rows with ``y``, ``q10``, ``q50``, ``q90``."""
    q50 = rows["q50"].to_numpy(dtype=float)
    lo = rows["q10"].to_numpy(dtype=float)
    hi = rows["q90"].to_numpy(dtype=float)
    y = rows["y"].to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        scores = np.maximum(lo - y, y - hi) / q50
    # A median near zero (PV at night, dawn, dusk) gives huge or meaningless ratios: left out
    # (those rows are barely moved by ``widen`` anyway, the adjustment scales with q50).
    floor = max(1e-6, 0.1 * float(np.mean(q50))) if len(q50) else 1e-6
    return np.where(q50 > floor, scores, np.nan)


def adjustment(scores: np.ndarray, level: float = 0.8) -> float:
    """The conformal adjustment of a set of scores (0 when there are too few; never < 0)."""
    scores = scores[np.isfinite(scores)]
    n = len(scores)
    if n < MIN_SCORES:
        return 0.0
    return max(0.0, float(np.quantile(scores, min(1.0, level * (1 + 1 / n)))))


def widen(rows: pd.DataFrame, a: float | np.ndarray) -> pd.DataFrame:
    """``rows`` with q10/q90 moved out by ``a * q50`` (in by ``-a``), still ordered; ``a`` is
    one number or one per row."""
    out = rows.copy()
    q50 = out["q50"].to_numpy(dtype=float)
    out["q10"] = np.clip(np.minimum(out["q10"].to_numpy(dtype=float) - a * q50, q50), 0.0, None)
    out["q90"] = np.maximum(out["q90"].to_numpy(dtype=float) + a * q50, q50)
    return out


def _group_key(rows: pd.DataFrame, per_h: bool) -> np.ndarray:
    return rows["h"].to_numpy() if per_h else np.zeros(len(rows), dtype=int)


def conformalize(
    predictions: pd.DataFrame,
    start: pd.Timestamp,
    window_days: int = 28,
    level: float = 0.8,
    per_h: bool = True,
) -> pd.DataFrame:
    """Calibrated copy of the rows of ``predictions`` whose origin is at or after ``start``.

    ``predictions``: out-of-sample rows (``origin``, ``interval_start``, ``h``, ``y``, ``q10``,
    ``q50``, ``q90``, in kWh per hour) including the calibration slice before ``start``. Each
    origin day is adjusted from the rows whose hour ended before that day's first origin and
    started within ``window_days`` before it. The raw bounds are kept as ``q10_raw`` and
    ``q90_raw``.
    """
    rows = predictions.sort_values(["origin", "interval_start"]).reset_index(drop=True)
    rows["q10_raw"] = rows["q10"]
    rows["q90_raw"] = rows["q90"]
    end_of_target = rows["interval_start"] + pd.Timedelta(hours=1)
    keys = _group_key(rows, per_h)
    day = rows["origin"].dt.floor("D")
    out = []
    for d in sorted(day[rows["origin"] >= start].unique()):
        today = rows[day == d]
        first_origin = today["origin"].min()
        known = (end_of_target <= first_origin) & (
            rows["interval_start"] >= first_origin - pd.Timedelta(days=window_days))
        today_keys = _group_key(today, per_h)
        for key in np.unique(today_keys):
            past = rows[known & (keys == key)]
            a = adjustment(conformity_scores(past), level)
            out.append(widen(today[today_keys == key], a))
    if not out:
        return rows.iloc[0:0].copy()
    return pd.concat(out).sort_index()


def live_adjustments(
    predictions: pd.DataFrame, window_days: int = 28, level: float = 0.8, per_h: bool = True
) -> dict[int, float]:
    """Adjustments for forecasts made after ``predictions``: from their last ``window_days``.

    Keys are the horizon ``h`` (0 for day-ahead); what :class:`GbmForecaster` applies live.
    """
    last = predictions["interval_start"].max()
    recent = predictions[predictions["interval_start"] > last - pd.Timedelta(days=window_days)]
    keys = _group_key(recent, per_h)
    return {int(k): adjustment(conformity_scores(recent[keys == k]), level)
            for k in np.unique(keys)}
