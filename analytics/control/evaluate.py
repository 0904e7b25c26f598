"""Run policies over a period on the twins and compare them (RLCF-7).

:func:`run_policy` steps a :class:`analytics.control.plant.Plant` from ``start`` to ``stop`` with
one policy and totals what happened per home (:class:`Run`); :func:`compare` runs several from
the same start state and reports each one's totals and its ratios to business as usual:

* ``cost``: energy bill (currency of the prices); ``emissions_kg``; ``peak_kw``: highest import
  of a step; ``violation_kh``: kelvin-hours outside the comfort band; ``tracking_kwh``: distance
  from committed targets; ``import_kwh``; ``decision_ms``: the policy's decision time per home
  per step (mean).

Ratios are of community totals (sums over homes; peaks: the sum of each home's peak). A ratio of
a total that is 0 for business as usual is reported as ``null`` (nothing to compare with), and
comfort is compared in kelvin-hours, not as a ratio, where business as usual has none.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from analytics.control.costs import CostFunction
from analytics.control.errors import ControlConfigError
from analytics.control.homes import STEP_H, STEP_S, Community
from analytics.control.plant import Plant
from analytics.control.policies import Policy

KPIS = ("cost", "emissions_kg", "peak_kw", "violation_kh", "tracking_kwh", "import_kwh")


@dataclass
class Run:
    """One policy over a period: totals per home, and per-step series for charts."""

    policy: str
    names: list[str]
    totals: dict[str, np.ndarray]
    decision_ms: float
    start_s: int
    indoor_c: np.ndarray
    net_import_w: np.ndarray
    offset_k: np.ndarray
    band_low: np.ndarray
    band_high: np.ndarray
    reasons: list[list[str]] = field(default_factory=list)

    def total(self, kpi: str) -> float:
        return float(self.totals[kpi].sum())


def run_policy(
    community: Community,
    policy: Policy,
    start: int,
    stop: int,
    cost: CostFunction | None = None,
    *,
    progress: Callable[[int, int], None] | None = None,
    keep_reasons: bool = False,
) -> Run:
    """Step ``policy`` from ``start`` to ``stop`` (module docstring)."""
    if not 0 <= start < stop <= community.n_steps:
        raise ControlConfigError(f"period {start}..{stop} outside 0..{community.n_steps}")
    plant = Plant(community, cost)
    plant.reset(start)
    steps, n = stop - start, community.n_homes
    indoor, net, offset = (np.zeros((steps, n)) for _ in range(3))
    sums = {k: np.zeros(n) for k in ("cost", "emissions_kg", "violation_kh", "tracking_wh")}
    spent = 0.0
    reasons = []
    for k in range(steps):
        t0 = time.perf_counter()
        actions = policy.decide(plant)
        spent += time.perf_counter() - t0
        out = plant.step(actions)
        indoor[k], net[k] = out.indoor_c, out.net_import_w
        offset[k] = actions.setpoint_offset_k
        for key in sums:
            sums[key] += getattr(out, key)
        if keep_reasons:
            reasons.append(list(policy.reasons))
        if progress is not None and (k + 1) % 96 == 0:
            progress(k + 1, steps)
    totals = {
        "cost": sums["cost"],
        "emissions_kg": sums["emissions_kg"],
        "peak_kw": np.maximum(net, 0).max(axis=0) / 1000.0,
        "violation_kh": sums["violation_kh"],
        "tracking_kwh": sums["tracking_wh"] / 1000.0,
        "import_kwh": np.maximum(net, 0).sum(axis=0) * STEP_H / 1000.0,
    }
    window = slice(start, stop)
    return Run(
        policy=policy.name,
        names=list(community.names),
        totals=totals,
        decision_ms=spent / (steps * n) * 1000.0,
        start_s=int(community.times[start].timestamp()),
        indoor_c=indoor,
        net_import_w=net,
        offset_k=offset,
        band_low=community.band_low[window],
        band_high=community.band_high[window],
        reasons=reasons,
    )


def ratios(run: Run, baseline: Run) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for kpi in KPIS:
        base = baseline.total(kpi)
        out[kpi] = round(run.total(kpi) / base, 4) if abs(base) > 1e-9 else None
    return out


def compare(
    community: Community,
    policies: Sequence[Policy],
    start: int,
    stop: int,
    cost: CostFunction | None = None,
    *,
    progress: Callable[[str], None] = lambda _m: None,
) -> tuple[dict[str, Any], dict[str, Run]]:
    """Every policy from the same start (module docstring); business as usual (the policy
    named ``bau``) must be among them. Returns the JSON-able report and the runs."""
    names = [p.name for p in policies]
    if "bau" not in names:
        raise ControlConfigError("compare: business as usual (bau) must be one of the policies")
    runs: dict[str, Run] = {}
    for policy in policies:
        t0 = time.perf_counter()
        runs[policy.name] = run_policy(community, policy, start, stop, cost)
        progress(
            f"{policy.name}: {stop - start} steps x {community.n_homes} homes in "
            f"{time.perf_counter() - t0:.1f} s"
        )
    bau = runs["bau"]
    report = {
        "period": {
            "start_s": bau.start_s,
            "step_s": STEP_S,
            "steps": stop - start,
            "homes": community.n_homes,
        },
        "cost_function": (cost or CostFunction()).to_json(),
        "policies": {
            name: {
                "totals": {k: round(run.total(k), 4) for k in KPIS},
                "ratios_to_bau": ratios(run, bau),
                "decision_ms": round(run.decision_ms, 3),
            }
            for name, run in runs.items()
        },
    }
    return report, runs


def home_series(runs: dict[str, Run], n: int, every: int = 1) -> dict[str, Any]:
    """One home's per-step series of each run (for charts): indoor temperature, net import,
    the comfort band."""
    first = next(iter(runs.values()))

    def r(values: np.ndarray, digits: int) -> list[float | None]:
        return [round(float(v), digits) if np.isfinite(v) else None for v in values[::every]]

    return {
        "start_s": first.start_s,
        "step_s": STEP_S * every,
        "band_low_c": r(first.band_low[:, n], 2),
        "band_high_c": r(first.band_high[:, n], 2),
        "policies": {
            name: {
                "indoor_c": r(run.indoor_c[:, n], 2),
                "net_import_w": r(run.net_import_w[:, n], 0),
            }
            for name, run in runs.items()
        },
    }
