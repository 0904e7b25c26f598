"""``bright api ...``: serve the REST API, or measure it.

``serve`` runs uvicorn in the foreground on the read models of ``BRIGHT_DATABASE_URL`` (or
``--database-url``); ``bench`` prints ``bench_api``'s JSON on its last line.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from core.errors import BrightError

app = typer.Typer(
    help="The REST API (FastAPI): wallet login, market data, your own orders and balances.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface; default BRIGHT_API_HOST.")] = None,
    port: Annotated[int | None, typer.Option(help="Port; default BRIGHT_API_PORT.")] = None,
    database_url: Annotated[
        str | None, typer.Option(help="Read models; default BRIGHT_API_DATABASE_URL.")
    ] = None,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
) -> None:
    """Serve the API until Ctrl-C (docs at /docs)."""
    import uvicorn

    from api.server import uvicorn_config
    from api.settings import api_settings

    overrides: dict[str, object] = {}
    if host is not None:
        overrides["host"] = host
    if port is not None:
        overrides["port"] = port
    if database_url is not None:
        overrides["database_url"] = database_url
    try:
        settings = api_settings(**overrides)
        config = uvicorn_config(settings, log_level)
    except BrightError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(code=1) from exc
    typer.echo(f"BRIGHT API on {settings.url} (docs: {settings.url}/docs)", err=True)
    uvicorn.Server(config).run()


@app.command()
def bench(
    clients: Annotated[int, typer.Option(min=1, max=500, help="Concurrent clients.")] = 50,
    seconds: Annotated[
        float, typer.Option(min=1.0, help="Measured seconds in all, split over the routes.")
    ] = 10.0,
    rounds: Annotated[int, typer.Option(min=1, help="Demo market rounds to index.")] = 4,
    as_json: Annotated[bool, typer.Option("--json", help="Only the JSON line.")] = False,
) -> None:
    """Requests/s and p99 latency of the main read routes against PostgreSQL."""
    from api.bench import bench_api

    result = bench_api(clients=clients, seconds=seconds, rounds=rounds, quiet=as_json)
    typer.echo(json.dumps(result))


if __name__ == "__main__":
    app()
