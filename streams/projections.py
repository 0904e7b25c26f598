"""The platform's projections of the core contracts: participants, token balances, the market
(sessions, orders, matches, deposits, settlements on delivery) and the oracles (meter values,
forecasts). They are written in the framework of :mod:`streams.projection`; FlexCoordination's
projection is :mod:`streams.coordination`; :mod:`streams.registry` lists them all.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from sqlalchemy import (
    CursorResult,
    Numeric,
    Table,
    and_,
    func,
    insert,
    select,
    type_coerce,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from chain.domain import Role
from chain.indexer import ChainEvent
from streams.models import (
    Base,
    Forecast,
    MarketDeposit,
    MarketMatch,
    MarketOrder,
    MarketSellerSettlement,
    MarketSession,
    MeterInterval,
    OracleId,
    Participant,
    TokenBalance,
    TokenSupply,
)
from streams.projection import ZERO_ADDRESS, Projection, flush_pending, upsert, written_behind

# --------------------------------------------------------------------------------------------
# Participants (ParticipantRegistry)

participants = Projection("participants", tables=("participants",))
_P = cast(Table, Participant.__table__)


def _bytes32_text(value: str) -> str:
    raw = bytes.fromhex(value[2:]) if value.startswith("0x") else value.encode()
    return raw.rstrip(b"\x00").decode(errors="replace")


@participants.on("ParticipantRegistry", "ParticipantRegistered")
def project_participant_registered(event: ChainEvent, session: Session) -> None:
    """A new participant: active, with its role, grid area and meter; no aggregator."""
    a = event.args
    role = int(a["role"])
    upsert(
        session,
        _P,
        {
            "chain_id": event.chain_id,
            "account": a["account"],
            "role": role,
            "role_name": Role(role).label if role in Role._value2member_map_ else str(role),
            "grid_area": _bytes32_text(a["gridArea"]),
            "meter_id": _bytes32_text(a["meterId"]),
            "active": True,
            "aggregator": None,
            "registered_block": event.block_number,
            "registered_tx": event.tx_hash,
            "updated_block": event.block_number,
        },
        ["chain_id", "account"],
    )


def _set_participant(event: ChainEvent, session: Session, account: str, **values: Any) -> None:
    flush_pending(session)
    session.execute(
        update(_P)
        .where(_P.c.chain_id == event.chain_id, _P.c.account == account)
        .values(updated_block=event.block_number, **values)
    )


@participants.on("ParticipantRegistry", "ParticipantDeactivated")
def project_participant_deactivated(event: ChainEvent, session: Session) -> None:
    _set_participant(event, session, event.args["account"], active=False)


@participants.on("ParticipantRegistry", "ParticipantReactivated")
def project_participant_reactivated(event: ChainEvent, session: Session) -> None:
    _set_participant(event, session, event.args["account"], active=True)


@participants.on("ParticipantRegistry", "AggregatorDelegated")
def project_aggregator_delegated(event: ChainEvent, session: Session) -> None:
    _set_participant(event, session, event.args["member"], aggregator=event.args["aggregator"])


@participants.on("ParticipantRegistry", "AggregatorDelegationRevoked")
def project_aggregator_delegation_revoked(event: ChainEvent, session: Session) -> None:
    _set_participant(event, session, event.args["member"], aggregator=None)


# --------------------------------------------------------------------------------------------
# Token balances and supply (FlexToken ERC-20 Transfer)

balances = Projection("token_balances", tables=("token_balances", "token_supplies"))
_TB = cast(Table, TokenBalance.__table__)
_TS = cast(Table, TokenSupply.__table__)
_MD = cast(Table, MarketDeposit.__table__)
_AMOUNT = Numeric(78, 0)

_ADDITIVE: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # table: (key columns, amount columns)
    "token_balances": (("chain_id", "token", "account"), ("balance",)),
    "token_supplies": (("chain_id", "token"), ("total_supply",)),
    "market_deposits": (("chain_id", "market", "account"), ("deposited", "withdrawn")),
}

Deltas = dict[tuple[Any, ...], list[int]]
"""Key of a row -> ``[amount added to each amount column..., newest block]``."""


def _add_delta(
    session: Session, table: Table, key: tuple[Any, ...], column: int, delta: int, block: int
) -> None:
    """Add ``delta`` to amount column number ``column`` of row ``key`` (written behind)."""
    deltas: Deltas = written_behind(session, table.name, dict, _FLUSHES[table.name])
    held = deltas.get(key)
    if held is None:
        held = deltas[key] = [0] * len(_ADDITIVE[table.name][1]) + [block]
    held[column] += delta
    if block > held[-1]:
        held[-1] = block


def _flush_deltas(table: Table) -> Callable[[Session, Deltas], None]:
    """Adds a chunk's amounts to the rows, one statement per table and chunk.

    PostgreSQL adds them in SQL (``INSERT ... ON CONFLICT DO UPDATE SET balance = balance +
    excluded.balance``): exact NUMERIC arithmetic, and safe when several Kafka workers add to
    the same account at once (each upsert waits for the other's row lock, then adds to the
    committed value; a read-then-write would lose one of the updates). SQLite stores the
    amounts as decimal text (its integers stop at 2**63), so the rows are read and the sums
    made in Python; SQLite has one writer at a time and this runs inside the write
    transaction (the events were inserted first), so nothing changes in between."""
    keys, amounts = _ADDITIVE[table.name]

    def flush(session: Session, deltas: Deltas) -> None:
        if not deltas:
            return
        order = sorted(deltas)  # rows locked in key order: no deadlock between workers
        if session.get_bind().dialect.name == "postgresql":
            pg = postgresql.insert(table)
            stmt: Any = pg.on_conflict_do_update(
                index_elements=list(keys),
                set_={
                    **{
                        a: type_coerce(table.c[a], _AMOUNT) + type_coerce(pg.excluded[a], _AMOUNT)
                        for a in amounts
                    },
                    "updated_block": func.greatest(
                        table.c.updated_block, pg.excluded.updated_block
                    ),
                },
            )
            rows = [_delta_row(keys, amounts, k, deltas[k]) for k in order]
        else:
            current = _current_amounts(session, table, keys, amounts, order)
            lite = sqlite.insert(table)
            stmt = lite.on_conflict_do_update(
                index_elements=list(keys),
                set_={
                    **{a: lite.excluded[a] for a in amounts},
                    "updated_block": func.max(table.c.updated_block, lite.excluded.updated_block),
                },
            )
            rows = []
            for k in order:
                held = deltas[k]
                now = current.get(k, [0] * len(amounts))
                rows.append(
                    _delta_row(
                        keys,
                        amounts,
                        k,
                        [n + d for n, d in zip(now, held, strict=False)] + [held[-1]],
                    )
                )
        session.execute(stmt, rows)

    return flush


def _delta_row(
    keys: tuple[str, ...], amounts: tuple[str, ...], key: tuple[Any, ...], values: list[int]
) -> dict[str, Any]:
    row = dict(zip(keys, key, strict=True))
    row.update(zip(amounts, values, strict=False))
    row["updated_block"] = values[-1]
    return row


def _current_amounts(
    session: Session,
    table: Table,
    keys: tuple[str, ...],
    amounts: tuple[str, ...],
    wanted: list[tuple[Any, ...]],
) -> dict[tuple[Any, ...], list[int]]:
    """The stored amounts of the ``wanted`` rows (missing rows are absent): one query per
    value of the leading key columns and 500 values of the last one."""
    found: dict[tuple[Any, ...], list[int]] = {}
    groups: dict[tuple[Any, ...], list[Any]] = {}
    for k in wanted:
        groups.setdefault(k[:-1], []).append(k[-1])
    cols = [table.c[c] for c in keys]
    for prefix, lasts in groups.items():
        where = [c == v for c, v in zip(cols[:-1], prefix, strict=True)]
        for lo in range(0, len(lasts), 500):
            for row in session.execute(
                select(*cols, *(table.c[a] for a in amounts)).where(
                    *where, cols[-1].in_(lasts[lo : lo + 500])
                )
            ):
                found[tuple(row[: len(keys)])] = [int(v) for v in row[len(keys) :]]
    return found


_FLUSHES = {name: _flush_deltas(Base.metadata.tables[name]) for name in _ADDITIVE}


@balances.on("FlexToken", "Transfer")
def project_token_transfer(event: ChainEvent, session: Session) -> None:
    """Moves ``value`` base units; from the zero address it is a mint, to it a burn. The
    amounts of a chunk add up in the session and reach the rows at :func:`flush_pending`."""
    a = event.args
    value = int(a["value"])
    sender, receiver = a["from"], a["to"]
    chain_id, token, block = event.chain_id, event.address, event.block_number
    if sender == ZERO_ADDRESS:
        _add_delta(session, _TS, (chain_id, token), 0, value, block)
    else:
        _add_delta(session, _TB, (chain_id, token, sender), 0, -value, block)
    if receiver == ZERO_ADDRESS:
        _add_delta(session, _TS, (chain_id, token), 0, -value, block)
    else:
        _add_delta(session, _TB, (chain_id, token, receiver), 0, value, block)


# --------------------------------------------------------------------------------------------
# The flexibility market (FlexMarket): sessions, orders, matches

market = Projection(
    "market",
    tables=(
        "market_sessions",
        "market_orders",
        "market_matches",
        "market_deposits",
        "market_seller_settlements",
    ),
)
_S = cast(Table, MarketSession.__table__)
_O = cast(Table, MarketOrder.__table__)
_M = cast(Table, MarketMatch.__table__)
_SS = cast(Table, MarketSellerSettlement.__table__)


def _session_where(event: ChainEvent, session_id: int) -> Any:
    return and_(
        _S.c.chain_id == event.chain_id, _S.c.market == event.address, _S.c.session_id == session_id
    )


def _order_where(event: ChainEvent, session_id: int, order_id: int) -> Any:
    return and_(
        _O.c.chain_id == event.chain_id,
        _O.c.market == event.address,
        _O.c.session_id == session_id,
        _O.c.order_id == order_id,
    )


@market.on("FlexMarket", "SessionOpened")
def project_session_opened(event: ChainEvent, session: Session) -> None:
    """A new session, open, with its times, product, pricing rule, grid area and terms."""
    a = event.args
    p = a["params"]
    upsert(
        session,
        _S,
        {
            "chain_id": event.chain_id,
            "market": event.address,
            "session_id": int(a["sessionId"]),
            "delivery_start_s": int(p["deliveryStart"]),
            "duration_s": int(p["durationS"]),
            "gate_closure_s": int(p["gateClosure"]),
            "reveal_deadline_s": int(p["revealDeadline"]),
            "product": int(p["product"]),
            "rule": int(p["rule"]),
            "sealed_bids": bool(p["sealedBids"]),
            "grid_area": _bytes32_text(p["gridArea"]),
            "status": "open",
            "order_count": 0,
            "cancel_count": 0,
            "price_per_kwh": None,
            "volume_wh": None,
            "match_count": None,
            "escrowed": None,
            "result_hash": None,
            "opened_block": event.block_number,
            "cleared_block": None,
            "tolerance_bp": int(p["toleranceBp"]),
            "penalty_per_kwh": int(p["penaltyPerKwh"]),
            "order_bond": int(p["orderBond"]),
            "baseline_intervals": int(p["baselineIntervals"]),
            "settle_delay_s": int(p["settleDelayS"]),
            "earned": None,
            "penalties": None,
            "refunds": None,
            "dust": None,
            "settled_block": None,
        },
        ["chain_id", "market", "session_id"],
    )


@market.on("FlexMarket", "OrderPlaced")
def project_order_placed(event: ChainEvent, session: Session) -> None:
    """An order enters the book (placed, signed or revealed); the session counts it."""
    a = event.args
    sid = int(a["sessionId"])
    flush_pending(session)  # the session row may still be written behind
    session.execute(
        insert(_O).values(
            chain_id=event.chain_id,
            market=event.address,
            session_id=sid,
            order_id=int(a["orderId"]),
            trader=a["trader"],
            side=int(a["side"]),
            qty_wh=int(a["qtyWh"]),
            price_per_kwh=int(a["pricePerKwh"]),
            grid_area=_bytes32_text(a["gridArea"]),
            cancelled=False,
            filled_wh=0,
            placed_block=event.block_number,
            tx_hash=event.tx_hash,
        )
    )
    session.execute(
        update(_S).where(_session_where(event, sid)).values(order_count=_S.c.order_count + 1)
    )


@market.on("FlexMarket", "OrderCancelled")
def project_order_cancelled(event: ChainEvent, session: Session) -> None:
    """The order leaves the book (the contract accepts a cancel only from its trader, or
    from anyone once the trader is inactive)."""
    a = event.args
    sid, oid = int(a["sessionId"]), int(a["orderId"])
    flush_pending(session)
    done = session.execute(
        update(_O)
        .where(_order_where(event, sid, oid), _O.c.cancelled.is_(False))
        .values(cancelled=True)
    )
    if cast(CursorResult[Any], done).rowcount:
        session.execute(
            update(_S).where(_session_where(event, sid)).values(cancel_count=_S.c.cancel_count + 1)
        )


@market.on("FlexMarket", "OrderMatched")
def project_order_matched(event: ChainEvent, session: Session) -> None:
    """A match: recorded, and added to both orders' fills."""
    a = event.args
    sid, qty = int(a["sessionId"]), int(a["qtyWh"])
    flush_pending(session)
    session.execute(
        insert(_M).values(
            chain_id=event.chain_id,
            block_number=event.block_number,
            log_index=event.log_index,
            market=event.address,
            session_id=sid,
            bid_id=int(a["bidId"]),
            offer_id=int(a["offerId"]),
            qty_wh=qty,
            price_per_kwh=int(a["pricePerKwh"]),
        )
    )
    for oid in (int(a["bidId"]), int(a["offerId"])):
        session.execute(
            update(_O).where(_order_where(event, sid, oid)).values(filled_wh=_O.c.filled_wh + qty)
        )


