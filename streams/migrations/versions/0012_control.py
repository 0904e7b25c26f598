"""control policy comparisons and control status of the members' homes (not a projection)

Revision ID: 0012_control
Revises: 0011_thermal_models
Create Date: 2027-02-07

``control_comparisons`` holds each member's home's comparison of the control policies over a
period (report and series) and ``control_status`` what the controller did in its home and why
(analytics/control/store.py). Like the twins they are not chain data and cannot be rebuilt
from it: created only where missing, kept through ``bright index rebuild``
(:func:`streams.db.drop_read_models` downgrades with ``config.attributes["keep_directory"]``
set, which this downgrade honours). A downgrade by hand (``alembic downgrade``) drops them.

The tables are written out here, not imported from the store (a migration stays as it was
when the store changes); tests compare the two.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op
from sqlalchemy.dialects import postgresql

revision: str = "0012_control"
down_revision: str | None = "0011_thermal_models"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COMPARISONS = "control_comparisons"
STATUS = "control_status"


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    json = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
    if not inspector.has_table(COMPARISONS):  # else kept through a rebuild
        op.create_table(
            COMPARISONS,
            sa.Column("chain_id", sa.BigInteger(), nullable=False),
            sa.Column("account", sa.String(length=42), nullable=False),
            sa.Column("report", json, nullable=False),
            sa.Column("series_start_s", sa.BigInteger(), nullable=False),
            sa.Column("series_step_s", sa.Integer(), nullable=False),
            sa.Column("series_length", sa.Integer(), nullable=False),
            sa.Column("series", sa.LargeBinary(), nullable=False),
            sa.Column("stored_s", sa.BigInteger(), nullable=False),
            sa.PrimaryKeyConstraint("chain_id", "account", name=op.f("pk_control_comparisons")),
        )
    if not inspector.has_table(STATUS):
        op.create_table(
            STATUS,
            sa.Column("chain_id", sa.BigInteger(), nullable=False),
            sa.Column("account", sa.String(length=42), nullable=False),
            sa.Column("policy", sa.String(length=16), nullable=False),
            sa.Column("updated_s", sa.BigInteger(), nullable=False),
            sa.Column("status", json, nullable=False),
            sa.Column("stored_s", sa.BigInteger(), nullable=False),
            sa.PrimaryKeyConstraint("chain_id", "account", name=op.f("pk_control_status")),
        )


def downgrade() -> None:
    if context.config.attributes.get("keep_directory"):
        return
    op.drop_table(STATUS)
    op.drop_table(COMPARISONS)
