"""Read models of FlexCoordination (issue 6): DSO requests, opt-ins, coalitions with per-member
targets per interval, replacements, settlement figures, rewards, penalties, reputation.

One projection, ``coordination``, owns the tables ``flex_requests``, ``flex_opt_ins``,
``flex_coalition_members``, ``flex_member_intervals``, ``flex_accounts`` and
``flex_request_intervals`` (per request and interval the coalition's totals; see
:mod:`streams.models`). Its handlers follow :mod:`streams.projections`: functions of
``(event, session)`` whose writes depend only on the event and on rows of these tables, so a
replay of the stored events in chain order (a rollback, ``bright index rebuild``) gives the same
rows; the store applies each event once (its duplicate check), so the additive account figures
are safe under at-least-once delivery.

What each event does:

* ``RequestPublished``: a request, ``open``, with its terms and quantities per interval.
* ``OptedIn``: an opt-in (``opted``); the request's and the member's opt-in counts. Written
  behind (:func:`streams.projections.written_behind`: a relayed batch logs hundreds of them
  in one block), so every other handler here calls :func:`~streams.projections.flush_pending`
  first.
* ``CoalitionProposed``: the request is ``proposed`` (coordinator, price, round, most payout,
  targets hash); the targets table (decoded by :func:`chain.coordination.unpack_table`) becomes
  one row per member and one per member and interval; opt-ins of the round become ``member``,
  ``reserve`` or ``opted``.
* ``CoalitionAccepted``: ``accepted``. ``CoalitionRejected``: ``open`` again in a new round,
  the table is dropped and every opt-in is ``opted``.
* ``MemberReplaced``: the member is ``replaced`` from ``fromInterval`` (its later targets are
  zero), the reserve's row (from the event) is appended and it becomes a ``member``.
* ``SettlementProposed``: the request's ``settlement_state`` is ``proposed`` (proposer, end of
  the challenge window, bond, the proposal's payouts; ``status`` stays ``accepted`` until it is
  final); each table row (in table order) gets its result word (:func:`core.codec.
  unpack_result`: payout, uncovered penalty, points) and its per-interval deliveries
  (:func:`chain.coordination.unpack_proposal_deliveries`: delivered and missing data as
  proposed, credited and shortfall by :mod:`core.rules` from its targets), not yet ``settled``.
* ``SettlementDisputed``: the corrected row's figures replace the proposed ones (the member's
  ``disputed_by``), the request counts the dispute, its proposal's payouts are the event's,
  ``bond_paid_to`` is who got the bond: the disputer, or the DSO when the proposer disputed
  its own proposal.
* ``SettlementFinalized``: ``settled`` (``settlement_state`` ``finalized``, ``settler`` the
  finalizer, ``payout_total`` and ``refund``); each row's final result word, ``settled``; each
  member's account gets the payout as claimable and the points as reputation. The points come
  from the results words, not from ``ReputationAwarded`` (which this projection does not read).
* ``RequestSettled``: the one-step settlement of the contract before proposals and disputes
  (results and deliveries with credited and shortfall in one event): ``settled`` at once, as
  above. Kept for chains and benchmarks that carry it.
* ``PayoutClaimed``: the claimed amount leaves the member's claimable.
* ``EscrowReclaimed``: ``reclaimed``; the amount is the request's refund.

One FlexCoordination per chain is indexed (the deployment's): rows are keyed by chain id and
request id.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import (
    Numeric,
    Table,
    and_,
    bindparam,
    case,
    delete,
    func,
    insert,
    select,
    type_coerce,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from chain.coordination import proposal_row_words, unpack_proposal_deliveries
from chain.indexer import ChainEvent
from core.codec import (
    CoalitionRow,
    MemberDeliveries,
    MemberResult,
    unpack_deliveries,
    unpack_result,
    unpack_table,
)
from core.units import INTERVAL_S
from streams.models import (
    FlexAccount,
    FlexCoalitionMember,
    FlexMemberInterval,
    FlexOptIn,
    FlexRequest,
    FlexRequestInterval,
)
from streams.projection import Projection, flush_pending, written_behind

CONTRACT = "FlexCoordination"
REQUEST_STATUSES = ("open", "proposed", "accepted", "settled", "reclaimed")
OPT_IN_STATUSES = ("opted", "member", "reserve", "replaced")
DIRECTIONS = ("up", "down")

coordination = Projection(
    "coordination",
    tables=(
        "flex_requests",
        "flex_opt_ins",
        "flex_coalition_members",
        "flex_member_intervals",
        "flex_accounts",
        "flex_request_intervals",
    ),
)

_R = cast(Table, FlexRequest.__table__)
_OI = cast(Table, FlexOptIn.__table__)
_CM = cast(Table, FlexCoalitionMember.__table__)
_MI = cast(Table, FlexMemberInterval.__table__)
_AC = cast(Table, FlexAccount.__table__)
_RI = cast(Table, FlexRequestInterval.__table__)


class CoordinationStreamError(ValueError):
    """The stored events contradict the contract's rules (a broken log stream)."""


