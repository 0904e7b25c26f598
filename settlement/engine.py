"""Settlement of a flexibility request: delivered versus promised, rewards, penalties, refund.

The money rules (credited, shortfall, reward, penalty, payout, points, escrow) are those of
:mod:`core.rules`, the one rule set; this module applies them to a coalition's meter data. This
docstring restates them for the reader; ``bright settle verify`` re-computes the same.
All quantities are ints: Wh, token base units, basis points (``tol`` = tolerance_bp).

Per member i and interval t, with target ``T`` (Wh), baseline ``B`` (the request's baseline
method on the member's committed meter data, see :mod:`settlement.baselines`) and metered net
import ``M``:

* delivered ``D = B - M`` for ``Direction.UP`` (load reduction), ``D = M - B`` for ``DOWN``
  (load increase); see :mod:`settlement.domain` for the sign convention;
* deviation ``D - T`` (Wh, signed: negative = short);
* credited ``C = clamp(D, 0, T * (10000 + tol) // 10000)``: delivery is paid up to the target
  plus the tolerance, never below zero;
* shortfall ``S = max(0, T * (10000 - tol) // 10000 - D)``: what is missing beyond the
  tolerance;
* reward ``price_per_kwh * C // 1000``, penalty ``penalty_per_kwh * S // 1000`` (token base
  units, rounded down per interval).

Per member, rewards and penalties are netted over the window: ``payout = max(0, rewards -
penalties)``; the rest of the penalty (``penalty_uncovered``) is not collected from the member,
so no balance goes negative (a deposit scheme could collect it; here it is reported).

Money is conserved exactly: the request's escrow must cover ``max_payout = sum over i, t of
price_per_kwh * (T * (10000 + tol) // 10000) // 1000`` (else :class:`EscrowInsufficient`), and
``refund = escrow - sum of payouts`` goes back to the DSO, so ``escrow == payouts + refund``
with every term >= 0. The targets of an interval may add up to at most ``q * (10000 + tol) //
10000`` (the DSO never pays for more than it asked plus tolerance).

Non-delivery: an interval is *failed* for a member when its target is > 0 and it delivered less
than ``non_delivery_bp`` of it (``D * 10000 < T * non_delivery_bp``; default 50 %). After
``non_delivery_intervals`` consecutive failed intervals (default 2) the member is flagged
(:class:`NonDelivery`) and a reserve replaces it for the remaining intervals
(:func:`coalitions.engine.replace_member`). :func:`detect_non_delivery` runs on the intervals
metered so far, so the service can call it while the window is still open.

The coalition passes the tolerance in an interval when ``|sum D - q| * 10000 <= tol * q``.

Reputation (non-financial scheme, :func:`settle_reputation`): the same deliveries give
``points_per_kwh * C // 1000 - penalty_points_per_kwh * S // 1000`` points per interval; nothing
is paid and the whole escrow is refunded.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from core.rules import (
    BP,
    Direction,
    FlexRequest,
    interval_points,
    lower_wh,
    member_money,
    upper_wh,
    within_tolerance,
)
from core.rules import max_payout as rules_max_payout
from core.units import INTERVAL_S
from settlement.baselines import compute_baseline, decode_params
from settlement.domain import (
    IntervalSettlement,
    MemberSettlement,
    MeterSeries,
    NonDelivery,
    ReputationResult,
    SettlementResult,
    SettlementRules,
    as_targets,
)
from settlement.errors import (
    EscrowInsufficient,
    MissingMeterData,
    NoMembers,
    TargetsExceedRequest,
)

__all__ = [
    "Deliveries",
    "compute_deliveries",
    "detect_non_delivery",
    "max_payout",
    "settle",
    "settle_reputation",
]


@dataclass(frozen=True, eq=False)
class Deliveries:
    """Per member (rows, in ``members`` order) and interval (columns) figures, Wh (int64)."""

    members: tuple[str, ...]
    interval_starts_s: np.ndarray
    target_wh: np.ndarray
    baseline_wh: np.ndarray
    metered_wh: np.ndarray
    delivered_wh: np.ndarray
    credited_wh: np.ndarray
    shortfall_wh: np.ndarray


def _bounds(target_wh: np.ndarray, tolerance_bp: int) -> tuple[np.ndarray, np.ndarray]:
    """(lower, upper) accepted delivery per target, elementwise :func:`core.rules.lower_wh`
    and :func:`core.rules.upper_wh` (the same floor division on int64 arrays)."""
    return lower_wh(target_wh, tolerance_bp), upper_wh(target_wh, tolerance_bp)


def max_payout(request: FlexRequest, targets: Mapping[str, Sequence[int]]) -> int:
    """The most the targets can earn (:func:`core.rules.max_payout`)."""
    return rules_max_payout(targets, request.tolerance_bp, request.paid_price_per_kwh)


def compute_deliveries(
    request: FlexRequest,
    members: Sequence[str],
    targets: Mapping[str, Sequence[int]],
    meter: Mapping[str, MeterSeries],
    forecasts: Mapping[str, MeterSeries] | None = None,
) -> Deliveries:
    """Baseline, delivered, credited and shortfall of every member (validates the input).

    Members without an entry in ``targets`` have a target of 0 in every interval (they can
    still be credited nothing and penalised nothing); a target for someone not in ``members``
    raises :class:`~settlement.errors.TargetForNonMember`.
    """
    names = tuple(dict.fromkeys(members))
    if not names:
        raise NoMembers(request.request_id)
    params = decode_params(request.baseline_method_id, request.baseline_params)
    n_t = request.intervals
    checked = as_targets(targets, names, n_t)
    starts = request.window_start_s + INTERVAL_S * np.arange(n_t, dtype=np.int64)
    target = np.zeros((len(names), n_t), dtype=np.int64)
    for row, name in enumerate(names):
        if name in checked:
            target[row] = checked[name]
    _, upper_total = _bounds(np.asarray(request.quantity_wh, dtype=np.int64), request.tolerance_bp)
    sums = target.sum(axis=0)
    for k in range(n_t):
        if sums[k] > upper_total[k]:
            raise TargetsExceedRequest(int(starts[k]), int(sums[k]), int(upper_total[k]))

    baseline = np.zeros_like(target)
    metered = np.zeros_like(target)
    for row, name in enumerate(names):
        series = meter.get(name)
        if series is None:
            raise MissingMeterData(name, int(starts[0]))
        metered[row] = series.values(starts, name)
        baseline[row] = compute_baseline(
            request.baseline_method_id,
            params,
            series,
            request.window_start_s,
            n_t,
            name,
            None if forecasts is None else forecasts.get(name),
        )
    delivered = baseline - metered if request.direction == Direction.UP else metered - baseline
    lower, upper = _bounds(target, request.tolerance_bp)
    credited = np.clip(delivered, 0, upper)
    shortfall = np.maximum(lower - delivered, 0)
    return Deliveries(names, starts, target, baseline, metered, delivered, credited, shortfall)


def detect_non_delivery(
    interval_starts_s: Sequence[int] | np.ndarray,
    target_wh: Mapping[str, Sequence[int]],
    delivered_wh: Mapping[str, Sequence[int]],
    rules: SettlementRules | None = None,
) -> tuple[NonDelivery, ...]:
    """Members with ``non_delivery_intervals`` consecutive failed intervals (see the module).

    ``delivered_wh`` may be shorter than the targets (the intervals metered so far); a member
    is reported once, at the first run that reaches the length. Sorted by member.
    """
    r = rules or SettlementRules()
    starts = [int(s) for s in interval_starts_s]
    flagged: list[NonDelivery] = []
    for member in sorted(delivered_wh):
        targets = target_wh.get(member, ())
        run = 0
        for k, d in enumerate(delivered_wh[member]):
            t = int(targets[k]) if k < len(targets) else 0
            failed = t > 0 and int(d) * BP < t * r.non_delivery_bp  # below the share
            run = run + 1 if failed else 0
            if run == r.non_delivery_intervals:
                first = k - run + 1
                flagged.append(NonDelivery(member, starts[first], starts[k]))
                break
    return tuple(flagged)


def _non_delivery_of(d: Deliveries, rules: SettlementRules) -> tuple[NonDelivery, ...]:
    return detect_non_delivery(
        d.interval_starts_s,
        {m: d.target_wh[i].tolist() for i, m in enumerate(d.members)},
        {m: d.delivered_wh[i].tolist() for i, m in enumerate(d.members)},
        rules,
    )


def _intervals(request: FlexRequest, d: Deliveries) -> tuple[IntervalSettlement, ...]:
    out = []
    tol = request.tolerance_bp
    for k, q in enumerate(request.quantity_wh):
        total = int(d.delivered_wh[:, k].sum())
        out.append(
            IntervalSettlement(
                interval_start_s=int(d.interval_starts_s[k]),
                requested_wh=q,
                target_wh=int(d.target_wh[:, k].sum()),
                delivered_wh=total,
                within_tolerance=within_tolerance(total, q, tol),
            )
        )
    return tuple(out)


def settle(
    request: FlexRequest,
    members: Sequence[str],
    targets: Mapping[str, Sequence[int]],
    meter: Mapping[str, MeterSeries],
    forecasts: Mapping[str, MeterSeries] | None = None,
    rules: SettlementRules | None = None,
) -> SettlementResult:
    """Settle a request in money: per member and interval delivered, deviation, reward, penalty.

    Parameters
    ----------
    request
        The request with its escrow, price, tolerance, penalty rate and baseline.
    members
        The coalition's members (replacements included).
    targets
        Per member, Wh per window interval (a replaced member has 0 after its replacement,
        its replacement the rest).
    meter
        Committed meter series per member, covering the window and the baseline's history.
    forecasts
        Committed forecasts per member (the forecast baseline only).
    rules
        Non-delivery rule (defaults: 50 % in 2 consecutive intervals).

    Returns
    -------
    SettlementResult
        ``escrow == payout_total + refund`` exactly; payouts and refund >= 0.
    """
    r = rules or SettlementRules()
    d = compute_deliveries(request, members, targets, meter, forecasts)
    price = request.paid_price_per_kwh
    rate = request.penalty_per_kwh
    ceiling = max_payout(request, {m: d.target_wh[i].tolist() for i, m in enumerate(d.members)})
    if ceiling > request.escrow:
        raise EscrowInsufficient(request.request_id, request.escrow, ceiling)
    flagged = _non_delivery_of(d, r)
    by_member = {f.member: f for f in flagged}
    lower, _ = _bounds(d.target_wh, request.tolerance_bp)
    results = []
    for i, name in enumerate(d.members):
        credited = d.credited_wh[i].tolist()
        short = d.shortfall_wh[i].tolist()
        money = member_money(credited, short, price, rate)
        met = int(np.count_nonzero((d.target_wh[i] > 0) & (d.delivered_wh[i] >= lower[i])))
        results.append(
            MemberSettlement(
                member=name,
                target_wh=tuple(d.target_wh[i].tolist()),
                baseline_wh=tuple(d.baseline_wh[i].tolist()),
                metered_wh=tuple(d.metered_wh[i].tolist()),
                delivered_wh=tuple(d.delivered_wh[i].tolist()),
                deviation_wh=tuple((d.delivered_wh[i] - d.target_wh[i]).tolist()),
                credited_wh=tuple(credited),
                shortfall_wh=tuple(short),
                reward=money.reward,
                penalty=money.penalty,
                reward_total=money.reward_total,
                penalty_total=money.penalty_total,
                payout=money.payout,
                penalty_uncovered=money.penalty_uncovered,
                intervals_met=met,
                non_delivery=by_member.get(name),
            )
        )
    payouts = sum(m.payout for m in results)
    return SettlementResult(
        request_id=request.request_id,
        members=tuple(results),
        intervals=_intervals(request, d),
        escrow=request.escrow,
        max_payout=ceiling,
        payout_total=payouts,
        refund=request.escrow - payouts,
        non_delivery=flagged,
    )


def settle_reputation(
    request: FlexRequest,
    members: Sequence[str],
    targets: Mapping[str, Sequence[int]],
    meter: Mapping[str, MeterSeries],
    forecasts: Mapping[str, MeterSeries] | None = None,
    rules: SettlementRules | None = None,
) -> ReputationResult:
    """Settle in non-transferable reputation points instead of money (DMSFDR-4/5).

    Points per interval ``points_per_kwh * C // 1000 - penalty_points_per_kwh * S // 1000``
    (see the module); the escrow (if any) is refunded whole.
    """
    r = rules or SettlementRules()
    d = compute_deliveries(request, members, targets, meter, forecasts)
    per_interval: dict[str, tuple[int, ...]] = {}
    for i, name in enumerate(d.members):
        per_interval[name] = tuple(
            interval_points(c, s, r.points_per_kwh, r.penalty_points_per_kwh)
            for c, s in zip(d.credited_wh[i].tolist(), d.shortfall_wh[i].tolist(), strict=True)
        )
    return ReputationResult(
        request_id=request.request_id,
        points={m: sum(v) for m, v in per_interval.items()},
        points_per_interval=per_interval,
        refund=request.escrow,
        non_delivery=_non_delivery_of(d, r),
    )
