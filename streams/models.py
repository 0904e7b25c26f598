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
``participants``, ``token_balances``
    Read models (ParticipantRegistry, FlexToken). Later issues add theirs (orders, sessions,
    coalitions, meter intervals, ...) with a projection and a migration each.

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


READ_MODEL_TABLES = ("participants", "token_balances", "token_supplies")
BOOKKEEPING_TABLES = ("chain_events", "index_checkpoints", "indexed_blocks")
