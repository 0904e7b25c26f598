"""``bright bench control``: every policy against business as usual in the same run."""

from __future__ import annotations

from analytics.control.bench import bench_control


def test_bench_compares_every_policy_with_business_as_usual_in_one_run() -> None:
    r = bench_control(days=1, train_steps=0)
    assert set(r["policies"]) == {"bau", "rule", "mpc", "rl"}
    assert r["policies"]["bau"]["ratios_to_bau"]["cost"] == 1.0
    for name in ("rule", "mpc", "rl"):
        ratio = r["policies"][name]["ratios_to_bau"]["cost"]
        assert 0.5 < ratio < 1.1, (name, ratio)  # measured, not a copy of the baseline
    assert r["policies"]["mpc"]["decision_ms_per_home_step"] > 0
    for goals in (v["goals"] for v in r["per_set"].values()):
        assert {"mpc_no_more_violations", "rl_within_5pct_of_mpc"} <= set(goals)
    loop = r["closed_loop"]["mpc"]
    assert loop["intervals"] > 0 and loop["within_tolerance"] >= 0.95
    assert loop["violation_kh"] == 0.0
    assert r["peak_rss_mb"] > 0 and "training" not in r