def _int(value: Any) -> int:
    """A uint/int argument: the indexer gives big ones as decimal strings."""
    return int(value)


def _words(values: Iterable[Any]) -> list[int]:
    return [int(v) for v in values]


def _bytes32_text(value: str) -> str:
    raw = bytes.fromhex(value[2:]) if value.startswith("0x") else value.encode()
    return raw.rstrip(b"\x00").decode(errors="replace")


@dataclass(frozen=True)
class _Req:
    request_id: int
    intervals: int
    window_start_s: int
    row_count: int
    tolerance_bp: int = 0


def _request(event: ChainEvent, session: Session, request_id: int) -> _Req:
    row = session.execute(
        select(_R.c.intervals, _R.c.window_start_s, _R.c.row_count, _R.c.tolerance_bp).where(
            _R.c.chain_id == event.chain_id, _R.c.request_id == request_id
        )
    ).first()
    if row is None:
        raise CoordinationStreamError(
            f"{event.contract}.{event.event}: request {request_id} was never published "
            f"(block {event.block_number})"
        )
    return _Req(
        request_id,
        int(row.intervals),
        int(row.window_start_s),
        int(row.row_count),
        int(row.tolerance_bp),
    )


def _request_where(event: ChainEvent, request_id: int) -> Any:
    return and_(_R.c.chain_id == event.chain_id, _R.c.request_id == request_id)


def _set_request(event: ChainEvent, session: Session, request_id: int, **values: Any) -> None:
    session.execute(
        update(_R)
        .where(_request_where(event, request_id))
        .values(updated_block=event.block_number, **values)
    )


# ------------------------------------------------------------------------------ accounts

_UINT_FIELDS = ("claimable", "earned_total", "claimed_total", "penalty_uncovered_total")
_COUNT_FIELDS = ("reputation", "settled_count", "opt_in_count")
_ACCOUNT_FIELDS = (*_UINT_FIELDS, *_COUNT_FIELDS)
_AMOUNT = Numeric(78, 0)


def _bump_accounts(
    chain_id: int,
    block: int | Mapping[str, int],
    session: Session,
    deltas: Mapping[str, Mapping[str, int]],
) -> None:
    """Add ``deltas[account][field]`` to the accounts' figures (rows made when missing), in
    one statement for the whole batch; ``block`` is the block of the change (per account, for
    a batch of several blocks: each account's own newest, so the rows do not depend on how the
    events were chunked).

    Additions commute, so the figures come out the same in any order of application: on the
    Kafka bus a member's ``PayoutClaimed`` (keyed by the member) may be applied before the
    ``SettlementFinalized`` that credited it (keyed by the request), and the claimable is negative
    only until that one arrives. PostgreSQL adds in SQL (``ON CONFLICT DO UPDATE SET x = x +
    excluded.x``), so Kafka workers adding to one account at once lose nothing; SQLite adds
    the counts in SQL and the amounts in Python (they are decimal text there: its integers stop
    at 2**63), reading the rows inside the write transaction (one writer at a time)."""
    if not deltas:
        return
    accounts = sorted(deltas)  # one lock order for every writer
    rows: list[dict[str, Any]] = []
    for account in accounts:
        values = dict.fromkeys(_ACCOUNT_FIELDS, 0)
        for name, delta in deltas[account].items():
            values[name] += int(delta)
        rows.append(
            {
                "chain_id": chain_id,
                "account": account,
                "updated_block": block if isinstance(block, int) else block[account],
                **values,
            }
        )
    stmt: Any
    if session.get_bind().dialect.name == "postgresql":
        pg = postgresql.insert(_AC)
        stmt = pg.on_conflict_do_update(
            index_elements=["chain_id", "account"],
            set_={
                **{
                    f: type_coerce(_AC.c[f], _AMOUNT) + type_coerce(pg.excluded[f], _AMOUNT)
                    for f in _UINT_FIELDS
                },
                **{f: _AC.c[f] + pg.excluded[f] for f in _COUNT_FIELDS},
                "updated_block": func.greatest(_AC.c.updated_block, pg.excluded.updated_block),
            },
        )
    else:
        # Counts add in SQL; amounts (decimal text) are read and added here, when any moves.
        amounts = any(deltas[a].get(f) for a in accounts for f in _UINT_FIELDS)
        if amounts:
            found: dict[str, Any] = {}
            for lo in range(0, len(accounts), 500):
                part = accounts[lo : lo + 500]
                for row in session.execute(
                    select(_AC).where(_AC.c.chain_id == chain_id, _AC.c.account.in_(part))
                ).mappings():
                    found[row["account"]] = row
            for new in rows:
                current = found.get(new["account"])
                if current is not None:
                    for f in _UINT_FIELDS:
                        new[f] += int(current[f])
        ins = sqlite.insert(_AC)
        stmt = ins.on_conflict_do_update(
            index_elements=["chain_id", "account"],
            set_={
                **({f: ins.excluded[f] for f in _UINT_FIELDS} if amounts else {}),
                **{f: _AC.c[f] + ins.excluded[f] for f in _COUNT_FIELDS},
                "updated_block": func.max(_AC.c.updated_block, ins.excluded.updated_block),
            },
        )
    session.execute(stmt, rows)


