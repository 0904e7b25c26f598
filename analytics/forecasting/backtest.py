"""Rolling-origin backtest with a held-out final quarter, against the baselines.

The last ``test_fraction`` of the data (by default the final quarter of the year) is never
used for fitting before it is forecast. It is cut into blocks of ``refit_every_days``; for each
block the model is refitted on everything before the block (expanding window) and forecasts
every origin inside it (each midnight for day-ahead, each hour for intraday). Features of a row
only use data before its origin, so every forecast is a genuine out-of-sample forecast. The
baselines forecast the same rows.

Interval calibration (``config.calibration_window_days`` > 0): the backtest also forecasts a
calibration slice of that many days just before the test quarter (with a model fitted on the
data before the slice), and calibrates the q10..q90 interval of each test day on the
out-of-sample forecasts of the window before it (:mod:`analytics.forecasting.calibration`). The
calibration slice is not scored; the raw (uncalibrated) coverage is reported beside the
calibrated one.

Metrics (fractions, 0.1 = 10 %): WAPE, MAPE where |y| >= 10 % of its mean, pinball loss (kWh
per hour = mean kW) averaged over the quantiles, and coverage of the q10..q90 interval
(nominal 0.8).
"""

from __future__ import annotations

import itertools
import sys
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analytics.forecasting.calibration import conformalize
from analytics.forecasting.domain import Horizon
from analytics.forecasting.engine import ForecastConfig, GbmForecaster
from analytics.forecasting.metrics import coverage, mape, pinball, wape

BASELINE_COLUMNS = {"seasonal_naive": "base_seasonal_naive", "mean_7d": "base_mean_7d",
                    "persistence": "base_persistence"}


@dataclass
class BacktestResult:
    """Out-of-sample predictions and their scores."""

    config: ForecastConfig
    predictions: pd.DataFrame
    """Rows: series_id, interval_start, origin, h, y, q10, q50, q90 and baseline columns."""
    test_start: pd.Timestamp
    refits: int
    fit_seconds: float
    out_of_sample: pd.DataFrame | None = None
    """Every out-of-sample prediction, uncalibrated, including the calibration slice before
    the test quarter (what :func:`calibration.live_adjustments` reads)."""
    scores: dict[str, float] = field(default_factory=dict)

    def score(self, predictions: pd.DataFrame | None = None) -> dict[str, float]:
        """Metrics of the model and the baselines on ``predictions`` (default: all rows)."""
        return score_frame(self.predictions if predictions is None else predictions,
                           self.config.horizon)

    def per_series(self, h: int | None = None) -> pd.DataFrame:
        """Scores per series (e.g. per home), optionally for one intraday horizon ``h``."""
        rows = self.predictions if h is None else self.predictions[self.predictions["h"] == h]
        return pd.DataFrame(
            {sid: score_frame(g, self.config.horizon) for sid, g in rows.groupby("series_id")}
        ).T


def score_frame(pred: pd.DataFrame, horizon: Horizon) -> dict[str, float]:
    """WAPE, MAPE, pinball and coverage of the model, and WAPE of each baseline."""
    y = pred["y"].to_numpy()
    out = {
        "n": float(len(pred)),
        "wape": wape(y, pred["q50"]),
        "mape": mape(y, pred["q50"]),
        "pinball": float(np.mean([pinball(y, pred[f"q{q}"], q / 100) for q in (10, 50, 90)])),
        "coverage_80": coverage(y, pred["q10"], pred["q90"]),
    }
    if "q10_raw" in pred.columns:
        out["coverage_80_uncalibrated"] = coverage(y, pred["q10_raw"], pred["q90_raw"])
    for name, col in BASELINE_COLUMNS.items():
        if name == "persistence" and horizon is Horizon.DAY_AHEAD:
            continue
        base = pred[col].to_numpy()
        ok = ~np.isnan(base)
        out[f"wape_{name}"] = wape(y[ok], base[ok])
    return out


def held_out_start(index: pd.DatetimeIndex, test_fraction: float = 0.25) -> pd.Timestamp:
    """First hour of the scored part: the last ``test_fraction`` of ``index``, from a midnight
    (the held-out quarter by default)."""
    return pd.DatetimeIndex(index)[int(len(index) * (1 - test_fraction))].floor("D")


def backtest(
    y: pd.DataFrame,
    weather: pd.DataFrame,
    config: ForecastConfig,
    test_fraction: float = 0.25,
    refit_every_days: int = 30,
    progress: bool = False,
) -> BacktestResult:
    """Run the rolling-origin backtest of ``config`` on hourly kWh series ``y`` (columns).

    Returns the out-of-sample predictions of the final ``test_fraction`` and their scores.
    """
    engine = GbmForecaster(config)
    engine.check_inputs(y, weather)
    index = pd.DatetimeIndex(y.index)
    test_start = held_out_start(index, test_fraction)
    # Scales from the training part only (no peeking at the test quarter).
    scales = y[y.index < test_start].mean().clip(lower=1e-3)
    engine.scales_ = scales
    rows = engine.features(y, weather)
    rows = rows[rows["y"].notna()]
    blocks = pd.date_range(test_start, index[-1] + pd.Timedelta(hours=1),
                           freq=f"{refit_every_days}D", tz="UTC")
    edges = [*blocks, index[-1] + pd.Timedelta(hours=1)]
    # The calibration slice must leave three weeks of rows to fit on before it; on a short
    # history it shrinks, and under a week it is dropped (raw quantiles).
    room = (test_start - (rows["interval_start"].min() + pd.Timedelta(days=21))).days
    window = min(config.calibration_window_days, max(room, 0))
    window = window if window >= 7 else 0
    if window:
        edges.insert(0, test_start - pd.Timedelta(days=window))  # the calibration slice
    preds = []
    fit_s = 0.0
    for i, (lo, hi) in enumerate(itertools.pairwise(edges)):
        if lo >= hi:
            continue
        # Train on rows whose origin lies before the block: their targets may reach into
        # the block only for intraday rows at its edge, which are known at that origin.
        train = rows[rows["interval_start"] < lo]
        test = rows[(rows["origin"] >= lo) & (rows["origin"] < hi)]
        if test.empty:
            continue
        engine.fit_rows(train)
        fit_s += engine.fit_seconds_
        q = engine.predict_rows(test)
        part = pd.concat([test, q], axis=1)
        # Features are in units of each series' scale; report kWh per hour.
        for col in ("y", *BASELINE_COLUMNS.values()):
            part[col] = part[col] * part["scale"]
        preds.append(part)
        if progress:
            print(f"  backtest {config.target}/{config.horizon} block {i + 1}/{len(edges) - 1}: "
                  f"fit {engine.fit_seconds_:.1f} s on {len(train)} rows", file=sys.stderr)
    keep = ["series_id", "interval_start", "origin", "h", "y", "scale", "q10", "q50", "q90",
            *BASELINE_COLUMNS.values()]
    raw = pd.concat(preds, ignore_index=True)[keep]
    if window:
        parts = []
        for _, series in raw.groupby("series_id"):
            parts.append(conformalize(series, test_start, window,
                                      per_h=config.horizon is not Horizon.DAY_AHEAD))
        predictions = pd.concat(parts, ignore_index=True)
    else:
        predictions = raw[raw["origin"] >= test_start].reset_index(drop=True)
    result = BacktestResult(config, predictions, test_start, len(preds), fit_s,
                            out_of_sample=raw)
    result.scores = result.score()
    return result
