"""Control over the thermal twins (issue 18): the environment, the policies, MPC against the
rules, flexibility estimates and the closed loop of a request window, all on the calibrated twins
of the CityLearn 2023 development homes (3 near Austin with PV, batteries and a time-of-use
price). Physics and behaviour, not paths."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics.control import flex
from analytics.control.costs import CostFunction
from analytics.control.env import CommunityEnv, HomeEnv
from analytics.control.errors import ControlConfigError, ControlDataError
from analytics.control.evaluate import compare
from analytics.control.homes import STEP_H, Community, citylearn_community
from analytics.control.linear import free_run, response_matrix, step_constants
from analytics.control.loop import TRACKING_COST, deliver_window, promise
from analytics.control.plant import Actions, Plant
from analytics.control.policies import BauPolicy, MpcPolicy, RulePolicy

AUSTIN = "citylearn_challenge_2023_phase_2_online_evaluation_1"


@pytest.fixture(scope="module")
def austin() -> tuple[Community, int]:
    return citylearn_community(AUSTIN)


# -- the cost function ----------------------------------------------------------------------
def test_cost_function_reads_json_and_refuses_what_it_cannot_use(tmp_path):
    path = tmp_path / "cost.json"
    path.write_text(json.dumps({"weights": {"cost": 2, "peak": 0.5}, "feed_in_share": 0.3}))
    cf = CostFunction.load(path)
    assert cf.w("cost") == 2 and cf.w("peak") == 0.5 and cf.w("comfort") == 10.0
    assert cf.feed_in_share == 0.3
    for bad, says in (
        ({"weights": {"comfrot": 1}}, "unknown term(s) comfrot"),
        ({"weights": {"cost": -1}}, "outside [0, 1e6]"),
        (
            {"weights": dict.fromkeys(("cost", "emissions", "peak", "comfort", "tracking"), 0)},
            "at least one weight",
        ),
        ({"feed_in_share": 2}, "feed_in_share = 2.0"),
        ({"weight": {}}, "unknown key(s) weight"),
        ([], "expected a JSON object"),
    ):
        path.write_text(json.dumps(bad))
        with pytest.raises(
            ControlConfigError,
            match=says.replace("(", r"\(")
            .replace(")", r"\)")
            .replace("[", r"\[")
            .replace("]", r"\]"),
        ):
            CostFunction.load(path)
    path.write_text("{not json")
    with pytest.raises(ControlConfigError, match="is not JSON"):
        CostFunction.load(path)


def test_community_refuses_series_it_cannot_run_on(austin):
    community, _ = austin
    with pytest.raises(ControlDataError, match="price: must be finite and not negative"):
        Community(
            community.prepared,
            community.names,
            community.base_load_w,
            community.pv_w,
            -community.price,
            community.carbon,
            community.batteries,
            community.tolerance_k,
            community.home_on,
        )
    with pytest.raises(ControlDataError, match=r"pv_w: shape \(5, 3\)"):
        Community(
            community.prepared,
            community.names,
            community.base_load_w,
            community.pv_w[:5],
            community.price,
            community.carbon,
            community.batteries,
            community.tolerance_k,
            community.home_on,
        )


# -- the environment ------------------------------------------------------------------------
def test_environments_follow_gymnasium_and_one_home_equals_its_place_in_the_community(austin):
    community, test0 = austin
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "no spec": made without gymnasium.make
        check_env(HomeEnv(community, 1, start=test0, episode_steps=96, random_start=True))
        check_env(CommunityEnv(community, start=test0, episode_steps=96))
    one = HomeEnv(community, 1, start=test0, episode_steps=96)
    all_ = CommunityEnv(community, start=test0, episode_steps=96)
    o1, _ = one.reset(seed=0)
    oc, _ = all_.reset(seed=0)
    assert np.allclose(o1, oc[1])
    rng = np.random.default_rng(0)
    for _ in range(40):
        a = rng.uniform(-1, 1, (3, 4)).astype(np.float32)
        r1, rc = one.step(a[1]), all_.step(a)
        assert np.allclose(r1[0], rc[0][1], atol=1e-5)
        assert r1[4]["violation_kh"] == pytest.approx(rc[4]["violation_kh"][1])


# -- the linear model -------------------------------------------------------------------------
def test_linear_model_predicts_the_twin_with_any_heat_plan(austin):
    """Free-floating run + response matrix = the compiled twin driven by the same heat."""
    community, test0 = austin
    plant = Plant(community)
    plant.reset(test0)
    horizon = 24
    free = free_run(plant, horizon)
    heat = np.random.default_rng(1).uniform(-6000, 0, (horizon, community.n_homes))
    run = community.prepared.run(
        test0,
        test0 + horizon,
        heat_given_w=heat,
        initial_mass_c=plant.mass_c,
        initial_tank_c=plant.tank_c,
    )
    for n in range(community.n_homes):
        m = response_matrix(step_constants(community.prepared.arrays, n), horizon)
        predicted = free[0][:, n] + m @ heat[:, n]
        assert np.abs(predicted - run.indoor_c[:, n]).max() < 1e-6


# -- the policies -------------------------------------------------------------------------------
def test_mpc_beats_the_rules_and_business_as_usual_with_no_comfort_violation(austin):
    community, test0 = austin
    report, _ = compare(community, [BauPolicy(), RulePolicy(), MpcPolicy()], test0, test0 + 2 * 96)
    p = report["policies"]
    assert p["mpc"]["totals"]["cost"] <= p["rule"]["totals"]["cost"]
    assert p["mpc"]["totals"]["cost"] < 0.9 * p["bau"]["totals"]["cost"]
    for name in ("bau", "rule", "mpc"):  # measured, step by step, against each home's band
        assert p[name]["totals"]["violation_kh"] == pytest.approx(0.0, abs=1e-6), name
    assert p["mpc"]["decision_ms"] < 50


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.tuples(st.floats(-1, 1), st.floats(0, 1), st.floats(-5000, 5000), st.booleans()),
        min_size=1,
        max_size=12,
    )
)
def test_plant_keeps_batteries_in_bounds_and_balances_energy(austin, actions):
    community, test0 = austin
    plant = Plant(community)
    plant.reset(test0)
    for offset, mod, battery, on in actions:
        soc0 = plant.soc_wh.copy()
        out = plant.step(
            Actions(np.full(3, offset), np.full(3, mod), np.full(3, battery), np.full(3, float(on)))
        )
        assert np.all(plant.soc_wh >= plant.min_wh - 1e-6)
        assert np.all(plant.soc_wh <= plant.capacity_wh + 1e-6)
        stored = (
            np.where(out.battery_w >= 0, out.battery_w * plant.eff, out.battery_w / plant.eff)
            * STEP_H
        )
        assert np.allclose(plant.soc_wh - soc0, stored, atol=1e-6)
        t = plant.t - 1
        assert np.allclose(
            out.net_import_w,
            community.base_load_w[t] + out.hvac_w + out.battery_w - community.pv_w[t],
        )


# -- flexibility and the closed loop ---------------------------------------------------------
def test_homes_deliver_what_their_estimate_promised_without_discomfort(austin):
    community, test0 = austin
    states = flex.bau_states(community, test0, 96 + 8)
    for k0 in (17 * 4, 20 * 4):  # 17:00 and 20:00 UTC
        window = states[k0 : k0 + 4]
        bau = np.stack([s.net_import_w for s in window])
        d = deliver_window(community, window[0], bau, 4, MpcPolicy(TRACKING_COST))
        assert (~np.isnan(d.promised_wh)).any()
        assert d.within(0.1).all()
        assert d.violation_kh.sum() == pytest.approx(0.0, abs=1e-6)


def test_a_home_asked_for_more_than_its_estimate_is_not_opted_in_and_cannot_deliver_it(austin):
    community, test0 = austin
    states = flex.bau_states(community, test0, 17 * 4 + 8)
    window = states[17 * 4 : 17 * 4 + 4]
    est = flex.sustained(community, window[0], 4).down_wh
    assert np.isnan(promise(est, min_wh=est.min(axis=0)[0] + 1)[:, 0]).all()
    asked = est * 2
    bau = np.stack([s.net_import_w for s in window])
    d = deliver_window(community, window[0], bau, 4, MpcPolicy(TRACKING_COST), promised_wh=asked)
    assert (d.delivered_wh <= est * 1.1 + 1).all()  # physics, not the ask
    assert d.violation_kh.sum() == pytest.approx(0.0, abs=1e-6)  # comfort before the target
    assert not d.within(0.1).any()


# -- a home's own data ------------------------------------------------------------------------
def _own_frame(austin_home: int = 0):
    """The first Austin home's data as a user would export it (hourly, UTC)."""
    import pandas as pd

    from analytics.control.homes import _read_column
    from analytics.data import citylearn2023 as cl

    f = cl.load_home(AUSTIN, f"Building_{austin_home + 1}")
    mode = f["hvac_mode"].to_numpy()
    sp = f["setpoint_c"].to_numpy()
    price = _read_column(cl.dataset_dir(AUSTIN) / "pricing.csv", len(f))
    carbon = _read_column(cl.dataset_dir(AUSTIN) / "carbon_intensity.csv", len(f))
    return pd.DataFrame(
        {
            "outdoor_c": f["outdoor_c"],
            "direct_w_m2": f["direct_w_m2"],
            "diffuse_w_m2": f["diffuse_w_m2"],
            "base_load_w": f["equipment_kwh"] * 1000,
            "price_per_kwh": price,
            "pv_w": f["pv_w_per_kw"] * 2.4,
            "carbon_kg_per_kwh": carbon,
            "heat_setpoint_c": np.where(mode == 2, sp, np.nan),
            "cool_setpoint_c": np.where(mode == 1, sp, np.nan),
            "hvac_on": (mode > 0).astype(float),
            "gains_w": f["equipment_kwh"] * 1000 + f["occupants"] * 80,
        },
        index=f.index,
    )


