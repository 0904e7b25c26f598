"""MeterOracle and ForecastOracle read models from real commitments on the shared anvil:
meter intervals (with a correction) and forecasts, on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import replace

from chain.domain import Role
from chain.indexer import web3_rpc
from chain.oracles import ForecastOracleClient, MeterOracleClient
from core.oracle_codec import ForecastRow, MeterValue
from streams.models import Forecast, MeterInterval
from streams.runner import EmbeddedRunner


def test_meter_and_forecast_read_models(platform, dev_accounts, snapshot, store, w3, artifacts):
    admin, oracle = dev_accounts[0], dev_accounts[24]
    platform.registry(admin).register_batch(
        [
            (oracle.address, Role.ORACLE, "feeder-1", ""),
            # home-a's member: in the oracle's grid area, so the oracle may correct its meter
            ("0x" + f"{0xA11CE:040x}", Role.PROSUMER, "feeder-1", "home-a"),
        ]
    )
    deployed = platform.deployment.contracts  # the module's platform includes the oracles
    deployment = platform.deployment
    meters = MeterOracleClient(
        w3, deployed["MeterOracle"].address, artifacts["MeterOracle"], platform.sender(oracle)
    )
    forecasts = ForecastOracleClient(
        w3, deployed["ForecastOracle"].address, artifacts["ForecastOracle"], platform.sender(oracle)
    )
    meters.enrol_meters(["home-a", "home-b"])
    forecasts.enrol_participants(["home-a"])
    now = int(w3.eth.get_block("latest")["timestamp"])
    t0 = (now // 900) * 900 - 2 * 900
    values = [MeterValue("home-a", t0, 1200, 0), MeterValue("home-b", t0, 0, 340)]
    meters.commit(oracle, values, nonce=1)
    meters.commit(oracle, [replace(values[0], import_wh=1250)], nonce=2, correction=True)
    future = (now // 900) * 900 + 8 * 900
    forecasts.commit(oracle, [ForecastRow("home-a", future, -100, 400, 900, "lgbm-1")], nonce=1)

    EmbeddedRunner.build(web3_rpc(w3), deployment, store, artifacts).poll_once()

    chain_id = deployment.chain_id
    with store.sessions() as s:
        a = s.get(MeterInterval, (chain_id, "home-a", t0))
        b = s.get(MeterInterval, (chain_id, "home-b", t0))
        f = s.get(Forecast, (chain_id, "home-a", future))
        assert a is not None and (a.import_wh, a.export_wh, a.corrected) == (1250, 0, True)
        assert b is not None and (b.import_wh, b.export_wh, b.corrected) == (0, 340, False)
        assert f is not None and (f.q10_wh, f.q50_wh, f.q90_wh) == (-100, 400, 900)
        assert not f.revised
