"""SQLAlchemy 2 models of the read models, the event store and the indexer's bookkeeping.

Tables
------
``chain_events``
    Every decoded log (the event store): the read models are a function of it, and a rollback
    or a rebuild replays it. Unique by ``(chain_id, block_hash, log_index)`` (the idempotency
    key) and by position ``(chain_id, block_number, log_index)``.
``index_checkpoints``
    One row per chain: the last block applied (number, hash) and the last log index applied in
    it (-1 when it had none). Written in the same transaction as the read-model updates.
``indexed_blocks``
    Hashes of recent blocks (the last block of each chunk and every block with a log), for
    reorg detection.
``participants``, ``token_balances``, ``token_supplies``
    Read models of ParticipantRegistry and FlexToken.
``market_sessions``, ``market_orders``, ``market_matches``
    Read models of FlexMarket.
``oracle_ids``, ``meter_intervals``, ``forecasts``
    Read models of MeterOracle and ForecastOracle: the enrolled ids by compact index, each
    meter's committed import/export energy per interval (corrections replace the value and
    are flagged), each participant's forecast quantiles per interval. Later issues add theirs
    (requests, coalitions, settlements) with a projection and a migration each.

Amounts are uint256 on-chain: :class:`Uint256` stores them exactly (NUMERIC(78,0) on
PostgreSQL, decimal text on SQLite, whose numbers stop at 2**63).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Dialect,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator, TypeEngine

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "pk": "pk_%(table_name)s",
}


class Uint256(TypeDecorator[int]):
    """An unsigned 256-bit integer, exact on every backend (Python ``int`` in and out)."""

    impl = String(80)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(Numeric(78, 0))
        return dialect.type_descriptor(String(80))

    def process_bind_param(self, value: int | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if dialect.name == "postgresql":
            return Decimal(value)
        return str(int(value))

    def process_result_value(self, value: Any, dialect: Dialect) -> int | None:
        return None if value is None else int(value)


JsonDoc = JSON().with_variant(JSONB(), "postgresql")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class ChainEventRow(Base):
    """One decoded contract log (see :class:`chain.indexer.ChainEvent`)."""

    __tablename__ = "chain_events"
    __table_args__ = (
        UniqueConstraint("chain_id", "block_hash", "log_index", name="uq_chain_events_identity"),
        Index("ix_chain_events_kind", "chain_id", "contract", "event", "block_number"),
    )

    chain_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    block_number: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    log_index: Mapped[int] = mapped_column(Integer, primary_key=True)
    block_hash: Mapped[str] = mapped_column(String(66))
    tx_hash: Mapped[str] = mapped_column(String(66))
    address: Mapped[str] = mapped_column(String(42))
    contract: Mapped[str] = mapped_column(String(100))
    event: Mapped[str] = mapped_column(String(100))
    args: Mapped[dict[str, Any]] = mapped_column(JsonDoc)


class IndexCheckpoint(Base):
    """Where the read models stand on one chain."""

    __tablename__ = "index_checkpoints"

    chain_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    block_number: Mapped[int] = mapped_column(BigInteger)
    block_hash: Mapped[str] = mapped_column(String(66))
    log_index: Mapped[int] = mapped_column(Integer)


class IndexedBlock(Base):
    """A recent block's hash (reorg detection)."""

    __tablename__ = "indexed_blocks"

    chain_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    number: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    hash: Mapped[str] = mapped_column(String(66))


class Participant(Base):
    """A registered participant (ParticipantRegistry events)."""

    __tablename__ = "participants"
    __table_args__ = (Index("ix_participants_area", "chain_id", "grid_area"),)

    chain_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    account: Mapped[str] = mapped_column(String(42), primary_key=True)
    role: Mapped[int] = mapped_column(Integer)
    role_name: Mapped[str] = mapped_column(String(32))
    grid_area: Mapped[str] = mapped_column(String(64))
    meter_id: Mapped[str] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(Boolean)
    aggregator: Mapped[str | None] = mapped_column(String(42), nullable=True)
    registered_block: Mapped[int] = mapped_column(BigInteger)
    registered_tx: Mapped[str] = mapped_column(String(66))
    updated_block: Mapped[int] = mapped_column(BigInteger)


class TokenBalance(Base):
    """An account's balance of a token, in base units (FlexToken Transfer events)."""

    __tablename__ = "token_balances"

    chain_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    token: Mapped[str] = mapped_column(String(42), primary_key=True)
    account: Mapped[str] = mapped_column(String(42), primary_key=True)
    balance: Mapped[int] = mapped_column(Uint256)
    updated_block: Mapped[int] = mapped_column(BigInteger)


class TokenSupply(Base):
    """A token's total supply in base units (mints add, burns subtract)."""

    __tablename__ = "token_supplies"

    chain_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    token: Mapped[str] = mapped_column(String(42), primary_key=True)
    total_supply: Mapped[int] = mapped_column(Uint256)
    updated_block: Mapped[int] = mapped_column(BigInteger)


