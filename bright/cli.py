"""The ``bright`` command line.

Errors are one line on stderr, ``error: <what went wrong>; <what to do>``, never a traceback:
the root group (:class:`OneLineErrors`) turns every exception a command raises into that line
and the exit code, 2 for bad input, a bad option or setting, a missing file or a taken port
(something the user changes), 1 for a runtime failure (a node that does not answer, a crash).
``bright --debug ...`` (or ``BRIGHT_DEBUG=1``) prints the traceback first.
"""

from __future__ import annotations

import errno
import functools
import json
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

# typer (0.29) vendors click; its exceptions are public only through these names
from typer._click.exceptions import ClickException, NoArgsIsHelpError, UsageError
from typer.core import TyperGroup

from core.errors import BrightError, ChainError, ConfigError, PortInUseError, one_line
from core.units import INTERVAL_S

if TYPE_CHECKING:
    from api.server import ServerHandle
    from bright.demo import RunningPlatform
    from bright.demo_coordination import DemoCoordination
    from bright.demo_data import DemoDataIn
    from core.settings import ChainSettings
    from streams.kafka.pipeline import KafkaReadSide
    from streams.runner import EmbeddedRunner


def exit_code_for(exc: BaseException) -> int:
    """2 when the user has something to change (bad input, option or setting, a missing file,
    a taken port), 1 for a runtime failure."""
    if isinstance(exc, UsageError | ValueError):  # ConfigError, DataError, pydantic
        return 2
    if isinstance(exc, FileNotFoundError | IsADirectoryError | NotADirectoryError):
        return 2
    if isinstance(exc, PermissionError):
        return 2
    if isinstance(exc, OSError) and exc.errno == errno.EADDRINUSE:
        return 2
    return 1


# phrases of a message that already says what to do
_ADVICE_MARKERS = (
    "run `", "set bright_", "choose another", "check ", "start one", "stop what", "give ",
    "use --",
)


