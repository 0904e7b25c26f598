"""oracle read models: enrolled ids, meter intervals, forecasts

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26

MeterOracle and ForecastOracle read models.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "oracle_ids",
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("oracle", sa.String(length=42), nullable=False),
        sa.Column("id_index", sa.BigInteger(), nullable=False),
        sa.Column("ident", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("chain_id", "oracle", "id_index", name=op.f("pk_oracle_ids")),
    )
    op.create_table(
        "meter_intervals",
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("meter_id", sa.String(length=64), nullable=False),
        sa.Column("interval_start_s", sa.BigInteger(), nullable=False),
        sa.Column("import_wh", sa.BigInteger(), nullable=False),
        sa.Column("export_wh", sa.BigInteger(), nullable=False),
        sa.Column("corrected", sa.Boolean(), nullable=False),
        sa.Column("root", sa.String(length=66), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "chain_id", "meter_id", "interval_start_s", name=op.f("pk_meter_intervals")
        ),
    )
    op.create_index(
        "ix_meter_intervals_interval",
        "meter_intervals",
        ["chain_id", "interval_start_s"],
        unique=False,
    )
    op.create_table(
        "forecasts",
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("participant_id", sa.String(length=64), nullable=False),
        sa.Column("interval_start_s", sa.BigInteger(), nullable=False),
        sa.Column("q10_wh", sa.BigInteger(), nullable=False),
        sa.Column("q50_wh", sa.BigInteger(), nullable=False),
        sa.Column("q90_wh", sa.BigInteger(), nullable=False),
        sa.Column("model_version", sa.String(length=66), nullable=False),
        sa.Column("revised", sa.Boolean(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "chain_id", "participant_id", "interval_start_s", name=op.f("pk_forecasts")
        ),
    )


def downgrade() -> None:
    op.drop_table("forecasts")
    op.drop_index("ix_meter_intervals_interval", table_name="meter_intervals")
    op.drop_table("meter_intervals")
    op.drop_table("oracle_ids")
