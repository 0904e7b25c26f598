"""trained physics-informed models of the members' homes (not a projection)

Revision ID: 0011_thermal_models
Revises: 0010_thermal_twins
Create Date: 2027-01-24

``thermal_models`` holds each member's home's trained physics-informed model
(analytics/thermal/store.py): the model file's bytes as ``torch.save`` wrote them, its
validation gate (whether it may be used, and if not why), its meta-data and its last
forecast. Like the twins they are not chain data and cannot be rebuilt from it: created only
where missing, kept through ``bright index rebuild`` (:func:`streams.db.drop_read_models`
downgrades with ``config.attributes["keep_directory"]`` set, which this downgrade honours). A
downgrade by hand (``alembic downgrade``) drops the table.

The table is written out here, not imported from the store (a migration stays as it was when
the store changes); tests compare the two.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op
from sqlalchemy.dialects import postgresql

revision: str = "0011_thermal_models"
down_revision: str | None = "0010_thermal_twins"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MODELS = "thermal_models"


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    json = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
    if not inspector.has_table(MODELS):  # else kept through a rebuild
        op.create_table(
            MODELS,
            sa.Column("chain_id", sa.BigInteger(), nullable=False),
            sa.Column("account", sa.String(length=42), nullable=False),
            sa.Column("home_id", sa.String(length=200), nullable=False),
            sa.Column("model", sa.LargeBinary(), nullable=False),
            sa.Column("model_sha256", sa.String(length=64), nullable=False),
            sa.Column("usable", sa.Boolean(), nullable=False),
            sa.Column("reason", sa.Text(), nullable=False),
            sa.Column("gate", json, nullable=False),
            sa.Column("meta", json, nullable=False),
            sa.Column("forecast", json, nullable=False),
            sa.Column("trained_s", sa.BigInteger(), nullable=False),
            sa.Column("stored_s", sa.BigInteger(), nullable=False),
            sa.PrimaryKeyConstraint("chain_id", "account", name=op.f("pk_thermal_models")),
        )


def downgrade() -> None:
    if context.config.attributes.get("keep_directory"):
        return
    op.drop_table(MODELS)
