"""The coordination scenario the API tests share: a DSO request of the demo community driven on
the real chain (opt-ins from a wallet and relayed, a coalition, acceptance, a replacement,
meter data, settlement, a claim), a second request left open with two opt-ins, and one made
before them that ended without a coalition (one opt-in offering far less than asked; the DSO
reclaimed the escrow once its window started).

The meter data are the settlement's: a steady ``BASELINE_WH`` of net import in the hour
before the window (the request's meter-before baseline) and in the window
``BASELINE_WH - delivered`` where the member's meter sent data, so each delivery is the
baseline minus the metered value, as a dispute would recompute it."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from chain.coordination import coordination_client, member_deliveries
from chain.oracles import MeterOracleClient
from core.codec import CoalitionRow, MemberDeliveries, MemberResult
from core.oracle_codec import MeterValue
from core.rules import required_escrow

N, Q, TOL, CAP, PRICE, PENALTY = 4, 1000, 1000, 250, 200, 100
TARGETS = {"home-06": 400, "home-05": 300, "home-07": 300}
RESERVE, REPLACED, FROM = "home-08", "home-07", 2
DELIVERED = {  # per table row, Wh
    "home-06": (400, 400, 400, 400),
    "home-05": (300, 300, 200, 300),  # 70 Wh short in interval 2
    "home-07": (300, 300, 0, 0),  # replaced from interval 2
    "home-08": (0, 0, 300, 0),  # its meter sent nothing in interval 3
}
MISSING = {"home-08": {3}}
BASELINE_WH = 500
ENDED_Q, ENDED_OFFER, ENDED_BY = 2000, 300, "home-04"
"""The request that ended without a coalition: 2 x 2000 Wh asked, one opt-in of 300 Wh."""


@dataclass
class Scenario:
    settled: int
    open_: int
    ended: int
    ended_start: int
    start: int
    escrow: int
    names: list[str]  # table rows in order
    results: list[MemberResult]
    deliveries: list[MemberDeliveries]
    address: dict[str, str]


def _now(w3: Any) -> int:
    return int(w3.eth.get_block("latest")["timestamp"])


def build_scenario(api_demo: Any) -> Scenario:
    platform = api_demo.running.platform
    w3, artifacts = platform.w3, platform.artifacts
    coord = platform.deployment.address("FlexCoordination")
    address = {m.name: m.address for m in api_demo.members}

    def client(name: str):
        return coordination_client(w3, coord, artifacts, platform.sender(api_demo.account(name)))

    dso, agg = client("dso"), client("aggregator")
    platform.token(api_demo.account("dso")).approve(coord, 10**15)
    # Published first (the lowest id): a request no coalition can serve.
    ended_start = (_now(w3) // 900 + 4) * 900
    _, ended = dso.publish_request(
        ended_start,
        [ENDED_Q] * 2,
        TOL,
        CAP,
        ended_start - 900,
        required_escrow([ENDED_Q] * 2, TOL, CAP),
        grid_area="feeder-1",
    )
    client(ENDED_BY).opt_in(ended, ENDED_OFFER)
    start = (_now(w3) // 900 + 8) * 900
    escrow = required_escrow([Q] * N, TOL, CAP)
    _, rid = dso.publish_request(
        start,
        [Q] * N,
        TOL,
        CAP,
        start - 1800,
        escrow,
        grid_area="feeder-1",
        penalty_per_kwh=PENALTY,
    )
    for name in ("home-06", "home-07", RESERVE):
        client(name).opt_in(rid, 600)
    agg.opt_in_signed(rid, [agg.sign_opt_in(api_demo.account("home-05"), rid, 600)])
    meter = {m.name: m.meter_id for m in api_demo.members}
    names = [*TARGETS, RESERVE]
    oracle = api_demo.account("oracle")
    meters = MeterOracleClient(
        w3,
        platform.deployment.address("MeterOracle"),
        artifacts["MeterOracle"],
        platform.sender(oracle),
    )
    new = [meter[n] for n in names if meters.index_of(meter[n]) is None]
    if new:  # a coalition member's meter must be enrolled in the MeterOracle
        meters.enrol_meters(new)
    rows = [CoalitionRow(address[n], meter[n], (t,) * N) for n, t in TARGETS.items()]
    agg.propose_coalition(rid, PRICE, rows, [address[RESERVE]])
    dso.accept_coalition(rid)
    _, rows = agg.replace_member(
        rid, rows, address[REPLACED], address[RESERVE], meter[RESERVE], FROM
    )

    # After the window: the oracle commits what was metered, the aggregator settles.
    w3.provider.make_request("evm_setNextBlockTimestamp", [start + 900 * N + 60])
    w3.provider.make_request("evm_mine", [])
    dso.reclaim_escrow(ended)  # its window has started without a coalition
    for k in range(-4, N):  # the baseline hour, then the window
        values = [
            MeterValue(
                meter[n], start + 900 * k, BASELINE_WH - (DELIVERED[n][k] if k >= 0 else 0), 0
            )
            for n in names
            if k not in MISSING.get(n, ())
        ]
        meters.commit(oracle, values, nonce=secrets.randbits(63))
    # The aggregator proposes the deliveries (flagged where the oracle committed nothing), the
    # contract computes the money; after the challenge window anyone finalizes.
    proposed = [
        member_deliveries(DELIVERED[n], frozenset(MISSING.get(n, ())), row.targets_wh, TOL)
        for n, row in zip(names, rows, strict=True)
    ]
    agg.propose_settlement(rid, rows, proposed)
    w3.provider.make_request("evm_setNextBlockTimestamp", [agg.request(rid).challenge_ends_s])
    w3.provider.make_request("evm_mine", [])
    proposal = agg.settlement_proposal(rid)
    assert proposal is not None
    agg.finalize_settlement(rid, rows, proposal)
    results, deliveries = proposal.results, proposal.deliveries(rows, TOL)
    client("home-06").claim_payout()

    # A second request stays open, with two opt-ins.
    start2 = (_now(w3) // 900 + 8) * 900
    _, open_ = dso.publish_request(
        start2,
        [800, 800],
        TOL,
        CAP,
        start2 - 900,
        required_escrow([800] * 2, TOL, CAP),
        grid_area="feeder-1",
    )
    client("home-09").opt_in(open_, 500)
    client("home-02").opt_in(open_, 300)  # home-02 delegated to the aggregator
    return Scenario(
        rid, open_, ended, ended_start, start, escrow, names, results, deliveries, address
    )
