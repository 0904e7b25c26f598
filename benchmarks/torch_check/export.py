"""Export the forecaster's backtest rows for the torch check (``nn.py``); see README.md there.

Writes ``rows.npz`` next to this file: for the validation quarter (the quarter before the
held-out one; hyperparameters are chosen there) and the held-out final quarter, for community
consumption day-ahead and 1 h ahead, every feature row of the production model (without the
day of the year, as in production) plus the 168 hours of the community series and the 24
hours of every home before the row's origin, the truth, the target hour and origin (hours
since 1970), and the production LightGBM's out-of-sample median forecast of each test row.

Run from the repository root: ``.venv/bin/python benchmarks/torch_check/export.py``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from analytics.forecasting.backtest import backtest, held_out_start
from analytics.forecasting.domain import Horizon, Target
from analytics.forecasting.engine import ForecastConfig
from analytics.forecasting.features import build_features
from analytics.forecasting.service import load_community_data

HOUR_NS = 3_600_000_000_000


def _hours(values: pd.Series) -> np.ndarray:
    return np.asarray(pd.DatetimeIndex(values).as_unit("ns").asi8 // HOUR_NS, dtype=np.int64)


def main() -> None:
    data = load_community_data()
    homes_all = data.load_kwh
    total_all = homes_all.sum(axis=1)
    test_start = held_out_start(total_all.index)
    out: dict[str, np.ndarray] = {}
    for mode in ("val", "test"):
        # val: the data before the held-out quarter, its last third (a quarter) scored
        homes = homes_all if mode == "test" else homes_all[homes_all.index < test_start]
        fraction = 0.25 if mode == "test" else 1 / 3
        total = homes.sum(axis=1)
        for name, horizon, max_h in (("DA", Horizon.DAY_AHEAD, 4), ("H1", Horizon.INTRADAY, 1)):
            cfg = ForecastConfig(target=Target.CONSUMPTION, horizon=horizon, max_intraday_h=max_h)
            result = backtest(total.to_frame("community"), data.weather, cfg,
                              test_fraction=fraction)
            start = result.test_start
            scale = float(total[total.index < start].mean())
            rows = build_features(total / scale, data.weather, horizon, max_h)
            rows = rows[rows["y"].notna()].reset_index(drop=True)
            origin_pos = pd.Series(np.arange(len(total)), index=total.index).reindex(
                pd.DatetimeIndex(rows["origin"])).to_numpy()
            keep = origin_pos >= 168
            rows, origin_pos = rows[keep].reset_index(drop=True), origin_pos[keep]
            agg = (total / scale).to_numpy(np.float32)
            per_home = (homes / homes[homes.index < start].mean()).to_numpy(np.float32)
            x = np.concatenate([
                rows[list(cfg.feature_names())].to_numpy(np.float32),
                np.stack([agg[origin_pos - k] for k in range(1, 169)], axis=1),
                np.concatenate([per_home[origin_pos - k] for k in range(1, 25)], axis=1),
            ], axis=1)
            key = f"{mode}_{name}"
            test_rows = rows[rows["origin"] >= start]
            gbm = test_rows[["interval_start", "origin"]].merge(
                result.predictions[["interval_start", "origin", "q50", "base_seasonal_naive"]],
                on=["interval_start", "origin"], how="left")
            assert gbm["q50"].notna().all(), "every test row has a LightGBM forecast"
            out |= {
                f"{key}_X": np.nan_to_num(x).astype(np.float16),
                f"{key}_nfeat": np.int64(len(cfg.feature_names())),
                f"{key}_y": rows["y"].to_numpy(np.float32),
                f"{key}_t": _hours(rows["interval_start"]),
                f"{key}_o": _hours(rows["origin"]),
                f"{key}_start": np.int64(pd.Timestamp(start).as_unit("ns").value // HOUR_NS),
                f"{key}_end": np.int64(_hours(rows["interval_start"]).max() + 1),
                # the backtest reports kWh; the rows are in units of the series' scale
                f"{key}_gbm": (gbm["q50"] / scale).to_numpy(np.float32),
                f"{key}_sn": (gbm["base_seasonal_naive"] / scale).to_numpy(np.float32),
            }
            scored = result.predictions
            if horizon is Horizon.INTRADAY:
                scored = scored[scored["h"] == 1]
            score = result.score(scored)["wape"]
            print(f"{key}: {x.shape[0]} rows x {x.shape[1]} inputs, LightGBM WAPE {score:.4f}",
                  flush=True)
    target = Path(__file__).with_name("rows.npz")
    np.savez_compressed(target, **out)
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
