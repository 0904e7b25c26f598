"""``bench settlement`` (engine part): seconds to settle 100 members x 16 intervals.

Synthetic, seeded data: each member's meter has 30 days of 15-minute net import before the
window (a daily profile, 0.1..0.6 kWh per interval, scaled per member, plus noise), the
window is a Wednesday 17:00-21:00 UTC (16 intervals) during which the member reduces load
by its target times a delivery factor drawn from [0, 1.3] (10 % of members deliver almost
nothing, so non-delivery and penalties are exercised). The baseline is CAISO 10-in-10 with
the multiplicative day-of adjustment (the heaviest method); the X-of-Y run is timed best of
3, and the other three baselines once each, on the same data in the same process.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from typing import Any

import numpy as np

from core.benchutil import peak_rss_mb, stopwatch
from core.rules import FlexRequest, energy_cost
from core.units import INTERVAL_S
from settlement.baselines import (
    BaselineMethod,
    ForecastParams,
    MeterBeforeAfterParams,
    SameHourParams,
    XOfYParams,
)
from settlement.domain import MeterSeries
from settlement.engine import settle

__all__ = ["bench_settlement_engine", "synthetic_settlement"]

WINDOW_START_S = 1_767_200_400  # 2025-12-31 17:00 UTC, a Wednesday
HISTORY_DAYS = 30
INTERVALS = 16


def _log(message: str) -> None:
    print(f"[bench settlement] {message}", file=sys.stderr, flush=True)


def synthetic_settlement(
    members: int, seed: int = 0
) -> tuple[FlexRequest, list[str], dict[str, list[int]], dict[str, MeterSeries],
           dict[str, MeterSeries]]:
    """(request, members, targets, meter, forecasts) of a seeded synthetic settlement."""
    rng = np.random.default_rng(seed)
    start_s = WINDOW_START_S - HISTORY_DAYS * 86_400
    n = (WINDOW_START_S - start_s) // INTERVAL_S + INTERVALS
    day_pos = (np.arange(n) % 96) / 96
    profile = 350 + 250 * np.sin(2 * np.pi * (day_pos - 0.45))
    names = [f"m{i:04d}" for i in range(members)]
    targets: dict[str, list[int]] = {}
    meter: dict[str, MeterSeries] = {}
    forecasts: dict[str, MeterSeries] = {}
    window = slice(n - INTERVALS, n)
    for i, name in enumerate(names):
        scale = rng.uniform(0.5, 1.5)
        load = np.rint(profile * scale * rng.normal(1.0, 0.05, n)).astype(np.int64)
        target = np.rint(load[window] * rng.uniform(0.1, 0.3)).astype(np.int64)
        factor = rng.uniform(0.0, 0.1) if i % 10 == 0 else rng.uniform(0.7, 1.3)
        forecasts[name] = MeterSeries(WINDOW_START_S, load[window].copy())
        load[window] -= np.rint(target * factor).astype(np.int64)
        meter[name] = MeterSeries(start_s, load)
        targets[name] = target.tolist()
    qty = tuple(int(v) for v in np.sum(list(targets.values()), axis=0))
    request = FlexRequest(
        request_id=1,
        window_start_s=WINDOW_START_S,
        quantity_wh=qty,
        tolerance_bp=1000,
        price_cap_per_kwh=250_000,
        escrow=2 * energy_cost(sum(qty), 250_000),  # twice what the request can cost
        penalty_per_kwh=100_000,
        baseline_method_id=BaselineMethod.X_OF_Y,
        baseline_params=XOfYParams().encode(),
    )
    return request, names, targets, meter, forecasts


def bench_settlement_engine(members: int = 100, seed: int = 0) -> dict[str, Any]:
    """Time :func:`settlement.engine.settle` for ``members`` x 16 intervals.

    Returns
    -------
    dict
        Seconds (X-of-Y best of 3, and each other baseline), payouts, refund, conservation
        check, members flagged for non-delivery, peak RSS (MiB).
    """
    _log(f"synthesising {members} members x {INTERVALS} intervals, {HISTORY_DAYS} days history")
    request, names, targets, meter, forecasts = synthetic_settlement(members, seed)
    best = float("inf")
    result = None
    for attempt in range(3):
        with stopwatch() as t:
            result = settle(request, names, targets, meter, forecasts)
        best = min(best, t[0])
        _log(f"X-of-Y settlement: try {attempt + 1}/3 {t[0] * 1000:.1f} ms")
    assert result is not None
    others: dict[str, float] = {}
    for method, params in (
        (BaselineMethod.SAME_HOUR_WORKING_DAYS, SameHourParams()),
        (BaselineMethod.FORECAST, ForecastParams()),
        (BaselineMethod.METER_BEFORE_AFTER, MeterBeforeAfterParams()),
    ):
        variant = replace(request, baseline_method_id=method, baseline_params=params.encode())
        with stopwatch() as t:
            settle(variant, names, targets, meter, forecasts)
        others[method.name.lower()] = round(t[0], 6)
        _log(f"{method.name} settlement: {t[0] * 1000:.1f} ms")
    return {
        "benchmark": "settlement_engine",
        "members": members,
        "intervals": INTERVALS,
        "seed": seed,
        "settle_s": round(best, 6),
        "baseline": "X_OF_Y (10 of 10, multiplicative day-of adjustment, 20 % cap)",
        "other_baselines_s": others,
        "escrow": result.escrow,
        "max_payout": result.max_payout,
        "payout_total": result.payout_total,
        "refund": result.refund,
        "money_conserved": result.escrow == result.payout_total + result.refund,
        "non_delivery_flagged": len(result.non_delivery),
        "intervals_within_tolerance": sum(i.within_tolerance for i in result.intervals),
        "peak_rss_mb": peak_rss_mb(),
    }


if __name__ == "__main__":  # pragma: no cover - manual run: python -m settlement.bench [members]
    import json

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    print(json.dumps(bench_settlement_engine(n)))