@market.on("FlexMarket", "SessionCleared")
def project_session_cleared(event: ChainEvent, session: Session) -> None:
    a = event.args
    flush_pending(session)
    session.execute(
        update(_S)
        .where(_session_where(event, int(a["sessionId"])))
        .values(
            status="cleared",
            price_per_kwh=int(a["pricePerKwh"]),
            volume_wh=int(a["volumeWh"]),
            match_count=int(a["matchCount"]),
            escrowed=int(a["escrowed"]),
            result_hash=a["resultHash"],
            cleared_block=event.block_number,
        )
    )


@market.on("FlexMarket", "SessionVoided")
def project_session_voided(event: ChainEvent, session: Session) -> None:
    """Not cleared before its delivery: voided, every lock released."""
    flush_pending(session)
    session.execute(
        update(_S)
        .where(_session_where(event, int(event.args["sessionId"])))
        .values(status="voided", settled_block=event.block_number)
    )


@market.on("FlexMarket", "SellerSettled")
def project_seller_settled(event: ChainEvent, session: Session) -> None:
    """One seller of a session settled on delivery: its fill against its metered delivery."""
    a = event.args
    flush_pending(session)
    upsert(
        session,
        _SS,
        {
            "chain_id": event.chain_id,
            "market": event.address,
            "session_id": int(a["sessionId"]),
            "seller": a["seller"],
            "filled_wh": int(a["filledWh"]),
            "delivered_wh": int(a["deliveredWh"]),
            "credited_wh": int(a["creditedWh"]),
            "shortfall_wh": int(a["shortfallWh"]),
            "earned": int(a["earned"]),
            "penalty": int(a["penalty"]),
            "missing_data": bool(a["missingData"]),
            "settled_block": event.block_number,
        },
        ["chain_id", "market", "session_id", "seller"],
    )


