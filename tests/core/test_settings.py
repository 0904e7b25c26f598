"""One state folder: every settings class derives its default paths from ``BRIGHT_STATE_DIR``
when it is constructed, and an explicit setting of its own still wins."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.paths import DEFAULT_STATE_DIR, KAFKA_LIBS_DIR


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "state"
    for var in (
        "BRIGHT_DATABASE_URL",
        "BRIGHT_API_DATABASE_URL",
        "BRIGHT_ANALYTICS_MODELS_DIR",
        "BRIGHT_ANALYTICS_CLUSTERS_DIR",
        "BRIGHT_ANALYTICS_REPORTS_DIR",
        "BRIGHT_ORACLE_STATE_DIR",
        "BRIGHT_GATEWAY_STATE_DIR",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("BRIGHT_STATE_DIR", str(folder))
    return folder


def test_state_dir_defaults_to_the_project_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    from core.settings import state_dir

    monkeypatch.delenv("BRIGHT_STATE_DIR", raising=False)
    monkeypatch.chdir(Path(__file__).parent)  # no .env here
    assert state_dir() == DEFAULT_STATE_DIR


def test_every_default_path_is_under_the_state_folder(state: Path) -> None:
    from analytics.settings import AnalyticsSettings
    from api.settings import ApiSettings
    from core.settings import ChainSettings, state_dir
    from gateway_bridge.broker import MosquittoBroker
    from gateway_bridge.settings import BridgeSettings
    from oracles.settings import OracleSettings
    from streams.kafka.broker import KafkaBroker
    from streams.settings import StreamsSettings

    assert state_dir() == state
    chain = ChainSettings()
    assert chain.state_dir == state and chain.deployments_file.parent == state
    analytics = AnalyticsSettings()
    for folder in (analytics.models_dir, analytics.clusters_dir, analytics.reports_dir):
        assert folder.parent == state
    assert OracleSettings().state_dir == state / "oracle"
    assert BridgeSettings().state_dir == state
    url = f"sqlite:///{state / 'read_models.sqlite'}"
    assert StreamsSettings().database_url == url
    assert ApiSettings().database_url == url
    assert MosquittoBroker().state_dir == state / "mosquitto"
    kafka = KafkaBroker(port=19092)
    assert kafka.state_dir == state / "kafka"
    assert kafka.libs_dir == KAFKA_LIBS_DIR  # the install cache stays where setup put it


def test_faust_data_goes_to_the_state_folder(state: Path) -> None:
    pytest.importorskip("faust")
    from streams.kafka.agents import make_app

    app = make_app("kafka://127.0.0.1:1", "sqlite://")
    assert Path(str(app.conf.datadir)).parent == state


def test_an_explicit_setting_wins_over_the_state_folder(
    state: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from analytics.settings import AnalyticsSettings
    from oracles.settings import OracleSettings
    from streams.settings import StreamsSettings

    monkeypatch.setenv("BRIGHT_ANALYTICS_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("BRIGHT_ORACLE_STATE_DIR", str(tmp_path / "oracle"))
    monkeypatch.setenv("BRIGHT_DATABASE_URL", "sqlite:////elsewhere/db.sqlite")
    assert AnalyticsSettings().models_dir == tmp_path / "models"
    assert AnalyticsSettings().clusters_dir == state / "clusters"
    assert OracleSettings().state_dir == tmp_path / "oracle"
    assert StreamsSettings().database_url == "sqlite:////elsewhere/db.sqlite"