# ------------------------------------------------------------------------------ requests


@coordination.on(CONTRACT, "RequestPublished")
def project_request_published(event: ChainEvent, session: Session) -> None:
    """A new request, open, with its terms and a quantity per interval (Wh)."""
    a = event.args
    p = a["params"]
    quantities = _words(a["quantitiesWh"])
    start = _int(p["windowStart"])
    direction = _int(p["direction"])
    session.execute(
        insert(_R).values(
            chain_id=event.chain_id,
            request_id=_int(a["requestId"]),
            contract=event.address,
            dso=a["dso"],
            grid_area=_bytes32_text(str(p["gridArea"])),
            window_start_s=start,
            window_end_s=start + INTERVAL_S * len(quantities),
            intervals=len(quantities),
            opt_in_deadline_s=_int(p["optInDeadline"]),
            direction=DIRECTIONS[direction] if direction < len(DIRECTIONS) else str(direction),
            tolerance_bp=_int(p["toleranceBp"]),
            price_cap_per_kwh=_int(p["priceCapPerKwh"]),
            penalty_per_kwh=_int(p["penaltyPerKwh"]),
            baseline_method=_int(p["baselineMethod"]),
            baseline_hash=str(p["baselineHash"]),
            baseline_intervals=_int(p["baselineIntervals"]) if "baselineIntervals" in p else None,
            baseline_gap_intervals=(
                _int(p["baselineGapIntervals"]) if "baselineGapIntervals" in p else None
            ),
            escrow=_int(p["escrow"]),
            quantities_wh=quantities,
            status="open",
            round=0,
            opt_in_count=0,
            row_count=0,
            coordinator=None,
            price_per_kwh=None,
            max_payout=None,
            targets_hash=None,
            payout_total=None,
            refund=None,
            settler=None,
            settlement_hash=None,
            settlement_state=None,
            settlement_proposer=None,
            challenge_ends_s=None,
            settlement_bond=None,
            proposed_payout_total=None,
            dispute_count=0,
            bond_paid_to=None,
            published_block=event.block_number,
            published_tx=event.tx_hash,
            updated_block=event.block_number,
        )
    )
    session.execute(
        insert(_RI),
        [
            {
                "chain_id": event.chain_id,
                "request_id": _int(a["requestId"]),
                "interval_index": k,
                "interval_start_s": start + INTERVAL_S * k,
                "requested_wh": q,
                "target_wh": 0,
                "delivered_wh": None,
                "credited_wh": None,
                "shortfall_wh": None,
                "members_without_data": None,
            }
            for k, q in enumerate(quantities)
        ],
    )


@coordination.on(CONTRACT, "EscrowReclaimed")
def project_escrow_reclaimed(event: ChainEvent, session: Session) -> None:
    flush_pending(session)  # written-behind opt-ins first
    a = event.args
    _set_request(event, session, _int(a["requestId"]), status="reclaimed", refund=_int(a["amount"]))


