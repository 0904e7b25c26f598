"""thermal twins of the members' homes and their scenarios (not a projection)

Revision ID: 0010_thermal_twins
Revises: 0009_member_directory
Create Date: 2027-01-10

``thermal_twins`` and ``thermal_twin_scenarios`` hold what a twin run made of each member's
home (analytics/thermal/store.py): parameters, fit, measured and simulated series. They are
not chain data and cannot be rebuilt from it: like the member directory they are created only
where they are missing and survive ``bright index rebuild`` (:func:`streams.db.drop_read_models`
downgrades with ``config.attributes["keep_directory"]`` set, which this downgrade honours). A
downgrade by hand (``alembic downgrade``) drops them.

The tables are written out here, not imported from the store (a migration stays as it was
when the store changes); tests compare the two.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op
from sqlalchemy.dialects import postgresql

revision: str = "0010_thermal_twins"
down_revision: str | None = "0009_member_directory"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TWINS = "thermal_twins"
SCENARIOS = "thermal_twin_scenarios"


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    json = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
    if not inspector.has_table(TWINS):  # else kept through a rebuild
        op.create_table(
            TWINS,
            sa.Column("chain_id", sa.BigInteger(), nullable=False),
            sa.Column("account", sa.String(length=42), nullable=False),
            sa.Column("home_id", sa.String(length=200), nullable=False),
            sa.Column("params", json, nullable=False),
            sa.Column("fit", json, nullable=False),
            sa.Column("created_s", sa.BigInteger(), nullable=False),
            sa.Column("stored_s", sa.BigInteger(), nullable=False),
            sa.Column("inputs_sha256", sa.String(length=64), nullable=False),
            sa.Column("measured_start_s", sa.BigInteger(), nullable=True),
            sa.Column("measured_step_s", sa.Integer(), nullable=True),
            sa.Column("measured_length", sa.Integer(), nullable=True),
            sa.Column("measured", sa.LargeBinary(), nullable=True),
            sa.PrimaryKeyConstraint("chain_id", "account", name=op.f("pk_thermal_twins")),
        )
    if not inspector.has_table(SCENARIOS):
        op.create_table(
            SCENARIOS,
            sa.Column("chain_id", sa.BigInteger(), nullable=False),
            sa.Column("account", sa.String(length=42), nullable=False),
            sa.Column("name", sa.String(length=64), nullable=False),
            sa.Column("position", sa.Integer(), nullable=False),
            sa.Column("description", sa.Text(), nullable=False),
            sa.Column("config", json, nullable=False),
            sa.Column("totals", json, nullable=False),
            sa.Column("start_s", sa.BigInteger(), nullable=False),
            sa.Column("step_s", sa.Integer(), nullable=False),
            sa.Column("length", sa.Integer(), nullable=False),
            sa.Column("series", sa.LargeBinary(), nullable=False),
            sa.ForeignKeyConstraint(
                ["chain_id", "account"],
                [f"{TWINS}.chain_id", f"{TWINS}.account"],
                name=op.f("fk_thermal_twin_scenarios_thermal_twins"),
                ondelete="CASCADE",
            ),
            sa.PrimaryKeyConstraint(
                "chain_id", "account", "name", name=op.f("pk_thermal_twin_scenarios")
            ),
        )


def downgrade() -> None:
    if context.config.attributes.get("keep_directory"):
        return
    op.drop_table(SCENARIOS)
    op.drop_table(TWINS)
