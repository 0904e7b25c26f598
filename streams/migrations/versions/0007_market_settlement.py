"""market settlement on delivery: session terms and outcome, buyers' refunds, sellers'
settlements

Revision ID: 0007_market_settlement
Revises: 0006_market_deposits
Create Date: 2026-12-06

``market_sessions`` gains the terms a session is opened with (tolerance, penalty rate, order
bond, meter-before baseline, settlement delay) and its settlement totals; ``market_orders``
what a filled bid paid and got back; ``market_seller_settlements`` one row per seller of a
settled session. ``bright index rebuild`` fills them for events already stored.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from streams.models import Uint256

revision: str = "0007_market_settlement"
down_revision: str | None = "0006_market_deposits"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SESSION_COLUMNS = [
    ("tolerance_bp", sa.Integer(), "0"),
    ("penalty_per_kwh", sa.BigInteger(), "0"),
    ("order_bond", Uint256(), "0"),
    ("baseline_intervals", sa.Integer(), "1"),
    ("settle_delay_s", sa.BigInteger(), "0"),
]
SESSION_OUTCOME = ["earned", "penalties", "refunds", "dust"]


def upgrade() -> None:
    with op.batch_alter_table("market_sessions") as t:
        for name, kind, default in SESSION_COLUMNS:
            t.add_column(sa.Column(name, kind, nullable=False, server_default=default))
        for name in SESSION_OUTCOME:
            t.add_column(sa.Column(name, Uint256(), nullable=True))
        t.add_column(sa.Column("settled_block", sa.BigInteger(), nullable=True))
    with op.batch_alter_table("market_orders") as t:
        t.add_column(sa.Column("paid", Uint256(), nullable=True))
        t.add_column(sa.Column("refund", Uint256(), nullable=True))
    op.create_table(
        "market_seller_settlements",
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("market", sa.String(length=42), nullable=False),
        sa.Column("session_id", sa.BigInteger(), nullable=False),
        sa.Column("seller", sa.String(length=42), nullable=False),
        sa.Column("filled_wh", sa.BigInteger(), nullable=False),
        sa.Column("delivered_wh", sa.BigInteger(), nullable=False),
        sa.Column("credited_wh", sa.BigInteger(), nullable=False),
        sa.Column("shortfall_wh", sa.BigInteger(), nullable=False),
        sa.Column("earned", Uint256(), nullable=False),
        sa.Column("penalty", Uint256(), nullable=False),
        sa.Column("missing_data", sa.Boolean(), nullable=False),
        sa.Column("settled_block", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "chain_id", "market", "session_id", "seller", name=op.f("pk_market_seller_settlements")
        ),
    )
    op.create_index(
        "ix_market_seller_settlements_seller",
        "market_seller_settlements",
        ["chain_id", "seller"],
    )


def downgrade() -> None:
    op.drop_index("ix_market_seller_settlements_seller", "market_seller_settlements")
    op.drop_table("market_seller_settlements")
    with op.batch_alter_table("market_orders") as t:
        t.drop_column("refund")
        t.drop_column("paid")
    with op.batch_alter_table("market_sessions") as t:
        t.drop_column("settled_block")
        for name in reversed(SESSION_OUTCOME):
            t.drop_column(name)
        for name, _, _ in reversed(SESSION_COLUMNS):
            t.drop_column(name)
