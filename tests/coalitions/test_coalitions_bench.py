"""The coalition benchmark reports consistent numbers (no timing assertions: speed is for JSON)."""

from __future__ import annotations

import json

import numpy as np

from coalitions.bench import bench_coalitions, feeder_graph, synthetic_offers, synthetic_request
from coalitions.engine import FormationConfig, form_coalition


def test_bench_compares_cp_sat_with_greedy_on_the_same_members() -> None:
    report = bench_coalitions(members=80, seed=3, time_limit_s=1.0)
    json.dumps(report)
    assert report["members"] == 80 and report["intervals"] == 16
    assert report["cp_sat_s"] > 0 and report["greedy_s"] > 0 and report["peak_rss_mb"] > 0
    # The limit is the whole call's; the report says by how much the call ran past it and
    # which path produced the targets (80 members: CP-SAT over all of them, no fallback).
    assert report["time_limit_s"] == 1.0
    assert report["cp_sat_overrun_s"] == round(report["cp_sat_s"] - 1.0, 4)
    assert report["cp_sat_method"] == "cp-sat" and report["cp_sat_found_targets"] is True
    assert report["cp_sat_worst_deviation_pct"] <= report["greedy_worst_deviation_pct"]
    assert report["cp_sat_members"] > 0 and report["greedy_members"] > 0
    # The relaxation's bound is below what a coalition meeting the quantity exactly achieves.
    assert report["cp_sat_worst_deviation_pct"] == 0
    assert 0 < report["expected_shortfall_lower_bound_wh"] <= report["cp_sat_expected_shortfall_wh"]
    # Recomputed independently: the request asks a third of the members' median flexibility.
    offers = synthetic_offers(80, seed=3)
    total = np.sum([o.flex_wh for o in offers], axis=0)
    assert report["requested_wh_total"] == int((np.rint(total / 3 / 100) * 100).sum())


def test_synthetic_members_are_seeded_and_sit_under_the_feeders() -> None:
    a, b, c = synthetic_offers(50, 1), synthetic_offers(50, 1), synthetic_offers(50, 2)
    assert a == b and a != c
    g = feeder_graph()
    assert all(o.node in g for o in a)
    on_off = [o for o in a if o.min_wh > 0]
    assert on_off and all(o.max_active_intervals == 8 for o in on_off)
    # A feeder-limited request only uses members downstream of it.
    request = synthetic_request(a, share=0.05)
    coalition = form_coalition(request, a, g, FormationConfig(time_limit_s=0.5), feeder="feeder-0")
    nodes = {o.member: o.node for o in a}
    assert coalition.members and all(nodes[m].startswith("bus-0-") for m in coalition.members)