def test_a_homes_own_csv_gives_the_same_physics_as_the_packaged_data(austin, tmp_path):
    from analytics.control.evaluate import run_policy
    from analytics.control.homes import frame_community, read_home_csv

    community, test0 = austin
    path = tmp_path / "home.csv"
    _own_frame().rename_axis("time").reset_index().to_csv(path, index=False)
    own = frame_community(
        read_home_csv(path),
        community.prepared.homes[0],
        name="mine",
        battery=community.batteries[0],
    )
    assert own.n_steps == community.n_steps
    ours = run_policy(own, BauPolicy(), test0, test0 + 96)
    packaged = run_policy(community.subset([0]), BauPolicy(), test0, test0 + 96)
    for kpi in ("cost", "import_kwh", "violation_kh"):
        assert ours.total(kpi) == pytest.approx(packaged.total(kpi), rel=1e-6, abs=1e-9), kpi


def test_own_data_with_gaps_or_missing_rows_is_refused_with_the_place(austin):
    from analytics.control.homes import frame_community

    community, _ = austin
    config = community.prepared.homes[0]
    frame = _own_frame()
    with pytest.raises(ControlDataError, match="columns missing: price_per_kwh"):
        frame_community(frame.drop(columns="price_per_kwh"), config)
    gappy = frame.copy()
    gappy.iloc[30, gappy.columns.get_loc("base_load_w")] = np.nan
    with pytest.raises(ControlDataError, match=r"base_load_w has gaps \(1 empty, first at"):
        frame_community(gappy, config)
    with pytest.raises(ControlDataError, match="1 irregular steps, the first after"):
        frame_community(frame.drop(frame.index[40]), config)
    with pytest.raises(ControlDataError, match="increasing without duplicates"):
        frame_community(frame.iloc[::-1], config)
