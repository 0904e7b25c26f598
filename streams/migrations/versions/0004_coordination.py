"""coordination read models: requests, opt-ins, coalition members, member intervals, accounts

Revision ID: 0004_coordination
Revises: 0003
Create Date: 2026-11-26

FlexCoordination read models (issue 6): DSO flexibility requests, members' opt-ins, the
coalition's rows with their settlement results, each member's target and settlement figures
per interval, and members' accounts (claimable payouts, reputation).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from streams.models import Uint256

revision: str = "0004_coordination"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _key() -> list[sa.Column[int]]:
    return [
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("request_id", sa.BigInteger(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "flex_requests",
        *_key(),
        sa.Column("contract", sa.String(length=42), nullable=False),
        sa.Column("dso", sa.String(length=42), nullable=False),
        sa.Column("grid_area", sa.String(length=64), nullable=False),
        sa.Column("window_start_s", sa.BigInteger(), nullable=False),
        sa.Column("window_end_s", sa.BigInteger(), nullable=False),
        sa.Column("intervals", sa.Integer(), nullable=False),
        sa.Column("opt_in_deadline_s", sa.BigInteger(), nullable=False),
        sa.Column("direction", sa.String(length=8), nullable=False),
        sa.Column("tolerance_bp", sa.Integer(), nullable=False),
        sa.Column("price_cap_per_kwh", sa.BigInteger(), nullable=False),
        sa.Column("penalty_per_kwh", sa.BigInteger(), nullable=False),
        sa.Column("baseline_method", sa.Integer(), nullable=False),
        sa.Column("baseline_hash", sa.String(length=66), nullable=False),
        sa.Column("escrow", Uint256(), nullable=False),
        sa.Column("quantities_wh", JSON, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("opt_in_count", sa.Integer(), nullable=False),
        sa.Column("row_count", sa.Integer(), nullable=False),
        sa.Column("coordinator", sa.String(length=42), nullable=True),
        sa.Column("price_per_kwh", sa.BigInteger(), nullable=True),
        sa.Column("max_payout", Uint256(), nullable=True),
        sa.Column("targets_hash", sa.String(length=66), nullable=True),
        sa.Column("payout_total", Uint256(), nullable=True),
        sa.Column("refund", Uint256(), nullable=True),
        sa.Column("settler", sa.String(length=42), nullable=True),
        sa.Column("settlement_hash", sa.String(length=66), nullable=True),
        sa.Column("published_block", sa.BigInteger(), nullable=False),
        sa.Column("published_tx", sa.String(length=66), nullable=False),
        sa.Column("updated_block", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("chain_id", "request_id", name=op.f("pk_flex_requests")),
    )
    op.create_index("ix_flex_requests_status", "flex_requests", ["chain_id", "status"])
    op.create_index("ix_flex_requests_dso", "flex_requests", ["chain_id", "dso"])
    op.create_index("ix_flex_requests_area", "flex_requests", ["chain_id", "grid_area"])
    op.create_table(
        "flex_opt_ins",
        *_key(),
        sa.Column("member", sa.String(length=42), nullable=False),
        sa.Column("max_wh", sa.BigInteger(), nullable=False),
        sa.Column("relayer", sa.String(length=42), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("opted_block", sa.BigInteger(), nullable=False),
        sa.Column("tx_hash", sa.String(length=66), nullable=False),
        sa.PrimaryKeyConstraint("chain_id", "request_id", "member", name=op.f("pk_flex_opt_ins")),
    )
    op.create_index("ix_flex_opt_ins_member", "flex_opt_ins", ["chain_id", "member"])
    op.create_table(
        "flex_coalition_members",
        *_key(),
        sa.Column("member", sa.String(length=42), nullable=False),
        sa.Column("row_index", sa.Integer(), nullable=False),
        sa.Column("meter_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("replaces", sa.String(length=42), nullable=True),
        sa.Column("replaced_by", sa.String(length=42), nullable=True),
        sa.Column("replaced_from", sa.Integer(), nullable=True),
        sa.Column("target_total_wh", sa.BigInteger(), nullable=False),
        sa.Column("settled", sa.Boolean(), nullable=False),
        sa.Column("delivered_total_wh", sa.BigInteger(), nullable=True),
        sa.Column("credited_total_wh", sa.BigInteger(), nullable=True),
        sa.Column("shortfall_total_wh", sa.BigInteger(), nullable=True),
        sa.Column("payout", Uint256(), nullable=True),
        sa.Column("penalty_uncovered", Uint256(), nullable=True),
        sa.Column("points", sa.BigInteger(), nullable=True),
        sa.Column("updated_block", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "chain_id", "request_id", "member", name=op.f("pk_flex_coalition_members")
        ),
    )
    op.create_index(
        "ix_flex_coalition_members_member", "flex_coalition_members", ["chain_id", "member"]
    )
    op.create_table(
        "flex_member_intervals",
        *_key(),
        sa.Column("member", sa.String(length=42), nullable=False),
        sa.Column("interval_index", sa.Integer(), nullable=False),
        sa.Column("interval_start_s", sa.BigInteger(), nullable=False),
        sa.Column("meter_id", sa.String(length=64), nullable=False),
        sa.Column("target_wh", sa.BigInteger(), nullable=False),
        sa.Column("delivered_wh", sa.BigInteger(), nullable=True),
        sa.Column("credited_wh", sa.BigInteger(), nullable=True),
        sa.Column("shortfall_wh", sa.BigInteger(), nullable=True),
        sa.Column("missing_data", sa.Boolean(), nullable=True),
        sa.PrimaryKeyConstraint(
            "chain_id",
            "request_id",
            "member",
            "interval_index",
            name=op.f("pk_flex_member_intervals"),
        ),
    )
    op.create_table(
        "flex_accounts",
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("account", sa.String(length=42), nullable=False),
        sa.Column("claimable", Uint256(), nullable=False),
        sa.Column("earned_total", Uint256(), nullable=False),
        sa.Column("claimed_total", Uint256(), nullable=False),
        sa.Column("penalty_uncovered_total", Uint256(), nullable=False),
        sa.Column("reputation", sa.BigInteger(), nullable=False),
        sa.Column("settled_count", sa.Integer(), nullable=False),
        sa.Column("opt_in_count", sa.Integer(), nullable=False),
        sa.Column("updated_block", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("chain_id", "account", name=op.f("pk_flex_accounts")),
    )


def downgrade() -> None:
    op.drop_table("flex_accounts")
    op.drop_table("flex_member_intervals")
    op.drop_index("ix_flex_coalition_members_member", table_name="flex_coalition_members")
    op.drop_table("flex_coalition_members")
    op.drop_index("ix_flex_opt_ins_member", table_name="flex_opt_ins")
    op.drop_table("flex_opt_ins")
    op.drop_index("ix_flex_requests_area", table_name="flex_requests")
    op.drop_index("ix_flex_requests_dso", table_name="flex_requests")
    op.drop_index("ix_flex_requests_status", table_name="flex_requests")
    op.drop_table("flex_requests")
