"""market read models: sessions, orders, matches

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26

FlexMarket read models: sessions (opened, cleared), orders (placed, cancelled, filled) and matches.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from streams.models import Uint256

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "market_matches",
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("market", sa.String(length=42), nullable=False),
        sa.Column("session_id", sa.BigInteger(), nullable=False),
        sa.Column("bid_id", sa.BigInteger(), nullable=False),
        sa.Column("offer_id", sa.BigInteger(), nullable=False),
        sa.Column("qty_wh", sa.BigInteger(), nullable=False),
        sa.Column("price_per_kwh", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "chain_id", "block_number", "log_index", name=op.f("pk_market_matches")
        ),
    )
    op.create_index(
        "ix_market_matches_session",
        "market_matches",
        ["chain_id", "market", "session_id"],
        unique=False,
    )

    op.create_table(
        "market_orders",
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("market", sa.String(length=42), nullable=False),
        sa.Column("session_id", sa.BigInteger(), nullable=False),
        sa.Column("order_id", sa.BigInteger(), nullable=False),
        sa.Column("trader", sa.String(length=42), nullable=False),
        sa.Column("side", sa.Integer(), nullable=False),
        sa.Column("qty_wh", sa.BigInteger(), nullable=False),
        sa.Column("price_per_kwh", sa.BigInteger(), nullable=False),
        sa.Column("grid_area", sa.String(length=64), nullable=False),
        sa.Column("cancelled", sa.Boolean(), nullable=False),
        sa.Column("filled_wh", sa.BigInteger(), nullable=False),
        sa.Column("placed_block", sa.BigInteger(), nullable=False),
        sa.Column("tx_hash", sa.String(length=66), nullable=False),
        sa.PrimaryKeyConstraint(
            "chain_id", "market", "session_id", "order_id", name=op.f("pk_market_orders")
        ),
    )
    op.create_index(
        "ix_market_orders_trader", "market_orders", ["chain_id", "trader"], unique=False
    )

    op.create_table(
        "market_sessions",
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("market", sa.String(length=42), nullable=False),
        sa.Column("session_id", sa.BigInteger(), nullable=False),
        sa.Column("delivery_start_s", sa.BigInteger(), nullable=False),
        sa.Column("duration_s", sa.BigInteger(), nullable=False),
        sa.Column("gate_closure_s", sa.BigInteger(), nullable=False),
        sa.Column("reveal_deadline_s", sa.BigInteger(), nullable=False),
        sa.Column("product", sa.Integer(), nullable=False),
        sa.Column("rule", sa.Integer(), nullable=False),
        sa.Column("sealed_bids", sa.Boolean(), nullable=False),
        sa.Column("grid_area", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("order_count", sa.Integer(), nullable=False),
        sa.Column("cancel_count", sa.Integer(), nullable=False),
        sa.Column("price_per_kwh", sa.BigInteger(), nullable=True),
        sa.Column("volume_wh", Uint256(), nullable=True),
        sa.Column("match_count", sa.BigInteger(), nullable=True),
        sa.Column("escrowed", Uint256(), nullable=True),
        sa.Column("result_hash", sa.String(length=66), nullable=True),
        sa.Column("opened_block", sa.BigInteger(), nullable=False),
        sa.Column("cleared_block", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint(
            "chain_id", "market", "session_id", name=op.f("pk_market_sessions")
        ),
    )


def downgrade() -> None:
    op.drop_table("market_sessions")
    op.drop_index("ix_market_orders_trader", table_name="market_orders")

    op.drop_table("market_orders")
    op.drop_index("ix_market_matches_session", table_name="market_matches")

    op.drop_table("market_matches")
