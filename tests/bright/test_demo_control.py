"""The demo homes as controlled twins (issue 18's closed loop): what a home opts in with, what
its meter reports, what it delivers when its targets are committed. The chain side (opt-ins,
coalitions, settlement) is the coordination demo's, tested in test_demo_coordination.py."""

from __future__ import annotations

import numpy as np
import pytest

from bright.demo_control import MIN_WH, DemoPhysics, opt_in_offers

HOMES = [f"0x{i:040x}" for i in range(1, 11)]
METERS = {f"meter-{i:02d}": h for i, h in enumerate(HOMES, 1)}
WINDOW_S = 1_796_601_600 + 17 * 3600  # a day at 17:00 UTC


@pytest.fixture(scope="module")
def physics() -> DemoPhysics:
    p = DemoPhysics(HOMES, "mpc", meters=METERS)
    p.prepare()
    return p


def test_a_home_opts_in_with_at_most_its_estimate_and_not_at_all_below_the_minimum():
    offers, left_out = opt_in_offers({"a": [30, 25, 40], "b": [MIN_WH - 1, 80], "c": []}, 35)
    assert offers == {"a": 25}
    assert left_out == {"b": MIN_WH - 1, "c": 0}
    assert opt_in_offers({"a": [300, 250]}, 35)[0] == {"a": 35}


def test_meters_report_their_twins_physics(physics):
    assert physics.net_w("meter-99", WINDOW_S) is None  # no twin behind it
    values = [physics.net_w("meter-01", WINDOW_S + 900 * k) for k in range(8)]
    assert all(v is not None and np.isfinite(v) for v in values)
    # homes 1 and 8 share a development home: the same physics at the same time
    assert physics.label(HOMES[0]) == physics.label(HOMES[7])
    assert physics.net_w("meter-01", WINDOW_S) == physics.net_w("meter-08", WINDOW_S)


def test_members_deliver_their_estimate_and_no_more_than_their_physics(physics):
    members = HOMES[:7]
    est = physics.estimate(members, WINDOW_S, 4)
    able = [m for m in members if min(est[m]) >= MIN_WH]
    assert able, "some homes can shift at 17:00"
    targets = np.array([est[m] for m in able], dtype=float).T
    targets[:, 0] *= 2  # the first member was asked twice what its twin can do
    delivered, violation, shift = physics.deliver(able, targets, WINDOW_S)
    assert violation.sum() == pytest.approx(0.0, abs=1e-6)
    ok = np.abs(delivered[:, 1:] - targets[:, 1:]) <= 0.1 * targets[:, 1:]
    assert ok.all(), (delivered, targets)
    assert (delivered[:, 0] <= np.array(est[able[0]]) * 1.1 + 1).all()
    assert shift.shape == (len(able),)


def test_every_demo_home_gets_its_comparison_and_control_status_once(tmp_path, physics):
    from types import SimpleNamespace

    from analytics.control.store import get_comparison, get_status, put_comparison
    from bright.demo_control import DemoControl
    from chain.domain import Role
    from streams.db import open_database

    url = f"sqlite:///{tmp_path / 'read_models.sqlite'}"
    engine = open_database(url)
    members = [SimpleNamespace(address=a, role=Role.PROSUMER, home=SimpleNamespace(home_id="h"))
               for a in HOMES[:8]]
    running = SimpleNamespace(platform=SimpleNamespace(deployment=SimpleNamespace(chain_id=7)),
                              members=members)
    control = DemoControl(running, url, physics, days=1)
    assert control.build() == 8
    report, series = get_comparison(engine, 7, HOMES[1]) or ({}, {})
    assert {"bau", "rule", "mpc"} <= set(report["policies"])
    assert report["policies"]["mpc"]["totals"]["violation_kh"] <= (
        report["policies"]["bau"]["totals"]["violation_kh"] + 1e-6
    )
    status = get_status(engine, 7, HOMES[1])
    assert status is not None and status["policy"] == "mpc" and len(status["steps"]) == 96
    assert all(step["reason"] for step in status["steps"])
    # homes 1 and 8 share a development home: the same figures
    assert get_comparison(engine, 7, HOMES[0]) == get_comparison(engine, 7, HOMES[7])
    # a kept comparison is not replaced on a restart
    mine = dict(report, period=dict(report["period"], steps=report["period"]["steps"]))
    put_comparison(engine, 7, HOMES[2], mine, series)
    again = DemoControl(running, url, physics, days=1)
    assert again.build() == 0


def test_market_offers_never_exceed_what_the_twin_can_shift(physics):
    from bright.demo_control import MarketSales

    members = [(a, m) for m, a in METERS.items()]
    for hour in (3, 12, 17):
        start = WINDOW_S - 17 * 3600 + hour * 3600
        orders = physics.market_orders(members, start)
        est = physics.estimate([a for a, _ in members], start, 1)
        for i, side, qty, price in orders:
            address, meter = members[i]
            net_wh = (physics.net_w(meter, start) or 0.0) * 0.25
            assert price > 0 and qty > 0
            if side == "offer":
                assert MIN_WH <= qty <= est[address][0] and qty <= 0.3 * net_wh + 1
            else:
                assert net_wh < 0
    sales = MarketSales()
    sales.add(WINDOW_S, "meter-01", HOMES[0], 100)
    sales.add(WINDOW_S, "meter-01", HOMES[0], 50)
    assert sales.at(WINDOW_S) == {"meter-01": (HOMES[0], 150)}
    assert sales.at(WINDOW_S + 900) == {}
