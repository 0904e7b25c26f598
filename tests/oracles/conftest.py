"""Fixtures of the oracle tests: the oracle contracts deployed next to the core contracts of
the module's ``platform``, with a registered oracle and enrolled meters."""

from __future__ import annotations

import time
from dataclasses import dataclass

import pytest
from eth_account.signers.local import LocalAccount

from chain.domain import Role
from chain.oracles import ForecastOracleClient, MeterOracleClient
from chain.platform import Platform

METERS = [f"meter-{i:03d}" for i in range(300)]


@dataclass
class Oracles:
    platform: Platform
    meter_address: str
    forecast_address: str
    oracle: LocalAccount  # registered oracle (feeder-1, METER_ADMIN_ROLE): signs
    relayer: LocalAccount  # any account: relays
    outsider: LocalAccount  # not registered

    def meter(self, sender: LocalAccount | None = None) -> MeterOracleClient:
        p = self.platform
        return MeterOracleClient(
            p.w3,
            self.meter_address,
            p.artifacts["MeterOracle"],
            p.sender(sender or self.relayer),
        )

    def forecast(self, sender: LocalAccount | None = None) -> ForecastOracleClient:
        p = self.platform
        return ForecastOracleClient(
            p.w3,
            self.forecast_address,
            p.artifacts["ForecastOracle"],
            p.sender(sender or self.relayer),
        )


@pytest.fixture(scope="module")
def oracles(platform, w3, artifacts, admin, dev_accounts) -> Oracles:
    oracle, relayer, outsider = dev_accounts[25], dev_accounts[27], dev_accounts[26]
    platform.registry(admin).register(oracle.address, Role.ORACLE, "feeder-1")
    # no member holds the tests' meters, so correcting them takes the meter admin role
    platform.registry(admin).grant_role("METER_ADMIN_ROLE", oracle.address)
    deployed = platform.deployment.contracts  # the module's platform includes the oracles
    setup = Oracles(
        platform,
        deployed["MeterOracle"].address,
        deployed["ForecastOracle"].address,
        oracle,
        relayer,
        outsider,
    )
    setup.meter(oracle).enrol_meters(METERS)
    return setup


def past_interval(w3, back: int = 8) -> int:
    """An interval start ``back`` intervals before the chain's latest block."""
    now = int(w3.eth.get_block("latest")["timestamp"])
    return (now // 900) * 900 - 900 * back


def future_interval(w3, ahead: int = 8) -> int:
    now = max(int(w3.eth.get_block("latest")["timestamp"]), int(time.time()))
    return (now // 900) * 900 + 900 * ahead


@pytest.fixture(scope="session")
def mqtt_broker(tmp_path_factory):
    """A real Mosquitto on a free loopback port (plain MQTT, anonymous)."""
    from gateway_bridge.broker import MosquittoBroker, free_port

    broker = MosquittoBroker(
        tmp_path_factory.mktemp("oracle-mosquitto"), port=free_port(), persistence=False
    )
    broker.start()
    yield broker
    broker.stop()