@market.on("FlexMarket", "BuyerRefunded")
def project_buyer_refunded(event: ChainEvent, session: Session) -> None:
    """A filled bid of a settled session: what it paid and what came back."""
    a = event.args
    flush_pending(session)
    session.execute(
        update(_O)
        .where(_order_where(event, int(a["sessionId"]), int(a["orderId"])))
        .values(paid=int(a["paid"]), refund=int(a["refund"]))
    )


@market.on("FlexMarket", "SessionSettled")
def project_session_settled(event: ChainEvent, session: Session) -> None:
    a = event.args
    flush_pending(session)
    session.execute(
        update(_S)
        .where(_session_where(event, int(a["sessionId"])))
        .values(
            status="settled",
            earned=int(a["earned"]),
            penalties=int(a["penalties"]),
            refunds=int(a["refunds"]),
            dust=int(a["dust"]),
            settled_block=event.block_number,
        )
    )


@market.on("FlexMarket", "Deposited")
def project_market_deposit(event: ChainEvent, session: Session) -> None:
    """FlexToken moved into the account's market balance (added up per chunk)."""
    key = (event.chain_id, event.address, event.args["account"])
    _add_delta(session, _MD, key, 0, int(event.args["amount"]), event.block_number)


@market.on("FlexMarket", "Withdrawn")
def project_market_withdrawal(event: ChainEvent, session: Session) -> None:
    key = (event.chain_id, event.address, event.args["account"])
    _add_delta(session, _MD, key, 1, int(event.args["amount"]), event.block_number)


