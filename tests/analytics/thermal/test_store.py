"""The twins' storage (analytics/thermal/store.py) on SQLite and PostgreSQL: a twin comes back
as it was put, a new one replaces the old whole, a window of a series is sliced right, bad
input is refused before anything is written, and the tables survive ``bright index rebuild``."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.orm import Session

from analytics.thermal.results import ScenarioResult, Series, TwinRecord
from analytics.thermal.store import (
    MEASURED,
    METADATA,
    TwinStoreError,
    decode_series,
    delete_twin,
    encode_series,
    get_series,
    get_twin,
    get_twin_info,
    list_twins,
    put_twin,
)
from streams.db import alembic_config, drop_read_models, migration_connection, open_database
from tests.streams.conftest import pg_server  # noqa: F401  (the session's PostgreSQL server)

A = "0x" + "a1" * 20
B = "0x" + "b2" * 20
T0 = 1_672_531_200  # 2023-01-01T00:00:00Z
THERMAL_TABLES = ("thermal_twins", "thermal_twin_scenarios", "thermal_models")
"""The tables of the store: every one of them in METADATA, none a projection."""


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'read_models.sqlite'}"
    else:
        url = request.getfixturevalue("pg_server").create_database()
    engine = open_database(url)
    yield engine
    engine.dispose()


def series(n: int, step_s: int = 900, start_s: int = T0, seed: int = 0, gaps: bool = True,
           extra: bool = True) -> Series:
    """A plausible home: indoor temperature around a setpoint, heat when cold outside."""
    rng = np.random.default_rng(seed)
    hours = np.arange(n) * step_s / 3600
    outdoor = 5 + 6 * np.sin(2 * np.pi * (hours - 9) / 24) + rng.normal(0, 0.5, n)
    setpoint = np.where((hours % 24 >= 6) & (hours % 24 < 22), 21.0, 17.0)
    indoor = setpoint - 0.3 + rng.normal(0, 0.2, n)
    heat = np.maximum(0, 150 * (setpoint - outdoor)) * step_s / 3600
    indoor_l: list[float | None] = indoor.tolist()
    if gaps and n > 4:
        indoor_l[3] = None
        indoor_l[n // 2] = None
    return Series(
        start_s=start_s,
        step_s=step_s,
        indoor_c=indoor_l,
        heat_wh=heat.tolist(),
        electricity_wh=(heat / 3.2).tolist(),
        fuel_wh=[] if not extra else [0.0] * n,
        outdoor_c=[] if not extra else outdoor.tolist(),
        setpoint_c=[] if not extra else setpoint.tolist(),
    )


def record(n: int = 14 * 96, names: tuple[str, ...] = ("as-is", "heat-pump", "setpoint-1"),
           home_id: str = "citylearn-2023/Building_1", created_s: int = T0 + 10**6) -> TwinRecord:
    scen = [
        ScenarioResult(
            name=name,
            description=f"the home {name}",
            config={} if name == "as-is" else {"change": name, "offset_c": -1.0},
            totals={"heat_kwh": 1234.5 - i, "electricity_kwh": 400.25, "fuel_kwh": 0.0,
                    "comfort_kh": 3.5 * i, "mean_indoor_c": 20.4},
            series=series(n, seed=i + 1, gaps=False),
        )
        for i, name in enumerate(names)
    ]
    return TwinRecord(
        home_id=home_id,
        params={"hlc_w_per_k": 180.0, "c_j_per_k": 2.1e7, "system": {"kind": "boiler"},
                "schedule": [21.0] * 24},
        fit={"rmse_c": 0.42, "mae_c": 0.31, "energy_wape": 0.08, "params_std": {"hlc": 3.1}},
        measured=series(n // 4, step_s=3600, extra=False),
        scenarios=scen,
        created_s=created_s,
    )


def test_a_twin_comes_back_as_it_was_put_and_a_new_one_replaces_it(engine):
    first = record()
    put_twin(engine, 1, A.lower(), first)  # any case in, checksummed in the table
    with Session(engine) as s, s.begin():  # the caller's transaction
        put_twin(s, 1, B, record(home_id="csv/b.csv"))
        put_twin(s, 2, A, record(home_id="on another chain"))
    assert get_twin(engine, 1, A) == first
    info = get_twin_info(engine, 1, A)
    assert info is not None and info.home_id == first.home_id
    assert [sc.name for sc in info.scenarios] == ["as-is", "heat-pump", "setpoint-1"]
    assert info.scenarios[1].totals["heat_kwh"] == 1233.5
    assert info.measured is not None and info.measured.step_s == 3600
    assert info.measured.end_s == T0 + (14 * 96 // 4) * 3600
    assert len(info.inputs_sha256) == 64
    accounts = [a for a, _, _ in list_twins(engine, 1)]
    assert [a.lower() for a in accounts] == sorted([A, B]) and list_twins(engine, 3) == []

    # A new run replaces the twin whole: the scenarios it does not have are gone.
    second = dataclasses.replace(
        record(names=("as-is", "insulation")), measured=None, created_s=T0 + 2 * 10**6
    )
    put_twin(engine, 1, A, second)
    assert get_twin(engine, 1, A) == second
    assert get_series(engine, 1, A, "heat-pump") is None
    assert get_series(engine, 1, A, MEASURED) is None
    assert get_twin(engine, 1, B).home_id == "csv/b.csv"  # others untouched
    assert get_twin(engine, 2, A).home_id == "on another chain"

    # A refused twin changes nothing: everything is checked before the first write.
    bad = dataclasses.replace(second, scenarios=[*second.scenarios, ScenarioResult(
        "bad", "", {}, {}, dataclasses.replace(series(10), heat_wh=[1.0] * 9))])
    with pytest.raises(TwinStoreError, match="heat_wh has 9 values"):
        put_twin(engine, 1, A, bad)
    assert get_twin(engine, 1, A) == second

    assert delete_twin(engine, 1, A) and not delete_twin(engine, 1, A)
    assert get_twin(engine, 1, A) is None and get_twin_info(engine, 1, A) is None


def test_a_window_of_a_series(engine):
    rec = record(n=4 * 96)
    put_twin(engine, 7, A, rec)
    whole = rec.scenarios[0].series
    # [T0 + 1 h, T0 + 2 h): the four quarter hours starting in it
    got = get_series(engine, 7, A, "as-is", T0 + 3600, T0 + 7200)
    assert got is not None and got.start_s == T0 + 3600 and got.step_s == 900
    assert got.indoor_c == whole.indoor_c[4:8] and got.setpoint_c == whole.setpoint_c[4:8]
    # a start inside an interval begins with the next one; open ends take the rest
    got = get_series(engine, 7, A, "as-is", T0 + 100)
    assert got is not None and got.start_s == T0 + 900 and len(got.heat_wh) == 4 * 96 - 1
    got = get_series(engine, 7, A, "as-is", end_s=T0 + 901)
    assert got is not None and got.heat_wh == whole.heat_wh[:2]
    # outside the series, or a window that ends first: no values
    for lo, hi in ((T0 - 7200, T0), (T0 + 10**7, None), (T0 + 7200, T0 + 3600)):
        got = get_series(engine, 7, A, "as-is", lo, hi)
        assert got is not None and got.indoor_c == [] and got.outdoor_c == []
    # the measured series (hourly, with gaps and without the optional columns)
    measured = get_series(engine, 7, A, MEASURED, T0, T0 + 6 * 3600)
    assert measured is not None and measured.indoor_c[3] is None and len(measured.indoor_c) == 6
    assert measured.fuel_wh == [] and measured.indoor_c == rec.measured.indoor_c[:6]
    assert get_series(engine, 7, A, "no-such-scenario") is None
    assert get_series(engine, 7, B, "as-is") is None


def test_the_twins_survive_a_rebuild_and_match_their_migration(engine):
    assert set(METADATA.tables) == set(THERMAL_TABLES)
    put_twin(engine, 1, A, record(n=96))
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), METADATA)
    assert [d for d in diff if "thermal_" in repr(d)] == []  # twins and models
    drop_read_models(engine)  # bright index rebuild
    assert set(THERMAL_TABLES) <= set(inspect(engine).get_table_names())
    open_database(engine.url.render_as_string(hide_password=False)).dispose()  # migrated again
    assert get_twin(engine, 1, A) == record(n=96)
    # A downgrade by hand (not a rebuild) drops them, as a downgrade should.
    cfg = alembic_config(engine)
    with migration_connection(engine) as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0009_member_directory")
    assert not set(THERMAL_TABLES) & set(inspect(engine).get_table_names())


def test_a_year_at_15_minutes_stores_compactly_and_exactly():
    s = series(365 * 96)
    blob = encode_series(s)
    assert len(blob) < 0.6 * 6 * 365 * 96 * 8  # noisy values: still well under raw float64
    assert decode_series(blob) == s
    part = decode_series(blob, 96, 192)
    assert part.start_s == T0 + 86_400 and part.outdoor_c == s.outdoor_c[96:192]


def _with(**changes) -> TwinRecord:
    rec = record(n=32)
    sc = rec.scenarios[0]
    series_changes = {k: v for k, v in changes.items() if k in Series.__dataclass_fields__}
    if series_changes:
        sc = dataclasses.replace(sc, series=dataclasses.replace(sc.series, **series_changes))
    scenario_changes = {k[3:]: v for k, v in changes.items() if k.startswith("sc_")}
    if scenario_changes:
        sc = dataclasses.replace(sc, **scenario_changes)
    rest = {k: v for k, v in changes.items()
            if k not in series_changes and not k.startswith("sc_")}
    return dataclasses.replace(rec, scenarios=[sc, *rec.scenarios[1:]], **rest)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (_with(step_s=600), r"step_s must be 900 or 3600 s, not 600"),
        (_with(start_s=-1), r"start_s must be whole unix seconds"),
        (_with(start_s=1.5), r"start_s must be whole unix seconds"),
        (_with(indoor_c=[]), r"has 0 values; a series has 1 to"),
        (_with(heat_wh=[1.0] * 7), r"'as-is' series\.heat_wh has 7 values, indoor_c 32"),
        (_with(outdoor_c=[1.0] * 3), r"outdoor_c has 3 values.*\(or none at all\)"),
        (_with(indoor_c=[20.0] * 31 + [math.nan]), r"indoor_c\[31\] is NaN: a gap is None"),
        (_with(heat_wh=[1.0, math.inf] + [0.0] * 30), r"heat_wh\[1\] is inf: values must be fin"),
        (_with(heat_wh=["1"] + [0.0] * 31), r"heat_wh\[0\] is '1': values must be numbers"),
        (_with(heat_wh=[True] + [0.0] * 31), r"heat_wh\[0\] is True"),
        (_with(sc_name="what if?"), r"name 'what if\?': 1 to 64 letters"),
        (_with(sc_name="measured"), r"the name 'measured' is the measured series'"),
        (_with(sc_name="heat-pump"), r"a second scenario named 'heat-pump'"),
        (_with(sc_totals={"heat_kwh": "lots"}), r"totals\['heat_kwh'\] is 'lots'"),
        (_with(sc_totals={"heat_kwh": math.nan}), r"totals\['heat_kwh'\] is nan"),
        (_with(fit={"rmse_c": math.nan}), r"fit\['rmse_c'\] is nan: store None"),
        (_with(params={"when": object()}), r"params\['when'\] is a object, which JSON cannot"),
        (_with(params={1: 2}), r"params has a key 1 that is not text"),
        (_with(home_id=""), r"home_id must be text of 1 to 200"),
    ],
)
def test_bad_twins_are_refused_with_what_is_wrong(tmp_path, bad, message):
    engine = open_database(f"sqlite:///{tmp_path / 't.sqlite'}")
    with pytest.raises(TwinStoreError, match=message):
        put_twin(engine, 1, A, bad)
    assert get_twin(engine, 1, A) is None
    with pytest.raises(TwinStoreError, match="an account is 0x and 40 hex digits"):
        put_twin(engine, 1, "home-01", record(n=8))
    engine.dispose()


def test_numpy_values_are_taken_as_plain_numbers(tmp_path):
    engine = open_database(f"sqlite:///{tmp_path / 't.sqlite'}")
    rec = record(n=8)
    s = rec.scenarios[0].series
    sc = dataclasses.replace(
        rec.scenarios[0],
        totals={"heat_kwh": np.float64(2.5)},
        series=dataclasses.replace(s, heat_wh=np.asarray(s.heat_wh)),  # type: ignore[arg-type]
    )
    put_twin(engine, 1, A, dataclasses.replace(
        rec, params={"ua": np.float32(1.5), "n": np.int64(3), "v": np.arange(2)}, scenarios=[sc]))
    got = get_twin(engine, 1, A)
    assert got is not None and got.params == {"ua": 1.5, "n": 3, "v": [0, 1]}
    assert got.scenarios[0].series.heat_wh == s.heat_wh
    assert got.scenarios[0].totals == {"heat_kwh": 2.5}
    engine.dispose()
