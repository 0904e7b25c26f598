"""``bright kafka up|down|status``: the local Kafka broker (KRaft, one node) under the state
folder (``BRIGHT_STATE_DIR``/kafka). ``up`` fetches the jars from Maven Central the first time."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from streams.kafka.broker import KafkaBroker

app = typer.Typer(
    help="The local Apache Kafka broker (KRaft).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _broker(port: int | None = None) -> KafkaBroker:
    return KafkaBroker(port=port)  # kafka/ in the state folder


@app.command()
def up(
    port: Annotated[
        int | None, typer.Option(help="Broker port (default: free or the last one).")
    ] = None,
) -> None:
    """Start the broker (fetch the jars and format the storage the first time)."""
    broker = _broker(port).start()  # errors: one line from the `bright` entry point
    print(
        json.dumps(
            {"bootstrap": broker.bootstrap, "url": broker.url, "state_dir": str(broker.state_dir)}
        )
    )


@app.command()
def down() -> None:
    """Stop the broker."""
    broker = _broker()
    was = broker.running
    broker.stop()
    print("stopped" if was else "not running")


@app.command()
def status() -> None:
    """Whether the broker runs, and where."""
    broker = _broker()
    print(json.dumps({"running": broker.running, "bootstrap": broker.bootstrap}))
