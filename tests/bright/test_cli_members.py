"""``bright member add|import``, ``bright meter add``, ``bright asset add`` on a real anvil:
registration on-chain, the directory in the read-model database, row-by-row errors,
idempotent import, and a directory that survives ``bright index rebuild``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from bright.cli import app
from chain.anvil import Anvil
from chain.deploy import DeploymentsFile, deploy_platform
from chain.domain import Role
from chain.platform import Platform, connect, dev_accounts, make_sender
from core.settings import DEV_MNEMONIC
from streams.db import open_database
from streams.directory import display_names, get_profile

ALICE = dev_accounts(DEV_MNEMONIC, 3)[1].address
AGGREGATOR = dev_accounts(DEV_MNEMONIC, 3)[2].address

COMMUNITY = f"""name,role,grid_area,meter_id,address,assets
Alice Moreau,prosumer,feeder-1,meter-a,{ALICE},pv:4.2kW; battery:5kW/10kWh
Bob Keller,prosumer,feeder-2,meter-b,,heat-pump:3kW; ev-charger:11kW
Flex Co-op,aggregator,feeder-1,,{AGGREGATOR},
"""


@pytest.fixture()
def chain(tmp_path, artifacts, monkeypatch):
    with Anvil(accounts=3) as node:
        w3 = connect(node.url)
        admin = dev_accounts(DEV_MNEMONIC, 1)[0]
        deployed = deploy_platform(w3, make_sender(w3, admin, artifacts), artifacts)
        DeploymentsFile(tmp_path / "deployments.json").save(deployed)
        monkeypatch.setenv("BRIGHT_STATE_DIR", str(tmp_path))
        monkeypatch.setenv("BRIGHT_RPC_URL", node.url)
        monkeypatch.delenv("BRIGHT_DATABASE_URL", raising=False)
        yield Platform(w3, deployed, artifacts)


def _db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'read_models.sqlite'}"


def _invoke(*args: str):
    return CliRunner().invoke(app, list(args))


def _profiles(url: str, chain_id: int) -> dict[str, str]:
    engine = open_database(url)
    try:
        with Session(engine) as s:
            return display_names(s, chain_id)
    finally:
        engine.dispose()


def test_import_registers_a_community_once_and_writes_the_directory(chain, tmp_path):
    path = tmp_path / "community.csv"
    path.write_text(COMMUNITY)
    out = _invoke("member", "import", str(path), "--json")
    assert out.exit_code == 0, out.output
    first = json.loads(out.stdout.strip().splitlines()[-1])
    assert first["registered"] == 3 and first["already_registered"] == 0
    alice, bob, coop = first["members"]
    assert alice == ALICE and coop == AGGREGATOR
    assert list(first["new_keys"]) == [bob]  # Bob came without an address: a new key
    registry = chain.registry()
    assert registry.participant(bob).role is Role.PROSUMER
    assert registry.participant(bob).meter_id == "meter-b"
    assert registry.participant(coop).role is Role.AGGREGATOR
    count = registry.participant_count()
    # Importing the same file again registers nothing: Bob is found by his meter.
    again = json.loads(_invoke("member", "import", str(path), "--json").stdout.splitlines()[-1])
    assert again["registered"] == 0 and again["already_registered"] == 3
    assert again["members"] == [alice, bob, coop] and again["new_keys"] == {}
    assert registry.participant_count() == count
    chain_id = chain.deployment.chain_id
    assert _profiles(_db(tmp_path), chain_id) == {
        alice: "Alice Moreau",
        bob: "Bob Keller",
        coop: "Flex Co-op",
    }
    engine = open_database(_db(tmp_path))
    with Session(engine) as s:
        profile = get_profile(s, chain_id, alice)
    engine.dispose()
    assert profile is not None
    assert [(a["kind"], a["power_kw"], a["capacity_kwh"]) for a in profile.assets] == [
        ("pv", 4.2, None),
        ("battery", 5.0, 10.0),
    ]
    # The directory is no projection: `bright index rebuild` keeps it.
    rebuilt = _invoke("index", "rebuild", "--database-url", _db(tmp_path))
    assert rebuilt.exit_code == 0, rebuilt.output
    assert _profiles(_db(tmp_path), chain_id)[bob] == "Bob Keller"


def test_a_bad_file_names_each_row_and_column_and_registers_nothing(chain, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text(
        "name,role,grid_area,meter_id,address,assets\n"
        "Alice,prosuemr,feeder-1,meter-a,,\n"  # line 2: role
        ",prosumer,feeder-1,meter-b,,\n"  # line 3: name
        "Carol,prosumer,feeder-1,meter-c,0x123,battery:5kW\n"  # line 4: address, assets
        "Dave,prosumer,feeder-1,meter-c,,\n"  # line 5: meter of line 4
        "Erin,prosumer,feeder-1,,,\n"  # line 6: no meter
        "Org,dso,feeder-1,,,\n"  # line 7: no meter, no address
    )
    before = chain.registry().participant_count()
    out = _invoke("member", "import", str(path))
    assert out.exit_code == 2
    err = out.output
    for expected in (
        "line 2, column role: unknown role 'prosuemr'",
        "line 3, column name: a display name must not be empty",
        "line 4, column address: '0x123' is not an address",
        "line 4, column assets: a battery needs its capacity_kwh",
        "line 5, column meter_id: meter 'meter-c' is already on line 4",
        "line 6, column meter_id: a prosumer needs its meter id",
        "line 7, column address: a member without a meter id needs its address",
        "nothing was registered",
    ):
        assert expected in err, (expected, err)
    assert "Traceback" not in err
    assert chain.registry().participant_count() == before
    header = tmp_path / "header.csv"
    header.write_text("name,role,area\nA,prosumer,x\n")
    out = _invoke("member", "import", str(header))
    assert out.exit_code == 2
    assert "line 1, column grid_area: missing column" in out.output
    assert "line 1, column area: unknown column" in out.output


def test_a_row_registered_with_other_terms_is_refused(chain, tmp_path):
    path = tmp_path / "community.csv"
    path.write_text(COMMUNITY)
    assert _invoke("member", "import", str(path)).exit_code == 0
    path.write_text(COMMUNITY.replace("feeder-1,meter-a", "feeder-2,meter-a"))
    out = _invoke("member", "import", str(path))
    assert out.exit_code == 2
    assert "line 2, column grid_area" in out.output and "'feeder-1', not 'feeder-2'" in out.output


def test_member_meter_and_asset_add(chain, tmp_path):
    out = _invoke(
        "member", "add", "--name", "Alice Moreau", "--role", "prosumer",
        "--grid-area", "feeder-1", "--meter-id", "meter-a", "--address", ALICE,
        "--asset", "pv:4kW", "--json",
    )  # fmt: skip
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout.splitlines()[-1])["registered"] == 1
    assert chain.registry().participant(ALICE).meter_id == "meter-a"
    out = _invoke("meter", "add", ALICE, "meter-a-heat-pump", "--label", "heat pump")
    assert out.exit_code == 0, out.output
    out = _invoke("asset", "add", ALICE, "heat-pump:3.5kW", "--label", "cellar")
    assert out.exit_code == 0, out.output
    profile = json.loads(out.stdout.splitlines()[-1])
    assert profile["display_name"] == "Alice Moreau"
    assert profile["meters"] == [{"meter_id": "meter-a-heat-pump", "label": "heat pump"}]
    assert [a["kind"] for a in profile["assets"]] == ["pv", "heat-pump"]
    # Adding the same member again changes nothing on-chain, renames in the directory.
    out = _invoke(
        "member", "add", "--name", "Alice M.", "--role", "prosumer",
        "--grid-area", "feeder-1", "--meter-id", "meter-a", "--address", ALICE, "--json",
    )  # fmt: skip
    assert json.loads(out.stdout.splitlines()[-1])["registered"] == 0
    assert _profiles(_db(tmp_path), chain.deployment.chain_id)[ALICE] == "Alice M."
    # Errors are one line, exit 2, no traceback.
    bad = _invoke("asset", "add", ALICE, "battery:5kW")
    assert bad.exit_code == 2 and "capacity_kwh" in bad.output and "Traceback" not in bad.output
    bad = _invoke("asset", "add", AGGREGATOR, "pv:4kW")
    assert bad.exit_code == 2 and "not registered" in bad.output
    bad = _invoke("member", "add", "--name", "X", "--role", "prosumer", "--grid-area", "f")
    assert bad.exit_code == 2 and "--meter-id: a prosumer needs its meter id" in bad.output
