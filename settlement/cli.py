"""``bright settle ...``: check settlements against the chain and the committed meter data.

``verify <request id>`` exits 0 when the recomputed settlement matches the chain, 1 when it
does not (each differing field is printed), 2 on bad input (unknown request, not settled yet,
no deployment, unreachable node).
"""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from core.errors import BrightError

app = typer.Typer(
    help="Settlements: recompute one from the chain and the committed meter data.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def _group() -> None:
    """Settlement of flexibility requests."""


def _bad_input(message: str) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code=2)


@app.command()
def verify(
    request_id: Annotated[int, typer.Argument(help="The request's id on FlexCoordination.")],
    rpc_url: Annotated[
        str | None,
        typer.Option("--rpc-url", help="JSON-RPC URL; default BRIGHT_RPC_URL or the local anvil."),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON for machines.")] = False,
) -> None:
    """Recompute a settled request and say whether it matches what is on-chain."""
    from chain.compiler import load_artifacts
    from chain.deploy import DeploymentsFile
    from chain.platform import connect
    from core.settings import ChainSettings
    from settlement.verify import VerifyInputError, verify_settlement

    if request_id < 1:
        _bad_input(f"request ids start at 1, got {request_id}")
    try:
        settings = ChainSettings() if rpc_url is None else ChainSettings(rpc_url=rpc_url)
        w3 = connect(settings.effective_rpc_url)
        chain_id = int(w3.eth.chain_id)
        deployment = DeploymentsFile(settings.deployments_file).get(chain_id)
        if deployment is None or "FlexCoordination" not in deployment.contracts:
            _bad_input(
                f"FlexCoordination is not deployed on chain {chain_id} according to "
                f"{settings.deployments_file}: run `bright up` or `bright deploy` first"
            )
            return
        report = verify_settlement(
            w3,
            deployment.address("FlexCoordination"),
            deployment.address("MeterOracle"),
            load_artifacts(),
            request_id,
        )
    except VerifyInputError as exc:
        _bad_input(str(exc))
        return
    except (BrightError, ValueError, OSError) as exc:
        _bad_input(str(exc))
        return
    data = report.to_dict()
    if json_out:
        sys.stdout.write(json.dumps(data, default=str) + "\n")
    else:
        verdict = "matches" if report.matches else "DOES NOT MATCH"
        print(
            f"request {request_id}: the settlement {verdict} the recomputation "
            f"({report.rows} members x {report.intervals} intervals, "
            f"{report.values_checked} meter values checked against their commitments)"
        )
        for d in report.differences:
            print(f"  {d['field']}: on-chain {d['on_chain']}, recomputed {d['recomputed']}")
    raise typer.Exit(code=0 if report.matches else 1)


if __name__ == "__main__":  # pragma: no cover
    app()
