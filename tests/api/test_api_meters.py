"""Meter data and forecasts through the API: committed by the oracles, projected by the real
indexer, and served to their owner (and its delegated aggregator) only."""

from __future__ import annotations

import secrets

from chain.oracles import ForecastOracleClient, MeterOracleClient
from core.oracle_codec import ForecastRow, MeterValue
from tests.api.api_helpers import bearer, index_into


def test_meter_data_and_forecasts_are_personal(client, tokens, api_demo, sqlite_url):
    platform = api_demo.running.platform
    oracle = api_demo.account("oracle")
    home1, home2, home3 = (api_demo.member(n) for n in ("home-01", "home-02", "home-03"))
    meters = MeterOracleClient(
        platform.w3,
        platform.deployment.address("MeterOracle"),
        platform.artifacts["MeterOracle"],
        platform.sender(oracle),
    )
    forecasts = ForecastOracleClient(
        platform.w3,
        platform.deployment.address("ForecastOracle"),
        platform.artifacts["ForecastOracle"],
        platform.sender(oracle),
    )
    new = [m.meter_id for m in (home1, home3) if meters.index_of(m.meter_id) is None]
    if new:
        meters.enrol_meters(new)
    now = int(platform.w3.eth.get_block("latest")["timestamp"])
    t0 = (now // 900) * 900 - 2 * 900
    nonce = secrets.randbits(63)
    meters.commit(
        oracle,
        [MeterValue(home1.meter_id, t0, 1500, 0), MeterValue(home3.meter_id, t0, 0, 200)],
        nonce=nonce,
    )
    if forecasts.index_of(home1.meter_id) is None:
        forecasts.enrol_participants([home1.meter_id])
    ahead = (now // 900) * 900 + 4 * 900
    forecasts.commit(
        oracle, [ForecastRow(home1.meter_id, ahead, 100, 700, 1300, "lgbm-test")], nonce=nonce
    )
    index_into(api_demo, sqlite_url)

    mine = client.get("/meter-intervals", headers=bearer(tokens["home-01"]))
    assert mine.status_code == 200, mine.text
    rows = {r["interval_start_s"]: r for r in mine.json()["data"]}
    assert rows[t0]["import_wh"] == 1500 and rows[t0]["meter_id"] == home1.meter_id
    theirs = client.get(
        "/meter-intervals", params={"participant": home3.address}, headers=bearer(tokens["home-01"])
    )
    assert theirs.status_code == 403
    assert theirs.json()["error"]["code"] == "forbidden"
    # home-02 delegated to the aggregator: it may look (there is nothing yet).
    delegated = client.get(
        "/meter-intervals",
        params={"participant": home2.address},
        headers=bearer(tokens["aggregator"]),
    )
    assert delegated.status_code == 200 and delegated.json()["count"] == 0
    window = client.get(
        "/meter-intervals", params={"since": t0 + 900}, headers=bearer(tokens["home-01"])
    )
    assert window.status_code == 200 and t0 not in {
        r["interval_start_s"] for r in window.json()["data"]
    }

    fc = client.get("/forecasts", headers=bearer(tokens["home-01"]))
    assert fc.status_code == 200, fc.text
    [row] = [r for r in fc.json()["data"] if r["interval_start_s"] == ahead]
    assert (row["q10_wh"], row["q50_wh"], row["q90_wh"]) == (100, 700, 1300)
    assert (
        client.get(
            "/forecasts", params={"participant": home1.address}, headers=bearer(tokens["home-03"])
        ).status_code
        == 403
    )


def test_meter_queries_are_validated(client, tokens):
    bad = client.get(
        "/meter-intervals", params={"participant": "home-01"}, headers=bearer(tokens["home-01"])
    )
    assert bad.status_code == 422
    assert "participant" in bad.text
    assert client.get("/meter-intervals").status_code == 401
