"""Coalition forming: CP-SAT versus the greedy baseline, tolerance, reserve, replacement."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coalitions.domain import Coalition, MemberOffer
from coalitions.engine import (
    FormationConfig,
    eligible_members,
    form_coalition,
    form_coalition_greedy,
    replace_member,
)
from coalitions.errors import (
    CoalitionError,
    DuplicateMember,
    IntervalOutsideWindow,
    InvalidMemberOffer,
    NotAMember,
    OptInAfterDeadline,
    UnknownFeeder,
)
from core.errors import EmptyWindow, ImpossibleTolerance, InvalidQuantity, MisalignedInterval
from core.rules import BP, FlexRequest

W = 1_767_200_400
Q = 900
FAST = FormationConfig(time_limit_s=1.0, num_workers=2, candidate_cover=0)


def req(qty: tuple[int, ...], tol: int = 1000, **kw: object) -> FlexRequest:
    return FlexRequest(1, W, qty, tol, **kw)  # type: ignore[arg-type]


def offer(member: str, flex: tuple[int, ...], rel: float = 0.9, **kw: object) -> MemberOffer:
    kw.setdefault("max_wh", max(flex) if flex else 0)
    return MemberOffer(member, flex, reliability=rel, **kw)  # type: ignore[arg-type]


def check_invariants(c: Coalition, offers: list[MemberOffer], quantile: str = "q50") -> None:
    """What every coalition promises, whatever formed it."""
    by_id = {o.member: o for o in offers}
    n_t = len(c.requested_wh)
    assert set(c.targets_wh) == set(c.members)
    for k in range(n_t):
        assert c.total_wh[k] == sum(c.targets_wh[m][k] for m in c.members)
        q = c.requested_wh[k]
        assert c.within_tolerance[k] == (abs(c.total_wh[k] - q) * BP <= c.tolerance_bp * q)
        if q:
            assert c.deviation_bp[k] * q >= abs(c.total_wh[k] - q) * BP
            assert (c.deviation_bp[k] - 1) * q < abs(c.total_wh[k] - q) * BP
    for m in c.members:
        o = by_id[m]
        cap = o.availability_wh(n_t, quantile)
        row = np.asarray(c.targets_wh[m])
        assert row.sum() > 0
        assert ((row >= 0) & (row <= cap)).all()
        active = row > 0
        assert (row[active] >= o.min_wh).all()
        if o.max_active_intervals is not None:
            assert active.sum() <= o.max_active_intervals
    assert not set(c.reserve) & set(c.members)


def test_cp_sat_fits_on_off_devices_exactly_where_greedy_cannot() -> None:
    # Tolerance 0: greedy takes the most reliable (60 Wh, on/off), then nothing fits the 40 Wh
    # left; CP-SAT finds 50 + 50.
    offers = [
        offer("a", (60,), 0.99, min_wh=60),
        offer("b", (50,), 0.98, min_wh=50),
        offer("c", (50,), 0.97, min_wh=50),
    ]
    r = req((100,), tol=0)
    greedy = form_coalition_greedy(r, offers)
    cp = form_coalition(r, offers, config=FAST)
    assert greedy.members == ("a",) and greedy.worst_deviation_bp == 4000
    assert not greedy.all_within_tolerance
    assert cp.method == "cp-sat" and cp.status == "OPTIMAL/OPTIMAL"
    assert cp.targets_wh == {"b": (50,), "c": (50,)} and cp.worst_deviation_bp == 0
    assert cp.reserve == ("a",)
    check_invariants(cp, offers)
    check_invariants(greedy, offers)


def test_cp_sat_prefers_reliable_members_and_keeps_the_others_in_reserve() -> None:
    offers = [
        offer("shaky", (100, 100), 0.5),
        offer("steady", (100, 100), 0.95),
        offer("solid", (60, 60), 0.9),
    ]
    cp = form_coalition(
        req((100, 100)), offers, config=FAST.model_copy(update={"reserve_bp": 5000})
    )
    assert cp.targets_wh == {"steady": (100, 100)}
    assert cp.expected_shortfall_wh == (BP - 9500) * 200 // BP
    # Reserve: most reliable first until 50 % of the quantity is covered.
    assert cp.reserve == ("solid",) and cp.reserve_wh == (60, 60)
    check_invariants(cp, offers)


def test_comfort_limits_and_maximum_bound_the_targets() -> None:
    offers = [
        offer("hp", (80, 80, 80, 80), 0.99, max_wh=70, min_wh=40, max_active_intervals=2),
        offer("ev", (50, 50, 50, 50), 0.8, comfort_wh=(50, 10, 50, 10)),
        offer("boiler", (60, 60, 60, 60), 0.7),
    ]
    r = req((100, 100, 100, 100))
    cp = form_coalition(r, offers, config=FAST)
    check_invariants(cp, offers)
    assert cp.all_within_tolerance and cp.worst_deviation_bp == 0
    assert sum(1 for v in cp.targets_wh["hp"] if v) <= 2


def test_q10_quantile_is_used_when_asked() -> None:
    offers = [offer("a", (100,), 0.9, flex_q10_wh=(40,)), offer("b", (100,), 0.8)]
    cautious = form_coalition(
        req((100,)), offers, config=FAST.model_copy(update={"quantile": "q10"})
    )
    check_invariants(cautious, offers, "q10")
    assert cautious.targets_wh["a"][0] <= 40 and cautious.worst_deviation_bp == 0


def test_not_enough_flexibility_is_reported_not_hidden() -> None:
    offers = [offer("a", (30, 100), 0.9), offer("b", (30, 100), 0.9)]
    cp = form_coalition(req((100, 100)), offers, config=FAST)
    assert cp.total_wh == (60, 100)
    assert cp.within_tolerance == (False, True) and cp.worst_deviation_bp == 4000
    empty = form_coalition(req((100,)), [], config=FAST)
    assert empty.members == () and empty.total_wh == (0,) and empty.within_tolerance == (False,)


def test_zero_quantity_intervals_ask_nothing() -> None:
    offers = [offer("a", (50, 50, 50), 0.9)]
    cp = form_coalition(req((0, 50, 0)), offers, config=FAST)
    assert cp.targets_wh == {"a": (0, 50, 0)} and cp.within_tolerance == (True, True, True)


def test_feeder_limits_members_to_its_downstream_nodes() -> None:
    g = nx.DiGraph([("sub", "f1"), ("sub", "f2"), ("f1", "bus1"), ("f2", "bus2")])
    offers = [
        offer("up", (100,), 0.99, node="bus1"),
        offer("down", (100,), 0.5, node="bus2"),
        offer("nowhere", (100,), 0.99, node="elsewhere"),
    ]
    cp = form_coalition(req((100,)), offers, g, config=FAST, feeder="f2")
    assert cp.members == ("down",) and cp.reserve == ()
    assert [o.member for o in eligible_members(req((100,)), offers, g, feeder="sub")] == [
        "up",
        "down",
    ]
    with pytest.raises(UnknownFeeder):
        form_coalition(req((100,)), offers, g, config=FAST, feeder="f9")
    with pytest.raises(UnknownFeeder):
        form_coalition(req((100,)), offers, None, config=FAST, feeder="f1")


@st.composite
def instances(draw: st.DrawFn) -> tuple[FlexRequest, list[MemberOffer]]:
    n_t = draw(st.integers(1, 4))
    n = draw(st.integers(1, 7))
    offers = []
    for i in range(n):
        flex = tuple(draw(st.lists(st.integers(0, 120), min_size=n_t, max_size=n_t)))
        on_off = draw(st.booleans())
        offers.append(
            MemberOffer(
                f"m{i}",
                flex,
                max_wh=draw(st.integers(0, 120)),
                reliability=draw(st.integers(0, 100)) / 100,
                min_wh=draw(st.integers(1, 80)) if on_off else 0,
                max_active_intervals=draw(st.integers(0, n_t)) if on_off else None,
            )
        )
    qty = tuple(draw(st.lists(st.integers(0, 300), min_size=n_t, max_size=n_t)))
    tol = draw(st.sampled_from([0, 500, 1000, 3000]))
    return FlexRequest(1, W, qty, tol), offers


@settings(max_examples=40, deadline=None)
@given(instances())
def test_greedy_is_never_better_than_cp_sat_on_the_worst_interval(case: tuple) -> None:
    r, offers = case
    greedy = form_coalition_greedy(r, offers)
    cp = form_coalition(r, offers, config=FAST)
    check_invariants(greedy, offers)
    check_invariants(cp, offers)
    # Tiny models: CP-SAT proves both phases optimal, it does not fall back on the greedy.
    assert cp.method == "cp-sat" and cp.status == "OPTIMAL/OPTIMAL"
    assert cp.worst_deviation_bp <= greedy.worst_deviation_bp
    if cp.worst_deviation_bp == greedy.worst_deviation_bp:
        # Same worst interval: phase 2 leaves at most the greedy's total deviation plus
        # expected shortfall (both weighed as in the model).
        def cost(c: Coalition) -> int:
            rel = {o.member: o.reliability_bp for o in offers}
            shortfall = sum((BP - rel[m]) * sum(c.targets_wh[m]) for m in c.members)
            dev = sum(abs(s - q) for s, q in zip(c.total_wh, c.requested_wh, strict=True))
            return shortfall + BP * dev

        assert cost(cp) <= cost(greedy)


def test_replacement_covers_the_failing_members_remaining_targets() -> None:
    offers = [
        offer("a", (50, 50, 50, 50), 0.99),
        offer("b", (50, 50, 50, 50), 0.98),
        offer("r1", (30, 30, 30, 30), 0.9),
        offer("r2", (30, 30, 30, 30), 0.8),
        offer("r3", (20, 20, 20, 20), 0.7, min_wh=20),
    ]
    r = req((100, 100, 100, 100))
    c = form_coalition(r, offers, config=FAST.model_copy(update={"reserve_bp": 10_000}))
    assert set(c.members) == {"a", "b"} and set(c.reserve) == {"r1", "r2", "r3"}
    after = replace_member(c, r, "b", W + 2 * Q, offers, FAST)
    assert after.targets_wh["b"] == (50, 50, 0, 0)
    assert after.targets_wh["a"] == c.targets_wh["a"]
    new = [m for m in after.members if m not in c.members]
    assert new and set(new) <= {"r1", "r2", "r3"}
    for m in new:
        assert after.targets_wh[m][:2] == (0, 0)
    assert after.total_wh == (100, 100, 100, 100) and after.all_within_tolerance
    assert after.replacements[-1].failing == "b" and after.replacements[-1].by == tuple(new)
    assert not set(after.reserve) & set(new)
    check_invariants(after, offers)
    # Replacing again, from the last interval, with what is left.
    again = replace_member(after, r, "a", W + 3 * Q, offers, FAST)
    check_invariants(again, offers)
    assert again.targets_wh["a"] == (50, 50, 50, 0)
    assert len(again.replacements) == 2


def test_replacement_without_reserve_reports_the_gap() -> None:
    offers = [offer("a", (100, 100), 0.9)]
    c = form_coalition(req((100, 100)), offers, config=FAST.model_copy(update={"reserve_bp": 0}))
    after = replace_member(c, req((100, 100)), "a", W + Q, offers, FAST)
    assert after.total_wh == (100, 0) and after.within_tolerance == (True, False)
    assert after.status == "replacement NO_RESERVE"


def test_replacement_input_errors() -> None:
    offers = [offer("a", (100,), 0.9), offer("b", (100,), 0.8)]
    r = req((100,))
    c = form_coalition(r, offers, config=FAST)
    with pytest.raises(NotAMember):
        replace_member(c, r, "b", W, offers, FAST)
    with pytest.raises(IntervalOutsideWindow):
        replace_member(c, r, "a", W + Q, offers, FAST)
    with pytest.raises(IntervalOutsideWindow):
        replace_member(c, r, "a", W + 1, offers, FAST)


def test_bad_requests_and_offers_are_refused() -> None:
    with pytest.raises(EmptyWindow):
        req(())
    for tol in (10_000, -5, 0.1, None):
        with pytest.raises(ImpossibleTolerance):
            req((100,), tol=tol)  # type: ignore[arg-type]
    with pytest.raises(MisalignedInterval):
        FlexRequest(1, W + 7, (100,))
    with pytest.raises(InvalidQuantity):
        req((100, -1))
    with pytest.raises(InvalidMemberOffer):
        MemberOffer("a", (10,), max_wh=10, reliability=1.5)
    with pytest.raises(InvalidMemberOffer):
        MemberOffer("a", (10.5,), max_wh=10)  # type: ignore[arg-type]
    with pytest.raises(InvalidMemberOffer):
        MemberOffer("", (10,), max_wh=10)
    with pytest.raises(InvalidMemberOffer):  # one value for a 2-interval window
        form_coalition(req((100, 100)), [offer("a", (10,))], config=FAST)
    with pytest.raises(DuplicateMember):
        form_coalition(req((100,)), [offer("a", (10,)), offer("a", (20,))], config=FAST)
    late = [offer("a", (10,), opted_in_s=W - 100)]
    with pytest.raises(OptInAfterDeadline) as err:
        form_coalition(req((100,), opt_in_deadline_s=W - 900), late, config=FAST)
    assert (err.value.member, err.value.deadline_s) == ("a", W - 900)
    assert issubclass(OptInAfterDeadline, CoalitionError)
    assert issubclass(OptInAfterDeadline, ValueError)
