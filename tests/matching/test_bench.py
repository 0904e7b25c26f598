"""The matching benchmark reports consistent numbers (no timing assertions: speed is for JSON)."""

from __future__ import annotations

import json

import numpy as np

from matching.bench import bench_matching, random_book
from matching.engine import clear_arrays


def test_bench_reports_engine_and_lp_on_the_same_book() -> None:
    report = bench_matching(orders=3_000, seed=5)
    json.dumps(report)  # one JSON line for the CLI
    assert report["orders"] == 3_000 and report["bids"] + report["offers"] == 3_000
    assert set(report["engine_s"]) == {"uniform", "pay_as_bid", "cooperative"}
    assert all(s > 0 for s in report["engine_s"].values())
    assert report["lp_s"] > 0 and report["peak_rss_mb"] > 0
    assert report["engine_welfare_same_for_all_rules"]
    assert abs(report["welfare_ratio"] - 1.0) < 1e-9
    # The reported welfare is the engine's on the seeded book, recomputed here independently.
    ids, sides, qty, price, area = random_book(3_000, seed=5)
    res = clear_arrays(ids, sides, qty, price, area, 0)
    fills = res.fill_wh
    expected = int(np.sum(np.where(sides == 0, price, -price) * fills))
    assert report["engine_welfare"] == expected > 0


def test_random_book_is_seeded() -> None:
    a = random_book(100, seed=1)
    b = random_book(100, seed=1)
    c = random_book(100, seed=2)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not np.array_equal(a[3], c[3])
