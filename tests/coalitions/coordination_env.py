"""A deployed platform on the test anvil with a small community for the coordination service
tests (shared by tests/coalitions and tests/settlement): a DSO, an aggregator, an oracle and
eight prosumers with meters on feeder-1, the DSO funded and its escrow approved."""

from __future__ import annotations

import itertools
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from chain.coordination import FlexCoordinationClient, coordination_client
from chain.deploy import Deployment
from chain.domain import Role
from chain.oracles import ForecastOracleClient, MeterOracleClient
from chain.platform import Platform, make_sender
from coalitions.service import CoalitionService, ServiceConfig, Step, advance_chain
from core.oracle_codec import MeterValue
from core.rules import required_escrow
from settlement.baselines import BaselineMethod, MeterBeforeAfterParams, baseline_hash

DSO, AGG, OPERATOR, ORACLE = 1, 2, 3, 4
MEMBERS = tuple(range(5, 13))
FUNDS = 10**12
PRICE, PENALTY, TOL = 200_000, 100_000, 1000
LOAD_WH = 1000  # every meter's import per interval when it does not deliver
NONCES = itertools.count(1)


def meter(i: int) -> str:
    return f"svc-meter-{i}"


def now_s(w3: Any) -> int:
    return int(w3.eth.get_block("latest")["timestamp"])


