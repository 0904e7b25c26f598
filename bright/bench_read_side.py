"""``bench_coordination_read_side``: how fast the coordination read models take a large request
and how fast the API serves it.

One request of ``intervals`` intervals; ``members`` members opt in (plus two reserves), a
coalition of ``members`` rows is proposed and accepted, one member is replaced, the request is
settled (every row with a result word and per-interval deliveries) and a tenth of the members
claim. The events are built in the indexer's record format with :mod:`chain.coordination`'s
packers (the same words the contract logs; big words as decimal strings, as
:func:`chain.indexer.json_safe` gives them), so no chain is needed to reach 1,000 members.
They go through :class:`streams.store.ReadModelStore` (duplicate check, projections, commit)
one transaction per phase; then the projection is replayed from the stored events (what a
rollback or ``bright index rebuild`` does). Then the API (in process, FastAPI TestClient, one
client, sequential) answers the coalition (the DSO: every row, 500 a page), the intervals and
one member's account ``repeat`` times each; median and p99 in ms.

Baseline in the same run: ``/health`` through the same client (no database, no token).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from eth_utils import keccak, to_checksum_address

from chain.domain import Role
from chain.indexer import MAX_SAFE_INT, ChainEvent
from core.benchutil import peak_rss_mb, percentile, stopwatch
from core.codec import (
    CoalitionRow,
    MemberDeliveries,
    MemberResult,
    pack_deliveries,
    pack_results,
    pack_table,
    replace_in_rows,
    words_hash,
)
from core.rules import max_payout as max_payout_of
from core.rules import member_money, required_escrow

CHAIN_ID = 31337
CONTRACT = to_checksum_address("0x" + "c0" * 20)


def _js(n: int) -> int | str:
    """As the indexer's records carry a uint: big ones as decimal strings."""
    return n if -MAX_SAFE_INT <= n <= MAX_SAFE_INT else str(n)


def _addr(tag: str, i: int) -> str:
    return str(to_checksum_address(keccak(text=f"{tag}-{i}")[:20]))


def _hex32(b: bytes) -> str:
    return "0x" + b.rjust(32, b"\x00").hex()


def _registered(block: int, log_index: int, account: str, role: Role) -> ChainEvent:
    """A ParticipantRegistered record, as the indexer stores one."""
    return ChainEvent(
        chain_id=CHAIN_ID,
        block_number=block,
        block_hash=f"0x{block:064x}",
        tx_hash=f"0x{block:064x}",
        log_index=log_index,
        address=to_checksum_address("0x" + "ee" * 20),
        contract="ParticipantRegistry",
        event="ParticipantRegistered",
        args={
            "account": account,
            "role": int(role),
            "gridArea": "0x" + b"feeder-1".ljust(32, b"\x00").hex(),
            "meterId": "0x" + b"".ljust(32, b"\x00").hex(),
        },
    )


class _Events:
    def __init__(self) -> None:
        self.block = 100
        self.items: list[ChainEvent] = []

    def add(self, event: str, args: dict[str, Any], new_block: bool = True) -> None:
        if new_block or not self.items:
            self.block += 1
        log_index = sum(1 for e in self.items if e.block_number == self.block)
        self.items.append(
            ChainEvent(
                chain_id=CHAIN_ID,
                block_number=self.block,
                block_hash=f"0x{self.block:064x}",
                tx_hash=f"0x{self.block:064x}",
                log_index=log_index,
                address=CONTRACT,
                contract="FlexCoordination",
                event=event,
                args=args,
            )
        )

    def take(self) -> list[ChainEvent]:
        out, self.items = self.items, []
        return out