def _causes(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    cause: BaseException | None = exc
    while cause is not None and cause not in chain:
        chain.append(cause)
        cause = cause.__cause__ or cause.__context__
    return chain


def _advice(exc: BaseException, message: str) -> str | None:
    """What to do, unless the message already says it."""
    if any(marker in message.lower() for marker in _ADVICE_MARKERS):
        return None
    file_errors = (FileNotFoundError, IsADirectoryError, NotADirectoryError)
    if any(isinstance(c, file_errors) for c in _causes(exc)):
        return "check the path"
    if isinstance(exc, PermissionError):
        return "check the file's permissions or choose another path"
    if isinstance(exc, OSError) and exc.errno == errno.EADDRINUSE:
        return "stop what listens there or choose another port"
    if isinstance(exc, ChainError):
        return "check that the node runs and --rpc-url or BRIGHT_RPC_URL"
    if isinstance(exc, ConfigError) or type(exc).__name__ == "ValidationError":
        return "check the option or the BRIGHT_* setting named above"
    if isinstance(exc, ValueError):
        return "check the input named above"
    if isinstance(exc, BrightError):
        return None
    return f"unexpected {type(exc).__name__}: rerun with --debug and report the traceback"


def error_line(exc: BaseException) -> str:
    """``error: <what went wrong>; <what to do>`` for ``exc``, on one line."""
    if isinstance(exc, UsageError):
        message = one_line(ClickException(exc.format_message())).rstrip(".")
        where = exc.ctx.command_path if exc.ctx is not None else "bright"
        return f"error: {message}; see `{where} --help`"
    message = one_line(exc).rstrip(".")
    advice = _advice(exc, message)
    return f"error: {message}; {advice}" if advice else f"error: {message}"


_debug = {"on": False}


class OneLineErrors(TyperGroup):
    """The root group: in standalone mode (the console script, CliRunner) an exception becomes
    :func:`error_line` on stderr and :func:`exit_code_for`; ``--debug`` adds the traceback."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(
                args, prog_name, complete_var, standalone_mode, windows_expand_args, **extra
            )
        _debug["on"] = os.environ.get("BRIGHT_DEBUG", "").lower() in ("1", "true", "yes")
        try:
            code = super().main(
                args, prog_name, complete_var, False, windows_expand_args, **extra
            )
        except NoArgsIsHelpError as exc:
            exc.show()  # the help, as before
            sys.exit(exc.exit_code)
        except typer.Abort:
            typer.secho("error: aborted", fg=typer.colors.RED, err=True)
            sys.exit(1)
        except Exception as exc:  # every error ends here, as one line
            if _debug["on"] and not isinstance(exc, UsageError):
                traceback.print_exc()
            typer.secho(error_line(exc), fg=typer.colors.RED, err=True)
            sys.exit(exit_code_for(exc))
        sys.exit(code if isinstance(code, int) else 0)


app = typer.Typer(
    cls=OneLineErrors,
    help="BRIGHT flexibility platform: chain, market, read side, data in, analytics.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root(
    debug: Annotated[
        bool,
        typer.Option(
            "--debug",
            envvar="BRIGHT_DEBUG",
            help="On an error, print the traceback before the one-line message.",
        ),
    ] = False,
) -> None:
    _debug["on"] = _debug["on"] or debug

bench_app = typer.Typer(help="Benchmarks; each prints one JSON object on its last line.")
app.add_typer(bench_app, name="bench")


def _mount_subcommands() -> None:
    """Command groups that live with their packages."""
    from analytics.cli import app as analytics_app
    from api.cli import app as api_app
    from gateway_bridge.cli import app as gateway_app
    from oracles.cli import oracle_app, simulate
    from streams.cli import app as index_app
    from streams.kafka.cli import app as kafka_app

    app.add_typer(gateway_app, name="gateway", help="Mosquitto broker and the home-gateway bridge.")
    app.add_typer(
        analytics_app, name="analytics", help="Forecasting and household clustering on real data."
    )
    from analytics.thermal import cli as twin_cli
    from analytics.thermal.cli import app as twin_app
    from bright.demo_twins import store_model

    twin_cli.STORE_MODEL = store_model
    app.add_typer(twin_app, name="twin", help="Thermal twin of a home: calibrate, simulate, ...")
    from analytics.control import cli as control_cli
    from bright.demo_control import store_comparison

    control_cli.STORE_COMPARISON = store_comparison
    app.add_typer(
        control_cli.app, name="control", help="Demand-response control: compare, train, flex."
    )
    app.command("simulate")(simulate)
    app.add_typer(index_app, name="index", help="The read side: chain events into read models.")
    app.add_typer(kafka_app, name="kafka", help="A local Apache Kafka broker (KRaft).")
    app.add_typer(api_app, name="api", help="The REST API over the read models.")
    app.add_typer(oracle_app, name="oracle", help="The meter oracle service.")
    from settlement.cli import app as settle_app
    app.add_typer(settle_app, name="settle", help="Settlements: verify one against the chain.")
    from bright.cli_members import asset_app, member_app, meter_app
    app.add_typer(member_app, name="member", help="Onboarding: register members, import a CSV.")
    app.add_typer(meter_app, name="meter", help="Members' extra meters in the directory.")
    app.add_typer(asset_app, name="asset", help="Members' flexible assets in the directory.")


def _print_json(data: object) -> None:
    sys.stdout.write(json.dumps(data, default=str) + "\n")
    sys.stdout.flush()


@app.command()
def up(
    chain_port: Annotated[
        int | None,
        typer.Option(
            "--chain-port", min=1, max=65535, help="Port of the local anvil (BRIGHT_CHAIN_PORT)."
        ),
    ] = None,
    api_port: Annotated[
        int | None,
        typer.Option(
            "--api-port", min=0, max=65535, help="Port of the REST API and web UI "
            "(BRIGHT_API_PORT, default 8000; 0: any free port)."
        ),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(
            "--port", min=1, max=65535, hidden=True, help="Deprecated: --chain-port."
        ),
    ] = None,
    block_time: Annotated[
        float | None, typer.Option(help="Seconds between blocks; 0 mines on every transaction.")
    ] = None,
    fresh: Annotated[bool, typer.Option(help="Forget the saved chain state first.")] = False,
    once: Annotated[
        bool, typer.Option(help="Set everything up, print, stop again (for scripts).")
    ] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    market: Annotated[
        bool, typer.Option(help="Run market sessions with the demo community trading.")
    ] = True,
    session_seconds: Annotated[
        float | None,
        typer.Option(
            min=0.1, help="Wall-clock seconds per 15-minute market session (default 5)."
        ),
    ] = None,
    real_time: Annotated[
        bool,
        typer.Option(
            "--real-time",
            help="Run at the real pace: 15-minute sessions in wall time, meter data at speed "
            "1, the chain clock never moved.",
        ),
    ] = False,
    fail_share: Annotated[
        float,
        typer.Option(
            min=0.0,
            max=1.0,
            envvar="BRIGHT_DEMO_FAIL_SHARE",
            help="Share of each coalition of the demo DSO's requests whose homes fail to deliver "
            "(rounded up, never a one-member coalition; requests made by hand: none).",
        ),
    ] = 0.25,
    control: Annotated[
        str,
        typer.Option(
            envvar="BRIGHT_DEMO_CONTROL",
            help="How the demo homes deliver: mpc or rule (a controller drives each home's "
            "thermal twin; a member delivers what its physics allows) or replay (history, "
            "--fail-share of each coalition fails by decree).",
        ),
    ] = "mpc",
    rounds: Annotated[
        int | None, typer.Option(min=1, help="Stop after this many market sessions.")
    ] = None,
    data: Annotated[
        bool,
        typer.Option(help="Run the simulated homes -> MQTT -> bridge -> meter oracle path."),
    ] = True,
    api: Annotated[
        bool, typer.Option(help="Serve the REST API and the web UI (on --api-port).")
    ] = True,
    coordination: Annotated[
        bool, typer.Option(help="DSO requests, coalitions, delivery, replacement, settlement.")
    ] = True,
    forecasts: Annotated[
        bool,
        typer.Option(help="Commit the members' forecasts to the ForecastOracle (trains first)."),
    ] = True,
    twins: Annotated[
        bool,
        typer.Option(help="Calibrate and store a thermal twin for every demo home."),
    ] = True,
    bus: Annotated[
        str,
        typer.Option(
            envvar="BRIGHT_BUS",
            help="embedded (in-process bus) or kafka (a local broker and faust workers).",
        ),
    ] = "embedded",
) -> None:
    """Run the platform on this machine with the demo community, until Ctrl-C."""
    from api.server import check_port_free
    from api.settings import api_settings
    from bright.demo import bring_up
    from chain.anvil import port_in_use
    from core.settings import DEV_MNEMONIC, ChainSettings

    if bus not in ("embedded", "kafka"):
        raise typer.BadParameter(f"must be embedded or kafka, got {bus!r}", param_hint="--bus")
    if port is not None and chain_port is not None and port != chain_port:
        raise typer.BadParameter(
            f"--port is the deprecated name of --chain-port; give one (got {port} and "
            f"{chain_port})",
            param_hint="--port",
        )
    if real_time and session_seconds is not None:
        raise typer.BadParameter(
            "runs 15-minute sessions in wall time: give no --session-seconds",
            param_hint="--real-time",
        )
    if control not in ("mpc", "rule", "replay"):
        raise typer.BadParameter(
            f"must be mpc, rule or replay, got {control!r}", param_hint="--control"
        )
    pace = demo_pace(market=market, real_time=real_time, session_seconds=session_seconds)
    if port is not None:
        typer.secho("note: --port is deprecated; use --chain-port", err=True)
        chain_port = port
    overrides: dict[str, object] = {}
    if chain_port is not None:
        overrides["chain_port"] = chain_port
    if block_time is not None:
        overrides["block_time"] = block_time
    try:
        settings = ChainSettings(**overrides)  # type: ignore[arg-type]
    except ValueError as exc:
        raise ConfigError(f"invalid BRIGHT_* chain settings: {exc}") from exc
    # Ports checked before anything starts: a taken port is one line, with nothing to undo.
    if settings.rpc_url is None and port_in_use(settings.chain_host, settings.chain_port):
        raise PortInUseError(
            "the local chain",
            settings.chain_host,
            settings.chain_port,
            "`bright up --chain-port N` or BRIGHT_CHAIN_PORT",
        )
    api_config = None
    if api and not once:
        api_config = api_settings(**({} if api_port is None else {"port": api_port}))
        check_port_free(api_config.host, api_config.port)
    running = bring_up(settings, fresh=fresh)
    show_keys = settings.mnemonic == DEV_MNEMONIC
    summary = running.summary(show_keys=show_keys)
    if json_out:
        _print_json(summary)
    else:
        _print_summary(summary, show_keys)
    if once:
        running.stop()
        return
    from core.lines import whole_lines

    # Many threads print from here on: each line comes out whole (core/lines.py).
    sys.stdout, sys.stderr = whole_lines(sys.stdout), whole_lines(sys.stderr)
    stop = threading.Event()
    # Installed explicitly: a process started in the background inherits SIGINT as ignored.
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    data_in = None
    read_side = None
    api_server = None
    feed = None
    demo_twins = None
    demo_control = None
    # threads that send transactions: joined before the chain stops, so none is cut off
    # mid-call by a node that has gone away
    senders: list[threading.Thread] = []
    try:
        read_side, database_url = _start_read_side(running, settings, bus)
        if real_time:
            _warn_if_clock_ahead(running)
        coord = (
            _coordination(running, settings, pace.accelerated, data, fail_share, control)
            if coordination
            else None
        )
        if coord is not None:
            coord.prepare()
        if data:
            from bright.demo_data import DemoDataIn

            # One simulated 15-minute interval of meter data per market session.
            data_in = DemoDataIn(
                running.platform, running.members, settings.state_dir, pace.data_speed,
                **(coord.data_in_args() if coord else {}),
            ).start()
            print(f"data-in: {data_in.homes} simulated homes publishing on MQTT", flush=True)
            if coord is not None and coord.physics is not None:
                coord.delivery.on_shift = data_in.flex_shift
        if api_config is not None:
            api_server = _start_api(running, database_url, data_in, api_config.port)
        if market:
            senders.append(_start_demo_market(running, stop, pace, rounds, coord))
        if coord is not None:
            senders.append(coord.start(stop))
        if forecasts:
            from bright.demo_forecasts import DemoForecasts

            feed = DemoForecasts(running, stop).start()
        if twins:
            from bright.demo_twins import DemoTwins

            demo_twins = DemoTwins(running, database_url).start()
            from bright.demo_control import DemoControl

            demo_control = DemoControl(
                running, database_url, coord.physics if coord is not None else None
            ).start()
        print("platform running; press Ctrl-C to stop", flush=True)
        reported = 0
        while not stop.wait(0.5):
            committed = data_in.committed() if data_in else 0
            if committed >= reported + 17:
                print(f"data-in: {committed} meter-intervals committed on-chain", flush=True)
                reported = committed
    finally:
        print("stopping ...", file=sys.stderr, flush=True)
        stop.set()

        def step(name: str, action: Callable[[], object]) -> None:
            """One part of the stop; one taking more than a second says so (a slow stop
            should say what it waits for)."""
            t0 = time.monotonic()
            action()
            if (took := time.monotonic() - t0) > 1.0:
                print(f"stopping: {name} took {took:.1f} s", file=sys.stderr, flush=True)

        for thread in senders:  # a stop ends their waits for receipts at once
            step(thread.name, functools.partial(thread.join, timeout=15))
        if feed is not None:
            step("the forecast feed", feed.stop)
        if demo_twins is not None:
            step("the thermal twins", demo_twins.stop)
        if demo_control is not None:
            step("the control comparisons", demo_control.stop)
        if api_server is not None:
            step("the API", api_server.stop)
        if data_in is not None:
            step("the data-in path", data_in.stop)
        if read_side is not None:
            step("the read side", read_side.stop)
        step("the chain (saving its state)", running.stop)
        print("stopped; chain state saved", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class DemoPace:
    """How fast ``bright up`` runs the demo (:func:`demo_pace`)."""

    accelerated: bool
    """The market moves the chain clock one interval per round (the coordination's cadence
    follows: :func:`bright.demo_coordination.demo_settings`)."""
    round_s: float
    """Wall seconds between market rounds: a session's length when accelerated, else how often
    the market looks at the clock."""
    data_speed: float
    """Simulated seconds of meter data per wall second."""


REAL_TIME_POLL_S = 5.0
"""In real time the market looks at the clock this often (a session clears within it after
its gate)."""


def demo_pace(market: bool, real_time: bool, session_seconds: float | None) -> DemoPace:
    """The pace of ``bright up``: with the market and not ``real_time``, one 15-minute session
    every ``session_seconds`` (5 by default) of wall time, the chain clock and the meter data
    accelerated to match (``900 / session_seconds``); in real time (``--real-time``, or no
    market) the wall clock's pace: speed 1, the clock never moved."""
    if market and not real_time:
        seconds = 5.0 if session_seconds is None else session_seconds
        return DemoPace(accelerated=True, round_s=seconds, data_speed=INTERVAL_S / seconds)
    return DemoPace(accelerated=False, round_s=REAL_TIME_POLL_S, data_speed=1.0)


def _warn_if_clock_ahead(running: RunningPlatform) -> None:
    """Real time on a chain an accelerated run moved ahead: say so (the clock does not go
    back; ``--fresh`` starts at the wall clock)."""
    import time

    ahead = int(running.platform.w3.eth.get_block("latest")["timestamp"]) - time.time()
    if ahead > INTERVAL_S:
        print(
            f"real time: the saved chain's clock is {ahead / 3600:.1f} h ahead of the wall clock "
            "(an accelerated run); it runs at real pace from there (bright up --fresh "
            "--real-time starts at the wall clock)",
            flush=True,
        )


def _coordination(
    running: RunningPlatform,
    settings: ChainSettings,
    accelerated: bool,
    data: bool,
    fail_share: float,
    control: str = "replay",
) -> DemoCoordination:
    """The coordination demo (bright/demo_coordination.py): its cadence follows the chain
    clock, which the market accelerates unless in real time; the homes deliver through the
    data-in path."""
    from bright.demo_coordination import DemoCoordination, demo_settings

    config, service = demo_settings(
        accelerated=accelerated, fail_share=fail_share, control=control
    )
    if not data:
        print("coordination: without --data no meter data is committed: nothing settles")
    how = (
        f"{config.fail_share:.0%} of each coalition of the demo DSO's requests fail "
        "(--fail-share), none of a request made by hand"
        if control == "replay"
        else f"each home is a thermal twin driven by {control} (--control): it opts in with what "
        "its physics can shift and delivers what its physics allows"
    )
    print(
        f"coordination: a request every {config.every_intervals} intervals, windows of "
        f"{config.window_intervals} intervals; home-01 and home-10 opt in only by hand; {how}",
        flush=True,
    )
    return DemoCoordination(
        running.platform, running.members, config, service,
        state_file=settings.state_dir / "coordination-demo.json",
    )


def _start_api(
    running: RunningPlatform, database_url: str, gateway: DemoDataIn | None, port: int
) -> ServerHandle:
    """The REST API over the read models, in a thread of this process; it serves device status
    and comfort preferences from the gateway bridge of this process when there is one."""
    from api.server import start_in_thread
    from api.service import ApiService
    from api.settings import ApiSettings

    deployment = running.platform.deployment
    settings = ApiSettings(
        port=port,
        database_url=database_url,
        rpc_url=running.rpc_url,
        chain_id=deployment.chain_id,
        market_address=deployment.address("FlexMarket"),
    )
    service = ApiService.open(settings)
    service.gateway = gateway
    handle = start_in_thread(settings, service=service)
    print(f"api: {handle.url} (OpenAPI docs at {handle.url}/docs)", flush=True)
    print(f"web UI: {handle.url}/ (log in with a browser wallet or the dev wallet)", flush=True)
    return handle


def _start_read_side(
    running: RunningPlatform, settings: ChainSettings, bus: str
) -> tuple[EmbeddedRunner | KafkaReadSide, str]:
    """The read side into SQL read models: the embedded runner (indexer, in-process bus,
    projections) or the Kafka path (broker, publishing indexer, faust workers)."""
    from chain.indexer import web3_rpc
    from streams.db import open_database
    from streams.kafka.pipeline import KafkaReadSide
    from streams.runner import EmbeddedRunner
    from streams.settings import StreamsSettings
    from streams.store import ReadModelStore

    streams = StreamsSettings()  # default: read_models.sqlite in the state folder
    url = streams.database_url
    if bus == "kafka":
        print("read side: starting Kafka and two faust workers ...", flush=True)
        kafka = KafkaReadSide(
            web3_rpc(running.platform.w3),
            running.platform.deployment,
            running.platform.artifacts,
            url,
            settings.state_dir,
            confirmations=settings.confirmations,
        ).start(streams.index_poll_s)
        assert kafka.broker is not None
        print(f"read side: indexer -> {kafka.broker.url} chain.events -> faust -> {url}")
        return kafka, url
    store = ReadModelStore(open_database(url), keep_blocks=streams.index_keep_blocks)
    runner = EmbeddedRunner.build(
        web3_rpc(running.platform.w3),
        running.platform.deployment,
        store,
        running.platform.artifacts,
        confirmations=settings.confirmations,
        chunk_blocks=streams.index_chunk_blocks,
    )
    indexed = runner.poll_once()
    runner.start(streams.index_poll_s)
    print(f"read side: {indexed} chain events indexed into {url}", flush=True)
    return runner, url


def _start_demo_market(
    running: object,
    stop: threading.Event,
    pace: DemoPace,
    rounds: int | None,
    coord: DemoCoordination | None = None,
) -> threading.Thread:
    """Market sessions in a background thread (returned) at ``pace``; each cleared session is
    printed."""
    from bright.demo import RunningPlatform
    from bright.demo_market import DemoMarket
    from matching.service import ClearedSession, describe, describe_settled
    from settlement.market import SettledSession

    assert isinstance(running, RunningPlatform)
    physics = coord.physics if coord is not None else None
    demo = DemoMarket(
        running.platform,
        running.members,
        real_time=not pace.accelerated,
        physics=physics,
        sales=coord.delivery.sales if coord is not None and physics is not None else None,
    )
    funded = demo.fund()
    if funded:
        print(f"market: {funded} members deposited FlexToken into the market", flush=True)
    count = [0]

    def cleared(c: ClearedSession) -> None:
        print(describe(c), flush=True)
        count[0] += 1
        if rounds is not None and count[0] >= rounds:
            stop.set()

    def failed(exc: Exception) -> None:
        print(f"market round failed: {exc}", file=sys.stderr, flush=True)

    def settled(s: SettledSession) -> None:
        print(describe_settled(s), flush=True)

    thread = threading.Thread(
        target=demo.run,
        args=(stop, pace.round_s, cleared, failed, settled),
        name="demo-market",
        daemon=True,
    )
    thread.start()
    return thread


def _print_summary(summary: dict[str, object], show_keys: bool) -> None:
    print(f"chain      {summary['rpc_url']}  (chain id {summary['chain_id']})")
    for name, address in summary["contracts"].items():  # type: ignore[attr-defined]
        print(f"contract   {name:<22} {address}")
    if show_keys:
        print("accounts   (public development keys: for this local demo chain only)")
    for m in summary["members"]:  # type: ignore[attr-defined]
        key = f"  {m['private_key']}" if "private_key" in m else ""
        print(f"  {m['name']:<16} {m['role']:<16} {m['grid_area']:<9} {m['address']}{key}")
    print(f"ready in {summary['seconds_to_ready']} s", flush=True)


@app.command("compile")
def compile_cmd(
    force: Annotated[bool, typer.Option(help="Recompile even if sources are unchanged.")] = False,
) -> None:
    """Compile the contracts (cached in build/artifacts)."""
    from chain.compiler import compile_contracts

    artifacts = compile_contracts(force=force)
    for name, art in sorted(artifacts.items()):
        size = (len(art.deployed_bytecode) - 2) // 2
        print(f"{name:<24} {size:>6} bytes  {art.source}")


@app.command()
def deploy(
    rpc_url: Annotated[
        str | None, typer.Option(help="JSON-RPC URL; default BRIGHT_RPC_URL or the local anvil.")
    ] = None,
) -> None:
    """Deploy the platform's contracts to a running chain and record them."""
    from bright.demo import admin_account
    from chain.compiler import compile_contracts
    from chain.deploy import DeploymentsFile, deploy_platform
    from chain.platform import connect, make_sender
    from core.settings import ChainSettings

    settings = ChainSettings() if rpc_url is None else ChainSettings(rpc_url=rpc_url)
    artifacts = compile_contracts()
    w3 = connect(settings.effective_rpc_url)
    sender = make_sender(w3, admin_account(settings), artifacts, settings.tx_timeout_s)
    deployment = deploy_platform(w3, sender, artifacts)
    DeploymentsFile(settings.deployments_file).save(deployment)
    for name, c in deployment.contracts.items():
        print(f"{name:<24} {c.address}  block {c.block}")


@app.command()
def doctor(
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON for machines.")] = False,
) -> None:
    """Show which components are installed, and their versions."""
    from bright.doctor import as_json, run_checks

    checks = run_checks()
    if json_out:
        _print_json(as_json(checks))
        return
    for c in checks:
        mark = "ok " if c.installed else "-- "
        print(f"{mark} {c.component:<18} {c.version or '':<10} {c.detail}")


def _report(run: Callable[[], dict[str, Any]], json_out: bool) -> None:
    """Run a benchmark; print it readably unless ``--json``, then its JSON as the last line."""
    result = run()
    if not json_out:
        print(json.dumps(result, indent=2, default=str))
    _print_json(result)


@bench_app.command("gas")
def bench_gas_cmd(
    json_out: Annotated[bool, typer.Option("--json", help="Only the JSON line.")] = False,
    update_report: Annotated[
        bool, typer.Option(help="Rewrite benchmarks/gas-report.json with these figures.")
    ] = False,
    report: Annotated[Path | None, typer.Option(help="Gas report to compare with.")] = None,
) -> None:
    """Gas of each core operation, from real receipts, compared with the committed report."""
    from bright.bench_chain import GAS_REPORT, bench_gas

    result = bench_gas(report or GAS_REPORT, update_report=update_report)
    if not json_out:
        for op, gas in result["operations"].items():
            print(f"{op:<34} {gas:>9}")
    _print_json(result)


@bench_app.command("matching")
def bench_matching_cmd(
    orders: Annotated[int, typer.Option(min=2, help="Orders in the session book.")] = 100_000,
    seed: Annotated[int, typer.Option(help="Seed of the random book.")] = 0,
    json_out: Annotated[bool, typer.Option("--json", help="Only the JSON line.")] = False,
) -> None:
    """Clearing time of the engine per pricing rule, against an independent LP (HiGHS)."""
    from matching.bench import bench_matching

    result = bench_matching(orders=orders, seed=seed)
    if not json_out:
        for rule, seconds in result["engine_s"].items():
            print(f"{rule:<12} {seconds:.4f} s")
    _print_json(result)


@bench_app.command("market")
def bench_market_cmd(
    orders: Annotated[
        int,
        typer.Option(
            min=2, max=256, help="Orders in the session's book (at most a full session: 256)."
        ),
    ] = 256,
    block_time: Annotated[float, typer.Option(min=0.1, help="Seconds between blocks.")] = 1.0,
    json_out: Annotated[bool, typer.Option("--json", help="Only the JSON line.")] = False,
) -> None:
    """Seconds from gate closure to the mined clearing, and from the delivery's meter
    commitment to the mined settlement, on anvil with real blocks."""
    from bright.bench_market import bench_market

    _report(lambda: bench_market(orders=orders, block_time_s=block_time), json_out)


@bench_app.command("forecast")
def bench_forecast_cmd(
    seed: Annotated[int, typer.Option(help="Seed of the models.")] = 0,
    bound: Annotated[bool, typer.Option(
        help="Also measure the leave-one-week-out predictability bound (about 4 min).")] = True,
    json_out: Annotated[bool, typer.Option("--json", help="Only the JSON line.")] = False,
) -> None:
    """Rolling-origin backtest (held-out final quarter) against both baselines; forecast time."""
    from analytics.bench import bench_forecast

    _report(lambda: bench_forecast(seed=seed, bound=bound), json_out)


@bench_app.command("clustering")
def bench_clustering_cmd(
    homes: Annotated[int, typer.Option(min=4, help="Households in the community.")] = 100,
    metric: Annotated[str, typer.Option(help="euclidean (k-means) or dtw.")] = "euclidean",
    json_out: Annotated[bool, typer.Option("--json", help="Only the JSON line.")] = False,
) -> None:
    """Clustering time, chosen k and silhouette for a community built from the real homes."""
    from analytics.bench import bench_clustering

    if metric not in ("euclidean", "dtw"):
        raise typer.BadParameter(f"metric must be euclidean or dtw, got {metric!r}")
    _report(lambda: bench_clustering(homes=homes, metric=metric), json_out)


@bench_app.command("thermal")
def bench_thermal_cmd(
    homes: Annotated[
        int, typer.Option(min=1, max=100_000, help="Households in the vectorised run.")
    ] = 1000,
    pimf: Annotated[
        bool, typer.Option(help="Also train and judge the physics-informed model.")
    ] = True,
    json_out: Annotated[bool, typer.Option("--json", help="Only the JSON line.")] = False,
) -> None:
    """Thermal twin and physics-informed model against persistence, same hour yesterday,
    follows-the-setpoint and CityLearn's LSTM; simulation and calibration speed."""
    from analytics.thermal.bench import bench_thermal

    _report(lambda: bench_thermal(homes=homes, pimf=pimf), json_out)


@bench_app.command("control")
def bench_control_cmd(
    days: Annotated[int, typer.Option(min=1, max=30, help="Held-out days per policy.")] = 7,
    train_steps: Annotated[
        int, typer.Option(min=0, help="RL training steps, warm and from scratch (0: skip).")
    ] = 4000,
    json_out: Annotated[bool, typer.Option("--json", help="Print only the JSON line.")] = False,
) -> None:
    """Control policies (business as usual, rule, MPC, RL) on held-out days, and the closed loop."""
    from analytics.control.bench import bench_control

    _report(lambda: bench_control(days=days, train_steps=train_steps), json_out)


@bench_app.command("oracle")
def bench_oracle_cmd(
    json_out: Annotated[bool, typer.Option("--json", help="Only the JSON line.")] = False,
) -> None:
    """Gas per committed meter value (batches of 100 and 1,000) and commit latency."""
    from oracles.bench import bench_oracle

    _report(lambda: bench_oracle(), json_out)


@bench_app.command("coalitions")
def bench_coalitions_cmd(
    members: Annotated[int, typer.Option(min=2, help="Members who opted in.")] = 1000,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic members.")] = 0,
    json_out: Annotated[bool, typer.Option("--json", help="Only the JSON line.")] = False,
) -> None:
    """Forming a coalition for a 4-hour request (CP-SAT) against a greedy baseline."""
    from coalitions.bench import bench_coalitions

    _report(lambda: bench_coalitions(members=members, seed=seed), json_out)


@bench_app.command("settlement")
def bench_settlement_cmd(
    members: Annotated[int, typer.Option(min=1, help="Members of the coalition.")] = 100,
    json_out: Annotated[bool, typer.Option("--json", help="Only the JSON line.")] = False,
    chain: Annotated[
        bool, typer.Option(help="On anvil (1 s blocks): last meter commit to settlement mined.")
    ] = False,
) -> None:
    """Settlement engine: members x 16 intervals with each baseline method (--chain: on anvil)."""
    from bright.bench_settlement import bench_settlement_latency
    from settlement.bench import bench_settlement_engine

    run = bench_settlement_latency if chain else bench_settlement_engine
    _report(lambda: run(members=members), json_out)


@bench_app.command("disputes")
def bench_disputes_cmd(
    members: Annotated[int, typer.Option(min=1, max=500, help="Members of the coalition.")] = 100,
    intervals: Annotated[int, typer.Option(min=1, max=16, help="Intervals of its window.")] = 16,
    block_time: Annotated[float, typer.Option(min=0.1, help="Seconds between blocks.")] = 1.0,
    json_out: Annotated[bool, typer.Option("--json", help="Only the JSON line.")] = False,
) -> None:
    """Seconds from a wrong settlement proposal mined to the watcher's dispute of it mined."""
    from bright.bench_disputes import bench_dispute_latency

    _report(
        lambda: bench_dispute_latency(
            members=members, intervals=intervals, block_time_s=block_time
        ),
        json_out,
    )


@bench_app.command("coordination-read")
def bench_coordination_read_cmd(
    members: Annotated[int, typer.Option(min=2, help="Members of the one request.")] = 1000,
    intervals: Annotated[int, typer.Option(min=1, max=256, help="Intervals of its window.")] = 16,
    repeat: Annotated[int, typer.Option(min=1, help="API calls per route.")] = 30,
    postgres: Annotated[
        bool, typer.Option(help="A throw-away PostgreSQL instead of SQLite.")
    ] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Only the JSON line.")] = False,
) -> None:
    """Coordination read side: project a large request, rebuild it, serve it."""
    from bright.bench_read_side import bench_coordination_read_side

    _report(
        lambda: bench_coordination_read_side(
            members=members, intervals=intervals, repeat=repeat, postgres=postgres
        ),
        json_out,
    )


@bench_app.command("indexer")
def bench_indexer_cmd(
    events: Annotated[int, typer.Option(min=100, help="Chain events to index.")] = 50_000,
    json_out: Annotated[bool, typer.Option("--json", help="Only the JSON line.")] = False,
) -> None:
    """Events/s projected into SQLite and PostgreSQL against raw eth_getLogs + decoding."""
    from streams.bench import bench_indexer

    _report(lambda: bench_indexer(events=events), json_out)


@bench_app.command("api")
def bench_api_cmd(
    clients: Annotated[int, typer.Option(min=1, help="Concurrent clients.")] = 50,
    seconds: Annotated[float, typer.Option(min=1, help="Seconds measured in total.")] = 10,
    json_out: Annotated[bool, typer.Option("--json", help="Only the JSON line.")] = False,
) -> None:
    """Requests/s and p99 of the main read routes against PostgreSQL, /health as baseline."""
    from bright.bench_api import bench_api

    _report(lambda: bench_api(clients=clients, seconds=seconds), json_out)


@bench_app.command("e2e")
def bench_e2e_cmd(
    bids: Annotated[int, typer.Option(min=10, help="Bids placed (ten per block).")] = 200,
    block_time: Annotated[float, typer.Option(min=0.1, help="Seconds between blocks.")] = 1.0,
    bus: Annotated[
        list[str] | None, typer.Option(help="embedded and/or kafka (default: both).")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Only the JSON line.")] = False,
) -> None:
    """Seconds from a bid's transaction being mined to the bid being visible in the REST API."""
    from bright.bench_e2e import bench_e2e

    buses = tuple(bus or ("embedded", "kafka"))
    if set(buses) - {"embedded", "kafka"}:
        raise typer.BadParameter(f"--bus must be embedded or kafka, got {buses}")
    _report(lambda: bench_e2e(bids=bids, block_time_s=block_time, buses=buses), json_out)


@bench_app.command("ui")
def bench_ui_cmd(
    url: Annotated[str | None, typer.Option(help="A running UI; default: start one.")] = None,
    loads: Annotated[int, typer.Option(min=1, help="Page loads measured (median).")] = 5,
    json_out: Annotated[bool, typer.Option("--json", help="Only the JSON line.")] = False,
) -> None:
    """Web UI: JavaScript shipped (gzipped) and time from navigation to a usable market page."""
    from bright.bench_ui import bench_ui

    _report(lambda: bench_ui(url=url, loads=loads), json_out)


@bench_app.command("demo")
def bench_demo_cmd(
    hours: Annotated[float, typer.Option(min=0.01, help="Accelerated hours to run.")] = 24.0,
    checkpoint: Annotated[
        list[float] | None,
        typer.Option(help="Accelerated hours at which to stop, measure and restart "
                     "(repeat; default 1, 6 and the last hour)."),
    ] = None,
    kills: Annotated[int, typer.Option(min=0, help="SIGKILLs at random moments.")] = 3,
    session_seconds: Annotated[
        float, typer.Option(min=0.5, help="Wall seconds per 15-minute session (as bright up).")
    ] = 5.0,
    forecasts: Annotated[bool, typer.Option(help="Run the forecast feed too.")] = True,
    seed: Annotated[int, typer.Option(help="Seed of the kill moments.")] = 0,
    json_out: Annotated[bool, typer.Option("--json", help="Only the JSON line.")] = False,
) -> None:
    """The demo soaked for many accelerated hours, killed and restarted: state size, restart
    time and the process tree's memory at each checkpoint."""
    from bright.bench_demo import bench_demo

    points = tuple(checkpoint) if checkpoint else tuple(
        sorted({h for h in (1.0, 6.0) if h < hours} | {hours})
    )
    _report(
        lambda: bench_demo(hours=hours, checkpoints=points, kills=kills,
                           session_seconds=session_seconds, forecasts=forecasts, seed=seed),
        json_out,
    )


@bench_app.command("gateway")
def bench_gateway_cmd(
    messages: Annotated[int, typer.Option(min=100, help="Messages in the burst.")] = 20_000,
    json_out: Annotated[bool, typer.Option("--json", help="Only the JSON line.")] = False,
) -> None:
    """Bridge throughput and latencies on a real Mosquitto, against raw MQTT in the same run."""
    from gateway_bridge.bench import bench_gateway

    _report(lambda: bench_gateway(messages=messages), json_out)


_mount_subcommands()


def main() -> None:  # pragma: no cover - console entry
    app()  # the root group (OneLineErrors) prints errors as one line


if __name__ == "__main__":  # pragma: no cover
    app()
