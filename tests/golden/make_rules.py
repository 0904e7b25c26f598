"""Writes ``tests/golden/rules.json``: the golden vectors of the money rules.

The expected values come from the rules' mathematical definitions evaluated with exact
fractions (``floor(wh * price / 1000)``, ``floor(x + 1/2)``, ...), not from ``core.rules`` or
the Solidity library, so both implementations are checked against a third derivation. The
cases are hand-picked rounding edges plus seeded random ones. Run it only to add cases
(``.venv/bin/python tests/golden/make_rules.py``) and review the diff.
"""

from __future__ import annotations

import json
import math
import random
from fractions import Fraction
from pathlib import Path

BP = 10_000
OUT = Path(__file__).with_name("rules.json")


def floor(x: Fraction) -> int:
    return math.floor(x)


def energy_cost(wh: int, price: int) -> int:
    return floor(Fraction(wh * price, 1000))


def pro_rata(amount: int, part: int, whole: int) -> int:
    return 0 if whole == 0 else floor(Fraction(amount * part, whole))


def upper_wh(t: int, tol: int) -> int:
    return floor(t * Fraction(BP + tol, BP))


def lower_wh(t: int, tol: int) -> int:
    return floor(t * Fraction(BP - tol, BP))


def div_round(a: int, b: int) -> int:
    return floor(Fraction(a, b) + Fraction(1, 2))


def cases() -> dict[str, list[dict[str, object]]]:
    rng = random.Random(957816)
    out: dict[str, list[dict[str, object]]] = {}
    ec = [(0, 5), (5, 0), (1, 999), (1, 1000), (999, 1), (1000, 1), (100, 999), (1001, 999),
          (3, 333), (3, 334), (10**12, 10**12), (2**40 - 1, 2**40 - 1)]
    ec += [(rng.randrange(10**9), rng.randrange(10**7)) for _ in range(20)]
    out["energy_cost"] = [{"args": [w, p], "expected": energy_cost(w, p)} for w, p in ec]
    pr = [(99, 1, 100), (100, 1, 3), (0, 5, 9), (7, 0, 9), (7, 9, 9), (5, 0, 0),
          (2**200, 3, 7), (10**21, 10**12 - 1, 10**12)]
    pr += [(rng.randrange(10**15), *sorted((rng.randrange(1, 10**9), rng.randrange(1, 10**9))))
           for _ in range(20)]
    out["pro_rata"] = [{"args": [a, p, w], "expected": pro_rata(a, p, w)} for a, p, w in pr]
    tb = [(1001, 1000), (0, 1000), (1000, 0), (1, 9999), (999, 1), (12345, 2500), (2**32 - 1, 9999)]
    tb += [(rng.randrange(10**6), rng.randrange(10_000)) for _ in range(15)]
    out["upper_wh"] = [{"args": [t, tol], "expected": upper_wh(t, tol)} for t, tol in tb]
    out["lower_wh"] = [{"args": [t, tol], "expected": lower_wh(t, tol)} for t, tol in tb]
    wt = [(900, 1001, 1000), (899, 1001, 1000), (1101, 1001, 1000), (1102, 1001, 1000),
          (0, 0, 0), (1, 0, 0), (100, 100, 0), (99, 100, 0)]
    out["within_tolerance"] = [
        {"args": [s, q, tol], "expected": lower_wh(q, tol) <= s <= upper_wh(q, tol)}
        for s, q, tol in wt
    ]
    cr = [(-5, 10), (0, 10), (7, 10), (10, 10), (12, 10), (5, 0)]
    out["credited_wh"] = [{"args": [d, c], "expected": min(max(d, 0), c)} for d, c in cr]
    sf = [(-5, 10), (10, 10), (3, 10), (11, 10), (0, 0), (-2**40, 2**40)]
    out["shortfall_wh"] = [{"args": [d, lo], "expected": max(0, lo - d)} for d, lo in sf]
    dv = [(0, 100, 80), (1, 100, 80), (0, -50, 30), (1, -50, 30)]
    out["delivered_wh"] = [
        {"args": [k, b, m], "expected": b - m if k == 0 else m - b} for k, b, m in dv
    ]
    dr = [(5, 2), (-5, 2), (7, 3), (-7, 3), (-8, 3), (1, 4), (2, 4), (-2, 4), (-6, 4), (0, 7),
          (-1, 2), (1, 2), (-3, 2), (10**15 + 1, 4)]
    dr += [(rng.randrange(-10**9, 10**9), rng.randrange(1, 97)) for _ in range(20)]
    out["div_round"] = [{"args": [a, b], "expected": div_round(a, b)} for a, b in dr]
    ip = [(1500, 0, 1000, 1000), (0, 999, 1000, 1000), (999, 1, 1, 1), (2000, 500, 1000, 3000)]
    out["interval_points"] = [
        {"args": [c, s, p, q], "expected": energy_cost(c, p) - energy_cost(s, q)}
        for c, s, p, q in ip
    ]
    return out


if __name__ == "__main__":
    OUT.write_text(json.dumps(cases(), indent=1) + "\n")
    print(f"wrote {OUT}")
