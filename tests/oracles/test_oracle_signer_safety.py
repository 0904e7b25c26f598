"""The meter oracle never reports what the chain does not hold, and one key has one signer.

A used nonce proves nothing about *whose* batch used it: these tests put a second signer with
the same key (another machine, or the same service after its state folder was lost) next to a
running service, and check that the second one refuses to run, that batches whose nonce was
taken are signed again, that values another batch committed first are conflicts (the rest of
the batch still goes on-chain), and that ``bright oracle status`` tells committed, pending and
missing batches apart by asking the chain.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from chain.domain import Role
from chain.errors import TransactionFailed
from chain.tx import NonceManager
from core.oracle_codec import MeterValue
from oracles.cli import app
from oracles.errors import OracleKeyInUseError
from oracles.service import MeterOracleService
from oracles.settings import OracleSettings
from oracles.state import OracleState
from tests.oracles.conftest import past_interval
from tests.oracles.test_meter_oracle_service import GRACE_S, feed_intervals

pytestmark = pytest.mark.usefixtures("snapshot")


class Services:
    """Makes services (each on its own 'machine': its own lock folder unless told) and closes
    them at the end, as their processes would exit."""

    def __init__(self, oracles, tmp_path: Path) -> None:
        self.oracles, self.tmp_path = oracles, tmp_path
        self.open: list[MeterOracleService] = []

    def make(
        self, name: str, *, machine: str | None = None, adopt_chain: bool = False
    ) -> MeterOracleService:
        settings = OracleSettings(
            grace_s=GRACE_S,
            max_wait_s=0.0,
            lock_dir=self.tmp_path / f"locks-{machine or name}",
        )
        service = MeterOracleService(
            self.oracles.meter(self.oracles.oracle),
            self.oracles.oracle,
            settings,
            state_dir=self.tmp_path / name,
            clock=lambda: 0.0,
            adopt_chain=adopt_chain,
        )
        self.open.append(service)
        return service

    def close_all(self) -> None:
        while self.open:
            self.open.pop().close()


@pytest.fixture
def services(oracles, tmp_path):
    made = Services(oracles, tmp_path)
    yield made
    made.close_all()


def on_chain(service: MeterOracleService) -> dict[tuple[str, int], tuple[int, int]]:
    return {
        k: (c.value.import_wh, c.value.export_wh)
        for k, c in service.client.current_values().items()
    }


def test_a_second_service_with_the_key_on_another_machine_refuses_to_run(services, w3):
    t0 = past_interval(w3, 20)
    first = services.make("first")
    feed_intervals(first, t0, ["two-a", "two-b"], 0, 2)
    assert first.tick(t0 + 3 * 900 + GRACE_S).committed == 6
    # another machine (its own lock folder and state) with the same key
    with pytest.raises(OracleKeyInUseError, match="signed with the oracle key"):
        services.make("second")
    # the first goes on undisturbed
    feed_intervals(first, t0, ["two-a", "two-b"], 3, 3)
    assert first.tick(t0 + 4 * 900 + GRACE_S).committed == 2
    assert on_chain(first) == first.committed()


def test_two_services_started_together_the_one_that_finds_the_others_batch_stops(services, w3):
    t0 = past_interval(w3, 20)
    first = services.make("first")
    second = services.make("second")  # both start before either wrote anything
    for service in (first, second):
        feed_intervals(service, t0, ["race-a", "race-b", "race-c"], 0, 4)
    assert first.tick(t0 + 5 * 900 + GRACE_S).committed == 15
    # the second would commit its own values for the same meters: it stops, reporting nothing
    with pytest.raises(OracleKeyInUseError, match="another meter oracle signs with this key"):
        second.tick(t0 + 5 * 900 + GRACE_S)
    assert second.committed() == {}
    assert second.halted is not None
    with pytest.raises(OracleKeyInUseError):
        second.tick(t0 + 5 * 900 + GRACE_S + 1)  # and stays stopped
    assert on_chain(first) == first.committed()
    assert len(first.committed()) == 15


def test_one_key_on_one_machine_is_locked_whatever_the_state_folder(services, w3):
    services.make("first", machine="m")
    with pytest.raises(OracleKeyInUseError, match="in use by another meter oracle"):
        services.make("second", machine="m")
    with pytest.raises(OracleKeyInUseError, match="state folder"):
        services.make("first", machine="other")  # the same state folder from elsewhere


def test_a_lost_state_folder_refuses_until_adopted_then_commits_only_what_is_missing(
    services, w3, tmp_path
):
    t0 = past_interval(w3, 20)
    meters = ["lost-a", "lost-b", "lost-c"]
    first = services.make("svc")
    feed_intervals(first, t0, meters, 0, 2)
    assert first.tick(t0 + 3 * 900 + GRACE_S).committed == 9
    services.close_all()
    shutil.rmtree(tmp_path / "svc")  # the state folder is lost
    with pytest.raises(OracleKeyInUseError, match="lost or restored"):
        services.make("svc")
    services.close_all()
    again = services.make("svc", adopt_chain=True)
    assert len(again.committed()) == 9  # taken over from the chain's events
    # the gateways resend everything; only the new interval goes on-chain, with fresh nonces
    feed_intervals(again, t0, meters, 0, 4)
    report = again.tick(t0 + 5 * 900 + GRACE_S)
    assert (report.committed, report.corrected, report.failed) == (6, 0, 0)
    chain = on_chain(again)
    assert chain == again.committed()
    assert len(chain) == 15 and set(chain.values()) == {(9000, 0)}


def test_a_pending_batch_whose_nonce_another_batch_took_is_signed_again(
    services, oracles, w3
):
    t0 = past_interval(w3, 20)
    first = services.make("svc")
    feed_intervals(first, t0, ["taken-a"], 0, 0)
    first.client.submit = lambda batch, gas=None: (_ for _ in ()).throw(  # type: ignore[method-assign]
        RuntimeError("the process dies before sending")
    )
    with pytest.raises(RuntimeError):
        first.tick(t0 + 900 + GRACE_S)
    (pending,) = first.state.pending()
    services.close_all()
    # meanwhile a batch of other values is signed with the same key and the same nonce
    other = oracles.meter(oracles.oracle)
    other.commit(oracles.oracle, [MeterValue("meter-001", t0, 5, 0)], nonce=pending.nonce)
    with pytest.raises(OracleKeyInUseError):
        services.make("svc")
    services.close_all()
    restarted = services.make("svc", adopt_chain=True)
    report = restarted.tick(t0 + 900 + GRACE_S)
    assert (report.recovered, report.resigned) == (1, 1)
    chain = on_chain(restarted)
    assert chain[("taken-a", t0)] == (9000, 0)  # ours, under a fresh nonce
    assert chain[("meter-001", t0)] == (5, 0)
    assert restarted.committed() == chain
    rows = restarted.state.rows()
    assert [(r.nonce - pending.nonce, r.status) for r in rows] == [(0, "superseded"), (1, "mined")]


def test_a_batch_a_reorg_dropped_is_signed_again_while_running(services, w3):
    t0 = past_interval(w3, 20)
    service = services.make("svc")
    feed_intervals(service, t0, ["reorg-a", "reorg-b"], 0, 1)
    assert service.tick(t0 + 900 + GRACE_S).committed == 2
    snap = w3.provider.make_request("evm_snapshot", [])["result"]
    assert service.tick(t0 + 2 * 900 + GRACE_S).committed == 2
    w3.provider.make_request("evm_revert", [snap])  # a reorg drops the second batch
    NonceManager.reset_all()
    report = service.tick(t0 + 2 * 900 + GRACE_S + 1)
    assert (report.resigned, report.recovered, report.committed) == (1, 1, 2)
    chain = on_chain(service)
    assert chain == service.committed() and len(chain) == 4


def test_values_of_a_batch_in_doubt_are_not_signed_into_a_second_batch(services, w3):
    t0 = past_interval(w3, 20)
    service = services.make("svc")
    feed_intervals(service, t0, ["doubt-a", "doubt-b"], 0, 0)
    real_submit, calls = service.client.submit, []

    def slow_node(batch, gas=None):
        calls.append(batch.nonce)
        if len(calls) <= 2:  # no receipt in time, twice
            raise TransactionFailed("no receipt after 60 s")
        return real_submit(batch, gas)

    service.client.submit = slow_node  # type: ignore[method-assign]
    assert service.tick(t0 + 900 + GRACE_S).batches == 0
    assert service.tick(t0 + 900 + GRACE_S + 1).batches == 0  # retried, still in doubt
    report = service.tick(t0 + 900 + GRACE_S + 2)
    assert (report.batches, report.committed, report.failed) == (1, 2, 0)
    assert len(set(calls)) == 1  # one batch, sent three times; never a second one
    assert [r.status for r in service.state.rows()] == ["mined"]
    assert on_chain(service) == service.committed()


def test_values_another_oracle_committed_first_are_conflicts_and_the_rest_goes_on_chain(
    services, oracles, w3, admin, dev_accounts
):
    t0 = past_interval(w3, 20)
    rival = dev_accounts[24]  # another registered oracle (another key: no lease involved)
    oracles.platform.registry(admin).register(rival.address, Role.ORACLE, "feeder-1")
    service = services.make("svc")
    feed_intervals(service, t0, ["clash-a", "clash-b", "clash-c"], 0, 0)
    oracles.meter(oracles.oracle).enrol_meters(["clash-a", "clash-b", "clash-c"])
    oracles.meter(rival).commit(rival, [MeterValue("clash-b", t0, 1, 1)], nonce=0)
    report = service.tick(t0 + 900 + GRACE_S)
    assert (report.committed, report.conflicts, report.failed) == (2, 1, 0)
    assert set(service.committed()) == {("clash-a", t0), ("clash-c", t0)}
    chain = on_chain(service)
    assert chain[("clash-a", t0)] == chain[("clash-c", t0)] == (9000, 0)
    assert chain[("clash-b", t0)] == (1, 1)  # not ours, and never reported as ours
    assert service.state.conflicts() == {("clash-b", t0): (9000, 0)}
    assert service.cursor_s == t0 + 900  # the conflict does not block the cursor


def status(w3, oracles, state_dir: Path, monkeypatch) -> tuple[int, dict]:
    monkeypatch.setenv("BRIGHT_RPC_URL", w3.provider.endpoint_uri)
    result = CliRunner().invoke(
        app,
        [
            "oracle",
            "status",
            "--state-dir",
            str(state_dir),
            "--meter-oracle",
            oracles.meter_address,
            "--signer",
            oracles.oracle.address,
        ],
    )
    assert result.stdout.strip(), result.output
    return result.exit_code, json.loads(result.stdout.strip().splitlines()[-1])


def test_status_compares_the_outbox_with_the_chain(services, oracles, w3, tmp_path, monkeypatch):
    t0 = past_interval(w3, 20)
    meters = ["st-a", "st-b"]
    service = services.make("svc")
    feed_intervals(service, t0, meters, 0, 1)
    assert service.tick(t0 + 900 + GRACE_S).committed == 2  # interval t0 (batch nonce 0)
    snap = w3.provider.make_request("evm_snapshot", [])["result"]
    assert service.tick(t0 + 2 * 900 + GRACE_S).committed == 2  # t0 + 900 (nonce 1)
    feed_intervals(service, t0, meters, 2, 2)
    service.client.submit = lambda batch, gas=None: (_ for _ in ()).throw(  # type: ignore[method-assign]
        RuntimeError("the process dies before sending")
    )
    with pytest.raises(RuntimeError):
        service.tick(t0 + 3 * 900 + GRACE_S)  # t0 + 1800 stays pending (nonce 2)
    services.close_all()
    code, report = status(w3, oracles, tmp_path / "svc", monkeypatch)
    assert code == 0 and report["ok"]
    assert report["committed"] == {"batches": 2, "values": 4}
    assert report["pending"] == {"batches": 1, "values": 2}
    assert report["missing"]["batches"] == 0

    # the chain loses the second batch (a reorg): the state says mined, the chain does not
    w3.provider.make_request("evm_revert", [snap])
    NonceManager.reset_all()
    code, report = status(w3, oracles, tmp_path / "svc", monkeypatch)
    assert code == 1 and not report["ok"]
    assert report["committed"] == {"batches": 1, "values": 2}
    assert report["missing"]["batches"] == 1 and report["missing"]["values"] == 2
    assert report["missing"]["rows"][0]["interval_start_s"] == t0 + 900
    assert report["reported_but_not_on_chain"] == 2

    # restarted, the service signs the lost batch again and sends the pending one
    again = services.make("svc")
    report_tick = again.tick(t0 + 3 * 900 + GRACE_S)
    assert report_tick.recovered == 2
    assert on_chain(again) == again.committed()
    assert len(again.committed()) == 6
    services.close_all()
    code, report = status(w3, oracles, tmp_path / "svc", monkeypatch)
    assert code == 0 and report["ok"]
    assert report["committed"]["values"] == 6 and report["pending"]["batches"] == 0


def test_status_reports_batches_signed_elsewhere(services, oracles, w3, tmp_path, monkeypatch):
    t0 = past_interval(w3, 20)
    services.make("svc")
    services.close_all()
    other = oracles.meter(oracles.oracle)
    other.commit(oracles.oracle, [MeterValue("meter-002", t0, 5, 0)], nonce=7)
    code, report = status(w3, oracles, tmp_path / "svc", monkeypatch)
    assert code == 1 and report["foreign"]["batches"] == 1


def test_state_file_of_an_older_version_gains_the_new_columns(tmp_path):
    import sqlite3

    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.execute(
        "CREATE TABLE outbox (nonce INTEGER PRIMARY KEY, kind TEXT NOT NULL, "
        "interval_start_s INTEGER NOT NULL, words TEXT NOT NULL, meter_values TEXT NOT NULL, "
        "signature TEXT NOT NULL, status TEXT NOT NULL, created_s REAL NOT NULL, tx_hash TEXT)"
    )
    db.execute(
        "INSERT INTO outbox VALUES (0, 'MeterBatch', 900, ?, ?, '00', 'pending', 0, NULL)",
        (json.dumps([hex(5)]), json.dumps([["m", 900, 1, 0, True]])),
    )
    db.commit()
    db.close()
    state = OracleState(path, chain_id=1, contract="0x" + "11" * 20, signer="0xabc")
    (row,) = state.pending()
    assert len(row.root) == 32 and row.first_block == 0
    state.close()
