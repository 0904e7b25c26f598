"""``bright index ...``: the embedded read side from the command line.

``run`` follows the chain into the read models until Ctrl-C, ``rebuild`` drops the read models
and rebuilds them from the start of the deployment, ``status`` shows where they stand. The chain
comes from the chain settings (``BRIGHT_RPC_URL`` or the local anvil, the deployments file),
the database from ``BRIGHT_DATABASE_URL`` (SQLite under the state folder by default).
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from typing import Annotated, Any

import typer
from sqlalchemy import func, select

app = typer.Typer(
    help="The read side: index chain events into the SQL read models.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

DbOption = Annotated[
    str | None,
    typer.Option("--database-url", help="Read-model database; default BRIGHT_DATABASE_URL."),
]
RpcOption = Annotated[
    str | None,
    typer.Option("--rpc-url", help="JSON-RPC URL; default BRIGHT_RPC_URL or the local anvil."),
]


def _open(database_url: str | None, rpc_url: str | None) -> tuple[Any, Any, Any]:
    """(runner, chain settings, streams settings) from the settings and options."""
    from chain.compiler import load_artifacts
    from chain.deploy import DeploymentsFile
    from chain.indexer import web3_rpc
    from chain.platform import connect
    from core.settings import ChainSettings
    from streams.db import open_database
    from streams.errors import ReadModelError
    from streams.runner import EmbeddedRunner
    from streams.settings import StreamsSettings
    from streams.store import ReadModelStore

    chain = ChainSettings() if rpc_url is None else ChainSettings(rpc_url=rpc_url)
    settings = (
        StreamsSettings() if database_url is None else StreamsSettings(database_url=database_url)
    )
    w3 = connect(chain.effective_rpc_url)
    chain_id = int(w3.eth.chain_id)
    deployment = DeploymentsFile(chain.deployments_file).get(chain_id)
    if deployment is None:
        raise ReadModelError(
            f"nothing is deployed on chain {chain_id} according to {chain.deployments_file}: "
            "run `bright up` or `bright deploy` first"
        )
    store = ReadModelStore(
        open_database(settings.database_url), keep_blocks=settings.index_keep_blocks
    )
    runner = EmbeddedRunner.build(
        web3_rpc(w3),
        deployment,
        store,
        load_artifacts(),
        confirmations=chain.confirmations,
        chunk_blocks=settings.index_chunk_blocks,
    )
    return runner, chain, settings


@app.command()
def run(
    database_url: DbOption = None,
    rpc_url: RpcOption = None,
    once: Annotated[bool, typer.Option(help="Index up to the head, then stop.")] = False,
) -> None:
    """Follow the chain into the read models until Ctrl-C."""
    runner, _chain, settings = _open(database_url, rpc_url)
    n = runner.poll_once()
    print(
        f"indexed {n} events up to block {runner.store.checkpoint(runner.indexer.chain_id)}",
        file=sys.stderr,
        flush=True,
    )
    if once:
        return
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    runner.start(settings.index_poll_s)
    try:
        while not stop.wait(0.5):
            if runner.error is not None:
                raise runner.error
    except KeyboardInterrupt:
        pass
    finally:
        runner.stop()


@app.command()
def rebuild(database_url: DbOption = None, rpc_url: RpcOption = None) -> None:
    """Drop the read models and rebuild them from the start of the deployment."""
    from streams.db import drop_read_models, make_engine
    from streams.settings import StreamsSettings

    url = database_url or StreamsSettings().database_url
    engine = make_engine(url)
    drop_read_models(engine)
    engine.dispose()
    runner, _chain, _settings = _open(url, rpc_url)
    n = runner.poll_once()
    cp = runner.store.checkpoint(runner.indexer.chain_id)
    print(json.dumps({"events": n, "block": cp.number if cp else None}))


@app.command()
def status(
    database_url: DbOption = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Where the read models stand: checkpoint per chain, events and rows."""
    from sqlalchemy.exc import SQLAlchemyError

    from streams.db import head_revision, make_engine, schema_revision
    from streams.errors import ReadModelError
    from streams.models import ChainEventRow, IndexCheckpoint, Participant, TokenBalance
    from streams.settings import StreamsSettings

    url = database_url or StreamsSettings().database_url
    engine = make_engine(url, must_exist=True)  # only reads: never creates an empty database
    try:
        revision = schema_revision(engine)
        out: dict[str, Any] = {
            "database": engine.url.render_as_string(hide_password=True),
            "schema": revision,
            "schema_head": head_revision(),
            "chains": [],
        }
        if revision is not None:
            with engine.connect() as conn:
                for cp in conn.execute(select(IndexCheckpoint.__table__)).all():
                    counts = {}
                    for name, model in (
                        ("events", ChainEventRow),
                        ("participants", Participant),
                        ("balances", TokenBalance),
                    ):
                        counts[name] = conn.execute(
                            select(func.count())
                            .select_from(model)
                            .where(model.chain_id == cp.chain_id)
                        ).scalar_one()
                    out["chains"].append(
                        {
                            "chain_id": cp.chain_id,
                            "block": cp.block_number,
                            "block_hash": cp.block_hash,
                            "log_index": cp.log_index,
                            **counts,
                        }
                    )
    except SQLAlchemyError as exc:  # a database that cannot be reached or read
        raise ReadModelError(
            f"cannot read the read models at {engine.url.render_as_string(hide_password=True)}: "
            f"{exc.__class__.__name__}: {exc.args[0] if exc.args else exc}; check the URL and "
            "that the database runs"
        ) from exc
    finally:
        engine.dispose()
    if json_out:
        print(json.dumps(out))
        return
    print(f"database   {out['database']}  (schema {out['schema']}, newest {out['schema_head']})")
    if not out["chains"]:
        print("nothing indexed yet")
    for c in out["chains"]:
        print(
            f"chain {c['chain_id']}: block {c['block']} ({c['block_hash'][:10]}...), "
            f"{c['events']} events, {c['participants']} participants, {c['balances']} balances"
        )
