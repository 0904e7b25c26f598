"""The Mosquitto broker module: start/stop, TLS with the generated CA, password auth, CLI."""

from __future__ import annotations

import json
import os
import ssl
import threading
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from typer.testing import CliRunner

from gateway_bridge.broker import MosquittoBroker, accepts_connections, free_port, generate_tls
from gateway_bridge.cli import app
from gateway_bridge.errors import BrokerError
from tests.gateway_bridge.conftest import Probe


def connect(
    port: int | None, *, tls: dict | None = None, user: tuple[str, str] | None = None
) -> str:
    """Connect a fresh client; returns 'ok' or why it failed."""
    assert port is not None
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"c-{port}-{os.getpid()}")
    result: dict[str, str] = {}
    done = threading.Event()

    def on_connect(c, u, flags, reason, props=None):
        result["r"] = "ok" if not reason.is_failure else f"refused: {reason}"
        done.set()

    def on_disconnect(c, u, flags, reason, props=None):
        result.setdefault("r", f"disconnected: {reason}")
        done.set()

    client.on_connect, client.on_disconnect = on_connect, on_disconnect
    if tls is not None:
        client.tls_set(**tls)
    if user is not None:
        client.username_pw_set(*user)
    try:
        client.connect("127.0.0.1", port)
    except (OSError, ssl.SSLError) as exc:
        return f"error: {exc}"
    client.loop_start()
    done.wait(5)
    client.disconnect()
    client.loop_stop()
    return result.get("r", "timeout")


def test_broker_runs_on_loopback_as_configured(broker: MosquittoBroker):
    status = broker.status()
    assert status["running"] and status["accepting"]
    assert status["port"] == broker.port and status["tls_port"] == broker.tls_port
    config = broker.config_file.read_text()
    assert f"listener {broker.port} 127.0.0.1" in config
    if os.geteuid() == 0:
        assert "user root" in config
    assert connect(broker.port) == "ok"


def test_starting_twice_from_one_state_folder_is_refused(broker: MosquittoBroker):
    again = MosquittoBroker(broker.state_dir, port=free_port(), persistence=False)
    with pytest.raises(BrokerError, match="already running"):
        again.start()


def test_tls_round_trip_with_the_generated_ca_and_client_certificate(broker: MosquittoBroker):
    assert broker.tls is not None
    tls = {
        "ca_certs": str(broker.tls.ca_cert),
        "certfile": str(broker.tls.client_cert()),
        "keyfile": str(broker.tls.client_key()),
    }
    p = Probe(broker.tls_port, ("tls/check",), **tls)
    try:
        p.publish("tls/check", b"over TLS")
        assert p.expect(lambda t, b: t == "tls/check") == b"over TLS"
    finally:
        p.close()


def test_tls_refuses_a_client_without_certificate(broker: MosquittoBroker):
    assert broker.tls is not None
    outcome = connect(broker.tls_port, tls={"ca_certs": str(broker.tls.ca_cert)})
    assert outcome != "ok"


def test_tls_refuses_a_certificate_from_another_ca(broker: MosquittoBroker, tmp_path: Path):
    assert broker.tls is not None
    other = generate_tls(tmp_path / "other", ("intruder",))
    outcome = connect(
        broker.tls_port,
        tls={
            "ca_certs": str(broker.tls.ca_cert),
            "certfile": str(other.client_cert("intruder")),
            "keyfile": str(other.client_key("intruder")),
        },
    )
    assert outcome != "ok"


def test_client_refuses_a_broker_certificate_from_an_unknown_ca(
    broker: MosquittoBroker, tmp_path: Path
):
    assert broker.tls is not None
    other = generate_tls(tmp_path / "other")
    outcome = connect(
        broker.tls_port,
        tls={
            "ca_certs": str(other.ca_cert),
            "certfile": str(broker.tls.client_cert()),
            "keyfile": str(broker.tls.client_key()),
        },
    )
    assert outcome.startswith("error") and "certificate verify failed" in outcome


def test_password_auth(tmp_path: Path):
    with MosquittoBroker(
        tmp_path, port=free_port(), plain_auth="password", users={"gw": "s3cret"}, persistence=False
    ) as b:
        assert connect(b.port, user=("gw", "s3cret")) == "ok"
        assert connect(b.port, user=("gw", "wrong")).startswith("refused")
        assert connect(b.port).startswith("refused")
    assert not accepts_connections("127.0.0.1", b.port)


def test_cli_up_status_down(tmp_path: Path):
    runner = CliRunner()
    port = free_port()
    state = str(tmp_path / "m")
    up = runner.invoke(app, ["up", "--port", str(port), "--state-dir", state])
    assert up.exit_code == 0, up.output
    try:
        assert json.loads(up.stdout)["port"] == port
        status = runner.invoke(app, ["status", "--state-dir", state])
        assert status.exit_code == 0 and json.loads(status.stdout)["accepting"] is True
    finally:
        down = runner.invoke(app, ["down", "--state-dir", state])
    assert down.exit_code == 0 and json.loads(down.stdout) == {"stopped": True}
    assert not accepts_connections("127.0.0.1", port)
    status = runner.invoke(app, ["status", "--state-dir", state])
    assert status.exit_code == 1 and json.loads(status.stdout)["running"] is False


def test_cli_run_bridges_until_the_duration_ends(broker: MosquittoBroker, tmp_path: Path):
    site = tmp_path / "site.json"
    site.write_text(
        json.dumps(
            {
                "devices": [
                    {"device_id": "b1", "household_id": "h1", "adapter": "zigbee2mqtt",
                     "address": "cli/boiler", "role": "boiler"}
                ],
                "preferences": [{"household_id": "h1", "mode": "economy"}],
            }
        )
    )  # fmt: skip
    watcher = Probe(broker.port, ("zigbee2mqtt/cli/boiler/set",))
    try:
        result = CliRunner().invoke(
            app,
            ["run", "--site", str(site), "--port", str(broker.port), "--duration-s", "0.5"],
        )
        assert result.exit_code == 0, result.output
        final = json.loads(result.stdout.strip().splitlines()[-1])
        assert final["commands"] == 1 and final["devices"] == 1
        body = watcher.expect(lambda t, b: t == "zigbee2mqtt/cli/boiler/set")
        assert json.loads(body) == {"current_heating_setpoint": 19.0}
    finally:
        watcher.close()


def test_cli_run_refuses_a_broken_site_file(tmp_path: Path):
    site = tmp_path / "site.json"
    site.write_text('{"devices": [{"device_id": "x"}]}')
    result = CliRunner().invoke(app, ["run", "--site", str(site), "--duration-s", "0.1"])
    assert result.exit_code != 0
    assert isinstance(result.exception, ValueError) and "site file" in str(result.exception)