# -------------------------------------------------------------------------------- oracles

oracles = Projection("oracles", tables=("oracle_ids", "meter_intervals", "forecasts"))
_IDS = cast(Table, OracleId.__table__)
_MI = cast(Table, MeterInterval.__table__)
_FC = cast(Table, Forecast.__table__)
_U64 = (1 << 64) - 1
_U96 = (1 << 96) - 1


def _enrolled(event: ChainEvent, session: Session, index: int) -> str:
    flush_pending(session)
    ident = session.execute(
        select(_IDS.c.ident).where(
            _IDS.c.chain_id == event.chain_id,
            _IDS.c.oracle == event.address,
            _IDS.c.id_index == index,
        )
    ).scalar_one_or_none()
    if ident is None:  # the contract refuses values of unknown indexes: a broken log stream
        raise ValueError(
            f"{event.contract}: no id enrolled at index {index} (block {event.block_number})"
        )
    return str(ident)


@oracles.on("MeterOracle", "MeterEnrolled")
@oracles.on("ForecastOracle", "ForecastParticipantEnrolled")
def project_id_enrolled(event: ChainEvent, session: Session) -> None:
    a = event.args
    meter = "meterId" in a
    raw = a["meterId"] if meter else a["participantId"]
    index = a["meterIndex"] if meter else a["participantIndex"]
    upsert(
        session,
        _IDS,
        {
            "chain_id": event.chain_id,
            "oracle": event.address,
            "id_index": int(index),
            "ident": _bytes32_text(raw),
        },
        ["chain_id", "oracle", "id_index"],
    )


