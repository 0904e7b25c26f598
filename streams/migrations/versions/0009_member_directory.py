"""member directory: display names, extra meters and assets (not a projection)

Revision ID: 0009_member_directory
Revises: 0008_coordination_disputes
Create Date: 2026-12-06

``member_directory`` holds what is not chain data: a participant's display name, its extra
meters and its flexible assets (streams/directory.py). It is created only where it is missing
and survives ``bright index rebuild``: :func:`streams.db.drop_read_models` downgrades with
``config.attributes["keep_directory"]`` set, which this downgrade honours. A downgrade by
hand (``alembic downgrade``) drops it.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op
from sqlalchemy.dialects import postgresql

revision: str = "0009_member_directory"
down_revision: str | None = "0008_coordination_disputes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "member_directory"


def upgrade() -> None:
    if sa.inspect(op.get_bind()).has_table(TABLE):
        return  # kept through a rebuild
    json = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
    op.create_table(
        TABLE,
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("account", sa.String(length=42), nullable=False),
        sa.Column("display_name", sa.String(length=64), nullable=True),
        sa.Column("meters", json, nullable=False),
        sa.Column("assets", json, nullable=False),
        sa.Column("updated_s", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("chain_id", "account", name=op.f("pk_member_directory")),
    )


def downgrade() -> None:
    if context.config.attributes.get("keep_directory"):
        return
    op.drop_table(TABLE)
