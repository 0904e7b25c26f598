"""``bench_api`` end to end at a tiny size: PostgreSQL, the demo chain, the indexer, a uvicorn
process and concurrent logged-in clients; every route answers 200 under concurrency and the
result has the fields ``bright bench api`` prints. (Speed itself is never asserted here.)"""

from __future__ import annotations

import json

from bright.bench_api import BASELINE, bench_api


def test_bench_api_measures_every_route_against_the_baseline():
    result = bench_api(clients=4, seconds=2.0, rounds=1)
    json.dumps(result)  # one JSON line
    assert result["database"] == "postgresql" and result["baseline"] == BASELINE
    assert set(result["routes"]) >= {BASELINE, "sessions", "depth", "orders_own", "balances_own"}
    for name, r in result["routes"].items():
        assert r["errors"] == 0, name
        assert r["requests"] > 0 and r["rps"] > 0 and r["p99_ms"] >= r["p50_ms"] > 0, name
    assert result["rps_ratio_to_baseline"][BASELINE] == 1.0
    assert result["peak_rss_mb"] > 0