# ------------------------------------------------------------------------------ opt-ins


@dataclass
class _PendingOptIns:
    """Opt-ins of one chunk, written behind (a relayed batch logs hundreds in one block)."""

    rows: dict[int, list[dict[str, Any]]] = field(default_factory=dict)  # by chain id


@coordination.on(CONTRACT, "OptedIn")
def project_opted_in(event: ChainEvent, session: Session) -> None:
    """An opt-in (``opted`` in the request's current round); the request and the member count
    it. Written behind: the other handlers flush first (:func:`_flush_opt_ins`)."""
    a = event.args
    pending = written_behind(session, _OPT_INS, _PendingOptIns, _flush_opt_ins)
    pending.rows.setdefault(event.chain_id, []).append(
        {
            "chain_id": event.chain_id,
            "request_id": _int(a["requestId"]),
            "member": a["member"],
            "max_wh": _int(a["maxWh"]),
            "relayer": a["relayer"],
            "status": "opted",
            "opted_block": event.block_number,
            "tx_hash": event.tx_hash,
        }
    )


_OPT_INS = "coordination-opt-ins"


def _flush_opt_ins(session: Session, pending: _PendingOptIns) -> None:
    """The chunk's opt-ins: one read of their requests' rounds, one insert, one count update
    per request, one account upsert."""
    for chain_id, rows in pending.rows.items():
        wanted = sorted({r["request_id"] for r in rows})
        rounds = {
            int(rid): int(rnd)
            for rid, rnd in session.execute(
                select(_R.c.request_id, _R.c.round).where(
                    _R.c.chain_id == chain_id, _R.c.request_id.in_(wanted)
                )
            )
        }
        for r in rows:
            if r["request_id"] not in rounds:
                raise CoordinationStreamError(
                    f"FlexCoordination.OptedIn: request {r['request_id']} was never published "
                    f"(block {r['opted_block']})"
                )
            r["round"] = rounds[r["request_id"]]
        session.execute(insert(_OI), rows)
        counts: dict[int, list[int]] = {}
        accounts: dict[str, dict[str, int]] = {}
        blocks: dict[str, int] = {}
        for r in rows:
            held = counts.setdefault(r["request_id"], [0, 0])
            held[0] += 1
            held[1] = max(held[1], r["opted_block"])
            accounts.setdefault(r["member"], {"opt_in_count": 0})["opt_in_count"] += 1
            blocks[r["member"]] = max(blocks.get(r["member"], 0), r["opted_block"])
        session.execute(
            update(_R)
            .where(_R.c.chain_id == chain_id, _R.c.request_id == bindparam("b_rid"))
            .values(
                opt_in_count=_R.c.opt_in_count + bindparam("b_n"),
                updated_block=bindparam("b_block"),
            ),
            [{"b_rid": rid, "b_n": n, "b_block": b} for rid, (n, b) in sorted(counts.items())],
        )
        _bump_accounts(chain_id, blocks, session, accounts)


def _set_opt_ins(
    event: ChainEvent,
    session: Session,
    rid: int,
    status: str,
    round_: int,
    members: Sequence[str] | None = None,
) -> None:
    """Give ``members`` (None: every opt-in of the request) ``status`` in round ``round_``."""
    where = [_OI.c.chain_id == event.chain_id, _OI.c.request_id == rid]
    if members is not None:
        if not members:
            return
        where.append(_OI.c.member.in_(list(members)))
    session.execute(update(_OI).where(*where).values(status=status, round=round_))


# ------------------------------------------------------------------------------ coalitions


def _insert_rows(
    event: ChainEvent, session: Session, req: _Req, rows: Sequence[CoalitionRow], first: int
) -> None:
    """Table rows ``rows`` at indexes ``first, first + 1, ...``: a member row each and one
    row per member and interval."""
    session.execute(
        insert(_CM),
        [
            {
                "chain_id": event.chain_id,
                "request_id": req.request_id,
                "member": row.member,
                "row_index": first + i,
                "meter_id": row.meter_id,
                "status": "member",
                "replaces": None,
                "replaced_by": None,
                "replaced_from": None,
                "target_total_wh": sum(row.targets_wh),
                "settled": False,
                "delivered_total_wh": None,
                "credited_total_wh": None,
                "shortfall_total_wh": None,
                "payout": None,
                "penalty_uncovered": None,
                "points": None,
                "updated_block": event.block_number,
                "disputed_by": None,
            }
            for i, row in enumerate(rows)
        ],
    )
    session.execute(
        insert(_MI),
        [
            {
                "chain_id": event.chain_id,
                "request_id": req.request_id,
                "member": row.member,
                "interval_index": k,
                "interval_start_s": req.window_start_s + INTERVAL_S * k,
                "meter_id": row.meter_id,
                "target_wh": target,
                "delivered_wh": None,
                "credited_wh": None,
                "shortfall_wh": None,
                "missing_data": None,
            }
            for row in rows
            for k, target in enumerate(row.targets_wh)
        ],
    )


