"""Command line: ``bright mosquitto up|down|status`` and ``bright bridge run``.

The platform CLI mounts :data:`app` under both names; every command is also reachable here
(``python -m gateway_bridge.cli --help``).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from gateway_bridge.broker import MosquittoBroker
from gateway_bridge.domain import DeviceRegistry
from gateway_bridge.service import BridgeService, load_site
from gateway_bridge.settings import BridgeSettings
from streams.bus import InProcessBus

app = typer.Typer(help="Local Mosquitto broker and the home-gateway bridge.", no_args_is_help=True)

StateDir = Annotated[
    Path | None,
    typer.Option(
        help="Broker state folder (config, data, log, tls); default mosquitto/ in BRIGHT_STATE_DIR."
    ),
]


@app.command()
def up(
    port: Annotated[int, typer.Option(help="Plain MQTT port on 127.0.0.1.")] = 1883,
    tls_port: Annotated[int | None, typer.Option(help="Also listen with TLS here.")] = None,
    tls_auth: Annotated[str, typer.Option(help="certificate | password")] = "certificate",
    user: Annotated[
        list[str] | None, typer.Option(help="user:password for password auth (repeat).")
    ] = None,
    state_dir: StateDir = None,
) -> None:
    """Start Mosquitto in the background; prints its address as JSON."""
    if tls_auth not in ("certificate", "password"):
        raise typer.BadParameter("tls_auth is 'certificate' or 'password'")
    users = dict(u.split(":", 1) for u in (user or []) if ":" in u)
    broker = MosquittoBroker(
        state_dir,
        port=port,
        tls_port=tls_port,
        tls_auth="certificate" if tls_auth == "certificate" else "password",
        users=users,
    )
    broker.start(detach=True)  # errors: one line from the `bright` entry point
    typer.echo(json.dumps(broker.info()))


@app.command()
def down(state_dir: StateDir = None) -> None:
    """Stop the Mosquitto started by ``up``."""
    stopped = MosquittoBroker(state_dir).stop()
    typer.echo(json.dumps({"stopped": stopped}))


@app.command()
def status(state_dir: StateDir = None) -> None:
    """Print the broker's status as JSON; exit code 1 when it is not running."""
    info = MosquittoBroker(state_dir).status()
    typer.echo(json.dumps(info))
    if not info["running"]:
        raise typer.Exit(1)


@app.command()
def run(
    site: Annotated[Path, typer.Option(help="JSON file with devices and preferences.")],
    host: Annotated[str | None, typer.Option(help="Broker host (default from settings).")] = None,
    port: Annotated[int | None, typer.Option(help="Broker port.")] = None,
    tls: Annotated[bool | None, typer.Option(help="Connect with TLS.")] = None,
    ca_file: Annotated[Path | None, typer.Option(help="CA certificate.")] = None,
    cert_file: Annotated[Path | None, typer.Option(help="Client certificate.")] = None,
    key_file: Annotated[Path | None, typer.Option(help="Client key.")] = None,
    duration_s: Annotated[float | None, typer.Option(help="Stop after this long.")] = None,
    stats_every_s: Annotated[float, typer.Option(help="Print counters every.")] = 10.0,
) -> None:
    """Run the bridge (in-process bus) until Ctrl-C; counters go to stderr as JSON lines."""
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    overrides: dict[str, Any] = {
        "mqtt_host": host,
        "mqtt_port": port,
        "mqtt_tls": tls,
        "ca_file": ca_file,
        "cert_file": cert_file,
        "key_file": key_file,
    }
    settings = BridgeSettings(**{k: v for k, v in overrides.items() if v is not None})
    devices, prefs = load_site(site)
    service = BridgeService(
        settings, registry=DeviceRegistry(devices), bus=InProcessBus(), preferences=prefs
    )
    service.start()  # errors: one line from the `bright` entry point
    end = None if duration_s is None else time.monotonic() + duration_s
    try:
        while end is None or time.monotonic() < end:
            time.sleep(min(stats_every_s, max(0.0, (end or 1e18) - time.monotonic())))
            stats = service.stats()
            stats.pop("quarantine")
            typer.echo(json.dumps(stats), err=True)
    except KeyboardInterrupt:
        pass
    finally:
        service.stop()
    stats = service.stats()
    stats.pop("quarantine")
    typer.echo(json.dumps(stats))


@app.command()
def bench(
    messages: Annotated[int, typer.Option(help="Messages in the burst.")] = 20000,
) -> None:
    """Benchmark the bridge on a throw-away Mosquitto; prints one JSON line."""
    from gateway_bridge.bench import bench_gateway

    typer.echo(json.dumps(bench_gateway(messages)))


if __name__ == "__main__":
    app()
