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
Variables: integer targets ``y[i, t]`` in ``0..cap[i, t]`` (Wh; an on/off member's
(``min_wh > 0``) in ``{0} | min_wh..cap[i, t]``), for comfort-limited members
(``max_active_intervals``) ``a[i, t]`` (active in t), and ``within`` (every interval's total
lies in the contract's bounds). A member is in the coalition when it has a target.

* with ``a``: ``y <= cap * a`` and ``sum_t a[i, t] <= max_active_intervals``; nothing is asked
  in an interval whose quantity is 0.
* ``S[t] = sum_i y[i, t]``, ``dev[t] >= |S[t] - q[t]|``, the worst relative deviation ``D``
  (bp) with ``10000 * dev[t] <= q[t] * D``, and ``within => lower_wh(q[t]) <= S[t] <=
  upper_wh(q[t])`` (:func:`core.rules.tolerance_bounds`, rounded down as on-chain).

Two lexicographic phases: (1) minimise ``(D_max + 1) * (1 - within) + D``: within the
tolerance first (the contract's rule, :func:`core.rules.within_tolerance`), then the worst
interval's deviation; (2) with ``D`` and ``within`` held at their phase-1 values, minimise
``sum (10000 - reliability_bp[i]) * y[i, t] + 10000 * sum dev[t]``: the expected shortfall
(targets go to reliable members) plus the total deviation. The hint of phase 1 is the greedy
solution, repaired interval by interval towards the quantity within each member's limits
(:func:`_repair`); phase 1's solution is the hint of phase 2. When the hint already meets
every quantity exactly, phase 1's optimum (0) is known and not solved (its status reads
``HINT_OPTIMAL``). Presolve and CP-SAT's LNS workers are off by default (see
:class:`FormationConfig`).

Size: only the most reliable members whose availability covers ``candidate_cover`` times the
request in every interval enter the model (``candidate_cover=0``: all); the rest can still be
reserve. Pruning never costs a coalition within the tolerance that exists: when the
candidates' phase 1 misses the tolerance (or finds nothing), the model over every eligible
member is built and solved with the time left, from the better of the candidates' solution and
the repaired greedy. Every interval is within tolerance or reported as not
(``within_tolerance``).

Time limit and labels
---------------------
``time_limit_s`` bounds the whole call: eligibility, the greedy, model building (the clock is
read every few members) and both phases; each CP-SAT phase is given only the time left,
less :data:`FINISH_S_PER_TARGET` per (member, interval) kept back for CP-SAT to stop and for
the result to be assembled. What cannot be interrupted is the margin: the greedy baseline and
the last step of building the model, and CP-SAT's stop beyond the time kept back. Measured on
2 cores shared with other work (``bright bench coalitions`` reports ``cp_sat_overrun_s``):
at most 0.18 s past the limit at 1,000 to 10,000 members and 16 intervals (0.02 s typical;
the most under a load average of 4.6). The greedy is never cut short.

``method`` says which path produced the targets and ``status`` how each CP-SAT phase ended
(``OPTIMAL``, ``FEASIBLE``, ``UNKNOWN``; ``-`` a phase not run; ``NO_TIME`` a phase the limit
left no time for; ``BUILD_TIMEOUT`` the limit ran out while building the model):

* ``"cp-sat"``: CP-SAT's solution, model over every eligible member;
* ``"cp-sat (candidates)"``: CP-SAT's solution, model over the candidates only;
* ``"cp-sat (all members after the candidates missed the tolerance)"``: CP-SAT's solution of
  the second model; ``status`` reads ``"candidates <phases>; all <phases>"``;
* ``"greedy (cp-sat fallback)"`` / ``"repaired greedy (cp-sat fallback)"``: CP-SAT found no
  solution in time, or none better on (within tolerance, worst deviation), so the greedy
  baseline (as :func:`_repair` left it) is returned.

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
targets), within ``time_limit_s`` as above; the reserve members used join the coalition, the
rest stay in reserve. ``status`` reads ``"replacement <phases>"``, followed by the fallback's
label when the (repaired) greedy was used, or ``"replacement NO_RESERVE"``.
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
from core.rules import BP, FlexRequest, lower_wh, upper_wh