def _drop_table(event: ChainEvent, session: Session, rid: int) -> None:
    for t in (_MI, _CM):
        session.execute(delete(t).where(t.c.chain_id == event.chain_id, t.c.request_id == rid))


def _set_interval_totals(
    event: ChainEvent, session: Session, rid: int, totals: Sequence[Mapping[str, Any]]
) -> None:
    """Per interval ``k`` (list position) the given totals of the request's interval row."""
    if not totals:
        return
    names = sorted(totals[0])
    session.execute(
        update(_RI)
        .where(
            _RI.c.chain_id == event.chain_id,
            _RI.c.request_id == rid,
            _RI.c.interval_index == bindparam("b_k"),
        )
        .values(**{n: bindparam(f"b_{n}") for n in names}),
        [{"b_k": k, **{f"b_{n}": t[n] for n in names}} for k, t in enumerate(totals)],
    )


@coordination.on(CONTRACT, "CoalitionProposed")
def project_coalition_proposed(event: ChainEvent, session: Session) -> None:
    flush_pending(session)  # written-behind opt-ins first
    a = event.args
    rid = _int(a["requestId"])
    req = _request(event, session, rid)
    rows = unpack_table(_words(a["table"]), req.intervals)
    round_ = _int(a["round"])
    _drop_table(event, session, rid)
    _insert_rows(event, session, req, rows, 0)
    _set_interval_totals(
        event,
        session,
        rid,
        [{"target_wh": sum(r.targets_wh[k] for r in rows)} for k in range(req.intervals)],
    )
    _set_request(
        event,
        session,
        rid,
        status="proposed",
        coordinator=a["coordinator"],
        price_per_kwh=_int(a["pricePerKwh"]),
        max_payout=_int(a["maxPayout"]),
        targets_hash=str(a["targetsHash"]),
        round=round_,
        row_count=len(rows),
    )
    _set_opt_ins(event, session, rid, "opted", round_)
    _set_opt_ins(event, session, rid, "member", round_, [r.member for r in rows])
    _set_opt_ins(event, session, rid, "reserve", round_, list(a["reserves"]))


@coordination.on(CONTRACT, "CoalitionAccepted")
def project_coalition_accepted(event: ChainEvent, session: Session) -> None:
    flush_pending(session)  # written-behind opt-ins first
    a = event.args
    _set_request(
        event, session, _int(a["requestId"]), status="accepted", targets_hash=str(a["targetsHash"])
    )


@coordination.on(CONTRACT, "CoalitionRejected")
def project_coalition_rejected(event: ChainEvent, session: Session) -> None:
    """A new round: the proposal's table is gone and every opt-in counts again (the contract
    keeps the last coordinator and price, and so does the read model)."""
    flush_pending(session)  # written-behind opt-ins first
    a = event.args
    rid, round_ = _int(a["requestId"]), _int(a["round"])
    _drop_table(event, session, rid)
    _set_request(event, session, rid, status="open", round=round_, targets_hash=None, row_count=0)
    session.execute(
        update(_RI)
        .where(_RI.c.chain_id == event.chain_id, _RI.c.request_id == rid)
        .values(target_wh=0)
    )
    _set_opt_ins(event, session, rid, "opted", round_)


