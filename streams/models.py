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
``market_sessions``, ``market_orders``, ``market_matches``, ``market_deposits``,
``market_seller_settlements``
    Read models of FlexMarket (deposits: each account's Deposited and Withdrawn sums; a
    session's settlement on delivery: its totals, each filled bid's refund, each seller's
    delivery and earnings).
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
    """A FlexMarket session (SessionOpened, then SessionCleared and SessionSettled, or
    SessionVoided)."""

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
    # the session's terms (SessionOpened) and its settlement on delivery (SessionSettled)
    tolerance_bp: Mapped[int] = mapped_column(Integer, default=0)
    penalty_per_kwh: Mapped[int] = mapped_column(BigInteger, default=0)
    order_bond: Mapped[int] = mapped_column(Uint256, default=0)
    baseline_intervals: Mapped[int] = mapped_column(Integer, default=1)
    settle_delay_s: Mapped[int] = mapped_column(BigInteger, default=0)
    earned: Mapped[int | None] = mapped_column(Uint256, nullable=True)
    penalties: Mapped[int | None] = mapped_column(Uint256, nullable=True)
    refunds: Mapped[int | None] = mapped_column(Uint256, nullable=True)
    dust: Mapped[int | None] = mapped_column(Uint256, nullable=True)
    settled_block: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


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
    # a filled bid of a settled session: what it paid and what came back (BuyerRefunded)
    paid: Mapped[int | None] = mapped_column(Uint256, nullable=True)
    refund: Mapped[int | None] = mapped_column(Uint256, nullable=True)


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


class MarketSellerSettlement(Base):
    """One seller's settlement of a session on delivery (SellerSettled): all its filled
    offers together, against its metered delivery."""

    __tablename__ = "market_seller_settlements"
    __table_args__ = (Index("ix_market_seller_settlements_seller", "chain_id", "seller"),)

    chain_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    market: Mapped[str] = mapped_column(String(42), primary_key=True)
    session_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    seller: Mapped[str] = mapped_column(String(42), primary_key=True)
    filled_wh: Mapped[int] = mapped_column(BigInteger)
    delivered_wh: Mapped[int] = mapped_column(BigInteger)
    credited_wh: Mapped[int] = mapped_column(BigInteger)
    shortfall_wh: Mapped[int] = mapped_column(BigInteger)
    earned: Mapped[int] = mapped_column(Uint256)
    penalty: Mapped[int] = mapped_column(Uint256)
    missing_data: Mapped[bool] = mapped_column(Boolean)
    settled_block: Mapped[int] = mapped_column(BigInteger)


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
    "market_deposits",
    "market_seller_settlements",
    "oracle_ids",
    "meter_intervals",
    "forecasts",
)
BOOKKEEPING_TABLES = ("chain_events", "index_checkpoints", "indexed_blocks")


# --------------------------------------------------------------------------------------------
# FlexCoordination read models (issue 6): DSO requests, opt-ins, coalitions with per-member
# targets per interval, settlement figures, members' accounts. Projected by
# :mod:`streams.coordination`; one FlexCoordination contract per chain (the deployment's).


