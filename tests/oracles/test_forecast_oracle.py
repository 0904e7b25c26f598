"""ForecastOracle through its client and the forecast-oracle function."""

from __future__ import annotations

import pytest

from chain.errors import revert_error
from chain.oracle_signing import sign_batch
from core.codec import text_to_bytes32
from core.errors import ForecastRowError
from core.oracle_codec import ForecastRow, pack_forecast
from oracles.forecast import commit_forecasts, rows_from_records
from tests.oracles.conftest import future_interval, past_interval

pytestmark = pytest.mark.usefixtures("snapshot")

HOMES = [f"Building_{i}" for i in range(1, 6)]


def rows(interval: int, model: str = "lgbm-1") -> list[ForecastRow]:
    return [
        ForecastRow(h, interval, -200 + 10 * i, 100 + 10 * i, 400 + 10 * i, model)
        for i, h in enumerate(HOMES)
    ]


def test_forecasts_are_committed_once_then_revised_explicitly(oracles, w3):
    client = oracles.forecast(oracles.oracle)
    t1, t2 = future_interval(w3, 4), future_interval(w3, 5)
    first = rows(t1) + rows(t2)
    report = commit_forecasts(client, oracles.oracle, first)
    assert (report.committed, report.batches, report.enrolled) == (10, 2, 5)
    assert client.is_committed(HOMES[0], t1)
    # the same rows again: nothing sent
    again = commit_forecasts(client, oracles.oracle, first)
    assert (again.committed, again.unchanged, again.batches) == (0, 10, 0)
    # a revision from a newer model: its own event, values decoded
    newer = rows(t1, "lgbm-2")
    revised = commit_forecasts(client, oracles.oracle, newer, revise=True)
    assert (revised.revised, revised.batches) == (5, 1)


def test_forecast_events_carry_the_rows(oracles, w3):
    client = oracles.forecast(oracles.oracle)
    t = future_interval(w3, 6)
    client.enrol_participants(HOMES)
    receipt = client.commit(oracles.oracle, rows(t), nonce=1)
    assert sorted(client.forecasts_in(receipt), key=lambda r: r.participant_id) == rows(t)
    with pytest.raises(revert_error("ForecastOracleAlreadyCommitted")) as info:
        client.commit(oracles.oracle, rows(t)[:1], nonce=2)
    assert info.value.args_by_name == {
        "participantId": text_to_bytes32(HOMES[0]),
        "intervalStart": t,
    }
    with pytest.raises(revert_error("ForecastOracleNotCommitted")):
        client.commit(oracles.oracle, rows(t + 900)[:1], nonce=3, revision=True)


def test_started_intervals_are_skipped_or_refused(oracles, w3):
    client = oracles.forecast(oracles.oracle)
    # The chain's clock ahead of the wall clock (as the demo and other tests move it): an
    # interval started by the chain's clock is skipped even if the wall clock has not got there.
    w3.provider.make_request("evm_increaseTime", [7200])
    w3.provider.make_request("evm_mine", [])
    past = past_interval(w3, 1)
    report = commit_forecasts(client, oracles.oracle, rows(past))
    assert (report.skipped_started, report.committed) == (5, 0)
    with pytest.raises(revert_error("ForecastOracleIntervalStarted")) as info:
        commit_forecasts(client, oracles.oracle, rows(past), skip_started=False)
    assert info.value.args_by_name["intervalStart"] == past


def test_forged_replayed_and_malformed_forecasts_revert(oracles, w3):
    client = oracles.forecast(oracles.oracle)
    client.enrol_participants(HOMES)
    t = future_interval(w3, 7)
    with pytest.raises(revert_error("ForecastOracleBadSignature")) as info:
        client.commit(oracles.outsider, rows(t), nonce=5)
    assert info.value.args_by_name == {"recovered": oracles.outsider.address}
    signed = client.sign(oracles.oracle, rows(t), nonce=6)
    client.submit(signed)
    with pytest.raises(revert_error("ForecastOracleNonceUsed")):
        oracles.forecast(oracles.relayer).submit(signed)
    model = text_to_bytes32("m")
    unordered = [pack_forecast(0, 50, 10, 90)]
    batch = sign_batch(
        oracles.oracle,
        "ForecastBatch",
        client.chain_id,
        client.address,
        t + 900,
        unordered,
        7,
        model,
    )
    with pytest.raises(revert_error("ForecastOracleQuantilesUnordered")) as info:
        client.submit(batch)
    assert (info.value.args_by_name["q10"], info.value.args_by_name["q50"]) == (50, 10)
    zero_model = sign_batch(
        oracles.oracle,
        "ForecastBatch",
        client.chain_id,
        client.address,
        t + 900,
        [pack_forecast(0, 1, 2, 3)],
        8,
        b"\0" * 32,
    )
    with pytest.raises(revert_error("ForecastOracleZeroModelVersion")):
        client.submit(zero_model)
    with pytest.raises(revert_error("ForecastOracleNotOracle")):
        oracles.forecast(oracles.outsider).enrol_participants(["x"])


def test_forecast_rows_are_checked_in_python():
    with pytest.raises(ForecastRowError, match="ordered"):
        ForecastRow("h", 900, 10, 5, 20, "m")
    rows_ok = rows_from_records(
        [
            {
                "home_id": "h1",
                "interval_start_s": 1800,
                "q10_wh": 1.4,
                "q50_wh": 2.6,
                "q90_wh": 3,
                "model_version": "v",
            }
        ]
    )
    assert rows_ok == [ForecastRow("h1", 1800, 1, 3, 3, "v")]
    with pytest.raises(ForecastRowError, match="malformed"):
        rows_from_records(
            [
                {
                    "home_id": "h1",
                    "interval_start_s": 1801,
                    "q10_wh": 1,
                    "q50_wh": 2,
                    "q90_wh": 3,
                    "model_version": "v",
                }
            ]
        )
