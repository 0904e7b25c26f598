"""coordination read models: per-interval totals of each request

Revision ID: 0005_coordination_intervals
Revises: 0004_coordination
Create Date: 2026-11-26

``flex_request_intervals``: per request and interval the requested quantity and the
coalition's summed targets, deliveries, credits and shortfalls, kept by the coordination
projection, so the per-interval views read one row per interval. The upgrade fills it for the
requests already projected (from ``flex_requests`` and ``flex_member_intervals``, which hold
the same figures per member).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

INTERVAL_S = 900

revision: str = "0005_coordination_intervals"
down_revision: str | None = "0004_coordination"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "flex_request_intervals",
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("request_id", sa.BigInteger(), nullable=False),
        sa.Column("interval_index", sa.Integer(), nullable=False),
        sa.Column("interval_start_s", sa.BigInteger(), nullable=False),
        sa.Column("requested_wh", sa.BigInteger(), nullable=False),
        sa.Column("target_wh", sa.BigInteger(), nullable=False),
        sa.Column("delivered_wh", sa.BigInteger(), nullable=True),
        sa.Column("credited_wh", sa.BigInteger(), nullable=True),
        sa.Column("shortfall_wh", sa.BigInteger(), nullable=True),
        sa.Column("members_without_data", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint(
            "chain_id", "request_id", "interval_index", name=op.f("pk_flex_request_intervals")
        ),
    )
    _backfill()


def _backfill() -> None:
    """Rows for the requests projected before this revision."""
    conn = op.get_bind()
    meta = sa.MetaData()
    req = sa.Table("flex_requests", meta, autoload_with=conn)
    cells = sa.Table("flex_member_intervals", meta, autoload_with=conn)
    out = sa.Table("flex_request_intervals", meta, autoload_with=conn)
    sums: dict[tuple[int, int, int], Any] = {
        (int(r.chain_id), int(r.request_id), int(r.interval_index)): r
        for r in conn.execute(
            sa.select(
                cells.c.chain_id,
                cells.c.request_id,
                cells.c.interval_index,
                sa.func.sum(cells.c.target_wh).label("target_wh"),
                sa.func.sum(cells.c.delivered_wh).label("delivered_wh"),
                sa.func.sum(cells.c.credited_wh).label("credited_wh"),
                sa.func.sum(cells.c.shortfall_wh).label("shortfall_wh"),
                sa.func.sum(sa.case((cells.c.missing_data.is_(True), 1), else_=0)).label("missing"),
                sa.func.count(cells.c.missing_data).label("settled_rows"),
            ).group_by(cells.c.chain_id, cells.c.request_id, cells.c.interval_index)
        )
    }
    rows = []
    for r in conn.execute(
        sa.select(req.c.chain_id, req.c.request_id, req.c.window_start_s, req.c.quantities_wh)
    ):
        quantities = r.quantities_wh if isinstance(r.quantities_wh, list) else []
        for k, q in enumerate(quantities):
            s = sums.get((int(r.chain_id), int(r.request_id), k))
            settled = s if s is not None and int(s.settled_rows) > 0 else None
            rows.append(
                {
                    "chain_id": r.chain_id,
                    "request_id": r.request_id,
                    "interval_index": k,
                    "interval_start_s": int(r.window_start_s) + INTERVAL_S * k,
                    "requested_wh": int(q),
                    "target_wh": int(s.target_wh) if s is not None else 0,
                    "delivered_wh": int(settled.delivered_wh) if settled else None,
                    "credited_wh": int(settled.credited_wh) if settled else None,
                    "shortfall_wh": int(settled.shortfall_wh) if settled else None,
                    "members_without_data": int(settled.missing) if settled else None,
                }
            )
    if rows:
        conn.execute(sa.insert(out), rows)


def downgrade() -> None:
    op.drop_table("flex_request_intervals")
