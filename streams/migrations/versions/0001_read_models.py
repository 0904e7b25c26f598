"""read models: event store, checkpoints, participants, balances

Revision ID: 0001
Revises:
Create Date: 2026-11-26

The event store (chain_events), the indexer's checkpoint and block hashes, and the first read
models: participants, token balances and supplies.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from streams.models import Uint256

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "chain_events",
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("block_hash", sa.String(length=66), nullable=False),
        sa.Column("tx_hash", sa.String(length=66), nullable=False),
        sa.Column("address", sa.String(length=42), nullable=False),
        sa.Column("contract", sa.String(length=100), nullable=False),
        sa.Column("event", sa.String(length=100), nullable=False),
        sa.Column(
            "args",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint(
            "chain_id", "block_number", "log_index", name=op.f("pk_chain_events")
        ),
        sa.UniqueConstraint("chain_id", "block_hash", "log_index", name="uq_chain_events_identity"),
    )
    op.create_index(
        "ix_chain_events_kind",
        "chain_events",
        ["chain_id", "contract", "event", "block_number"],
        unique=False,
    )

    op.create_table(
        "index_checkpoints",
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_hash", sa.String(length=66), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("chain_id", name=op.f("pk_index_checkpoints")),
    )
    op.create_table(
        "indexed_blocks",
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("number", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=66), nullable=False),
        sa.PrimaryKeyConstraint("chain_id", "number", name=op.f("pk_indexed_blocks")),
    )
    op.create_table(
        "participants",
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("account", sa.String(length=42), nullable=False),
        sa.Column("role", sa.Integer(), nullable=False),
        sa.Column("role_name", sa.String(length=32), nullable=False),
        sa.Column("grid_area", sa.String(length=64), nullable=False),
        sa.Column("meter_id", sa.String(length=64), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("aggregator", sa.String(length=42), nullable=True),
        sa.Column("registered_block", sa.BigInteger(), nullable=False),
        sa.Column("registered_tx", sa.String(length=66), nullable=False),
        sa.Column("updated_block", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("chain_id", "account", name=op.f("pk_participants")),
    )
    op.create_index("ix_participants_area", "participants", ["chain_id", "grid_area"], unique=False)

    op.create_table(
        "token_balances",
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("token", sa.String(length=42), nullable=False),
        sa.Column("account", sa.String(length=42), nullable=False),
        sa.Column("balance", Uint256(), nullable=False),
        sa.Column("updated_block", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("chain_id", "token", "account", name=op.f("pk_token_balances")),
    )
    op.create_table(
        "token_supplies",
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("token", sa.String(length=42), nullable=False),
        sa.Column("total_supply", Uint256(), nullable=False),
        sa.Column("updated_block", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("chain_id", "token", name=op.f("pk_token_supplies")),
    )


def downgrade() -> None:
    op.drop_table("token_supplies")
    op.drop_table("token_balances")
    op.drop_index("ix_participants_area", table_name="participants")

    op.drop_table("participants")
    op.drop_table("indexed_blocks")
    op.drop_table("index_checkpoints")
    op.drop_index("ix_chain_events_kind", table_name="chain_events")

    op.drop_table("chain_events")