def _meter_value(
    event: ChainEvent,
    session: Session,
    meter_id: str,
    interval: int,
    import_wh: int,
    export_wh: int,
    root: str,
    corrected: bool,
) -> None:
    upsert(
        session,
        _MI,
        {
            "chain_id": event.chain_id,
            "meter_id": meter_id,
            "interval_start_s": interval,
            "import_wh": import_wh,
            "export_wh": export_wh,
            "corrected": corrected,
            "root": root,
            "block_number": event.block_number,
        },
        ["chain_id", "meter_id", "interval_start_s"],
    )


@oracles.on("MeterOracle", "MeterReadingsCommitted")
def project_meter_readings(event: ChainEvent, session: Session) -> None:
    """One row per meter and interval: ``index << 192 | import << 96 | export``."""
    a = event.args
    interval = int(a["intervalStart"])
    for raw in a["readings"]:
        word = int(raw)
        meter = _enrolled(event, session, word >> 192)
        _meter_value(
            event,
            session,
            meter,
            interval,
            (word >> 96) & _U96,
            word & _U96,
            str(a["root"]),
            corrected=False,
        )


@oracles.on("MeterOracle", "MeterReadingCorrected")
def project_meter_correction(event: ChainEvent, session: Session) -> None:
    a = event.args
    _meter_value(
        event,
        session,
        _bytes32_text(a["meterId"]),
        int(a["intervalStart"]),
        int(a["importWh"]),
        int(a["exportWh"]),
        str(a["root"]),
        corrected=True,
    )


def _signed_u64(raw: int) -> int:
    return raw - (1 << 64) if raw >= 1 << 63 else raw


def _forecasts(event: ChainEvent, session: Session, revised: bool) -> None:
    """One row per participant and interval: ``index << 192 | q10 << 128 | q50 << 64 | q90``."""
    a = event.args
    interval = int(a["intervalStart"])
    for raw in a["forecasts"]:
        word = int(raw)
        upsert(
            session,
            _FC,
            {
                "chain_id": event.chain_id,
                "participant_id": _enrolled(event, session, word >> 192),
                "interval_start_s": interval,
                "q10_wh": _signed_u64((word >> 128) & _U64),
                "q50_wh": _signed_u64((word >> 64) & _U64),
                "q90_wh": _signed_u64(word & _U64),
                "model_version": _bytes32_text(str(a["modelVersion"])),
                "revised": revised,
                "block_number": event.block_number,
            },
            ["chain_id", "participant_id", "interval_start_s"],
        )


@oracles.on("ForecastOracle", "ForecastsCommitted")
def project_forecasts(event: ChainEvent, session: Session) -> None:
    _forecasts(event, session, revised=False)


@oracles.on("ForecastOracle", "ForecastsRevised")
def project_forecasts_revised(event: ChainEvent, session: Session) -> None:
    _forecasts(event, session, revised=True)
