"""Coalition forming for a DSO request (CGDFS): CP-SAT, a greedy baseline, reserves, replacement.

Eligibility
-----------
A member who opted in is eligible unless it opted in after the request's deadline (an error:
:class:`~coalitions.errors.OptInAfterDeadline`) or the request names a feeder and the member's
node is not that feeder or downstream of it in the feeder graph (a :class:`networkx.DiGraph`
with edges from upstream to downstream; members outside are simply left out). Its availability
per interval is :meth:`~coalitions.domain.MemberOffer.availability_wh`.

The model (:func:`form_coalition`, OR-Tools CP-SAT)
---------------------------------------------------
Variables: ``x[i]`` (member i is in the coalition), integer targets ``y[i, t]`` in
``0..cap[i, t]`` (Wh), and for on/off members (``min_wh > 0``) or comfort-limited ones
(``max_active_intervals``) ``a[i, t]`` (active in t).

* ``y[i, t] <= cap[i, t] * x[i]``; with ``a``: ``min_wh * a <= y <= cap * a``, ``a <= x``,
  ``sum_t a[i, t] <= max_active_intervals``; a chosen member has a target:
  ``sum_t y[i, t] >= x[i]``; nothing is asked in an interval whose quantity is 0.
* ``S[t] = sum_i y[i, t]``, ``dev[t] >= |S[t] - q[t]|``, and the worst relative deviation
  ``D`` (bp) with ``10000 * dev[t] <= q[t] * D``.

Two lexicographic phases: (1) minimise ``D`` (the worst interval's deviation; within
tolerance means ``D <= tolerance_bp``); (2) with ``D`` fixed at its best value, minimise
``sum (10000 - reliability_bp[i]) * y[i, t] + 10000 * sum dev[t]``: the expected shortfall
(targets go to reliable members) plus the total deviation. The hint of phase 1 is the greedy
solution, repaired interval by interval towards the quantity within each member's limits
(:func:`_repair`); phase 1's solution is the hint of phase 2. Presolve is off by default (on
1,000 members it costs seconds). If the time limit leaves CP-SAT with a worse worst deviation
than the greedy's, the greedy result is returned (``method`` says so).

Size: only the most reliable members whose availability covers ``candidate_cover`` times the
request in every interval enter the model (``candidate_cover=0``: all); the rest can still be
reserve. Every interval is within tolerance or reported as not (``within_tolerance``).

Greedy baseline (:func:`form_coalition_greedy`)
-----------------------------------------------
First fit by reliability: members in order of (reliability desc, total availability desc, id);
each takes, in the intervals still short (largest shortfall first, at most
``max_active_intervals`` of them), ``min(cap, shortfall)``; an on/off member whose minimum
exceeds the shortfall takes ``min_wh`` only if the total stays within ``q (1 + tol)``. It stops
when no interval is short.

Reserve
-------
Unchosen eligible members in the greedy's order are added to the reserve until their
availability covers ``reserve_bp`` of the quantity in every interval (or none are left).

Replacement (:func:`replace_member`)
------------------------------------
A failing member's targets from an interval on are zeroed and the same two-phase model covers
them from the reserve (the quantity of the sub-problem is the failing member's remaining
targets); the reserve members used join the coalition, the rest stay in reserve.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

import networkx as nx
import numpy as np
from ortools.sat.python import cp_model
from pydantic import BaseModel, Field

from coalitions.domain import (
    Coalition,
    MemberOffer,
    Replacement,
    deviation_bp,
    within_tolerance,
)
from coalitions.errors import (
    DuplicateMember,
    IntervalOutsideWindow,
    NotAMember,
    OptInAfterDeadline,
    SolverFailed,
    UnknownFeeder,
)
from core.rules import BP, FlexRequest, upper_wh

__all__ = [
    "FormationConfig",
    "eligible_members",
    "form_coalition",
    "form_coalition_greedy",
    "replace_member",
]


class FormationConfig(BaseModel):
    """How :func:`form_coalition` searches."""

    time_limit_s: float = Field(3.0, gt=0, description="CP-SAT wall time for both phases, s")
    num_workers: int = Field(2, ge=1, description="CP-SAT search workers (threads)")
    quantile: Literal["q50", "q10"] = Field(
        "q50", description="forecast used as availability: median or cautious 10 % quantile"
    )
    seed: int = Field(0, description="CP-SAT random seed (reproducible runs)")
    candidate_cover: float = Field(
        3.0,
        ge=0,
        description="members entering the model: most reliable first until their availability "
        "covers this multiple of the request in every interval (0: all)",
    )
    presolve: bool = Field(
        False,
        description="CP-SAT presolve; off by default: on 1,000 members it costs seconds and "
        "the model is already tight",
    )
    gap_limit: float = Field(
        0.0,
        ge=0,
        description="phase 2 stops once within this relative gap of CP-SAT's bound (0: "
        "prove optimality or use the whole time limit)",
    )
    phase1_share: float = Field(
        0.5, gt=0, lt=1, description="share of the time limit for phase 1 (worst deviation)"
    )
    reserve_bp: int = Field(
        2000,
        ge=0,
        le=100_000,
        description="reserve wanted: unchosen members able to cover this share of the quantity "
        "in every interval, basis points (default 20 %)",
    )


@dataclass(frozen=True, eq=False)
class _Problem:
    ids: tuple[str, ...]
    cap: np.ndarray  # n x T, Wh
    min_wh: np.ndarray  # n
    max_active: np.ndarray  # n, -1 = no limit
    rel_bp: np.ndarray  # n
    q: np.ndarray  # T
    high: np.ndarray  # T, floor(q (1 + tol))


def _log(message: str, verbose: bool) -> None:
    if verbose:
        print(f"[coalitions] {message}", file=sys.stderr, flush=True)


def eligible_members(
    request: FlexRequest,
    offers: Sequence[MemberOffer],
    feeder_graph: nx.DiGraph | None = None,
    feeder: str | None = None,
) -> list[MemberOffer]:
    """The offers that may join: deadline and duplicates checked; with ``feeder`` (a node of
    ``feeder_graph``), only members downstream of it."""
    seen: set[str] = set()
    for o in offers:
        if o.member in seen:
            raise DuplicateMember(o.member)
        seen.add(o.member)
        if request.opt_in_deadline_s is not None and o.opted_in_s > request.opt_in_deadline_s:
            raise OptInAfterDeadline(o.member, o.opted_in_s, request.opt_in_deadline_s)
        o.availability_wh(request.intervals)  # checks the lengths
    if feeder is None:
        return list(offers)
    if feeder_graph is None or feeder not in feeder_graph:
        raise UnknownFeeder(feeder)
    downstream = nx.descendants(feeder_graph, feeder) | {feeder}
    return [o for o in offers if o.node in downstream]


def _problem(
    quantity_wh: np.ndarray,
    tolerance_bp: int,
    offers: Sequence[MemberOffer],
    quantile: str,
) -> _Problem:
    n_t = int(quantity_wh.size)
    cap = (
        np.stack([o.availability_wh(n_t, quantile) for o in offers])
        if offers
        else np.zeros((0, n_t), dtype=np.int64)
    )
    cap = np.where(quantity_wh[None, :] > 0, cap, 0)
    return _Problem(
        ids=tuple(o.member for o in offers),
        cap=cap.astype(np.int64),
        min_wh=np.array([o.min_wh for o in offers], dtype=np.int64),
        max_active=np.array(
            [-1 if o.max_active_intervals is None else o.max_active_intervals for o in offers],
            dtype=np.int64,
        ),
        rel_bp=np.array([o.reliability_bp for o in offers], dtype=np.int64),
        q=quantity_wh.astype(np.int64),
        high=upper_wh(quantity_wh.astype(np.int64), tolerance_bp),
    )


def _greedy_order(p: _Problem) -> list[int]:
    totals = p.cap.sum(axis=1)
    return sorted(range(len(p.ids)), key=lambda i: (-int(p.rel_bp[i]), -int(totals[i]), p.ids[i]))


def _greedy(p: _Problem) -> np.ndarray:
    n_t = p.q.size
    y = np.zeros_like(p.cap)
    total = np.zeros(n_t, dtype=np.int64)
    for i in _greedy_order(p):
        short = p.q - total
        if (short <= 0).all():
            break
        ts = [t for t in range(n_t) if short[t] > 0 and p.cap[i, t] > 0]
        ts.sort(key=lambda t: (-int(short[t]), t))
        if p.max_active[i] >= 0:
            ts = ts[: int(p.max_active[i])]
        for t in ts:
            take = min(int(p.cap[i, t]), int(short[t]))
            if take < p.min_wh[i]:
                if total[t] + p.min_wh[i] > p.high[t]:
                    continue
                take = int(p.min_wh[i])
            y[i, t] = take
            total[t] += take
    return y


def _repair(p: _Problem, y: np.ndarray) -> np.ndarray:
    """Move a solution's totals towards the quantity without breaking a member's limits.

    Per interval, an excess is taken back from the least reliable members first and a
    shortfall is filled from the most reliable first, each target staying in ``min_wh..cap``
    when active (or ``0..cap`` for a member without on/off or comfort limits). Used to
    improve the CP-SAT hint; never worse than its input on any interval.
    """
    out = y.copy()
    order = _greedy_order(p)
    free = (p.min_wh == 0) & (p.max_active < 0)
    for t in range(p.q.size):
        gap = int(p.q[t]) - int(out[:, t].sum())
        if gap > 0:
            for i in order:
                if gap == 0:
                    break
                if out[i, t] > 0 or free[i]:
                    add = min(gap, int(p.cap[i, t] - out[i, t]))
                    if add > 0:
                        out[i, t] += add
                        gap -= add
        elif gap < 0:
            for i in reversed(order):
                if gap == 0:
                    break
                if out[i, t] > 0:
                    floor = 0 if free[i] else int(p.min_wh[i])
                    cut = min(-gap, int(out[i, t]) - floor)
                    if cut > 0:
                        out[i, t] -= cut
                        gap += cut
    return out


def _worst_bp(y: np.ndarray, q: np.ndarray) -> int:
    return max(deviation_bp(y.sum(axis=0).tolist(), q.tolist()))


def _candidates(p: _Problem, cover: float) -> list[int]:
    order = _greedy_order(p)
    if cover <= 0:
        return order
    need = np.ceil(p.q * cover).astype(np.int64)
    acc = np.zeros_like(p.q)
    chosen = []
    for i in order:
        chosen.append(i)
        acc += p.cap[i]
        if (acc >= need).all():
            break
    return chosen


_STATUS = {
    cp_model.OPTIMAL: "OPTIMAL",
    cp_model.FEASIBLE: "FEASIBLE",
    cp_model.INFEASIBLE: "INFEASIBLE",
    cp_model.MODEL_INVALID: "MODEL_INVALID",
    cp_model.UNKNOWN: "UNKNOWN",
}


def _solve_cp_sat(
    p: _Problem, rows: list[int], hint: np.ndarray, config: FormationConfig
) -> tuple[np.ndarray, str]:
    """Two-phase CP-SAT over the members ``rows``; returns (targets n x T, status)."""
    n_t = p.q.size
    m = cp_model.CpModel()
    x: dict[int, cp_model.IntVar] = {}
    y: dict[tuple[int, int], cp_model.IntVar] = {}
    active_vars: list[cp_model.IntVar] = []
    for i in rows:
        ts = [t for t in range(n_t) if p.cap[i, t] > 0]
        if not ts:
            continue
        xi = m.new_bool_var(f"x{i}")
        x[i] = xi
        m.add_hint(xi, bool(hint[i].sum() > 0))
        on_off = p.min_wh[i] > 0 or p.max_active[i] >= 0
        active = []
        for t in ts:
            cap = int(p.cap[i, t])
            yit = m.new_int_var(0, cap, f"y{i}_{t}")
            y[i, t] = yit
            m.add_hint(yit, int(hint[i, t]))
            if on_off:
                a = m.new_bool_var(f"a{i}_{t}")
                active.append(a)
                active_vars.append(a)
                m.add(yit <= cap * a)
                m.add(yit >= int(p.min_wh[i]) * a)
                m.add_implication(a, xi)
                m.add_hint(a, bool(hint[i, t] > 0))
            else:
                m.add(yit <= cap * xi)
        if p.max_active[i] >= 0:
            m.add(sum(active) <= int(p.max_active[i]))
        m.add(sum(y[i, t] for t in ts) >= xi)
    totals = []
    devs = []
    worst_ub = 0
    cap_sum = p.cap[rows].sum(axis=0) if rows else np.zeros(n_t, dtype=np.int64)
    for t in range(n_t):
        terms = [y[i, t] for i in rows if (i, t) in y]
        q = int(p.q[t])
        ub = max(q, int(cap_sum[t]))
        s = m.new_int_var(0, ub, f"S{t}")
        m.add(s == sum(terms))
        dev = m.new_int_var(0, ub, f"dev{t}")
        m.add(dev >= s - q)
        m.add(dev >= q - s)
        totals.append(s)
        devs.append(dev)
        if q > 0:
            worst_ub = max(worst_ub, -((-ub * BP) // q))
    worst = m.new_int_var(0, max(worst_ub, BP), "D")
    for t in range(n_t):
        q = int(p.q[t])
        if q > 0:
            m.add(BP * devs[t] <= q * worst)
    # Complete the hint (CP-SAT only uses a hint as a first solution when it is complete).
    hint_total = hint[rows].sum(axis=0) if rows else np.zeros(n_t, dtype=np.int64)
    for t in range(n_t):
        m.add_hint(totals[t], int(hint_total[t]))
        m.add_hint(devs[t], abs(int(hint_total[t]) - int(p.q[t])))
    m.add_hint(worst, _worst_bp(hint[rows] if rows else hint[:0], p.q))
    m.minimize(worst)

    def run(limit_s: float, gap: float = 0.0) -> tuple[cp_model.CpSolver, str]:
        solver = cp_model.CpSolver()
        solver.parameters.relative_gap_limit = gap
        solver.parameters.max_time_in_seconds = max(limit_s, 0.05)
        solver.parameters.num_workers = config.num_workers
        solver.parameters.random_seed = config.seed
        solver.parameters.cp_model_presolve = config.presolve
        # CP-SAT's own Ctrl-C handler leaves SIGINT at its default after the solve: a
        # service solving in a thread would then die on Ctrl-C without its cleanup.
        solver.parameters.catch_sigint_signal = False
        status = solver.solve(m)
        if status in (cp_model.INFEASIBLE, cp_model.MODEL_INVALID):
            raise SolverFailed(_STATUS[status])  # all-zero targets are always feasible
        return solver, _STATUS.get(status, str(status))

    def values(solver: cp_model.CpSolver) -> np.ndarray:
        out = np.zeros_like(p.cap)
        for (i, t), var in y.items():
            out[i, t] = solver.value(var)
        return out

    start = time.perf_counter()
    solver, status1 = run(config.time_limit_s * config.phase1_share)
    if status1 not in ("OPTIMAL", "FEASIBLE"):
        return hint.copy(), f"{status1}/-"
    best = int(solver.value(worst))
    phase1 = values(solver)
    m.clear_hints()
    for var in [*x.values(), *y.values(), *active_vars, *totals, *devs, worst]:
        m.add_hint(var, solver.value(var))
    m.add(worst <= best)
    m.minimize(
        sum(int(BP - p.rel_bp[i]) * var for (i, _), var in y.items() if p.rel_bp[i] < BP)
        + BP * sum(devs)
    )
    solver, status2 = run(config.time_limit_s - (time.perf_counter() - start), config.gap_limit)
    if status2 not in ("OPTIMAL", "FEASIBLE"):
        return phase1, f"{status1}/{status2}"
    return values(solver), f"{status1}/{status2}"


def _reserve(p: _Problem, chosen: np.ndarray, reserve_bp: int) -> list[int]:
    need = -((-p.q * reserve_bp) // BP)
    acc = np.zeros_like(p.q)
    out: list[int] = []
    if (acc >= need).all():
        return out
    for i in _greedy_order(p):
        if chosen[i] or p.cap[i].sum() == 0:
            continue
        out.append(i)
        acc += p.cap[i]
        if (acc >= need).all():
            break
    return out


def _coalition(
    request: FlexRequest,
    p: _Problem,
    y: np.ndarray,
    method: str,
    status: str,
    solve_s: float,
    reserve_bp: int,
) -> Coalition:
    chosen = y.sum(axis=1) > 0
    members = tuple(p.ids[i] for i in range(len(p.ids)) if chosen[i])
    targets = {p.ids[i]: tuple(int(v) for v in y[i]) for i in range(len(p.ids)) if chosen[i]}
    total = tuple(int(v) for v in y.sum(axis=0)) if len(p.ids) else (0,) * p.q.size
    reserve = _reserve(p, chosen, reserve_bp)
    reserve_wh = p.cap[reserve].sum(axis=0) if reserve else np.zeros(p.q.size, dtype=np.int64)
    shortfall = int(((BP - p.rel_bp)[:, None] * y).sum()) // BP if len(p.ids) else 0
    return Coalition(
        request_id=request.request_id,
        window_start_s=request.window_start_s,
        members=members,
        targets_wh=targets,
        requested_wh=request.quantity_wh,
        total_wh=total,
        tolerance_bp=request.tolerance_bp,
        deviation_bp=deviation_bp(total, request.quantity_wh),
        within_tolerance=within_tolerance(total, request.quantity_wh, request.tolerance_bp),
        reserve=tuple(p.ids[i] for i in reserve),
        reserve_wh=tuple(int(v) for v in reserve_wh),
        method=method,
        status=status,
        expected_shortfall_wh=shortfall,
        solve_s=round(solve_s, 6),
    )


def form_coalition_greedy(
    request: FlexRequest,
    offers: Sequence[MemberOffer],
    feeder_graph: nx.DiGraph | None = None,
    config: FormationConfig | None = None,
    feeder: str | None = None,
) -> Coalition:
    """The greedy baseline (first fit by reliability; see the module docstring)."""
    cfg = config or FormationConfig()
    start = time.perf_counter()
    eligible = eligible_members(request, offers, feeder_graph, feeder)
    p = _problem(np.asarray(request.quantity_wh, dtype=np.int64), request.tolerance_bp,
                 eligible, cfg.quantile)
    y = _greedy(p)
    elapsed = time.perf_counter() - start
    return _coalition(request, p, y, "greedy", "HEURISTIC", elapsed, cfg.reserve_bp)


def form_coalition(
    request: FlexRequest,
    offers: Sequence[MemberOffer],
    feeder_graph: nx.DiGraph | None = None,
    config: FormationConfig | None = None,
    verbose: bool = False,
    feeder: str | None = None,
) -> Coalition:
    """Choose members and integer targets with CP-SAT (see the module docstring).

    Parameters
    ----------
    request
        The request: window, quantity per interval (Wh), tolerance, opt-in deadline.
    offers
        The members who opted in, with their forecast flexibility and limits.
    feeder_graph
        Upstream -> downstream graph of grid nodes; needed with ``feeder``.
    config
        Time limit, workers, forecast quantile, candidate pruning, reserve share.
    verbose
        Progress to stderr.
    feeder
        A node of ``feeder_graph``: only members downstream of it may join (None: anyone).

    Returns
    -------
    Coalition
        Members, targets, per-interval totals and deviations, reserve; ``method`` is
        ``"cp-sat"`` (or ``"greedy (cp-sat fallback)"`` when the time limit left CP-SAT
        worse than the greedy baseline).
    """
    cfg = config or FormationConfig()
    start = time.perf_counter()
    eligible = eligible_members(request, offers, feeder_graph, feeder)
    q = np.asarray(request.quantity_wh, dtype=np.int64)
    p = _problem(q, request.tolerance_bp, eligible, cfg.quantile)
    greedy = _greedy(p)
    rows = _candidates(p, cfg.candidate_cover)
    _log(f"{len(eligible)} eligible, {len(rows)} in the model, {q.size} intervals", verbose)
    in_model = np.zeros(len(p.ids), dtype=bool)
    in_model[rows] = True
    hint = _repair(p, np.where(in_model[:, None], greedy, 0))
    y, status = _solve_cp_sat(p, rows, hint, cfg)
    method = "cp-sat"
    if _worst_bp(y, q) > _worst_bp(greedy, q):
        y, method = greedy, "greedy (cp-sat fallback)"
    elapsed = time.perf_counter() - start
    _log(f"{method} {status} in {elapsed:.2f} s, worst deviation {_worst_bp(y, q)} bp", verbose)
    return _coalition(request, p, y, method, status, elapsed, cfg.reserve_bp)


def replace_member(
    coalition: Coalition,
    request: FlexRequest,
    failing: str,
    from_s: int,
    offers: Sequence[MemberOffer],
    config: FormationConfig | None = None,
) -> Coalition:
    """Cover a failing member's targets from interval ``from_s`` on with reserve members.

    Parameters
    ----------
    coalition
        The coalition now in force.
    request
        Its request.
    failing
        The member to replace (flagged by :func:`settlement.engine.detect_non_delivery`).
    from_s
        First interval the replacement covers, unix seconds (after a
        :class:`settlement.domain.NonDelivery`: its ``detected_s + 900``).
    offers
        The opt-ins (reserve members' forecasts and limits are read from them).
    config
        Solver settings (the same two-phase model, on the reserve only).

    Returns
    -------
    Coalition
        The failing member keeps its targets before ``from_s`` (0 after), the reserve
        members used join with targets from ``from_s``; totals, deviations and the reserve
        are recomputed; :attr:`Coalition.replacements` records the change.
    """
    cfg = config or FormationConfig()
    if failing not in coalition.targets_wh:
        raise NotAMember(failing)
    k0 = request.interval_index(from_s)
    if from_s % 900 or not 0 <= k0 < request.intervals:
        raise IntervalOutsideWindow(from_s, request.window_start_s, request.intervals)
    start = time.perf_counter()
    by_id = {o.member: o for o in offers}
    reserve = [by_id[m] for m in coalition.reserve if m in by_id]
    remaining = np.asarray(coalition.targets_wh[failing], dtype=np.int64).copy()
    remaining[:k0] = 0
    p = _problem(remaining, request.tolerance_bp, reserve, cfg.quantile)
    greedy = _greedy(p)
    if reserve:
        y, status = _solve_cp_sat(p, _greedy_order(p), _repair(p, greedy), cfg)
        if _worst_bp(y, remaining) > _worst_bp(greedy, remaining):
            y, status = greedy, status + "+greedy"
    else:
        y, status = greedy, "NO_RESERVE"
    targets = dict(coalition.targets_wh)
    kept = list(coalition.targets_wh[failing])
    for k in range(k0, request.intervals):
        kept[k] = 0
    targets[failing] = tuple(kept)
    used = []
    for i, member in enumerate(p.ids):
        if y[i].sum() > 0:
            targets[member] = tuple(int(v) for v in y[i])
            used.append(member)
    members = tuple(coalition.members) + tuple(used)
    total = tuple(int(sum(targets[m][k] for m in members)) for k in range(request.intervals))
    left = tuple(m for m in coalition.reserve if m not in used)
    left_offers = [by_id[m] for m in left if m in by_id]
    left_wh = (
        np.stack([o.availability_wh(request.intervals, cfg.quantile) for o in left_offers]).sum(
            axis=0
        )
        if left_offers
        else np.zeros(request.intervals, dtype=np.int64)
    )
    rel = {o.member: o.reliability_bp for o in offers}
    shortfall = sum(
        (BP - rel.get(m, BP)) * sum(targets[m]) for m in members
    ) // BP
    return replace(
        coalition,
        members=members,
        targets_wh=targets,
        total_wh=total,
        deviation_bp=deviation_bp(total, request.quantity_wh),
        within_tolerance=within_tolerance(total, request.quantity_wh, request.tolerance_bp),
        reserve=left,
        reserve_wh=tuple(int(v) for v in left_wh),
        status=f"replacement {status}",
        expected_shortfall_wh=shortfall,
        solve_s=round(time.perf_counter() - start, 6),
        replacements=(*coalition.replacements, Replacement(failing, from_s, tuple(used))),
    )
