"""``bright settle ...``: check settlements against the chain and the committed meter data.

``verify <request id>`` (a DSO request on FlexCoordination: its settlement proposed or
finalized) or ``verify --session <id>`` (a market session settled on delivery) exits 0 when
the recomputed settlement matches the chain, 1 when it does not (each differing field is
printed), 2 on bad input (an id out of range, unknown, not settled yet, no deployment,
unreachable node). A request's disputes are printed, and so are meter corrections committed
after its settlement was finalized (flagged: they do not change paid money).
"""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from core.errors import BrightError, one_line

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


UINT256_MAX = 2**256 - 1


@app.command()
def verify(
    request_id: Annotated[
        int | None, typer.Argument(help="The request's id on FlexCoordination.")
    ] = None,
    session: Annotated[
        int | None,
        typer.Option("--session", help="A market session's id on FlexMarket instead."),
    ] = None,
    rpc_url: Annotated[
        str | None,
        typer.Option("--rpc-url", help="JSON-RPC URL; default BRIGHT_RPC_URL or the local anvil."),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON for machines.")] = False,
) -> None:
    """Recompute a settled request (or market session) and say whether it matches the chain."""
    from chain.compiler import load_artifacts
    from chain.deploy import DeploymentsFile
    from chain.platform import connect
    from core.settings import ChainSettings
    from settlement.verify import VerifyInputError, verify_settlement

    if (request_id is None) == (session is None):
        _bad_input("give a request id, or --session with a market session id (not both)")
    what, ident = ("session", session) if session is not None else ("request", request_id)
    assert ident is not None
    if not 1 <= ident <= UINT256_MAX:
        _bad_input(f"{what} ids are 1 .. 2**256 - 1, got {ident}")
    if session is not None:
        _verify_session(session, rpc_url, json_out)
        return
    assert request_id is not None
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
        _bad_input(one_line(exc))
        return
    except (BrightError, ValueError, OSError) as exc:
        _bad_input(one_line(exc))
        return
    data = report.to_dict()
    if json_out:
        sys.stdout.write(json.dumps(data, default=str) + "\n")
    else:
        verdict = "matches" if report.matches else "DOES NOT MATCH"
        state = "proposed, open to disputes" if report.state == "proposed" else "finalized"
        print(
            f"request {request_id}: the settlement ({state}) {verdict} the recomputation "
            f"({report.rows} members x {report.intervals} intervals, "
            f"{report.values_checked} meter values checked against their commitments)"
        )
        for d in report.differences:
            print(f"  {d['field']}: on-chain {d['on_chain']}, recomputed {d['recomputed']}")
        for x in report.disputes:
            print(
                f"  disputed: row {x['row']} ({x['member']}) corrected by {x['disputer']} in "
                f"block {x['block']}, payout now {x['payout_after']}, bond paid {x['bond_paid']}"
            )
        for f in report.flagged:
            if "would_change" in f:
                for c in f["would_change"]:
                    print(
                        f"  flagged: with the corrected data {c['field']} would be "
                        f"{c['recomputed']} (paid: {c['on_chain']})"
                    )
            else:
                print(
                    f"  flagged: meter {f['meter']} @ {f['interval_start_s']} corrected after "
                    f"the settlement (block {f['corrected_in_block']}): {f['was_wh']} -> "
                    f"{f['now_wh']} Wh; paid money unchanged"
                )
    raise typer.Exit(code=0 if report.matches else 1)


def _verify_session(session_id: int, rpc_url: str | None, json_out: bool) -> None:
    from chain.compiler import load_artifacts
    from chain.deploy import DeploymentsFile
    from chain.oracles import MeterOracleClient
    from chain.platform import Platform, connect
    from core.settings import ChainSettings
    from settlement.market import MarketSettler

    try:
        settings = ChainSettings() if rpc_url is None else ChainSettings(rpc_url=rpc_url)
        w3 = connect(settings.effective_rpc_url)
        chain_id = int(w3.eth.chain_id)
        deployment = DeploymentsFile(settings.deployments_file).get(chain_id)
        if deployment is None or "FlexMarket" not in deployment.contracts:
            _bad_input(
                f"FlexMarket is not deployed on chain {chain_id} according to "
                f"{settings.deployments_file}: run `bright up` or `bright deploy` first"
            )
            return
        artifacts = load_artifacts()
        platform = Platform(w3, deployment, artifacts)
        market = platform.market()
        if session_id > market.session_count():
            _bad_input(f"session {session_id} does not exist (sessions: {market.session_count()})")
        meters = MeterOracleClient(
            w3, deployment.address("MeterOracle"), artifacts["MeterOracle"], None
        )
        settler = MarketSettler(market, meters, platform.registry(), deployment.start_block)
        report = settler.verify(session_id)
    except (BrightError, ValueError, OSError) as exc:
        _bad_input(one_line(exc))
        return
    if report.logged is None:
        _bad_input(f"session {session_id} is not settled (yet)")
        return
    if json_out:
        data = {
            "session_id": session_id,
            "matches": report.ok,
            "differences": report.differences,
            "earned": report.logged.earned,
            "penalties": report.logged.penalties,
            "refunds": report.logged.refunds,
            "dust": report.logged.dust,
            "sellers": len(report.logged.sellers),
            "buyers": len(report.logged.buyers),
        }
        sys.stdout.write(json.dumps(data) + "\n")
    else:
        verdict = "matches" if report.ok else "DOES NOT MATCH"
        print(
            f"session {session_id}: the settlement {verdict} the recomputation from the "
            f"committed meter data ({len(report.logged.sellers)} sellers, "
            f"{len(report.logged.buyers)} filled bids)"
        )
        for d in report.differences:
            print(f"  {d}")
    raise typer.Exit(code=0 if report.ok else 1)


if __name__ == "__main__":  # pragma: no cover
    app()
