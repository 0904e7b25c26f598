"""The settlement engine: a hand-computed settlement, money conservation, non-delivery, errors."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.errors import (
    EmptyWindow,
    ImpossibleTolerance,
    InvalidQuantity,
    InvalidRequest,
    MisalignedInterval,
    PriceAboveCap,
)
from core.rules import Direction, FlexRequest
from settlement.baselines import BaselineMethod, MeterBeforeAfterParams
from settlement.domain import MeterSeries, SettlementRules
from settlement.engine import (
    compute_deliveries,
    detect_non_delivery,
    max_payout,
    settle,
    settle_reputation,
)
from settlement.errors import (
    EscrowInsufficient,
    InvalidBaselineParams,
    MissingMeterData,
    NoMembers,
    TargetForNonMember,
    TargetsExceedRequest,
    TargetShapeMismatch,
    UnknownBaselineMethod,
)

W = 1_767_200_400  # window start, 17:00 UTC
Q = 900
MBA = BaselineMethod.METER_BEFORE_AFTER


def request(**kw: object) -> FlexRequest:
    base: dict[str, object] = dict(
        request_id=7,
        window_start_s=W,
        quantity_wh=(150, 150),
        tolerance_bp=1000,
        price_cap_per_kwh=200,
        escrow=100,
        penalty_per_kwh=100,
        baseline_method_id=MBA,
        baseline_params=MeterBeforeAfterParams(before_intervals=1).encode(),
    )
    base.update(kw)
    return FlexRequest(**base)  # type: ignore[arg-type]


def meter(before_wh: int, window_wh: list[int]) -> MeterSeries:
    """One interval before the window (the baseline), then the window."""
    return MeterSeries(W - Q, np.array([before_wh, *window_wh], dtype=np.int64))


METER = {"alice": meter(500, [400, 380]), "bob": meter(300, [280, 300])}
TARGETS = {"alice": [100, 100], "bob": [50, 50]}


def test_hand_computed_settlement() -> None:
    res = settle(request(), ["alice", "bob"], TARGETS, METER)
    a, b = res.member("alice"), res.member("bob")
    # alice: baseline 500, delivered 100 and 120; credited up to 110 (target + 10 %).
    assert a.baseline_wh == (500, 500) and a.delivered_wh == (100, 120)
    assert a.deviation_wh == (0, 20) and a.credited_wh == (100, 110)
    assert a.reward == (20, 22) and a.penalty == (0, 0) and a.payout == 42
    assert a.intervals_met == 2 and a.non_delivery is None
    # bob: delivered 20 and 0 against 50; shortfall below 45 Wh = 25 and 45 Wh.
    assert b.delivered_wh == (20, 0) and b.shortfall_wh == (25, 45)
    assert b.reward == (4, 0) and b.penalty == (2, 4)
    assert (b.reward_total, b.penalty_total, b.payout, b.penalty_uncovered) == (4, 6, 0, 2)
    assert b.intervals_met == 0
    assert b.non_delivery is not None and b.non_delivery.first_failed_s == W
    assert b.non_delivery.detected_s == W + Q
    # Escrow: max payout 2*22 + 2*11 = 66 <= 100; paid 42, refund 58.
    assert (res.max_payout, res.payout_total, res.refund) == (66, 42, 58)
    assert [i.delivered_wh for i in res.intervals] == [120, 120]
    assert [i.within_tolerance for i in res.intervals] == [False, False]


def test_downward_flexibility_counts_load_increase() -> None:
    down = {"alice": meter(500, [600, 450])}
    res = settle(request(direction=Direction.DOWN, quantity_wh=(100, 100)), ["alice"],
                 {"alice": [100, 100]}, down)
    a = res.member("alice")
    assert a.delivered_wh == (100, -50) and a.credited_wh == (100, 0)
    assert a.shortfall_wh == (0, 140) and a.penalty == (0, 14)
    assert [i.within_tolerance for i in res.intervals] == [True, False]


def test_agreed_price_below_the_cap_is_what_is_paid() -> None:
    res = settle(request(price_per_kwh=100), ["alice", "bob"], TARGETS, METER)
    assert res.member("alice").reward == (10, 11)
    with pytest.raises(PriceAboveCap):
        request(price_per_kwh=201)


def test_reputation_scheme_pays_nothing_and_can_take_points() -> None:
    rules = SettlementRules(points_per_kwh=1000, penalty_points_per_kwh=1000)
    rep = settle_reputation(request(), ["alice", "bob"], TARGETS, METER, rules=rules)
    assert rep.points == {"alice": 210, "bob": -50}
    assert rep.points_per_interval["bob"] == (-5, -45)
    assert rep.refund == 100
    assert [f.member for f in rep.non_delivery] == ["bob"]


def test_replaced_member_and_its_replacement_settle_on_their_own_intervals() -> None:
    m = dict(METER, carol=meter(200, [200, 150]))
    targets = {"alice": [100, 100], "bob": [50, 0], "carol": [0, 50]}
    res = settle(request(), ["alice", "bob", "carol"], targets, m)
    assert res.member("bob").shortfall_wh == (25, 0)
    assert res.member("carol").credited_wh == (0, 50) and res.member("carol").reward == (0, 10)
    assert res.member("carol").non_delivery is None


def test_non_delivery_needs_consecutive_failed_intervals() -> None:
    starts = [W + k * Q for k in range(5)]
    targets = {"a": [100] * 5, "b": [100] * 5, "c": [0, 0, 100, 100, 100]}
    delivered = {"a": [40, 60, 40, 60, 40], "b": [100, 49, 0, 10, 0], "c": [0, 0, 50, 49]}
    flagged = detect_non_delivery(starts, targets, delivered)
    # a never fails twice in a row (60 >= 50 %); c is still open after 4 intervals.
    assert [(f.member, f.first_failed_s, f.detected_s) for f in flagged] == [
        ("b", starts[1], starts[2])
    ]
    strict = detect_non_delivery(starts, targets, delivered, SettlementRules(non_delivery_bp=6100))
    assert [f.member for f in strict] == ["a", "b", "c"]
    three = detect_non_delivery(starts, targets, delivered,
                                SettlementRules(non_delivery_intervals=3))
    assert [(f.member, f.detected_s) for f in three] == [("b", starts[3])]


# ----------------------------------------------------------------------------------- errors


def test_bad_requests_are_refused_with_clear_errors() -> None:
    with pytest.raises(EmptyWindow):
        request(quantity_wh=())
    for tol in (10_000, -1, 1.5, True):
        with pytest.raises(ImpossibleTolerance):
            request(tolerance_bp=tol)
    with pytest.raises(MisalignedInterval):
        request(window_start_s=W + 1)
    with pytest.raises(InvalidQuantity):
        request(quantity_wh=(150, -1))
    with pytest.raises(InvalidQuantity):
        request(escrow=1.0)
    # one definition in the kernel, for the settlement and the coalition engines alike
    assert issubclass(EmptyWindow, InvalidRequest) and issubclass(EmptyWindow, ValueError)


def test_bad_settlement_inputs_are_refused() -> None:
    req = request()
    with pytest.raises(TargetForNonMember) as err:
        settle(req, ["alice"], TARGETS, METER)
    assert err.value.member == "bob"
    with pytest.raises(TargetShapeMismatch):
        settle(req, ["alice"], {"alice": [100]}, METER)
    with pytest.raises(TargetsExceedRequest) as exceed:
        settle(req, ["alice", "bob"], {"alice": [100, 100], "bob": [66, 0]}, METER)
    assert (exceed.value.target_wh, exceed.value.max_wh) == (166, 165)
    with pytest.raises(NoMembers):
        settle(req, [], {}, METER)
    with pytest.raises(EscrowInsufficient) as poor:
        settle(request(escrow=65), ["alice", "bob"], TARGETS, METER)
    assert poor.value.max_payout == 66
    short = {"alice": meter(500, [400]), "bob": METER["bob"]}
    with pytest.raises(MissingMeterData) as missing:
        settle(req, ["alice", "bob"], TARGETS, short)
    assert (missing.value.member, missing.value.interval_start_s) == ("alice", W + Q)
    with pytest.raises(MissingMeterData):
        settle(req, ["alice", "bob", "dave"], TARGETS, METER)
    gap = MeterSeries.from_mapping({W: 400, W + Q: 380})  # no interval before: no baseline
    with pytest.raises(MissingMeterData):
        settle(req, ["alice"], {"alice": [100, 100]}, {"alice": gap})
    with pytest.raises(InvalidQuantity):
        settle(req, ["alice"], {"alice": [100, -1]}, METER)


# ------------------------------------------------------------------------------- properties


@st.composite
def settlements(draw: st.DrawFn) -> tuple[FlexRequest, list[str], dict[str, list[int]],
                                          dict[str, MeterSeries]]:
    n = draw(st.integers(1, 6))
    t = draw(st.integers(1, 6))
    names = [f"m{i}" for i in range(n)]
    tol = draw(st.sampled_from([0, 500, 1000, 2500, 9999]))
    targets = {
        m: draw(st.lists(st.integers(0, 5_000), min_size=t, max_size=t)) for m in names
    }
    sums = np.sum(list(targets.values()), axis=0)
    qty = tuple(int(s) + draw(st.integers(0, 3_000)) for s in sums)
    series = {}
    for m in names:
        before = draw(st.integers(-2_000, 8_000))
        window = draw(st.lists(st.integers(-5_000, 12_000), min_size=t, max_size=t))
        series[m] = MeterSeries(W - Q, np.array([before, *window], dtype=np.int64))
    price = draw(st.integers(0, 10**9))
    probe = FlexRequest(7, W, qty, tol, price, 0, baseline_method_id=MBA,
                        baseline_params=MeterBeforeAfterParams(before_intervals=1).encode())
    ceiling = max_payout(probe, targets)
    req = replace(
        probe,
        escrow=ceiling + draw(st.integers(0, 10**6)),
        penalty_per_kwh=draw(st.integers(0, 10**9)),
        direction=draw(st.sampled_from(list(Direction))),
    )
    return req, names, targets, series


@settings(max_examples=150, deadline=None)
@given(settlements())
def test_money_is_conserved_and_no_balance_goes_negative(case: tuple) -> None:
    req, names, targets, series = case
    res = settle(req, names, targets, series)
    assert res.escrow == res.payout_total + res.refund
    assert res.refund >= 0 and all(m.payout >= 0 for m in res.members)
    assert res.payout_total == sum(m.payout for m in res.members) <= res.max_payout <= res.escrow
    tol = req.tolerance_bp
    for m in res.members:
        assert m.payout - m.penalty_uncovered == m.reward_total - m.penalty_total
        assert min(m.payout, m.penalty_uncovered) == 0
        for k in range(req.intervals):
            target, delivered = m.target_wh[k], m.delivered_wh[k]
            assert m.deviation_wh[k] == delivered - target
            assert 0 <= m.credited_wh[k] <= target * (10_000 + tol) // 10_000
            assert m.credited_wh[k] == min(max(delivered, 0), target * (10_000 + tol) // 10_000)
            assert m.shortfall_wh[k] == max(0, target * (10_000 - tol) // 10_000 - delivered)
            assert m.reward[k] == req.paid_price_per_kwh * m.credited_wh[k] // 1000
            assert m.penalty[k] == req.penalty_per_kwh * m.shortfall_wh[k] // 1000
            sign = 1 if req.direction == Direction.UP else -1
            assert delivered == sign * (m.baseline_wh[k] - m.metered_wh[k])
    for k, interval in enumerate(res.intervals):
        assert interval.target_wh == sum(targets[m][k] for m in names)
        total = sum(m.delivered_wh[k] for m in res.members)
        q = req.quantity_wh[k]
        assert interval.delivered_wh == total
        # the contract's bounds, rounded down (core.rules): q - tol, q + tol, both included
        lo, hi = q * (10_000 - tol) // 10_000, q * (10_000 + tol) // 10_000
        assert interval.within_tolerance == (lo <= total <= hi)
    # One base unit less escrow than the worst case is refused, never paid short.
    if res.max_payout > 0:
        with pytest.raises(EscrowInsufficient):
            settle(replace(req, escrow=res.max_payout - 1), names, targets, series)


@settings(max_examples=40, deadline=None)
@given(settlements())
def test_deliveries_match_the_settlement_and_reputation(case: tuple) -> None:
    req, names, targets, series = case
    d = compute_deliveries(req, names, targets, series)
    rules = SettlementRules(points_per_kwh=700, penalty_points_per_kwh=300)
    rep = settle_reputation(req, names, targets, series, rules=rules)
    assert rep.refund == req.escrow
    for i, m in enumerate(d.members):
        expected = sum(
            700 * int(c) // 1000 - 300 * int(s) // 1000
            for c, s in zip(d.credited_wh[i], d.shortfall_wh[i], strict=True)
        )
        assert rep.points[m] == expected


def test_a_request_with_a_bad_baseline_is_refused_before_anything_is_computed() -> None:
    with pytest.raises(UnknownBaselineMethod):
        settle(request(baseline_method_id=7), ["alice", "bob"], TARGETS, METER)
    with pytest.raises(InvalidBaselineParams):
        settle(request(baseline_params=(0, 0)), ["alice", "bob"], TARGETS, METER)