class FlexRequest(Base):
    """A DSO flexibility request (RequestPublished), its coalition's terms and its outcome."""

    __tablename__ = "flex_requests"
    __table_args__ = (
        Index("ix_flex_requests_status", "chain_id", "status"),
        Index("ix_flex_requests_dso", "chain_id", "dso"),
        Index("ix_flex_requests_area", "chain_id", "grid_area"),
    )

    chain_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    request_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    contract: Mapped[str] = mapped_column(String(42))
    dso: Mapped[str] = mapped_column(String(42))
    grid_area: Mapped[str] = mapped_column(String(64))
    window_start_s: Mapped[int] = mapped_column(BigInteger)
    window_end_s: Mapped[int] = mapped_column(BigInteger)
    intervals: Mapped[int] = mapped_column(Integer)
    opt_in_deadline_s: Mapped[int] = mapped_column(BigInteger)
    direction: Mapped[str] = mapped_column(String(8))
    tolerance_bp: Mapped[int] = mapped_column(Integer)
    price_cap_per_kwh: Mapped[int] = mapped_column(BigInteger)
    penalty_per_kwh: Mapped[int] = mapped_column(BigInteger)
    baseline_method: Mapped[int] = mapped_column(Integer)
    baseline_hash: Mapped[str] = mapped_column(String(66))
    escrow: Mapped[int] = mapped_column(Uint256)
    quantities_wh: Mapped[list[int]] = mapped_column(JsonDoc)
    status: Mapped[str] = mapped_column(String(16))
    round: Mapped[int] = mapped_column(Integer)
    opt_in_count: Mapped[int] = mapped_column(Integer)
    row_count: Mapped[int] = mapped_column(Integer)
    coordinator: Mapped[str | None] = mapped_column(String(42), nullable=True)
    price_per_kwh: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    max_payout: Mapped[int | None] = mapped_column(Uint256, nullable=True)
    targets_hash: Mapped[str | None] = mapped_column(String(66), nullable=True)
    payout_total: Mapped[int | None] = mapped_column(Uint256, nullable=True)
    refund: Mapped[int | None] = mapped_column(Uint256, nullable=True)
    settler: Mapped[str | None] = mapped_column(String(42), nullable=True)
    settlement_hash: Mapped[str | None] = mapped_column(String(66), nullable=True)
    published_block: Mapped[int] = mapped_column(BigInteger)
    published_tx: Mapped[str] = mapped_column(String(66))
    updated_block: Mapped[int] = mapped_column(BigInteger)
    # The meter-before baseline's parameters (RequestPublished; migration 0008).
    baseline_intervals: Mapped[int | None] = mapped_column(Integer, nullable=True)
    baseline_gap_intervals: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # The settlement's state (migration 0008): ``proposed`` (SettlementProposed: open to
    # disputes until ``challenge_ends_s``; ``status`` stays ``accepted``) or ``finalized``
    # (SettlementFinalized: ``status`` ``settled``, ``payout_total`` and ``refund`` set).
    settlement_state: Mapped[str | None] = mapped_column(String(16), nullable=True)
    settlement_proposer: Mapped[str | None] = mapped_column(String(42), nullable=True)
    challenge_ends_s: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    settlement_bond: Mapped[int | None] = mapped_column(Uint256, nullable=True)
    proposed_payout_total: Mapped[int | None] = mapped_column(Uint256, nullable=True)
    """The proposal's payouts as they stand (after disputes)."""
    dispute_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    bond_paid_to: Mapped[str | None] = mapped_column(String(42), nullable=True)
    """Who got the proposer's bond: the first successful disputer, or the DSO when the
    proposer corrected its own proposal."""


class FlexOptIn(Base):
    """A member's opt-in to a request (OptedIn) and its standing in the current round:
    opted, member, reserve or replaced."""

    __tablename__ = "flex_opt_ins"
    __table_args__ = (Index("ix_flex_opt_ins_member", "chain_id", "member"),)

    chain_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    request_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    member: Mapped[str] = mapped_column(String(42), primary_key=True)
    max_wh: Mapped[int] = mapped_column(BigInteger)
    relayer: Mapped[str] = mapped_column(String(42))
    status: Mapped[str] = mapped_column(String(16))
    round: Mapped[int] = mapped_column(Integer)
    opted_block: Mapped[int] = mapped_column(BigInteger)
    tx_hash: Mapped[str] = mapped_column(String(66))