@dataclass
class CoordEnv:
    platform: Platform
    deployment: Deployment
    accounts: Sequence[Any]

    @property
    def w3(self) -> Any:
        return self.platform.w3

    def addr(self, i: int) -> str:
        return str(self.accounts[i].address)

    def client(self, i: int | None = None) -> FlexCoordinationClient:
        sender = None if i is None else self.platform.sender(self.accounts[i])
        return coordination_client(
            self.w3, self.deployment.address("FlexCoordination"), self.platform.artifacts, sender
        )

    def meters(self) -> MeterOracleClient:
        return MeterOracleClient(
            self.w3,
            self.deployment.address("MeterOracle"),
            self.platform.artifacts["MeterOracle"],
            self.platform.sender(self.accounts[ORACLE]),
        )

    def forecasts(self) -> ForecastOracleClient:
        return ForecastOracleClient(
            self.w3,
            self.deployment.address("ForecastOracle"),
            self.platform.artifacts["ForecastOracle"],
            self.platform.sender(self.accounts[ORACLE]),
        )

    def service(
        self, on_step: Any = None, estimates: Any = None, **config: Any
    ) -> CoalitionService:
        return CoalitionService(
            self.client(AGG),
            self.meters(),
            self.platform.registry(),
            ServiceConfig(**config),
            forecasts=self.forecasts(),
            on_step=on_step,
            estimates=estimates,
        )

    def commit(self, interval_start_s: int, values_wh: Mapping[int, int]) -> None:
        """The oracle commits each member's import (Wh) of one interval."""
        values = [MeterValue(meter(i), interval_start_s, wh, 0) for i, wh in values_wh.items()]
        self.meters().commit(self.accounts[ORACLE], values, nonce=next(NONCES))

    def commit_flat(self, starts: Iterable[int], members: Sequence[int] = MEMBERS) -> None:
        for s in starts:
            self.commit(s, {i: LOAD_WH for i in members})

    def advance(self, ts_s: int) -> None:
        advance_chain(self.w3, ts_s)

    def publish(self, n: int = 4, q: int = 1000, lead: int = 8) -> tuple[int, int]:
        """A request of ``n`` intervals of ``q`` Wh (meter before/after baseline, defaults);
        returns (request id, window start)."""
        start = (now_s(self.w3) // 900 + lead) * 900
        quantities = [q] * n
        _, rid = self.client(DSO).publish_request(
            start,
            quantities,
            TOL,
            PRICE,
            start - 1800,
            required_escrow(quantities, TOL, PRICE),
            grid_area="feeder-1",
            penalty_per_kwh=PENALTY,
            baseline_method=int(BaselineMethod.METER_BEFORE_AFTER),
            baseline_hash=baseline_hash(
                BaselineMethod.METER_BEFORE_AFTER, MeterBeforeAfterParams()
            ),
        )
        return rid, start

    def opt_in(self, rid: int, members: Sequence[int] = MEMBERS, max_wh: int = 400) -> None:
        """Half from their wallets, half signed and relayed by the aggregator."""
        direct, signed = members[: len(members) // 2], members[len(members) // 2 :]
        for i in direct:
            self.client(i).opt_in(rid, max_wh)
        agg = self.client(AGG)
        agg.opt_in_signed(rid, [agg.sign_opt_in(self.accounts[i], rid, max_wh) for i in signed])

    def index_of(self, address: str) -> int:
        return next(i for i in MEMBERS if self.addr(i) == address)

    def events(self, name: str, rid: int) -> list[Any]:
        event = getattr(self.client().contract.events, name)
        return list(event.get_logs(from_block=0, argument_filters={"requestId": rid}))


def make_env(w3: Any, artifacts: Any, admin: Any, accounts: Sequence[Any]) -> CoordEnv:
    from chain.deploy import deploy_platform

    deployment = deploy_platform(w3, make_sender(w3, admin, artifacts), artifacts)
    platform = Platform(w3, deployment, artifacts)
    rows = [
        (accounts[DSO].address, Role.DSO, "feeder-1", ""),
        (accounts[AGG].address, Role.AGGREGATOR, "feeder-1", ""),
        (accounts[OPERATOR].address, Role.MARKET_OPERATOR, "feeder-1", ""),
        (accounts[ORACLE].address, Role.ORACLE, "feeder-1", ""),
    ]
    rows += [(accounts[i].address, Role.PROSUMER, "feeder-1", meter(i)) for i in MEMBERS]
    platform.registry(admin).register_batch(rows)
    env = CoordEnv(platform, deployment, accounts)
    env.meters().enrol_meters([meter(i) for i in MEMBERS])
    address = deployment.address("FlexCoordination")
    # The DSO escrows; the aggregator and the operator post settlement bonds.
    platform.token(admin).mint_batch([(accounts[i].address, FUNDS) for i in (DSO, AGG, OPERATOR)])
    platform.token(accounts[DSO]).approve(address, FUNDS)
    return env


def run_to_replacement(
    env: CoordEnv, service: CoalitionService, failing_first: bool = True
) -> dict[str, Any]:
    """Request -> opt-ins -> proposal (by ``service``) -> acceptance -> interval 0 metered
    with the coalition's first member not delivering -> replacement (by ``service``).
    Returns what the test needs to go on."""
    rid, start = env.publish()
    env.opt_in(rid)
    env.advance(start - 1800 + 5)
    env.commit_flat([start - 3600, start - 2700])
    [proposed] = [s for s in service.tick() if s.request_id == rid]
    assert proposed.kind == "proposed", proposed
    rows = env.client().coalition_rows(rid)
    env.client(DSO).accept_coalition(rid)
    failing = rows[0].member
    env.advance(start + 900 + 30)
    env.commit_flat([start - 1800, start - 900])
    env.commit(start, metered(env, rows, 0, failing={failing}))
    steps = [s for s in service.tick() if s.request_id == rid]
    return {"rid": rid, "start": start, "rows": rows, "failing": failing, "steps": steps,
            "proposed": proposed}


def metered(
    env: CoordEnv, rows: Sequence[Any], k: int, failing: Collection[str] = ()
) -> dict[int, int]:
    """Every member's import in interval ``k``: the load less its target, unless failing."""
    out = {i: LOAD_WH for i in MEMBERS}
    for row in rows:
        if row.member not in failing:
            out[env.index_of(row.member)] -= row.targets_wh[k]
    return out


def finish_window(env: CoordEnv, rid: int, start: int, failing: str) -> None:
    """Meter intervals 1..3 with the current table (the failing member still not delivering)."""
    rows = env.client().coalition_rows(rid)
    env.advance(start + 4 * 900 + 30)
    for k in range(1, 4):
        env.commit(start + 900 * k, metered(env, rows, k, failing={failing}))


def kinds(steps: Sequence[Step]) -> list[str]:
    return [s.kind for s in steps]


def past_challenge(env: CoordEnv, rid: int) -> None:
    """Mine a block at the end of the request's challenge window."""
    env.advance(env.client().request(rid).challenge_ends_s)