@coordination.on(CONTRACT, "MemberReplaced")
def project_member_replaced(event: ChainEvent, session: Session) -> None:
    flush_pending(session)  # written-behind opt-ins first
    a = event.args
    rid = _int(a["requestId"])
    req = _request(event, session, rid)
    member, reserve, start = a["member"], a["reserve"], _int(a["fromInterval"])
    [row] = unpack_table(_words(a["row"]), req.intervals)
    if row.member != reserve:
        raise CoordinationStreamError(
            f"MemberReplaced: the new row is {row.member}'s, the reserve is {reserve}"
        )
    mine = and_(_MI.c.chain_id == event.chain_id, _MI.c.request_id == rid, _MI.c.member == member)
    session.execute(update(_MI).where(mine, _MI.c.interval_index >= start).values(target_wh=0))
    kept = session.execute(select(func.coalesce(func.sum(_MI.c.target_wh), 0)).where(mine))
    session.execute(
        update(_CM)
        .where(_CM.c.chain_id == event.chain_id, _CM.c.request_id == rid, _CM.c.member == member)
        .values(
            status="replaced",
            replaced_by=reserve,
            replaced_from=start,
            target_total_wh=int(kept.scalar_one()),
            updated_block=event.block_number,
        )
    )
    _insert_rows(event, session, req, [row], req.row_count)
    session.execute(
        update(_CM)
        .where(_CM.c.chain_id == event.chain_id, _CM.c.request_id == rid, _CM.c.member == reserve)
        .values(replaces=member)
    )
    _set_request(
        event,
        session,
        rid,
        row_count=req.row_count + 1,
        targets_hash=str(a["targetsHash"]),
    )
    for account, status in ((member, "replaced"), (reserve, "member")):
        session.execute(
            update(_OI)
            .where(
                _OI.c.chain_id == event.chain_id,
                _OI.c.request_id == rid,
                _OI.c.member == account,
            )
            .values(status=status)
        )


# ------------------------------------------------------------------------------ settlement


def decode_settlement(
    args: Mapping[str, Any], intervals: int
) -> tuple[list[MemberResult], list[MemberDeliveries] | None]:
    """The results (one per table row) and deliveries (None when the event carries none) of a
    ``RequestSettled`` event's arguments (the one-step settlement's format, :mod:`core.codec`)."""
    results = [unpack_result(w) for w in _words(args["results"])]
    raw = args.get("deliveries")
    deliveries = None if raw is None else unpack_deliveries(_words(raw), intervals)
    return results, deliveries


def _members(event: ChainEvent, session: Session, rid: int) -> list[str]:
    """The request's table rows' members, in table order."""
    return [
        str(m)
        for m in session.execute(
            select(_CM.c.member)
            .where(_CM.c.chain_id == event.chain_id, _CM.c.request_id == rid)
            .order_by(_CM.c.row_index)
        ).scalars()
    ]


def _table_rows(event: ChainEvent, session: Session, req: _Req) -> list[CoalitionRow]:
    """The request's targets table as the read model holds it (rows in table order)."""
    targets: dict[str, list[int]] = {}
    for member, k, t in session.execute(
        select(_MI.c.member, _MI.c.interval_index, _MI.c.target_wh).where(
            _MI.c.chain_id == event.chain_id, _MI.c.request_id == req.request_id
        )
    ):
        row = targets.setdefault(str(member), [0] * req.intervals)
        row[int(k)] = int(t)
    return [
        CoalitionRow(m, "", tuple(targets.get(m, [0] * req.intervals)))
        for m in _members(event, session, req.request_id)
    ]


def _write_rows(
    event: ChainEvent,
    session: Session,
    req: _Req,
    figures: Sequence[tuple[str, MemberResult, MemberDeliveries | None]],
    settled: bool,
    **member_values: Any,
) -> None:
    """Each (member, result, deliveries) into its member row and its interval rows."""
    rid = req.request_id
    member_rows, interval_rows = [], []
    for member, result, d in figures:
        member_rows.append(
            {
                "b_member": member,
                "b_payout": result.payout,
                "b_penalty": result.penalty_uncovered,
                "b_points": result.points,
                **(
                    {}
                    if d is None
                    else {
                        "b_delivered": sum(d.delivered_wh),
                        "b_credited": sum(d.credited_wh),
                        "b_shortfall": sum(d.shortfall_wh),
                    }
                ),
            }
        )
        if d is not None:
            interval_rows += [
                {
                    "b_member": member,
                    "b_k": k,
                    "b_delivered": d.delivered_wh[k],
                    "b_credited": d.credited_wh[k],
                    "b_shortfall": d.shortfall_wh[k],
                    "b_missing": k in d.missing,
                }
                for k in range(req.intervals)
            ]
    if member_rows:
        with_deliveries = "b_delivered" in member_rows[0]
        session.execute(
            update(_CM)
            .where(
                _CM.c.chain_id == event.chain_id,
                _CM.c.request_id == rid,
                _CM.c.member == bindparam("b_member"),
            )
            .values(
                settled=settled,
                payout=bindparam("b_payout", type_=_CM.c.payout.type),
                penalty_uncovered=bindparam("b_penalty", type_=_CM.c.penalty_uncovered.type),
                points=bindparam("b_points"),
                **(
                    {
                        "delivered_total_wh": bindparam("b_delivered"),
                        "credited_total_wh": bindparam("b_credited"),
                        "shortfall_total_wh": bindparam("b_shortfall"),
                    }
                    if with_deliveries
                    else {}
                ),
                updated_block=event.block_number,
                **member_values,
            ),
            member_rows,
        )
    if interval_rows:
        session.execute(
            update(_MI)
            .where(
                _MI.c.chain_id == event.chain_id,
                _MI.c.request_id == rid,
                _MI.c.member == bindparam("b_member"),
                _MI.c.interval_index == bindparam("b_k"),
            )
            .values(
                delivered_wh=bindparam("b_delivered"),
                credited_wh=bindparam("b_credited"),
                shortfall_wh=bindparam("b_shortfall"),
                missing_data=bindparam("b_missing"),
            ),
            interval_rows,
        )
        _refresh_interval_totals(event, session, req)


