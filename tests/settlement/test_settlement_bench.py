"""The settlement engine benchmark reports consistent numbers (no timing assertions)."""

from __future__ import annotations

import json

from settlement.bench import bench_settlement_engine, synthetic_settlement
from settlement.engine import settle


def test_bench_settles_and_conserves_money() -> None:
    report = bench_settlement_engine(members=12, seed=4)
    json.dumps(report)
    assert report["members"] == 12 and report["intervals"] == 16
    assert report["settle_s"] > 0 and report["peak_rss_mb"] > 0
    assert set(report["other_baselines_s"]) == {
        "same_hour_working_days", "forecast", "meter_before_after"
    }
    assert report["money_conserved"]
    assert report["escrow"] == report["payout_total"] + report["refund"]
    # Recomputed here from the same seeded data.
    request, names, targets, meter, forecasts = synthetic_settlement(12, seed=4)
    result = settle(request, names, targets, meter, forecasts)
    assert result.payout_total == report["payout_total"]
    # Member 0 of every ten delivers almost nothing: it is flagged.
    assert "m0000" in {f.member for f in result.non_delivery}
    assert report["non_delivery_flagged"] == len(result.non_delivery) >= 2
