"""``bright bench matching``: clearing speed of the engine against the independent LP.

One random session book (seeded), cleared by the column-oriented engine under each pricing rule
(best of 3), then the welfare LP (OR-Tools GLOP) on the same book once, in the same process. Also
times the object API (:func:`matching.engine.clear` on prebuilt orders) and the contract-style
verifier (:func:`matching.verify.check_clearing`) once each. Progress goes to stderr; the
result is one JSON-serialisable dict.

The book: sides 50/50; quantities uniform in 1..10,000 Wh; limit prices (token base units per
kWh) normal around 100 for bids and 90 for offers, sd 25, rounded and clipped at 0 (many
ties); 10 grid areas; order ids a random permutation of 0..orders-1.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from core.benchutil import peak_rss_mb, stopwatch
from core.rules import PricingRule, Side
from matching.domain import Order
from matching.engine import ClearingArrays, clear, clear_arrays
from matching.lp import solve_welfare_lp_arrays
from matching.verify import check_clearing

__all__ = ["bench_matching", "random_book"]

TARGET_S = 1.0
AREAS = 10


def _log(message: str) -> None:
    print(f"[bench matching] {message}", file=sys.stderr, flush=True)


def random_book(
    orders: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Columns (ids, sides, qty_wh, price_per_kwh, area_code) of a seeded random book."""
    rng = np.random.default_rng(seed)
    ids = rng.permutation(orders).astype(np.int64)
    sides = rng.integers(0, 2, orders, dtype=np.int64)
    qty = rng.integers(1, 10_001, orders, dtype=np.int64)
    mean = np.where(sides == Side.BID, 100.0, 90.0)
    price = np.clip(np.rint(rng.normal(mean, 25.0)), 0, None).astype(np.int64)
    area = rng.integers(0, AREAS, orders, dtype=np.int64)
    return ids, sides, qty, price, area


def bench_matching(orders: int = 100_000, seed: int = 0) -> dict[str, Any]:
    """Time the clearing engine per rule (best of 3) and the welfare LP on one book.

    Parameters
    ----------
    orders
        Orders in the session book.
    seed
        Seed of the random book.

    Returns
    -------
    dict
        Seconds per rule and for the LP, their welfare (price*Wh) and ratios, peak RSS (MiB).
    """
    _log(f"building a random book of {orders} orders (seed {seed})")
    ids, sides, qty, price, area = random_book(orders, seed)

    engine_s: dict[str, float] = {}
    results: dict[str, ClearingArrays] = {}
    for rule in PricingRule:
        name = rule.name.lower()
        best = float("inf")
        for attempt in range(3):
            with stopwatch() as t:
                res = clear_arrays(ids, sides, qty, price, area, rule)
            best = min(best, t[0])
            _log(f"engine {name}: try {attempt + 1}/3 {t[0] * 1000:.1f} ms")
        engine_s[name] = round(best, 6)
        results[name] = res

    _log("solving the welfare LP with OR-Tools GLOP")
    with stopwatch() as t:
        lp = solve_welfare_lp_arrays(sides, qty, price)
    lp_s = t[0]
    _log(f"LP: {lp_s * 1000:.1f} ms, status {lp.status}")

    _log("object API: building Order objects, clearing and verifying (uniform)")
    names = [f"area-{k:02d}" for k in range(AREAS)]
    book = [
        Order(i, Side(s), q, p, "0x0", names[a])
        for i, s, q, p, a in zip(
            ids.tolist(), sides.tolist(), qty.tolist(), price.tolist(), area.tolist(), strict=True
        )
    ]
    with stopwatch() as t:
        obj = clear(book, PricingRule.UNIFORM)
    object_s = t[0]
    with stopwatch() as t:
        check_clearing(book, PricingRule.UNIFORM, obj)
    verify_s = t[0]
    _log(f"object API clear {object_s * 1000:.1f} ms, check_clearing {verify_s * 1000:.1f} ms")

    uniform = results["uniform"]
    welfares = {name: r.welfare for name, r in results.items()}
    engine_max_s = max(engine_s.values())
    return {
        "benchmark": "matching",
        "orders": orders,
        "seed": seed,
        "bids": int(np.count_nonzero(sides == Side.BID)),
        "offers": int(np.count_nonzero(sides == Side.OFFER)),
        "engine_s": engine_s,
        "engine_max_s": engine_max_s,
        "target_s": TARGET_S,
        "meets_target": engine_max_s < TARGET_S,
        "volume_wh": uniform.volume_wh,
        "price_per_kwh": {name: r.price_per_kwh for name, r in results.items()},
        "matches": {name: int(r.match_qty_wh.size) for name, r in results.items()},
        "engine_welfare": uniform.welfare,
        "engine_welfare_same_for_all_rules": len(set(welfares.values())) == 1,
        "lp_solver": "OR-Tools GLOP (model_builder, simplex)",
        "lp_s": round(lp_s, 6),
        "lp_welfare": lp.welfare,
        "lp_volume_wh": lp.volume_wh,
        "welfare_ratio": uniform.welfare / lp.welfare if lp.welfare else None,
        "welfare_abs_diff": abs(uniform.welfare - lp.welfare),
        "lp_over_engine_time": round(lp_s / engine_s["uniform"], 2),
        "object_api_clear_s": round(object_s, 6),
        "check_clearing_s": round(verify_s, 6),
        "peak_rss_mb": peak_rss_mb(),
    }


if __name__ == "__main__":  # pragma: no cover - manual run: python -m matching.bench [orders]
    import json

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    print(json.dumps(bench_matching(n)))