class MarketSession(Base):
    """A FlexMarket session (SessionOpened, then SessionCleared)."""

    __tablename__ = "market_sessions"

    chain_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    market: Mapped[str] = mapped_column(String(42), primary_key=True)
    session_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    delivery_start_s: Mapped[int] = mapped_column(BigInteger)
    duration_s: Mapped[int] = mapped_column(BigInteger)
    gate_closure_s: Mapped[int] = mapped_column(BigInteger)
    reveal_deadline_s: Mapped[int] = mapped_column(BigInteger)
    product: Mapped[int] = mapped_column(Integer)
    rule: Mapped[int] = mapped_column(Integer)
    sealed_bids: Mapped[bool] = mapped_column(Boolean)
    grid_area: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    order_count: Mapped[int] = mapped_column(Integer)
    cancel_count: Mapped[int] = mapped_column(Integer)
    price_per_kwh: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    volume_wh: Mapped[int | None] = mapped_column(Uint256, nullable=True)
    match_count: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    escrowed: Mapped[int | None] = mapped_column(Uint256, nullable=True)
    result_hash: Mapped[str | None] = mapped_column(String(66), nullable=True)
    opened_block: Mapped[int] = mapped_column(BigInteger)
    cleared_block: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class MarketOrder(Base):
    """An order in a session's book (OrderPlaced; OrderCancelled; fills from OrderMatched)."""

    __tablename__ = "market_orders"
    __table_args__ = (Index("ix_market_orders_trader", "chain_id", "trader"),)

    chain_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    market: Mapped[str] = mapped_column(String(42), primary_key=True)
    session_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    order_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    trader: Mapped[str] = mapped_column(String(42))
    side: Mapped[int] = mapped_column(Integer)
    qty_wh: Mapped[int] = mapped_column(BigInteger)
    price_per_kwh: Mapped[int] = mapped_column(BigInteger)
    grid_area: Mapped[str] = mapped_column(String(64))
    cancelled: Mapped[bool] = mapped_column(Boolean)
    filled_wh: Mapped[int] = mapped_column(BigInteger)
    placed_block: Mapped[int] = mapped_column(BigInteger)
    tx_hash: Mapped[str] = mapped_column(String(66))


class MarketMatch(Base):
    """One match of an accepted clearing (OrderMatched), where it is on the chain."""

    __tablename__ = "market_matches"
    __table_args__ = (Index("ix_market_matches_session", "chain_id", "market", "session_id"),)

    chain_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    block_number: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    log_index: Mapped[int] = mapped_column(Integer, primary_key=True)
    market: Mapped[str] = mapped_column(String(42))
    session_id: Mapped[int] = mapped_column(BigInteger)
    bid_id: Mapped[int] = mapped_column(BigInteger)
    offer_id: Mapped[int] = mapped_column(BigInteger)
    qty_wh: Mapped[int] = mapped_column(BigInteger)
    price_per_kwh: Mapped[int] = mapped_column(BigInteger)


class OracleId(Base):
    """An id enrolled in an oracle contract under a compact index (MeterEnrolled and
    ForecastParticipantEnrolled)."""

    __tablename__ = "oracle_ids"

    chain_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    oracle: Mapped[str] = mapped_column(String(42), primary_key=True)
    id_index: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    ident: Mapped[str] = mapped_column(String(64))


class MeterInterval(Base):
    """A meter's committed energy in one 15-minute interval (the latest value; corrected ones
    are flagged, the originals stay in ``chain_events``)."""

    __tablename__ = "meter_intervals"
    __table_args__ = (Index("ix_meter_intervals_interval", "chain_id", "interval_start_s"),)

    chain_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    meter_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    interval_start_s: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    import_wh: Mapped[int] = mapped_column(BigInteger)
    export_wh: Mapped[int] = mapped_column(BigInteger)
    corrected: Mapped[bool] = mapped_column(Boolean)
    root: Mapped[str] = mapped_column(String(66))
    block_number: Mapped[int] = mapped_column(BigInteger)


class Forecast(Base):
    """A participant's committed forecast for one interval: 10/50/90 % quantiles, Wh."""

    __tablename__ = "forecasts"

    chain_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    participant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    interval_start_s: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    q10_wh: Mapped[int] = mapped_column(BigInteger)
    q50_wh: Mapped[int] = mapped_column(BigInteger)
    q90_wh: Mapped[int] = mapped_column(BigInteger)
    model_version: Mapped[str] = mapped_column(String(66))
    revised: Mapped[bool] = mapped_column(Boolean)
    block_number: Mapped[int] = mapped_column(BigInteger)


READ_MODEL_TABLES = (
    "participants",
    "token_balances",
    "token_supplies",
    "market_sessions",
    "market_orders",
    "market_matches",
    "oracle_ids",
    "meter_intervals",
    "forecasts",
)
BOOKKEEPING_TABLES = ("chain_events", "index_checkpoints", "indexed_blocks")