def _refresh_interval_totals(event: ChainEvent, session: Session, req: _Req) -> None:
    """The request's per-interval sums of its members' figures."""
    sums = {
        int(k): (int(d), int(c), int(sh), int(m))
        for k, d, c, sh, m in session.execute(
            select(
                _MI.c.interval_index,
                func.coalesce(func.sum(_MI.c.delivered_wh), 0),
                func.coalesce(func.sum(_MI.c.credited_wh), 0),
                func.coalesce(func.sum(_MI.c.shortfall_wh), 0),
                func.coalesce(func.sum(case((_MI.c.missing_data.is_(True), 1), else_=0)), 0),
            )
            .where(_MI.c.chain_id == event.chain_id, _MI.c.request_id == req.request_id)
            .group_by(_MI.c.interval_index)
        )
    }
    _set_interval_totals(
        event,
        session,
        req.request_id,
        [
            dict(
                zip(
                    ("delivered_wh", "credited_wh", "shortfall_wh", "members_without_data"),
                    sums.get(k, (0, 0, 0, 0)),
                    strict=True,
                )
            )
            for k in range(req.intervals)
        ],
    )


def _credit_accounts(event: ChainEvent, session: Session, members: Sequence[str],
                     results: Sequence[MemberResult]) -> None:
    """Each member's account: the payout claimable, the points added, one more settled."""
    deltas: dict[str, dict[str, int]] = {}
    for member, result in zip(members, results, strict=True):
        acc = deltas.setdefault(member, dict.fromkeys(_ACCOUNT_FIELDS, 0))
        acc["claimable"] += result.payout
        acc["earned_total"] += result.payout
        acc["penalty_uncovered_total"] += result.penalty_uncovered
        acc["reputation"] += result.points
        acc["settled_count"] += 1
    _bump_accounts(event.chain_id, event.block_number, session, deltas)


def _check_rows(event: ChainEvent, rid: int, members: Sequence[str], count: int) -> None:
    if count != len(members):
        raise CoordinationStreamError(
            f"{event.event} of request {rid}: {count} results for a table of "
            f"{len(members)} rows (block {event.block_number})"
        )


@coordination.on(CONTRACT, "SettlementProposed")
def project_settlement_proposed(event: ChainEvent, session: Session) -> None:
    """The proposal's figures per row (not settled yet) and the request's settlement state."""
    flush_pending(session)  # written-behind opt-ins first
    a = event.args
    rid = _int(a["requestId"])
    req = _request(event, session, rid)
    rows = _table_rows(event, session, req)
    results = [unpack_result(w) for w in _words(a["results"])]
    _check_rows(event, rid, [r.member for r in rows], len(results))
    deliveries = unpack_proposal_deliveries(_words(a["deliveries"]), rows, req.tolerance_bp)
    _write_rows(
        event,
        session,
        req,
        [(r.member, res, d) for r, res, d in zip(rows, results, deliveries, strict=True)],
        settled=False,
        disputed_by=None,
    )
    _set_request(
        event,
        session,
        rid,
        settlement_state="proposed",
        settlement_proposer=a["proposer"],
        challenge_ends_s=_int(a["challengeEnds"]),
        settlement_bond=_int(a["bond"]),
        proposed_payout_total=_int(a["payoutTotal"]),
        dispute_count=0,
        bond_paid_to=None,
        settlement_hash=str(a["settlementHash"]),
    )


