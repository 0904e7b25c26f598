"""The member directory (streams/directory.py) on SQLite and PostgreSQL: its rules, and that
it is no read model: dropping the read models (``bright index rebuild``) keeps it."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import inspect
from sqlalchemy.orm import Session

from streams.db import alembic_config, drop_read_models, migration_connection, open_database
from streams.directory import (
    DirectoryError,
    add_asset,
    add_meter,
    check_asset,
    display_names,
    get_profile,
    put_profile,
)

A = "0x" + "a1" * 20
B = "0x" + "b2" * 20


def test_the_directory_survives_a_rebuild_and_follows_its_rules(db_url):
    engine = open_database(db_url)
    with Session(engine) as s, s.begin():
        put_profile(s, 1, A, "  Anna Becker ", assets=[{"kind": "pv", "power_kw": 4}])
        put_profile(s, 1, B, "Luca Rossi")
        put_profile(s, 2, A, "Anna on chain 2")
        add_asset(s, 1, A, {"kind": "battery", "power_kw": 5, "capacity_kwh": 6.4})
        add_meter(s, 1, A, {"meter_id": "sub-1", "label": "heat pump"})
        add_meter(s, 1, A, {"meter_id": "sub-1"})  # the same meter once
    drop_read_models(engine)
    assert "member_directory" in inspect(engine).get_table_names()
    engine = open_database(db_url)  # migrated again, around the kept table
    with Session(engine) as s:
        assert display_names(s, 1) == {A: "Anna Becker", B: "Luca Rossi"}
        assert display_names(s, 2, [A, B]) == {A: "Anna on chain 2"}
        profile = get_profile(s, 1, A)
    assert profile is not None
    assert [a["kind"] for a in profile.assets] == ["pv", "battery"]
    assert profile.meters == [{"meter_id": "sub-1", "label": "heat pump"}]
    # A downgrade by hand (not a rebuild) drops it, as a downgrade should.
    cfg = alembic_config(engine)
    with migration_connection(engine) as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0008_coordination_disputes")
    assert "member_directory" not in inspect(engine).get_table_names()
    engine.dispose()


@pytest.mark.parametrize(
    ("asset", "message"),
    [
        ({"kind": "boiler", "power_kw": 2}, "unknown asset kind"),
        ({"kind": "pv", "power_kw": 0}, "above 0"),
        ({"kind": "pv", "power_kw": "lots"}, "must be a number of kW"),
        ({"kind": "battery", "power_kw": 5}, "needs its capacity_kwh"),
        ({"kind": "heat-pump", "power_kw": 3, "capacity_kwh": 1}, "only a battery"),
        ({"kind": "pv", "power_kw": 3, "colour": "blue"}, "no field colour"),
    ],
)
def test_bad_assets_are_refused(asset, message):
    with pytest.raises(DirectoryError, match=message):
        check_asset(asset)


@pytest.mark.parametrize("name", ["", "   ", "x" * 65, "bell\x07", "a\x85b", "\u00a0x"])
def test_bad_names_are_refused(tmp_path, name):
    engine = open_database(f"sqlite:///{tmp_path / 'd.sqlite'}")
    with pytest.raises(DirectoryError), Session(engine) as s:
        put_profile(s, 1, A, name)
    engine.dispose()
