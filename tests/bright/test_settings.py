"""Settings: defaults, validation, secrets refused outside development."""

from __future__ import annotations

import pytest

from core.errors import ConfigError
from core.settings import ChainSettings, chain_settings
from core.units import INTERVAL_S, interval_start, tokens_to_base


def test_defaults_are_the_embedded_setup(monkeypatch):
    monkeypatch.delenv("BRIGHT_RPC_URL", raising=False)
    s = ChainSettings()
    assert s.rpc_url is None and s.effective_rpc_url == "http://127.0.0.1:8545"


def test_rpc_url_switches_to_an_external_node(monkeypatch):
    monkeypatch.setenv("BRIGHT_RPC_URL", "https://node.example:8545")
    assert ChainSettings().effective_rpc_url == "https://node.example:8545"


def test_malformed_values_are_clear_errors(monkeypatch):
    chain_settings.cache_clear()
    monkeypatch.setenv("BRIGHT_RPC_URL", "node.example")
    with pytest.raises(ConfigError, match="rpc_url must start with http"):
        chain_settings()
    chain_settings.cache_clear()
    monkeypatch.setenv("BRIGHT_RPC_URL", "http://x")
    monkeypatch.setenv("BRIGHT_CHAIN_PORT", "99999")
    with pytest.raises(ConfigError, match="chain_port"):
        chain_settings()
    chain_settings.cache_clear()


def test_production_refuses_the_public_development_mnemonic(monkeypatch):
    monkeypatch.setenv("BRIGHT_ENV", "production")
    with pytest.raises(ValueError, match="refuses the public development mnemonic"):
        ChainSettings()
    monkeypatch.setenv("BRIGHT_DEPLOYER_KEY", "0x" + "11" * 32)
    monkeypatch.setenv("BRIGHT_MNEMONIC", "abandon " * 11 + "about")
    assert ChainSettings().env == "production"


def test_units():
    assert tokens_to_base("1.5") == 1_500_000
    with pytest.raises(ValueError, match="more than 6 decimals"):
        tokens_to_base("0.0000001")
    assert interval_start(1_800 + 899) == 1_800 and INTERVAL_S == 900
