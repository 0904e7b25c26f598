"""Command line: ``simulate`` and ``oracle run|status|bench``.

The platform CLI mounts :data:`app` (``bright simulate ...``, ``bright oracle run``); every
command is also reachable here (``python -m oracles.cli --help``).

- ``simulate --homes N --speed X``: the community simulator on MQTT (see
  :mod:`oracles.simulator`); with ``--oracle`` it also runs the bridge and the meter oracle in
  this process on the simulated clock, so the readings reach the chain.
- ``oracle run``: the bridge plus the meter oracle on the real clock (or on a running
  simulation's clock, ``--simulation FILE``), until Ctrl-C.
  ``--adopt-chain`` takes over batches signed with the key that the state does not know (a
  lost or restored state folder), once no other service with the key runs.
- ``oracle status``: the service's outbox against the chain (committed, pending, missing,
  failed, batches signed with the key elsewhere), one JSON line; exit code 1 when something
  the state reports is not on-chain or another signer used the key.
- ``oracle bench``: :func:`oracles.bench.bench_oracle`, one JSON line.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from core.errors import DataError

app = typer.Typer(help="Community simulator and the meter/forecast oracles.", no_args_is_help=True)
oracle_app = typer.Typer(help="The meter oracle service and its benchmark.", no_args_is_help=True)
app.add_typer(oracle_app, name="oracle")


def _oracle_key(chain: Any, settings: Any) -> Any:
    """The oracle's signing account: the configured key, the demo oracle in development."""
    from eth_account import Account

    from chain.platform import dev_accounts
    from oracles.errors import OracleConfigError

    if settings.oracle_key:
        return Account.from_key(settings.oracle_key)
    if chain.env == "development":
        return dev_accounts(chain.mnemonic, 4)[3]  # the demo community's oracle
    raise OracleConfigError("set BRIGHT_ORACLE_ORACLE_KEY")


def _meter_client(meter_oracle: str | None, sender_account: Any | None) -> Any:
    """The MeterOracle client on the chain of the settings (address: given or deployed)."""
    from chain.compiler import load_artifacts
    from chain.deploy import DeploymentsFile
    from chain.oracles import MeterOracleClient
    from chain.platform import connect, make_sender
    from core.settings import chain_settings
    from oracles.errors import OracleConfigError

    chain = chain_settings()
    w3 = connect(chain.effective_rpc_url)
    if meter_oracle is None:
        deployment = DeploymentsFile(chain.deployments_file).get(int(w3.eth.chain_id))
        if deployment is None:
            raise OracleConfigError(
                f"nothing is deployed on chain {w3.eth.chain_id}: run `bright up`"
            )
        meter_oracle = deployment.address("MeterOracle")
    artifacts = load_artifacts()
    sender = (
        None
        if sender_account is None
        else make_sender(w3, sender_account, artifacts, chain.tx_timeout_s)
    )
    return MeterOracleClient(w3, meter_oracle, artifacts["MeterOracle"], sender)


def _oracle_service(
    clock: Any, state_dir: Path | None, meters: dict[str, str] | None, adopt_chain: bool = False
) -> Any:
    """The meter oracle on the chain of the settings, signing with the oracle key."""
    from core.settings import chain_settings
    from oracles.service import MeterOracleService
    from oracles.settings import OracleSettings

    settings = OracleSettings()
    oracle = _oracle_key(chain_settings(), settings)
    client = _meter_client(None, oracle)
    return MeterOracleService(
        client,
        oracle,
        settings,
        state_dir=state_dir,
        clock=clock,
        meters=meters,
        adopt_chain=adopt_chain,
    )


def _bridge(devices: list[Any], bus: Any, clock: Any, mqtt_port: int | None) -> Any:
    from gateway_bridge.domain import DeviceRegistry
    from gateway_bridge.service import BridgeService
    from gateway_bridge.settings import BridgeSettings

    overrides: dict[str, Any] = {"client_id": f"bright-oracle-bridge-{time.time_ns() % 10**6}"}
    if mqtt_port is not None:
        overrides["mqtt_port"] = mqtt_port
    return BridgeService(
        BridgeSettings(**overrides), registry=DeviceRegistry(devices), bus=bus, clock=clock
    )


