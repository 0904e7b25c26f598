"""The accepted DSO request that the chain benchmarks of settlement start from.

``bright bench settlement --chain`` and ``bright bench disputes`` measure what happens after a
request's delivery window; both first need the same world on a fresh anvil: a DSO, an
aggregator and a meter oracle registered on ``feeder-1``, ``people`` prosumers each with its
own meter, a request of ``intervals`` 15-minute intervals asking ``TARGET_WH`` from each of
``members`` members (escrowed at 1,000 per kWh with a 100,000 per kWh penalty), every
prosumer's signed opt-in relayed in one batch, the coalition proposed by the aggregator's
:class:`coalitions.service.CoalitionService` (the code ``bright up`` runs) and accepted by
the DSO, and the chain's clock moved past the window. :func:`accepted_request` builds it;
:meth:`AcceptedRequest.commit_interval` commits one interval's meter values (every member
delivering its target) and :func:`plain_transfer_s` times the baseline both benchmarks
compare with.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from eth_account import Account
from eth_utils import keccak

from core.settings import DEV_MNEMONIC

__all__ = [
    "LOAD_WH",
    "TARGET_WH",
    "AcceptedRequest",
    "accepted_request",
    "plain_transfer_s",
]

LOAD_WH = 1000
TARGET_WH = 500


@dataclass
class AcceptedRequest:
    """A request accepted on a running anvil, its window over, no meter data yet."""

    w3: Any
    platform: Any
    accounts: dict[str, Any]  # admin, dso, aggregator, oracle
    meters: Any  # MeterOracleClient, signing as the oracle
    as_dso: Any
    as_agg: Any
    service: Any  # the aggregator's CoalitionService
    request_id: int
    start_s: int
    meter_ids: list[str]
    rows: list[Any]  # the accepted coalition's table
    _nonces: Iterator[int]

    def commit_interval(self, k: int) -> dict[str, Any]:
        """Commits interval ``k`` of the window (negative: the baseline hour before it) for
        every meter, each member having delivered its target; returns the receipt."""
        from core.oracle_codec import MeterValue
        from core.units import INTERVAL_S

        targets = {r.meter_id: r.targets_wh for r in self.rows}
        values = [
            MeterValue(
                m,
                self.start_s + k * INTERVAL_S,
                LOAD_WH - (targets[m][k] if k >= 0 and m in targets else 0),
                0,
            )
            for m in self.meter_ids
        ]
        receipt: dict[str, Any] = self.meters.commit(
            self.accounts["oracle"], values, next(self._nonces)
        )
        return receipt


@contextmanager
def accepted_request(
    *,
    members: int,
    intervals: int,
    people: int,
    name: str,
    block_time_s: float,
    reserve_bp: int,
    baseline_method: bool = False,
    on_step: Callable[[Any], None] | None = None,
    say: Callable[[str], None] = lambda m: print(m, file=sys.stderr, flush=True),
) -> Iterator[AcceptedRequest]:
    """A fresh anvil holding an accepted request (see the module); stopped on exit.

    ``people`` prosumers opt in for ``members`` members' worth of targets (more people than
    members leaves reserves); their keys and meter ids are derived from ``name``.
    ``baseline_method`` names the meter-before/after baseline on-chain (with its parameters'
    hash), as the demo's requests do."""
    from chain.anvil import Anvil
    from chain.compiler import compile_contracts
    from chain.coordination import coordination_client
    from chain.deploy import deploy_platform
    from chain.domain import Role
    from chain.oracles import MeterOracleClient
    from chain.platform import Platform, connect, dev_accounts, make_sender
    from coalitions.service import CoalitionService, ServiceConfig, advance_chain
    from core.rules import required_escrow
    from core.units import INTERVAL_S
    from settlement.baselines import BaselineMethod, MeterBeforeAfterParams, baseline_hash

    artifacts = compile_contracts()
    admin, dso, agg, oracle = dev_accounts(DEV_MNEMONIC, 4)
    keys = [Account.from_key(keccak(text=f"bright-{name}-bench-{i}")) for i in range(people)]
    meter_ids = [f"{name}-meter-{i}" for i in range(people)]
    say(f"anvil with {block_time_s:g} s blocks, {members} members x {intervals} intervals")
    with Anvil(accounts=4, block_time=block_time_s) as anvil:
        w3 = connect(anvil.url)
        deployment = deploy_platform(w3, make_sender(w3, admin, artifacts), artifacts)
        platform = Platform(w3, deployment, artifacts)
        platform.registry(admin).register_batch(
            [
                (dso.address, Role.DSO, "feeder-1", ""),
                (agg.address, Role.AGGREGATOR, "feeder-1", ""),
                (oracle.address, Role.ORACLE, "feeder-1", ""),
            ]
            + [
                (p.address, Role.PROSUMER, "feeder-1", m)
                for p, m in zip(keys, meter_ids, strict=True)
            ]
        )
        meters = MeterOracleClient(
            w3,
            deployment.address("MeterOracle"),
            artifacts["MeterOracle"],
            platform.sender(oracle),
        )
        meters.enrol_meters(meter_ids)
        address = deployment.address("FlexCoordination")
        platform.token(admin).mint_batch([(dso.address, 10**15), (agg.address, 10**15)])
        platform.token(dso).approve(address, 10**15)
        as_dso = coordination_client(w3, address, artifacts, platform.sender(dso))
        as_agg = coordination_client(w3, address, artifacts, platform.sender(agg))
        as_agg.ensure_bond_allowance()  # once, as a running aggregator has
        now = int(w3.eth.get_block("latest")["timestamp"])
        start = (now // INTERVAL_S + 3) * INTERVAL_S
        quantities = [TARGET_WH * members] * intervals
        baseline: dict[str, Any] = {}
        if baseline_method:
            method = BaselineMethod.METER_BEFORE_AFTER
            baseline = {
                "baseline_method": int(method),
                "baseline_hash": baseline_hash(method, MeterBeforeAfterParams()),
            }
        _, rid = as_dso.publish_request(
            start,
            quantities,
            1000,
            200_000,
            start - INTERVAL_S,
            required_escrow(quantities, 1000, 200_000),
            grid_area="feeder-1",
            penalty_per_kwh=100_000,
            **baseline,
        )
        as_agg.opt_in_signed(rid, [as_agg.sign_opt_in(p, rid, TARGET_WH) for p in keys])
        service = CoalitionService(
            as_agg,
            meters,
            platform.registry(),
            ServiceConfig(poll_s=0.5, reserve_bp=reserve_bp, formation_time_limit_s=5.0),
            on_step=on_step,
        )
        advance_chain(w3, start - INTERVAL_S)
        [proposed] = service.tick()
        say(proposed.describe())
        as_dso.accept_coalition(rid)
        rows = as_dso.coalition_rows(rid)
        advance_chain(w3, start + intervals * INTERVAL_S + 60)
        yield AcceptedRequest(
            w3=w3,
            platform=platform,
            accounts={"admin": admin, "dso": dso, "aggregator": agg, "oracle": oracle},
            meters=meters,
            as_dso=as_dso,
            as_agg=as_agg,
            service=service,
            request_id=rid,
            start_s=start,
            meter_ids=meter_ids,
            rows=rows,
            _nonces=iter(range(1, 10**6)),
        )


def plain_transfer_s(scenario: AcceptedRequest) -> float:
    """Seconds a plain token transfer, sent right after a block, takes to be mined."""
    w3 = scenario.w3
    head = int(w3.eth.block_number)
    while int(w3.eth.block_number) == head:
        time.sleep(0.02)
    t0 = time.perf_counter()
    scenario.platform.token(scenario.accounts["dso"]).transfer(
        scenario.accounts["aggregator"].address, 1
    )
    return time.perf_counter() - t0
