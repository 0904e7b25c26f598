"""Forecast error metrics (pure functions on arrays)."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def wape(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Weighted absolute percentage error (= nMAE): sum |e| / sum |y|, a fraction (0.1 = 10 %)."""
    t = np.asarray(y_true, dtype=float)
    p = np.asarray(y_pred, dtype=float)
    denom = np.abs(t).sum()
    return float(np.abs(t - p).sum() / denom) if denom > 0 else float("nan")


def mape(y_true: ArrayLike, y_pred: ArrayLike, min_fraction_of_mean: float = 0.1) -> float:
    """Mean absolute percentage error over points where |y| >= ``min_fraction_of_mean`` x mean|y|.

    Points with a load near zero are left out (their percentage error is unbounded); a fraction.
    """
    t = np.asarray(y_true, dtype=float)
    p = np.asarray(y_pred, dtype=float)
    keep = np.abs(t) >= min_fraction_of_mean * np.abs(t).mean()
    if not keep.any():
        return float("nan")
    return float(np.mean(np.abs(t[keep] - p[keep]) / np.abs(t[keep])))


def pinball(y_true: ArrayLike, y_quantile: ArrayLike, q: float) -> float:
    """Mean pinball (quantile) loss of the ``q`` quantile forecast, in the unit of ``y``."""
    t = np.asarray(y_true, dtype=float)
    p = np.asarray(y_quantile, dtype=float)
    diff = t - p
    return float(np.mean(np.maximum(q * diff, (q - 1) * diff)))


def coverage(y_true: ArrayLike, lower: ArrayLike, upper: ArrayLike) -> float:
    """Share of observations inside [lower, upper] (nominal 0.8 for a q10..q90 interval)."""
    t = np.asarray(y_true, dtype=float)
    return float(np.mean((t >= np.asarray(lower)) & (t <= np.asarray(upper))))
