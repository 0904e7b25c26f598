"""``bright member add|import``, ``bright meter add``, ``bright asset add``: onboarding.

Registration goes on-chain with the admin key (``BRIGHT_DEPLOYER_KEY``, or account 0 of the
development mnemonic in development) to the chain of the chain settings (``BRIGHT_RPC_URL``
or the local anvil, the deployments file); display names, extra meters and assets go to the
member directory in the read-model database (``BRIGHT_DATABASE_URL``, or SQLite in the state
folder, as ``bright up``). See :mod:`bright.members`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from core.errors import BrightError

member_app = typer.Typer(
    help="Members: register on-chain and write the directory.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
meter_app = typer.Typer(
    help="Members' extra meters (sub-meters) in the directory.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
asset_app = typer.Typer(
    help="Members' flexible assets in the directory.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

RpcOption = Annotated[
    str | None,
    typer.Option("--rpc-url", help="JSON-RPC URL; default BRIGHT_RPC_URL or the local anvil."),
]
DbOption = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="Read-model database holding the directory; default BRIGHT_DATABASE_URL or "
        "SQLite in the state folder.",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _fail(exc: BaseException) -> None:
    typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code=1 if not isinstance(exc, ValueError) else 2)


def _settings(rpc_url: str | None) -> Any:
    from core.settings import ChainSettings

    return ChainSettings() if rpc_url is None else ChainSettings(rpc_url=rpc_url)


def _platform(settings: Any) -> Any:
    from chain.compiler import load_artifacts
    from chain.deploy import DeploymentsFile
    from chain.platform import Platform, connect
    from core.errors import ConfigError

    w3 = connect(settings.effective_rpc_url)
    chain_id = int(w3.eth.chain_id)
    deployment = DeploymentsFile(settings.deployments_file).get(chain_id)
    if deployment is None:
        raise ConfigError(
            f"nothing is deployed on chain {chain_id} according to {settings.deployments_file}: "
            "run `bright up` or `bright deploy` first"
        )
    return Platform(w3, deployment, load_artifacts(), tx_timeout_s=settings.tx_timeout_s)


def _import(rows: list[Any], rpc_url: str | None, database_url: str | None, source: str) -> Any:
    from bright.demo import admin_account
    from bright.members import import_members, read_models_url
    from streams.db import open_database

    settings = _settings(rpc_url)
    platform = _platform(settings)
    engine = open_database(database_url or read_models_url(settings))
    try:
        return import_members(platform, admin_account(settings), rows, engine, source)
    finally:
        engine.dispose()


def _report(result: Any, json_out: bool) -> None:
    if json_out:
        sys.stdout.write(json.dumps(result.summary()) + "\n")
        return
    print(
        f"{len(result.registered)} registered now, {len(result.existing)} already registered, "
        f"{result.directory} directory entries written"
    )
    for address, key in result.new_keys.items():
        print(f"new key for {address}: {key}  (shown once: give it to the member, keep it safe)")


@member_app.command("add")
def member_add(
    name: Annotated[str, typer.Option("--name", help="Display name.")],
    role: Annotated[str, typer.Option("--role", help="prosumer, aggregator, dso, ...")],
    grid_area: Annotated[str, typer.Option("--grid-area", help="Grid area (feeder).")],
    meter_id: Annotated[str, typer.Option("--meter-id", help="The member's meter.")] = "",
    address: Annotated[
        str | None,
        typer.Option(help="The member's address; omitted: a new key (printed once)."),
    ] = None,
    asset: Annotated[
        list[str] | None,
        typer.Option("--asset", help="kind:POWERkW[/CAPACITYkWh], e.g. battery:5kW/10kWh."),
    ] = None,
    rpc_url: RpcOption = None,
    database_url: DbOption = None,
    json_out: JsonOption = False,
) -> None:
    """Register a member on-chain (when not registered) and write its directory entry."""
    from bright.members import CommunityFileError, RowProblem, check_row

    values = {
        "name": name,
        "role": role,
        "grid_area": grid_area,
        "meter_id": meter_id,
        "address": address or "",
        "assets": "; ".join(asset or []),
    }
    try:
        row, problems = check_row(values, need_address=False)
        if row is None:
            raise CommunityFileError(
                "member add",
                [RowProblem(0, "--" + p.column.replace("_", "-"), p.message) for p in problems],
            )
        result = _import([row], rpc_url, database_url, "member add")
    except (BrightError, ValueError) as exc:
        _fail(exc)
        return
    _report(result, json_out)


@member_app.command("import")
def member_import(
    file: Annotated[Path, typer.Argument(help="Community CSV (see bright/members.py).")],
    rpc_url: RpcOption = None,
    database_url: DbOption = None,
    json_out: JsonOption = False,
) -> None:
    """Register a community from a CSV file: checked row by row first; importing twice
    registers nothing twice."""
    from bright.members import read_community_file

    try:
        rows = read_community_file(file)
        result = _import(rows, rpc_url, database_url, str(file))
    except (BrightError, ValueError) as exc:
        _fail(exc)
        return
    _report(result, json_out)


def _directory_change(
    address: str, rpc_url: str | None, database_url: str | None, change: Any
) -> dict[str, Any]:
    from eth_utils import is_hex_address, to_checksum_address
    from sqlalchemy.orm import Session

    from bright.members import MemberError, read_models_url
    from streams.db import open_database

    if not is_hex_address(address):
        raise MemberError(f"{address!r} is not an address (0x and 40 hex digits)")
    account = str(to_checksum_address(address))
    settings = _settings(rpc_url)
    platform = _platform(settings)
    if not platform.registry().participant(account).registered:
        raise MemberError(f"{account} is not registered: `bright member add` first")
    engine = open_database(database_url or read_models_url(settings))
    try:
        with Session(engine) as s, s.begin():
            profile = change(s, platform.deployment.chain_id, account)
    finally:
        engine.dispose()
    return {
        "account": profile.account,
        "display_name": profile.display_name,
        "meters": profile.meters,
        "assets": profile.assets,
    }


@meter_app.command("add")
def meter_add(
    address: Annotated[str, typer.Argument(help="The member's address.")],
    meter_id: Annotated[str, typer.Argument(help="The extra meter's id (at most 32 bytes).")],
    label: Annotated[str | None, typer.Option(help="What it meters, e.g. heat pump.")] = None,
    rpc_url: RpcOption = None,
    database_url: DbOption = None,
) -> None:
    """Add an extra meter (a sub-meter) to a registered member's directory entry. The
    member's own meter is its registration's (`bright member add --meter-id`): the registry
    holds one per member and does not change it."""
    from streams.directory import add_meter

    try:
        out = _directory_change(
            address,
            rpc_url,
            database_url,
            lambda s, c, a: add_meter(s, c, a, {"meter_id": meter_id, "label": label}),
        )
    except (BrightError, ValueError) as exc:
        _fail(exc)
        return
    print(json.dumps(out))


@asset_app.command("add")
def asset_add(
    address: Annotated[str, typer.Argument(help="The member's address.")],
    asset: Annotated[str, typer.Argument(help="kind:POWERkW[/CAPACITYkWh], e.g. pv:4.2kW.")],
    label: Annotated[str | None, typer.Option(help="A name for it.")] = None,
    rpc_url: RpcOption = None,
    database_url: DbOption = None,
) -> None:
    """Add a flexible asset (heat-pump, battery, ev-charger, pv) to a member's entry."""
    from bright.members import MemberError, parse_assets
    from streams.directory import add_asset

    try:
        parsed = parse_assets(asset)
        if len(parsed) != 1:
            raise MemberError(f"give one asset, not {len(parsed)}: {asset!r}")
        one = {**parsed[0], "label": label}
        out = _directory_change(
            address, rpc_url, database_url, lambda s, c, a: add_asset(s, c, a, one)
        )
    except (BrightError, ValueError) as exc:
        _fail(exc)
        return
    print(json.dumps(out))