__all__ = [
    "FormationConfig",
    "eligible_members",
    "form_coalition",
    "form_coalition_greedy",
    "replace_member",
]


METHOD_CP_SAT = "cp-sat"
"""CP-SAT's targets from the model over every eligible member."""
METHOD_CP_SAT_CANDIDATES = "cp-sat (candidates)"
"""CP-SAT's targets from the model over the candidates only (``candidate_cover``)."""
METHOD_CP_SAT_ALL = "cp-sat (all members after the candidates missed the tolerance)"
"""CP-SAT's targets from the model over every eligible member, built because the candidates'
model could not meet the tolerance."""
METHOD_GREEDY_FALLBACK = "greedy (cp-sat fallback)"
"""The greedy baseline's targets: CP-SAT found nothing in time, or nothing better."""
METHOD_REPAIRED_FALLBACK = "repaired greedy (cp-sat fallback)"
"""The greedy baseline's targets moved towards the quantity by :func:`_repair`: CP-SAT found
nothing in time, or nothing better."""


class FormationConfig(BaseModel):
    """How :func:`form_coalition` searches."""

    time_limit_s: float = Field(
        3.0,
        gt=0,
        description="wall time of the whole call, s: model building and both CP-SAT phases "
        "(the result is assembled after it; see the module docstring for the margin)",
    )
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
    lns: bool = Field(
        False,
        description="CP-SAT's large-neighbourhood-search workers; off by default: from 1,000 "
        "members on one LNS task overran the time limit by 0.3-2.7 s (measured on 2 cores) "
        "and they did not improve the benchmark's coalitions",
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
    low: np.ndarray  # T, lower_wh(q, tol): the contract's bounds of the total
    high: np.ndarray  # T, upper_wh(q, tol)


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
        low=lower_wh(quantity_wh.astype(np.int64), tolerance_bp),
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


def _rank(y: np.ndarray, p: _Problem) -> tuple[bool, int]:
    """How good targets are, smaller is better: (some interval's total is outside the
    contract's bounds, worst deviation bp) -- phase 1's objective, lexicographic."""
    total = y.sum(axis=0)
    missed = bool(((total < p.low) | (total > p.high)).any())
    return missed, _worst_bp(y, p.q)


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

MIN_SOLVE_S = 0.01
"""A CP-SAT phase is only started with at least this much of the time limit left, s."""
_CLOCK_EVERY = 32
"""Members added to the model between two looks at the clock."""
FINISH_S_PER_TARGET = 1.5e-6
"""Time kept back from the limit per (member, interval) to finish after CP-SAT, s: CP-SAT
stops about 1 us per model variable after its own limit and reading its solution and
assembling the coalition take about 0.5 us (measured on 2 busy cores: 0.09-0.14 s and
0.05 s at 5,000 members x 16 intervals)."""


def _time_left(deadline: float) -> float:
    return deadline - time.perf_counter()


class _OutOfTime(Exception):
    """The time limit ran out while the model was being built (the message says where)."""


@dataclass(frozen=True, eq=False)
class _Solved:
    """What CP-SAT made of one model: its best targets (``None``: no solution, or no time to
    look for one) and the phases' statuses (``"OPTIMAL/FEASIBLE"``; ``-`` for a phase not run,
    ``NO_TIME`` for one the time limit left no time for)."""

    y: np.ndarray | None
    status: str


class _Model:
    """The two-phase CP-SAT model of the module docstring over the members ``rows``.

    Built against the call's deadline: the clock is read every :data:`_CLOCK_EVERY` members and
    :class:`_OutOfTime` raised once less than :data:`MIN_SOLVE_S` is left. Hints and the
    phase-2 objective go into the model's proto in bulk (one call each, not one per variable):
    at 5,000 members that is the difference between building inside the time limit or not.
    """

    def __init__(self, p: _Problem, rows: Sequence[int], hint: np.ndarray, deadline: float):
        self.p = p
        n_t = p.q.size
        m = cp_model.CpModel()
        hint_vars: list[int] = []
        hint_values: list[int] = []
        y_vars: list[cp_model.IntVar] = []
        y_rows: list[int] = []
        y_cols: list[int] = []
        by_t: list[list[cp_model.IntVar]] = [[] for _ in range(n_t)]
        for k, i in enumerate(rows):
            if k % _CLOCK_EVERY == 0 and _time_left(deadline) < MIN_SOLVE_S:
                raise _OutOfTime(f"{k} of {len(rows)} members built")
            ts = [int(t) for t in np.flatnonzero(p.cap[i] > 0)]
            lo = int(p.min_wh[i])
            limited = p.max_active[i] >= 0
            active = []
            for t in ts:
                cap = int(p.cap[i, t])
                if lo > 0:  # on/off: 0 or min_wh..cap
                    yit = m.new_int_var_from_domain(
                        cp_model.Domain.from_intervals([[0, 0], [lo, cap]]), f"y{i}_{t}"
                    )
                else:
                    yit = m.new_int_var(0, cap, f"y{i}_{t}")
                by_t[t].append(yit)
                y_vars.append(yit)
                y_rows.append(i)
                y_cols.append(t)
                hint_vars.append(yit.index)
                hint_values.append(int(hint[i, t]))
                if limited:
                    a = m.new_bool_var(f"a{i}_{t}")
                    active.append(a)
                    m.add(yit <= cap * a)
                    hint_vars.append(a.index)
                    hint_values.append(int(hint[i, t] > 0))
            if limited:
                m.add(cp_model.LinearExpr.sum(active) <= int(p.max_active[i]))
        if _time_left(deadline) < MIN_SOLVE_S:
            raise _OutOfTime(f"{len(rows)} of {len(rows)} members built")
        rows_list = list(rows)
        cap_sum = p.cap[rows_list].sum(axis=0) if rows_list else np.zeros(n_t, dtype=np.int64)
        hint_total = hint[rows_list].sum(axis=0) if rows_list else np.zeros(n_t, dtype=np.int64)
        totals = []
        devs = []
        worst_ub = 0
        for t in range(n_t):
            q = int(p.q[t])
            ub = max(q, int(cap_sum[t]))
            s = m.new_int_var(0, ub, f"S{t}")
            m.add(s == cp_model.LinearExpr.sum(by_t[t]))
            dev = m.new_int_var(0, ub, f"dev{t}")
            m.add(dev >= s - q)
            m.add(dev >= q - s)
            totals.append(s)
            devs.append(dev)
            # Complete the hint (CP-SAT only uses a hint as a first solution when complete).
            hint_vars += [s.index, dev.index]
            hint_values += [int(hint_total[t]), abs(int(hint_total[t]) - q)]
            if q > 0:
                worst_ub = max(worst_ub, -((-ub * BP) // q))
        worst_ub = max(worst_ub, BP)
        worst = m.new_int_var(0, worst_ub, "D")
        # ``within``: every interval's total lies in the contract's bounds (tolerance_bounds).
        within = m.new_bool_var("within")
        for t in range(n_t):
            q = int(p.q[t])
            if q > 0:
                m.add(BP * devs[t] <= q * worst)
            m.add(totals[t] >= int(p.low[t])).only_enforce_if(within)
            m.add(totals[t] <= int(p.high[t])).only_enforce_if(within)
        hinted = hint[rows_list] if rows_list else hint[:0]
        self.hint_exact = _rank(hinted, p) == (False, 0)
        hint_vars += [worst.index, within.index]
        hint_values += [_worst_bp(hinted, p.q), int(not _rank(hinted, p)[0])]
        m.proto.solution_hint.vars.extend(hint_vars)
        m.proto.solution_hint.values.extend(hint_values)
        # Phase 1, lexicographic: within the tolerance first, then the worst deviation.
        m.minimize((worst_ub + 1) * (1 - within) + worst)
        # Phase 2's objective, as (variable index, coefficient) pairs.
        self.objective2 = (
            [v.index for v, i in zip(y_vars, y_rows, strict=True) if p.rel_bp[i] < BP]
            + [d.index for d in devs],
            [int(BP - p.rel_bp[i]) for i in y_rows if p.rel_bp[i] < BP] + [BP] * n_t,
        )
        self.m = m
        self.worst = worst
        self.within = within
        self.y_index = np.array([v.index for v in y_vars], dtype=np.int64)
        self.y_rows = np.array(y_rows, dtype=np.int64)
        self.y_cols = np.array(y_cols, dtype=np.int64)

    def _targets(self, solution: np.ndarray) -> np.ndarray:
        out = np.zeros_like(self.p.cap)
        out[self.y_rows, self.y_cols] = solution[self.y_index]
        return out

    def _run(self, limit_s: float, config: FormationConfig, gap: float) -> tuple[str, np.ndarray]:
        solver = cp_model.CpSolver()
        solver.parameters.relative_gap_limit = gap
        solver.parameters.max_time_in_seconds = limit_s
        solver.parameters.num_workers = config.num_workers
        solver.parameters.random_seed = config.seed
        solver.parameters.cp_model_presolve = config.presolve
        solver.parameters.use_lns = config.lns
        # CP-SAT's own Ctrl-C handler leaves SIGINT at its default after the solve: a
        # service solving in a thread would then die on Ctrl-C without its cleanup.
        solver.parameters.catch_sigint_signal = False
        status = solver.solve(self.m)
        if status in (cp_model.INFEASIBLE, cp_model.MODEL_INVALID):
            raise SolverFailed(_STATUS[status])  # all-zero targets are always feasible
        name = _STATUS.get(status, str(status))
        if name not in ("OPTIMAL", "FEASIBLE"):
            return name, np.zeros(0, dtype=np.int64)
        return name, np.asarray(solver.response_proto.solution, dtype=np.int64)

    def solve(
        self, config: FormationConfig, deadline: float, stop_if_missed: bool = False
    ) -> _Solved:
        """Both phases within the deadline; with ``stop_if_missed``, stop after phase 1 when
        its solution misses the tolerance (the caller then tries a larger model)."""
        m = self.m
        left = _time_left(deadline)
        if left < MIN_SOLVE_S:
            return _Solved(None, "NO_TIME/-")
        phase1: np.ndarray | None = None
        if self.hint_exact:
            # The hint meets every quantity exactly: phase 1's optimum (0) is known without a
            # solve, and the (complete) hint stays the start of phase 2.
            status1, best, met = "HINT_OPTIMAL", 0, True
        else:
            limit = max(left * config.phase1_share, MIN_SOLVE_S)
            status1, solution = self._run(limit, config, 0.0)
            if not solution.size:
                return _Solved(None, f"{status1}/-")
            phase1 = self._targets(solution)
            best = int(solution[self.worst.index])
            met = bool(solution[self.within.index])
            if stop_if_missed and not met:
                return _Solved(phase1, f"{status1}/-")
            m.clear_hints()
            m.proto.solution_hint.vars.extend(range(solution.size))
            m.proto.solution_hint.values.extend(solution.tolist())
        m.add(self.worst <= best)
        if met:
            m.add(self.within == 1)
        m.clear_objective()
        m.proto.objective.vars.extend(self.objective2[0])
        m.proto.objective.coeffs.extend(self.objective2[1])
        m.proto.objective.scaling_factor = 1.0
        left = _time_left(deadline)
        if left < MIN_SOLVE_S:
            return _Solved(phase1, f"{status1}/NO_TIME")
        status2, solution = self._run(left, config, config.gap_limit)
        if not solution.size:
            return _Solved(phase1, f"{status1}/{status2}")
        return _Solved(self._targets(solution), f"{status1}/{status2}")


def _solve_cp_sat(
    p: _Problem,
    rows: Sequence[int],
    hint: np.ndarray,
    config: FormationConfig,
    deadline: float,
    stop_if_missed: bool = False,
) -> _Solved:
    """Build and solve the model over ``rows`` before ``deadline`` (see :class:`_Model`)."""
    try:
        model = _Model(p, rows, hint, deadline)
    except _OutOfTime:
        return _Solved(None, "BUILD_TIMEOUT/-")
    return model.solve(config, deadline, stop_if_missed)


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
        Time limit (of the whole call), workers, forecast quantile, candidate pruning,
        reserve share.
    verbose
        Progress to stderr.
    feeder
        A node of ``feeder_graph``: only members downstream of it may join (None: anyone).

    Returns
    -------
    Coalition
        Members, targets, per-interval totals and deviations, reserve; ``method`` names the
        path that produced the targets and ``status`` the solver's phases (see "Time limit
        and labels" in the module docstring).
    """
    cfg = config or FormationConfig()
    start = time.perf_counter()
    eligible = eligible_members(request, offers, feeder_graph, feeder)
    q = np.asarray(request.quantity_wh, dtype=np.int64)
    tol = request.tolerance_bp
    p = _problem(q, tol, eligible, cfg.quantile)
    deadline = start + cfg.time_limit_s - FINISH_S_PER_TARGET * p.cap.size
    greedy = _greedy(p)
    fallback = _repair(p, greedy)
    fallback_method = (
        METHOD_GREEDY_FALLBACK if np.array_equal(fallback, greedy) else METHOD_REPAIRED_FALLBACK
    )
    rows = _candidates(p, cfg.candidate_cover)
    pruned = len(rows) < len(p.ids)
    _log(f"{len(eligible)} eligible, {len(rows)} in the model, {q.size} intervals", verbose)
    in_model = np.zeros(len(p.ids), dtype=bool)
    in_model[rows] = True
    hint = _repair(p, np.where(in_model[:, None], greedy, 0))
    solved = _solve_cp_sat(p, rows, hint, cfg, deadline, stop_if_missed=pruned)
    y, status = solved.y, solved.status
    method = METHOD_CP_SAT_CANDIDATES if pruned else METHOD_CP_SAT
    if pruned and (y is None or _rank(y, p)[0]):
        # The candidates cannot meet the tolerance (or gave nothing): pruning must not lose a
        # coalition that exists, so the model over every eligible member gets the time left.
        _log(f"candidates {status}, missing the tolerance: all {len(p.ids)} members", verbose)
        retry_hint = fallback if y is None or _rank(fallback, p) <= _rank(y, p) else y
        full = _solve_cp_sat(p, _greedy_order(p), retry_hint, cfg, deadline)
        status = f"candidates {status}; all {full.status}"
        if full.y is not None:
            y, method = full.y, METHOD_CP_SAT_ALL
    if y is None or _rank(fallback, p) < _rank(y, p):
        y, method = fallback, fallback_method
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
    deadline = start + cfg.time_limit_s - FINISH_S_PER_TARGET * p.cap.size
    greedy = _greedy(p)
    if reserve:
        fallback = _repair(p, greedy)
        solved = _solve_cp_sat(p, _greedy_order(p), fallback, cfg, deadline)
        if solved.y is None or _rank(fallback, p) < _rank(solved.y, p):
            label = (
                METHOD_GREEDY_FALLBACK
                if np.array_equal(fallback, greedy)
                else METHOD_REPAIRED_FALLBACK
            )
            y, status = fallback, f"{solved.status}, {label}"
        else:
            y, status = solved.y, solved.status
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