def coordination_events(members: int, intervals: int) -> dict[str, list[ChainEvent]]:
    """The phases of one request's life as chain-event records (see the module docstring)."""
    if members < 2 or not 1 <= intervals <= 256:
        raise ValueError("need at least 2 members and 1 to 256 intervals")
    tol, price, target = 1000, 200, 500
    q = target * members
    dso, agg = _addr("dso", 0), _addr("aggregator", 0)
    people = [_addr("member", i) for i in range(members + 2)]
    start = 1_800_000_000 - 1_800_000_000 % 900
    escrow = required_escrow([q] * intervals, tol, price)
    ev = _Events()
    phases: dict[str, list[ChainEvent]] = {}
    params = {
        "gridArea": "0x" + b"feeder-1".ljust(32, b"\x00").hex(),
        "windowStart": start,
        "optInDeadline": start - 900,
        "direction": 0,
        "toleranceBp": tol,
        "priceCapPerKwh": price,
        "penaltyPerKwh": 100,
        "baselineMethod": 1,
        "baselineHash": _hex32(b"\x11" * 32),
        "escrow": _js(escrow),
    }
    ev.add(
        "RequestPublished",
        {
            "requestId": 1,
            "dso": dso,
            "gridArea": params["gridArea"],
            "params": params,
            "quantitiesWh": [q] * intervals,
        },
    )
    for i, who in enumerate(people):
        ev.add(
            "OptedIn",
            {"requestId": 1, "member": who, "relayer": agg, "maxWh": 2 * target},
            new_block=i % 100 == 0,
        )
    phases["publish_and_opt_ins"] = ev.take()
    rows = [
        CoalitionRow(m, f"meter-{i}", (target,) * intervals, meter_index=i)
        for i, m in enumerate(people[:members])
    ]
    table = pack_table(rows, intervals)
    max_payout = max_payout_of({m: (target,) * intervals for m in people[:members]}, tol, price)
    ev.add(
        "CoalitionProposed",
        {
            "requestId": 1,
            "coordinator": agg,
            "round": 0,
            "pricePerKwh": price,
            "maxPayout": _js(max_payout),
            "targetsHash": "0x" + words_hash(table).hex(),
            "table": [_js(w) for w in table],
            "reserves": people[members:],
        },
    )
    ev.add("CoalitionAccepted", {"requestId": 1, "dso": dso, "targetsHash": "0x" + "00" * 32})
    reserve = people[members]
    rows = replace_in_rows(rows, people[0], reserve, f"meter-{members}", intervals // 2, members)
    new_row = pack_table(rows[-1:], intervals)
    ev.add(
        "MemberReplaced",
        {
            "requestId": 1,
            "member": people[0],
            "reserve": reserve,
            "fromInterval": intervals // 2,
            "targetsHash": "0x" + words_hash(pack_table(rows, intervals)).hex(),
            "row": [_js(w) for w in new_row],
        },
    )
    phases["coalition"] = ev.take()
    results, deliveries = [], []
    for k, row in enumerate(rows):
        delivered = tuple(t - (k % 7) * 10 if t else 0 for t in row.targets_wh)
        credited = tuple(max(0, d) for d in delivered)
        results.append(
            MemberResult(
                member_money(credited, (0,) * intervals, price, 0).payout, 0, sum(credited) // 100
            )
        )
        deliveries.append(MemberDeliveries(delivered, credited, (0,) * intervals))
    payouts = sum(r.payout for r in results)
    ev.add(
        "RequestSettled",
        {
            "requestId": 1,
            "settler": agg,
            "payoutTotal": _js(payouts),
            "refund": _js(escrow - payouts),
            "settlementHash": "0x" + "ab" * 32,
            "results": [_js(w) for w in pack_results(results)],
            "deliveries": [_js(w) for w in pack_deliveries(deliveries, intervals)],
        },
    )
    phases["settlement"] = ev.take()
    for i, (row, r) in enumerate(zip(rows, results, strict=True)):
        if i % 10 == 0 and r.payout:
            ev.add("PayoutClaimed", {"member": row.member, "amount": _js(r.payout)}, i % 100 == 0)
    phases["claims"] = ev.take()
    return phases


def _latencies(call: Any, repeat: int) -> dict[str, float]:
    times = []
    for _ in range(repeat):
        with stopwatch() as t:
            call()
        times.append(t[0] * 1000)
    return {
        "median_ms": round(percentile(times, 50), 2),
        "p99_ms": round(percentile(times, 99), 2),
    }


def bench_coordination_read_side(
    members: int = 1000,
    intervals: int = 16,
    repeat: int = 30,
    database_url: str | None = None,
    postgres: bool = False,
) -> dict[str, Any]:
    """Project a ``members`` x ``intervals`` request's events and serve it (see the module
    docstring). Read models in ``database_url``, else a throw-away PostgreSQL server of its own
    (``postgres``, :mod:`streams.postgres`), else a throw-away SQLite file."""
    from fastapi.testclient import TestClient

    from api.main import create_app
    from api.settings import ApiSettings
    from streams.db import open_database
    from streams.store import ReadModelStore

    if repeat < 1:
        raise ValueError("repeat must be at least 1")
    phases = coordination_events(members, intervals)
    tmp = Path(tempfile.mkdtemp(prefix="bright-bench-coord-"))
    server = None
    pg_state: Path | None = None
    if database_url is None and postgres:
        from streams.postgres import PostgresServer

        # Its own mkdtemp folder: the postgres user must reach it (PostgresServer chowns it).
        pg_state = Path(tempfile.mkdtemp(prefix="bright-bench-coord-pg-"))
        server = PostgresServer(pg_state)
        server.start()
        database_url = server.create_database()
    url = database_url or f"sqlite:///{tmp / 'read_models.sqlite'}"
    try:
        engine = open_database(url)
    except BaseException:
        if server is not None:
            server.stop()
        for folder in (tmp, pg_state):
            if folder is not None:
                shutil.rmtree(folder, ignore_errors=True)
        raise
    out: dict[str, Any] = {
        "members": members,
        "intervals": intervals,
        "database": engine.dialect.name,
        "events": sum(len(v) for v in phases.values()),
    }
    try:
        store = ReadModelStore(engine)
        apply_s: dict[str, float] = {}
        cpu0 = time.process_time()
        for name, events in phases.items():
            with stopwatch() as t:
                new = store.apply_events(events)
            if new != len(events):
                raise RuntimeError(f"{name}: {new} of {len(events)} events applied")
            apply_s[name] = round(t[0], 3)
        out["apply_s"] = apply_s
        out["apply_total_s"] = round(sum(apply_s.values()), 3)
        # This process's CPU seconds (the database server's, for PostgreSQL, not included):
        # on a shared machine the wall time also counts waiting for a core.
        out["apply_cpu_s"] = round(time.process_time() - cpu0, 3)
        out["events_per_s"] = round(out["events"] / out["apply_total_s"])
        out["member_intervals"] = (members + 1) * intervals
        with stopwatch() as t:
            store.replay_projection("coordination", CHAIN_ID)
        out["rebuild_s"] = round(t[0], 3)

        # The API reads each caller's role in the participants read model: register the two
        # callers as the ParticipantRegistry's events would, after the request's blocks.
        after = 1 + max(e.block_number for evs in phases.values() for e in evs)
        store.apply_events(
            [
                _registered(after, 0, _addr("dso", 0), Role.DSO),
                _registered(after, 1, _addr("member", 3), Role.PROSUMER),
            ]
        )
        settings = ApiSettings(
            env="test",
            jwt_secret="bench-coordination-secret-0123456789-abcdef",
            database_url=url,
            chain_id=CHAIN_ID,
            rpc_url="http://127.0.0.1:9",
        )
        app = create_app(settings)
        service = app.state.service
        dso_token, _ = service.tokens.issue(_addr("dso", 0), ("dso",), CHAIN_ID)
        member = _addr("member", 3)
        member_token, _ = service.tokens.issue(member, ("prosumer",), CHAIN_ID)
        dso = {"Authorization": f"Bearer {dso_token}"}
        own = {"Authorization": f"Bearer {member_token}"}
        with TestClient(app) as client:

            def get(path: str, headers: dict[str, str], **params: Any) -> Any:
                r = client.get(path, headers=headers, params=params)
                if r.status_code != 200:
                    raise RuntimeError(f"{path}: {r.status_code} {r.text[:200]}")
                return r.json()

            full = get("/requests/1/coalition", dso, limit=500)
            if full["count"] != members + 1:
                raise RuntimeError(f"coalition has {full['count']} rows, not {members + 1}")
            out["api"] = {
                "baseline_health": _latencies(lambda: client.get("/health"), repeat),
                "coalition_500_rows_dso": _latencies(
                    lambda: get("/requests/1/coalition", dso, limit=500), repeat
                ),
                "coalition_own_row": _latencies(lambda: get("/requests/1/coalition", own), repeat),
                "intervals": _latencies(lambda: get("/requests/1/intervals", own), repeat),
                "account": _latencies(lambda: get(f"/accounts/{member}/coordination", own), repeat),
                "requests_list": _latencies(lambda: get("/requests", own), repeat),
            }
            out["api_client"] = "in-process TestClient, one client, sequential"
    finally:
        engine.dispose()
        if server is not None:
            server.stop()
        for folder in (tmp, pg_state):
            if folder is not None:
                shutil.rmtree(folder, ignore_errors=True)
    out["peak_rss_mb"] = peak_rss_mb()
    return out
