"""market deposits: what each account moved into and out of a FlexMarket

Revision ID: 0006_market_deposits
Revises: 0005_coordination_intervals
Create Date: 2026-11-26

``market_deposits``: per market and account the sums of its ``Deposited`` and ``Withdrawn``
events (FlexToken base units), kept by the market projection. ``bright index rebuild`` (or
``ReadModelStore.replay_projection("market", chain_id)``) fills it for events already stored.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from streams.models import Uint256

revision: str = "0006_market_deposits"
down_revision: str | None = "0005_coordination_intervals"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "market_deposits",
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("market", sa.String(length=42), nullable=False),
        sa.Column("account", sa.String(length=42), nullable=False),
        sa.Column("deposited", Uint256(), nullable=False),
        sa.Column("withdrawn", Uint256(), nullable=False),
        sa.Column("updated_block", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("chain_id", "market", "account", name=op.f("pk_market_deposits")),
    )


def downgrade() -> None:
    op.drop_table("market_deposits")
