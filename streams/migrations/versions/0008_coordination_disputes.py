"""coordination read models: settlements proposed, disputed and finalized

Revision ID: 0008_coordination_disputes
Revises: 0007_market_settlement
Create Date: 2026-12-06

FlexCoordination settles in three steps (SettlementProposed, SettlementDisputed,
SettlementFinalized). ``flex_requests`` gains the meter-before baseline's parameters and the
settlement's state: proposed or finalized, proposer, end of the challenge window, bond, the
proposal's payouts as they stand, the number of disputes and who took the bond;
``flex_coalition_members`` who last corrected a row. The existing columns keep their meaning
(``status`` is ``settled`` once finalized; ``payout_total`` and ``refund`` are what was paid).
``bright index rebuild`` fills them for events already stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from streams.models import Uint256

revision: str = "0008_coordination_disputes"
down_revision: str | None = "0007_market_settlement"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REQUEST_COLUMNS: list[tuple[str, Any]] = [
    ("baseline_intervals", sa.Integer()),
    ("baseline_gap_intervals", sa.Integer()),
    ("settlement_state", sa.String(length=16)),
    ("settlement_proposer", sa.String(length=42)),
    ("challenge_ends_s", sa.BigInteger()),
    ("settlement_bond", Uint256()),
    ("proposed_payout_total", Uint256()),
    ("bond_paid_to", sa.String(length=42)),
]


def upgrade() -> None:
    with op.batch_alter_table("flex_requests") as t:
        for name, kind in REQUEST_COLUMNS:
            t.add_column(sa.Column(name, kind, nullable=True))
        t.add_column(sa.Column("dispute_count", sa.Integer(), nullable=False, server_default="0"))
    with op.batch_alter_table("flex_coalition_members") as t:
        t.add_column(sa.Column("disputed_by", sa.String(length=42), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("flex_coalition_members") as t:
        t.drop_column("disputed_by")
    with op.batch_alter_table("flex_requests") as t:
        t.drop_column("dispute_count")
        for name, _ in reversed(REQUEST_COLUMNS):
            t.drop_column(name)