class FlexCoalitionMember(Base):
    """One row of a request's targets table (CoalitionProposed, MemberReplaced) with the
    member's settlement result: payout, uncovered penalty, points (as proposed and corrected by
    disputes; ``settled`` once finalized)."""

    __tablename__ = "flex_coalition_members"
    __table_args__ = (Index("ix_flex_coalition_members_member", "chain_id", "member"),)

    chain_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    request_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    member: Mapped[str] = mapped_column(String(42), primary_key=True)
    row_index: Mapped[int] = mapped_column(Integer)
    meter_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    replaces: Mapped[str | None] = mapped_column(String(42), nullable=True)
    replaced_by: Mapped[str | None] = mapped_column(String(42), nullable=True)
    replaced_from: Mapped[int | None] = mapped_column(Integer, nullable=True)
    target_total_wh: Mapped[int] = mapped_column(BigInteger)
    settled: Mapped[bool] = mapped_column(Boolean)
    delivered_total_wh: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    credited_total_wh: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    shortfall_total_wh: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    payout: Mapped[int | None] = mapped_column(Uint256, nullable=True)
    penalty_uncovered: Mapped[int | None] = mapped_column(Uint256, nullable=True)
    points: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    updated_block: Mapped[int] = mapped_column(BigInteger)
    disputed_by: Mapped[str | None] = mapped_column(String(42), nullable=True)
    """Who last corrected this row's settlement figures by a dispute (migration 0008)."""


class FlexMemberInterval(Base):
    """A coalition member's target in one interval of the window, and after settlement what
    it delivered, what was credited, its shortfall and whether its meter data was missing."""

    __tablename__ = "flex_member_intervals"

    chain_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    request_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    member: Mapped[str] = mapped_column(String(42), primary_key=True)
    interval_index: Mapped[int] = mapped_column(Integer, primary_key=True)
    interval_start_s: Mapped[int] = mapped_column(BigInteger)
    meter_id: Mapped[str] = mapped_column(String(64))
    target_wh: Mapped[int] = mapped_column(BigInteger)
    delivered_wh: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    credited_wh: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    shortfall_wh: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    missing_data: Mapped[bool | None] = mapped_column(Boolean, nullable=True)


class FlexAccount(Base):
    """A member's standing in FlexCoordination: payouts credited and not yet claimed,
    reputation (sum of the points of its settlements), counts."""

    __tablename__ = "flex_accounts"

    chain_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    account: Mapped[str] = mapped_column(String(42), primary_key=True)
    claimable: Mapped[int] = mapped_column(Uint256)
    earned_total: Mapped[int] = mapped_column(Uint256)
    claimed_total: Mapped[int] = mapped_column(Uint256)
    penalty_uncovered_total: Mapped[int] = mapped_column(Uint256)
    reputation: Mapped[int] = mapped_column(BigInteger)
    settled_count: Mapped[int] = mapped_column(Integer)
    opt_in_count: Mapped[int] = mapped_column(Integer)
    updated_block: Mapped[int] = mapped_column(BigInteger)


COORDINATION_TABLES = (
    "flex_requests",
    "flex_opt_ins",
    "flex_coalition_members",
    "flex_member_intervals",
    "flex_accounts",
    "flex_request_intervals",
)


class FlexRequestInterval(Base):
    """One interval of a request with the coalition's totals: requested, summed targets and,
    once settled, summed deliveries, credits, shortfalls and members without meter data (so the
    per-interval views read ``intervals`` rows, not members x intervals)."""

    __tablename__ = "flex_request_intervals"

    chain_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    request_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    interval_index: Mapped[int] = mapped_column(Integer, primary_key=True)
    interval_start_s: Mapped[int] = mapped_column(BigInteger)
    requested_wh: Mapped[int] = mapped_column(BigInteger)
    target_wh: Mapped[int] = mapped_column(BigInteger)
    delivered_wh: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    credited_wh: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    shortfall_wh: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    members_without_data: Mapped[int | None] = mapped_column(Integer, nullable=True)


class MarketDeposit(Base):
    """What an account moved into a FlexMarket (``Deposited``) and out of it (``Withdrawn``),
    in FlexToken base units. ``deposited - withdrawn`` is its market balance (free plus locked)
    as long as no clearing has charged its bids; the contract's ``account(who)`` gives the
    split after trading."""

    __tablename__ = "market_deposits"

    chain_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    market: Mapped[str] = mapped_column(String(42), primary_key=True)
    account: Mapped[str] = mapped_column(String(42), primary_key=True)
    deposited: Mapped[int] = mapped_column(Uint256)
    withdrawn: Mapped[int] = mapped_column(Uint256)
    updated_block: Mapped[int] = mapped_column(BigInteger)