@coordination.on(CONTRACT, "SettlementDisputed")
def project_settlement_disputed(event: ChainEvent, session: Session) -> None:
    """The corrected row replaces the proposed one; the request counts the dispute."""
    flush_pending(session)  # written-behind opt-ins first
    a = event.args
    rid = _int(a["requestId"])
    req = _request(event, session, rid)
    rows = _table_rows(event, session, req)
    i = _int(a["row"])
    words = _words(a["deliveries"])
    if i >= len(rows) or rows[i].member != a["member"] or (
        len(words) != proposal_row_words(req.intervals)
    ):
        raise CoordinationStreamError(
            f"SettlementDisputed of request {rid}: row {i} is not {a['member']}'s "
            f"(block {event.block_number})"
        )
    [d] = unpack_proposal_deliveries(words, rows[i : i + 1], req.tolerance_bp)
    _write_rows(
        event,
        session,
        req,
        [(rows[i].member, unpack_result(_int(a["result"])), d)],
        settled=False,
        disputed_by=a["disputer"],
    )
    paid_to: dict[str, Any] = {}
    if _int(a["bondPaid"]):  # the DSO's when the proposer corrected its own proposal
        proposer, dso = session.execute(
            select(_R.c.settlement_proposer, _R.c.dso).where(_request_where(event, rid))
        ).one()
        paid_to["bond_paid_to"] = dso if a["disputer"] == proposer else a["disputer"]
    _set_request(
        event,
        session,
        rid,
        dispute_count=_R.c.dispute_count + 1,
        proposed_payout_total=_int(a["payoutTotal"]),
        settlement_hash=str(a["settlementHash"]),
        **paid_to,
    )


@coordination.on(CONTRACT, "SettlementFinalized")
def project_settlement_finalized(event: ChainEvent, session: Session) -> None:
    """Settled: the final results per row, the members' accounts credited."""
    flush_pending(session)  # written-behind opt-ins first
    a = event.args
    rid = _int(a["requestId"])
    req = _request(event, session, rid)
    members = _members(event, session, rid)
    results = [unpack_result(w) for w in _words(a["results"])]
    _check_rows(event, rid, members, len(results))
    _write_rows(
        event, session, req, [(m, r, None) for m, r in zip(members, results, strict=True)], True
    )
    _set_request(
        event,
        session,
        rid,
        status="settled",
        settlement_state="finalized",
        settler=a["finalizer"],
        payout_total=_int(a["payoutTotal"]),
        refund=_int(a["refund"]),
        settlement_hash=str(a["settlementHash"]),
    )
    _credit_accounts(event, session, members, results)


@coordination.on(CONTRACT, "RequestSettled")
def project_request_settled(event: ChainEvent, session: Session) -> None:
    """The one-step settlement (see the module): figures, settled, accounts credited."""
    flush_pending(session)  # written-behind opt-ins first
    a = event.args
    rid = _int(a["requestId"])
    req = _request(event, session, rid)
    members = _members(event, session, rid)
    results, deliveries = decode_settlement(a, req.intervals)
    _check_rows(event, rid, members, len(results))
    if deliveries is not None:
        _check_rows(event, rid, members, len(deliveries))
    _write_rows(
        event,
        session,
        req,
        [
            (m, r, None if deliveries is None else deliveries[i])
            for i, (m, r) in enumerate(zip(members, results, strict=True))
        ],
        True,
    )
    _set_request(
        event,
        session,
        rid,
        status="settled",
        settler=a["settler"],
        payout_total=_int(a["payoutTotal"]),
        refund=_int(a["refund"]),
        settlement_hash=str(a["settlementHash"]),
    )
    _credit_accounts(event, session, members, results)


@coordination.on(CONTRACT, "PayoutClaimed")
def project_payout_claimed(event: ChainEvent, session: Session) -> None:
    flush_pending(session)  # written-behind opt-ins first
    a = event.args
    amount = _int(a["amount"])
    _bump_accounts(
        event.chain_id,
        event.block_number,
        session,
        {a["member"]: {"claimable": -amount, "claimed_total": amount}},
    )