@app.command()
def simulate(
    homes: Annotated[int, typer.Option(help="Virtual homes, 1 to 1,000.")] = 17,
    speed: Annotated[float, typer.Option(help="Simulated seconds per wall second.")] = 60.0,
    duration_s: Annotated[int, typer.Option(help="Simulated seconds (whole intervals).")] = 3600,
    start_s: Annotated[
        int | None, typer.Option(help="Simulated start, unix s (default: ends an hour ago).")
    ] = None,
    mqtt_host: Annotated[str, typer.Option(help="MQTT broker host.")] = "127.0.0.1",
    mqtt_port: Annotated[int, typer.Option(help="MQTT broker port.")] = 1883,
    seed: Annotated[int, typer.Option(help="Random seed (homes, noise, gaps).")] = 0,
    period_s: Annotated[int, typer.Option(help="Publishing period, s (divides 900).")] = 60,
    gap_rate: Annotated[float, typer.Option(help="Chance per step of a gateway outage.")] = 0.01,
    late_rate: Annotated[float, typer.Option(help="Chance a message arrives late.")] = 0.02,
    oracle: Annotated[
        bool, typer.Option(help="Also run the bridge and the meter oracle here (needs a chain).")
    ] = False,
    state_dir: Annotated[
        Path | None, typer.Option(help="Oracle state folder (with --oracle).")
    ] = None,
    simulation_file: Annotated[
        Path | None, typer.Option(help="Write the clock and homes here for `oracle run`.")
    ] = None,
) -> None:
    """Replay the CityLearn homes as Zigbee2MQTT gateways at accelerated time."""
    from core.units import INTERVAL_S, interval_start
    from oracles.simulator import SimClock, make_homes, meter_ids, site_devices
    from oracles.simulator import simulate as run_simulation
    from streams.bus import InProcessBus

    logging.basicConfig(level=logging.WARNING)
    duration_s = -(-duration_s // INTERVAL_S) * INTERVAL_S
    start = start_s if start_s is not None else interval_start(time.time() - duration_s - 3600)
    clock = SimClock(float(start), speed)
    if simulation_file is not None:
        simulation_file.parent.mkdir(parents=True, exist_ok=True)
        simulation_file.write_text(
            json.dumps({**clock.to_dict(), "homes": homes, "seed": seed, "mqtt_port": mqtt_port})
        )
    bridge = service = None
    if oracle:
        virtual = make_homes(homes, seed)
        bus = InProcessBus()
        service = _oracle_service(clock.now, state_dir, meter_ids(virtual)).attach(bus)
        bridge = _bridge(site_devices(virtual), bus, clock.now, mqtt_port).start()
        service.start()
    try:
        result = run_simulation(
            homes=homes,
            speed=speed,
            duration_s=duration_s,
            start_s=start,
            mqtt_host=mqtt_host,
            mqtt_port=mqtt_port,
            publish_period_s=period_s,
            gap_rate=gap_rate,
            late_rate=late_rate,
            seed=seed,
            clock=clock,
        )
        summary: dict[str, Any] = result.summary()
        if service is not None:
            settle = service.settings.grace_s + service.settings.max_wait_s + 2 * INTERVAL_S
            time.sleep(max(0.0, clock.wall_until(result.end_s + settle)))
            committed = service.committed()
            summary["committed_exactly"] = sum(
                committed.get((service.meter_for(m) or m, s)) == v
                for (m, s), v in result.truth.items()
            )
            summary["meter_intervals"] = len(result.truth)
    finally:
        if service is not None:
            service.close()
        if bridge is not None:
            bridge.stop()
    sys.stdout.write(json.dumps(summary) + "\n")


@oracle_app.command("run")
def run(
    site: Annotated[
        Path | None, typer.Option(help="Bridge site file (devices), see gateway_bridge.")
    ] = None,
    simulation: Annotated[
        Path | None,
        typer.Option(help="Follow a simulation's clock and homes (`simulate --simulation-file`)."),
    ] = None,
    mqtt_port: Annotated[int | None, typer.Option(help="MQTT broker port.")] = None,
    state_dir: Annotated[Path | None, typer.Option(help="Oracle state folder.")] = None,
    adopt_chain: Annotated[
        bool,
        typer.Option(
            help="Take over batches signed with the oracle key that the state does not know "
            "(a lost or restored state folder). Only when no other service uses the key."
        ),
    ] = False,
) -> None:
    """Run the bridge and the meter oracle until Ctrl-C."""
    from gateway_bridge.service import load_site
    from oracles.errors import OracleHaltedError
    from oracles.simulator import SimClock, make_homes, meter_ids, site_devices
    from streams.bus import InProcessBus

    logging.basicConfig(level=logging.INFO)
    clock: Any = time.time
    meters: dict[str, str] | None = None
    if simulation is not None:
        try:
            spec = json.loads(simulation.read_text())
            sim_clock = SimClock(spec["start_s"], spec["speed"], spec["wall_epoch_s"])
            homes, seed, spec_port = int(spec["homes"]), int(spec["seed"]), int(spec["mqtt_port"])
        except (KeyError, TypeError, json.JSONDecodeError) as exc:
            raise DataError(
                f"{simulation} is not a simulation file ({exc!r}); write one with "
                "`bright simulate --simulation-file`"
            ) from exc
        clock = sim_clock.now
        virtual = make_homes(homes, seed)
        devices = site_devices(virtual)
        meters = meter_ids(virtual)
        mqtt_port = mqtt_port or spec_port
    elif site is not None:
        devices, _ = load_site(site)
    else:
        raise typer.BadParameter("give --site or --simulation")
    bus = InProcessBus()
    service = _oracle_service(clock, state_dir, meters, adopt_chain).attach(bus)
    bridge = _bridge(devices, bus, clock, mqtt_port).start()
    service.start()
    typer.echo(json.dumps({"meter_oracle": service.client.address, "devices": len(devices)}))
    stop = threading.Event()
    try:
        while not stop.wait(10):
            typer.echo(json.dumps({"stats": dict(service.stats), "cursor_s": service.cursor_s}))
            if service.halted is not None:
                raise OracleHaltedError(service.halted)
    except KeyboardInterrupt:
        pass
    finally:
        service.close()
        bridge.stop()


@oracle_app.command("status")
def status(
    state_dir: Annotated[Path | None, typer.Option(help="Oracle state folder.")] = None,
    meter_oracle: Annotated[
        str | None, typer.Option(help="MeterOracle address (default: the deployed one).")
    ] = None,
    signer: Annotated[
        str | None, typer.Option(help="The oracle's address (default: of the oracle key).")
    ] = None,
) -> None:
    """Compare the service's outbox with the chain: committed, pending, missing; JSON."""
    from core.settings import chain_settings
    from oracles.errors import OracleStateError
    from oracles.service import outbox_status
    from oracles.settings import OracleSettings
    from oracles.state import OracleState

    settings = OracleSettings()
    folder = state_dir if state_dir is not None else settings.state_dir
    path = Path(folder) / "meter-oracle.sqlite"
    if not path.exists():
        raise OracleStateError(
            f"no meter-oracle state at {path}; check --state-dir or BRIGHT_ORACLE_STATE_DIR"
        )
    client = _meter_client(meter_oracle, None)
    address = signer or str(_oracle_key(chain_settings(), settings).address)
    state = OracleState(path, chain_id=client.chain_id, contract=client.address, signer=address)
    try:
        result = outbox_status(
            client, state, address, settings.scan_from_block, settings.scan_chunk_blocks
        )
    finally:
        state.close()
    sys.stdout.write(json.dumps(result) + "\n")
    if not result["ok"]:
        raise typer.Exit(code=1)


@oracle_app.command("bench")
def bench(
    repeats: Annotated[int, typer.Option(help="Batches per size.")] = 3,
) -> None:
    """Gas per committed meter value (batches of 100 and 1,000) and commit latency; JSON."""
    from oracles.bench import bench_oracle

    result = bench_oracle(repeats=repeats)
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    app()
