"""``bright api ...``: serve the REST API.

``serve`` runs uvicorn in the foreground on the read models of ``BRIGHT_DATABASE_URL`` (or
``--database-url``). Its benchmark is ``bright bench api`` (``bright.bench_api``): it drives the
demo market, which lives in the application layer above this package.
"""

from __future__ import annotations

from typing import Annotated

import typer

app = typer.Typer(
    help="The REST API (FastAPI): wallet login, market data, your own orders and balances.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def main() -> None:
    """The REST API (a group of commands even with one, so `bright api serve` stays the name)."""


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
    from api.server import ClosingServer, check_port_free, uvicorn_config
    from api.settings import api_settings

    overrides: dict[str, object] = {}
    if host is not None:
        overrides["host"] = host
    if port is not None:
        overrides["port"] = port
    if database_url is not None:
        overrides["database_url"] = database_url
    settings = api_settings(**overrides)  # errors: one line from the `bright` entry point
    check_port_free(settings.host, settings.port)
    config = uvicorn_config(settings, log_level)
    typer.echo(f"BRIGHT API on {settings.url} (docs: {settings.url}/docs)", err=True)
    ClosingServer(config).run()


if __name__ == "__main__":
    app()
