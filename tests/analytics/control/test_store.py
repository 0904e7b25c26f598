"""The control results' storage (analytics/control/store.py) on SQLite and PostgreSQL: a home's
policy comparison (report and series) and its control status come back as they were put, a new
one replaces the old, the community listing reads every home's report, bad input is refused
naming the field before anything is written, and the tables survive ``bright index rebuild``
and match their migration."""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.orm import Session

from analytics.control import evaluate
from analytics.control.errors import ControlDataError
from analytics.control.store import (
    KPIS,
    MAX_STATUS_STEPS,
    METADATA,
    delete_comparison,
    delete_status,
    get_comparison,
    get_comparison_stored,
    get_status,
    list_comparisons,
    put_comparison,
    put_status,
)
from streams.db import alembic_config, drop_read_models, migration_connection, open_database
from tests.streams.conftest import pg_server  # noqa: F401  (the session's PostgreSQL server)

A = "0x" + "a1" * 20
B = "0x" + "b2" * 20
T0 = 1_672_531_200  # 2023-01-01T00:00:00Z
STEPS = 96
CONTROL_TABLES = ("control_comparisons", "control_status")

_SCALE = {"bau": 1.0, "rule": 0.9, "mpc": 0.8, "rl": 0.85}


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'read_models.sqlite'}"
    else:
        url = request.getfixturevalue("pg_server").create_database()
    engine = open_database(url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def one_engine(tmp_path_factory):
    """One SQLite database for the tests that write nothing (a migration each is slow)."""
    engine = open_database(f"sqlite:///{tmp_path_factory.mktemp('control') / 't.sqlite'}")
    yield engine
    engine.dispose()


def totals(scale: float, base: float = 1.0) -> dict[str, float]:
    """A home's totals over a day (``base`` sizes the home)."""
    t = {
        "cost": 4.2,
        "emissions_kg": 3.1,
        "peak_kw": 2.5,
        "violation_kh": 0.4,
        "tracking_kwh": 1.5,
        "import_kwh": 14.0,
    }
    return {k: round(v * scale * base, 4) for k, v in t.items()}


def report(
    policies: tuple[str, ...] = ("bau", "rule", "mpc"),
    base: float = 1.0,
    start_s: int = T0,
    steps: int = STEPS,
) -> dict[str, Any]:
    """A home's comparison report, as :func:`analytics.control.evaluate.compare` makes one."""
    bau = totals(1.0, base)
    return {
        "period": {"start_s": start_s, "step_s": 900, "steps": steps, "homes": 1},
        "cost_function": {
            "weights": {
                "cost": 1.0,
                "emissions": 0.0,
                "peak": 0.0,
                "comfort": 10.0,
                "tracking": 1.0,
            },
            "feed_in_share": 0.0,
        },
        "policies": {
            name: {
                "totals": totals(_SCALE[name], base),
                "ratios_to_bau": {
                    k: round(totals(_SCALE[name], base)[k] / bau[k], 4) if bau[k] else None
                    for k in KPIS
                },
                "decision_ms": 0.01 if name == "bau" else 2.5,
            }
            for name in policies
        },
    }


def series(
    policies: tuple[str, ...] = ("bau", "rule", "mpc"),
    start_s: int = T0,
    n: int = STEPS,
    every: int = 1,
) -> dict[str, Any]:
    """A home's series, as :func:`analytics.control.evaluate.home_series` makes them."""
    hours = np.arange(n) * every / 4
    return {
        "start_s": start_s,
        "step_s": 900 * every,
        "band_low_c": [20.0 if 6 <= h % 24 < 22 else 17.0 for h in hours],
        "band_high_c": [23.0] * n,
        "policies": {
            name: {
                "indoor_c": [round(21.0 - 0.5 * i + 0.3 * math.sin(h), 2) for h in hours]
                if name != "rl"
                else [None] + [21.0] * (n - 1),
                "net_import_w": [round(600 * _SCALE[name] + 200 * math.cos(h)) for h in hours],
            }
            for i, name in enumerate(policies)
        },
    }


def status(steps: int = 8, start_s: int = T0, flexibility: bool = True) -> dict[str, Any]:
    """A home's control status: the last steps with the controller's reasons."""
    return {
        "policy": "mpc",
        "updated_s": start_s + steps * 900,
        "comfort_violation_kh": 0.25,
        "steps": [
            {
                "start_s": start_s + i * 900,
                "indoor_c": 20.5 + 0.1 * i,
                "band_low_c": 20.0 if i % 4 else None,
                "band_high_c": 23.0 if i % 4 else None,
                "setpoint_offset_k": -1.0 if i % 2 else 0.5,
                "net_import_w": 800.0 - 10 * i,
                "target_w": 700.0 if i % 3 == 0 else None,
                "reason": "price high in the next 3 h: pre-heated, then eased off"
                if i % 2
                else "cheap hour: pre-heat within the comfort band",
            }
            for i in range(steps)
        ],
        "flexibility": {
            "start_s": start_s + steps * 900,
            "step_s": 900,
            "up_wh": [120.0, 110.5, 90.0, 60.0],
            "down_wh": [80.0, 75.0, 40.0, 0.0],
            "rebound_wh": [30.0, 20.0, -10.0, 0.0],
        }
        if flexibility
        else None,
    }


def test_the_policy_names_and_kpis_are_the_controllers():
    from analytics.control.policies import BauPolicy

    assert KPIS == evaluate.KPIS and BauPolicy.name == "bau"


def test_a_comparison_comes_back_as_it_was_put_and_a_new_one_replaces_it(engine):
    rep, ser = report(), series()
    put_comparison(engine, 1, A.lower(), rep, ser)  # any case in, checksummed in the table
    with Session(engine) as s, s.begin():  # the caller's transaction
        put_comparison(s, 1, B, report(base=2.0), series())
        put_comparison(s, 2, A, report(("bau", "rl")), series(("bau", "rl")))
    got = get_comparison(engine, 1, A)
    assert got == (rep, ser)
    assert list(got[0]["policies"]) == ["bau", "rule", "mpc"]  # in order (JSONB has none)
    assert list(got[0]["policies"]["mpc"]["totals"]) == list(KPIS)
    stored = get_comparison_stored(engine, 1, A)
    assert stored is not None and stored[:2] == got and stored[2] > T0
    # the community listing: every home's report, by account, without series
    listed = list_comparisons(engine, 1)
    assert [a.lower() for a, _ in listed] == sorted([A, B])
    assert listed[0][0] != A and listed[0][1] == rep  # EIP-55
    assert listed[1][1]["policies"]["bau"]["totals"]["cost"] == 8.4
    assert list_comparisons(engine, 3) == []
    # another chain, other policies (one series with a gap)
    other = get_comparison(engine, 2, A)
    assert other is not None and list(other[0]["policies"]) == ["bau", "rl"]
    assert other[1]["policies"]["rl"]["indoor_c"][0] is None

    # a new comparison replaces the old whole
    new_rep = report(("mpc", "bau"), start_s=T0 + 86_400, steps=2 * STEPS)
    new_ser = series(("bau", "mpc"), start_s=T0 + 86_400, n=STEPS // 2, every=4)
    put_comparison(engine, 1, A, new_rep, new_ser)
    got = get_comparison(engine, 1, A)
    assert got is not None and list(got[0]["policies"]) == ["bau", "mpc"]
    assert got[1]["step_s"] == 3600 and len(got[1]["band_low_c"]) == STEPS // 2
    assert got[0]["policies"]["mpc"] == new_rep["policies"]["mpc"]

    # a refused comparison changes nothing: everything is checked before the first write
    bad = series(("bau", "mpc"), start_s=T0 + 86_400, n=STEPS // 2, every=4)
    bad["policies"]["mpc"]["net_import_w"][5] = math.inf
    with pytest.raises(ControlDataError, match=r"\['mpc'\]\.net_import_w\[5\] is inf"):
        put_comparison(engine, 1, A, new_rep, bad)
    assert get_comparison(engine, 1, A) == got

    assert delete_comparison(engine, 1, A) and not delete_comparison(engine, 1, A)
    assert get_comparison(engine, 1, A) is None and get_comparison_stored(engine, 1, A) is None


def test_a_status_comes_back_as_it_was_put_and_a_new_one_replaces_it(engine):
    first = status()
    put_status(engine, 1, A.lower(), first)
    with Session(engine) as s, s.begin():
        put_status(s, 1, B, status(flexibility=False))
    got, other = get_status(engine, 1, A), get_status(engine, 1, B)
    assert got == first and list(got["steps"][0]) == list(first["steps"][0])  # in order
    assert other is not None and other["flexibility"] is None
    assert get_status(engine, 2, A) is None
    longest = status(steps=MAX_STATUS_STEPS, start_s=T0 + 86_400)
    put_status(engine, 1, A, longest)
    assert get_status(engine, 1, A) == longest
    with pytest.raises(ControlDataError, match=r"status\.steps has 673 steps; .* at most 672"):
        put_status(engine, 1, A, status(steps=MAX_STATUS_STEPS + 1))
    assert get_status(engine, 1, A) == longest
    assert delete_status(engine, 1, A) and not delete_status(engine, 1, A)
    assert get_status(engine, 1, A) is None and get_status(engine, 1, B) is not None


def test_the_control_tables_survive_a_rebuild_and_match_their_migration(engine):
    assert set(METADATA.tables) == set(CONTROL_TABLES)
    put_comparison(engine, 1, A, report(), series())
    put_status(engine, 1, A, status())
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), METADATA)
    assert [d for d in diff if "control_" in repr(d)] == []
    drop_read_models(engine)  # bright index rebuild
    assert set(CONTROL_TABLES) <= set(inspect(engine).get_table_names())
    open_database(engine.url.render_as_string(hide_password=False)).dispose()  # migrated again
    assert get_comparison(engine, 1, A) == (report(), series())
    assert get_status(engine, 1, A) == status()
    # A downgrade by hand (not a rebuild) drops them, as a downgrade should.
    cfg = alembic_config(engine)
    with migration_connection(engine) as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0011_thermal_models")
    names = set(inspect(engine).get_table_names())
    assert not set(CONTROL_TABLES) & names and "thermal_models" in names


def _report(**changes: Any) -> dict[str, Any]:
    """``report()`` with ``changes`` at dotted paths (a value of ``...`` removes the key)."""
    return _changed(report(), changes)


def _series(**changes: Any) -> dict[str, Any]:
    return _changed(series(), changes)


def _status(**changes: Any) -> dict[str, Any]:
    return _changed(status(), changes)


def _changed(value: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(value)
    for path, new in changes.items():
        *parents, last = path.split("__")
        at: Any = out
        for p in parents:
            at = at[int(p)] if p.isdigit() else at[p]
        key: Any = int(last) if last.isdigit() else last
        if new is ...:
            del at[key]
        else:
            at[key] = new
    return out


def _with_policy(r: dict[str, Any], name: str, copy_of: str = "rule") -> dict[str, Any]:
    r["policies"][name] = r["policies"][copy_of]
    return r


@pytest.mark.parametrize(
    ("rep", "ser", "message"),
    [
        (
            _with_policy(report(), "greedy"),
            series(),
            r"report\.policies: unknown policy 'greedy'; known: bau, rule, mpc, rl",
        ),
        (_report(policies__bau=...), series(), r"report\.policies has no 'bau': business as usual"),
        (
            _report(policies__mpc__totals__cost=math.nan),
            series(),
            r"report\.policies\['mpc'\]\.totals\['cost'\] is nan: values must be finite",
        ),
        (
            _report(policies__mpc__totals__cost="12"),
            series(),
            r"report\.policies\['mpc'\]\.totals\['cost'\] must be a number, not '12'",
        ),
        (
            _report(policies__rule__ratios_to_bau__peak_kw=math.inf),
            series(),
            r"ratios_to_bau\['peak_kw'\] is inf",
        ),
        (
            _report(policies__rule__totals__peak_kw=...),
            series(),
            r"report\.policies\['rule'\]\.totals has no peak_kw",
        ),
        (
            _report(policies__rule__totals__comfort=1.0),
            series(),
            r"totals has unknown keys \['comfort'\]",
        ),
        (_report(policies__mpc__decision_ms=-1), series(), r"decision_ms is -1.0: it must be"),
        (_report(period__steps=0), series(), r"report\.period\.steps must be a whole number"),
        (_report(period__start_s=1.5), series(), r"report\.period\.start_s must be a whole"),
        (_report(period__homes=True), series(), r"report\.period\.homes must be a whole"),
        (
            _report(cost_function__weights__fun=1.0),
            series(),
            r"weights: unknown term 'fun'; known: cost, emissions, peak, comfort, tracking",
        ),
        (_report(extra=1), series(), r"report has unknown keys \['extra'\]"),
        (
            report(),
            _series(policies__rule__indoor_c=[21.0] * 95),
            r"series\.policies\['rule'\]\.indoor_c has 95 values, series\.band_low_c 96",
        ),
        (
            report(),
            _series(band_high_c=[23.0] * 97),
            r"series\.band_high_c has 97 values, series\.band_low_c 96",
        ),
        (report(), series(n=97), r"series\.band_low_c has 97 values; .* has 1 to 96"),
        (report(), _series(band_low_c=[], band_high_c=[]), r"band_low_c has 0 values"),
        (
            report(),
            _series(policies__mpc__net_import_w__3=-math.inf),
            r"series\.policies\['mpc'\]\.net_import_w\[3\] is -inf: values must be finite",
        ),
        (
            report(),
            _series(policies__mpc__net_import_w__3="x"),
            r"net_import_w\[3\] must be a number or null, not 'x'",
        ),
        (
            report(),
            series(("bau", "rule")),
            r"series\.policies has bau, rule, the report bau, rule, mpc",
        ),
        (report(), _with_policy(series(), "smart"), r"series\.policies: unknown policy 'smart'"),
        (report(), series(start_s=T0 + 900), r"series\.start_s is .*, the report's period"),
        (report(), _series(step_s=600), r"series\.step_s is 600: a multiple of the period's"),
        ("not a report", series(), r"report must be a mapping, not str"),
    ],
)
def test_bad_comparisons_are_refused_naming_the_field(one_engine, rep, ser, message):
    engine = one_engine
    with pytest.raises(ControlDataError, match=message):
        put_comparison(engine, 1, A, rep, ser)
    assert get_comparison(engine, 1, A) is None and list_comparisons(engine, 1) == []
    with pytest.raises(ControlDataError, match="an account is 0x and 40 hex digits"):
        put_comparison(engine, 1, "home-01", report(), series())


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (_status(policy="greedy"), r"status\.policy: unknown policy 'greedy'; known: bau"),
        (_status(steps__3__reason=" "), r"status\.steps\[3\]\.reason must be text of 1 to 500"),
        (_status(steps__3__reason="x" * 501), r"status\.steps\[3\]\.reason must be text"),
        (_status(steps__2__indoor_c=None), r"status\.steps\[2\]\.indoor_c must be a number,"),
        (_status(steps__2__target_w=math.nan), r"status\.steps\[2\]\.target_w is nan"),
        (_status(steps__2__start_s=T0), r"status\.steps\[2\]\.start_s is .*, not after"),
        (_status(steps__2__why="?"), r"status\.steps\[2\] has unknown keys \['why'\]"),
        (_status(steps__2__reason=...), r"status\.steps\[2\] has no reason"),
        (_status(comfort_violation_kh=-0.1), r"status\.comfort_violation_kh is -0\.1"),
        (_status(updated_s=-1), r"status\.updated_s must be a whole number"),
        (_status(flexibility__step_s=3600), r"status\.flexibility\.step_s must be 900 s"),
        (_status(flexibility__down_wh=[1.0]), r"flexibility\.down_wh has 1 values, up_wh 4"),
        (_status(flexibility__up_wh=[]), r"flexibility\.up_wh has 0 values; .* 1 to 672"),
        (_status(flexibility__rebound_wh=[0, 0, None, 0]), r"rebound_wh\[2\] must be a number"),
        (_status(flexibility=...), r"status has no flexibility"),
        (_status(steps="none"), r"status\.steps must be a list of steps"),
    ],
)
def test_bad_statuses_are_refused_naming_the_field(one_engine, bad, message):
    with pytest.raises(ControlDataError, match=message):
        put_status(one_engine, 1, A, bad)
    assert get_status(one_engine, 1, A) is None


def test_numpy_values_are_taken_as_plain_numbers(tmp_path):
    engine = open_database(f"sqlite:///{tmp_path / 't.sqlite'}")
    rep = report()
    rep["policies"]["mpc"]["totals"]["cost"] = np.float64(3.5)
    rep["period"]["steps"] = np.int64(STEPS)
    ser = series()
    ser["policies"]["mpc"]["indoor_c"] = np.array(ser["policies"]["mpc"]["indoor_c"])
    ser["policies"]["rule"]["net_import_w"][0] = math.nan  # a gap, as None
    put_comparison(engine, 1, A, rep, ser)
    got = get_comparison(engine, 1, A)
    assert got is not None and got[0]["policies"]["mpc"]["totals"]["cost"] == 3.5
    assert got[1]["policies"]["mpc"]["indoor_c"] == series()["policies"]["mpc"]["indoor_c"]
    assert got[1]["policies"]["rule"]["net_import_w"][0] is None
    engine.dispose()
