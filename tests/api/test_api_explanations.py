"""The sentences of :mod:`api.explanations` for the cases the chain scenario of
``test_api_coordination.py`` does not reach: no opt-in, a coalition proposed and never
accepted, rejected ones, none proposed although the offers sufficed, a request that has not
ended; a row without a baseline, a downward request, a negative delivery, meter data corrected
after the settlement."""

from __future__ import annotations

import calendar
from typing import Any

from api.explanations import (
    BaselineTerms,
    OptInTotals,
    baseline_starts,
    ended_without_coalition,
    request_outcome_reason,
    row_explanation,
)

START = calendar.timegm((2026, 12, 6, 14, 0, 0))
"""A window starting at 14:00 UTC."""


def reason(**changes: Any) -> str | None:
    terms: dict[str, Any] = {
        "status": "reclaimed",
        "window_start_s": START,
        "opt_in_deadline_s": START - 1800,
        "quantities_wh": [1000, 2000, 1500],
        "tolerance_bp": 1000,
        "round_": 0,
        "row_count": 0,
        "opt_ins": OptInTotals(3, 900),
        "now_s": START + 60,
    }
    return request_outcome_reason(**(terms | changes))


def test_the_outcome_reason_names_the_constraint_that_failed():
    assert reason(opt_ins=OptInTotals(0, 0)) == (
        "no member opted in before the opt-in deadline (13:30 UTC)"
    )
    # The interval that needs most is named: 2000 Wh at 10 % needs at least 1800.
    assert reason() == (
        "the opt-ins (3 members) offer at most 900 Wh in interval 1 (14:15 UTC) where at least "
        "1800 Wh are needed (2000 Wh requested, tolerance 10 %)"
    )
    enough = OptInTotals(3, 1800)
    assert reason(opt_ins=enough, row_count=3) == (
        "a coalition of 3 members was proposed but not accepted by the DSO before the window "
        "started (14:00 UTC)"
    )
    assert reason(opt_ins=enough, round_=2) == (
        "the DSO rejected the proposed coalition 2 times and no other was proposed before the "
        "window started (14:00 UTC)"
    )
    none_proposed = reason(opt_ins=enough)
    assert none_proposed is not None and none_proposed.startswith(
        "no coalition was proposed before the window started (14:00 UTC), although the "
        "opt-ins offer up to 1800 Wh per interval and no interval needs more than 1800 Wh"
    )


def test_only_a_request_that_ended_without_a_coalition_has_a_reason():
    assert ended_without_coalition("reclaimed", START, START - 3600)  # reclaimed: ended
    assert ended_without_coalition("open", START, START)
    assert ended_without_coalition("proposed", START, START + 1)
    assert not ended_without_coalition("open", START, START - 1)  # past the deadline only
    for status in ("accepted", "settled"):
        assert not ended_without_coalition(status, START, START + 10**6)
        assert reason(status=status) is None
    assert reason(status="open", now_s=START - 600) is None


UP = BaselineTerms(START, "up", 1000, 4, 0)


def test_baseline_intervals_follow_the_requests_parameters():
    assert baseline_starts(UP) == [START - 3600, START - 2700, START - 1800, START - 900]
    assert baseline_starts(BaselineTerms(START, "up", 1000, 2, 1)) == [START - 2700, START - 1800]
    # A row indexed before the parameters were kept: the defaults (4 intervals, no gap).
    assert baseline_starts(BaselineTerms(START, "up", 1000, None, None)) == baseline_starts(UP)


def hour_before(*values: int) -> dict[int, int]:
    return dict(zip(baseline_starts(UP), values, strict=True))


def test_a_row_that_fell_short_names_its_intervals_baseline_and_meter():
    # Baseline: (800 + 810 + 820 + 821) / 4 = 812.75, rounded to 813 Wh.
    net = hour_before(800, 810, 820, 821) | {START: 313, START + 900: 790, START + 1800: 900}
    got = row_explanation(UP, [500, 500, 500], [500, 23, -87], [0, 427, 537], [], net)
    assert got == (
        "2 intervals below the tolerance (10 % under the target; baseline: the mean net import "
        "of the 4 intervals from 13:00 UTC): "
        "interval 1 (14:15 UTC): baseline 813 Wh, metered 790 Wh, delivered 23 Wh, at least "
        "450 Wh needed: shortfall 427 Wh; "
        "interval 2 (14:30 UTC): baseline 813 Wh, metered 900 Wh, delivered -87 Wh, at least "
        "450 Wh needed: shortfall 537 Wh"
    )
    # Nothing short, or not settled yet: no explanation.
    assert row_explanation(UP, [500], [500], [0], [], net) is None
    assert row_explanation(UP, [500], None, None, None, net) is None


def test_a_downward_request_counts_metered_minus_baseline():
    down = BaselineTerms(START, "down", 1000, 4, 0)
    net = hour_before(100, 100, 100, 100) | {START: 150}
    got = row_explanation(down, [200], [50], [130], [], net)
    assert got is not None and got.endswith(
        "interval 0 (14:00 UTC): baseline 100 Wh, metered 150 Wh, delivered 50 Wh, at least "
        "180 Wh needed: shortfall 130 Wh"
    )


def test_missing_meter_data_and_a_missing_baseline_say_nothing_was_counted():
    net = hour_before(800, 810, 820, 821) | {START: 700}
    got = row_explanation(UP, [300, 300], [113, 0], [0, 270], [1], net)
    assert got is not None and got.endswith(
        "interval 1 (14:15 UTC): no meter data, counted as delivering 0 Wh, at least 270 Wh "
        "needed: shortfall 270 Wh"
    )
    no_base = {START - 900: 800, START: 700}
    got = row_explanation(UP, [300], [0], [270], [], no_base)
    assert got is not None and got.endswith(
        "interval 0 (14:00 UTC): no baseline (the meter has data for 1 of the 4 intervals from "
        "13:00 UTC before the window), metered 700 Wh, counted as delivering 0 Wh, at least "
        "270 Wh needed: shortfall 270 Wh"
    )


def test_meter_data_corrected_after_the_settlement_are_named_beside_its_figure():
    net = hour_before(500, 500, 500, 500) | {START: 400}
    got = row_explanation(UP, [300], [200], [70], [], net)
    assert got is not None and got.endswith(
        "interval 0 (14:00 UTC): baseline 500 Wh, metered 400 Wh, delivered 200 Wh (the meter "
        "data now give 100 Wh: corrected after the settlement), at least 270 Wh needed: "
        "shortfall 70 Wh"
    )
