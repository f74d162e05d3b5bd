"""stats: host-level customers, products and 团长 GMV

Revision ID: stats_0002
Revises: stats_0001
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from live.db import UTCDateTime

revision = "stats_0002"
down_revision = "stats_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stats_customers",
        sa.Column("host_id", sa.String(40), nullable=False),
        sa.Column("viewer_id", sa.String(40), nullable=False),
        sa.Column("orders", sa.Integer(), nullable=False),
        sa.Column("gmv_cents", sa.BigInteger(), nullable=False),
        sa.Column("first_paid_at", UTCDateTime(), nullable=False),
        sa.Column("last_paid_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("host_id", "viewer_id", name="pk_stats_customers"),
    )
    op.create_table(
        "stats_products",
        sa.Column("host_id", sa.String(40), nullable=False),
        sa.Column("product_id", sa.String(40), nullable=False),
        sa.Column("title", sa.String(120), nullable=False),
        sa.Column("units", sa.BigInteger(), nullable=False),
        sa.Column("gmv_cents", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("host_id", "product_id", name="pk_stats_products"),
    )
    op.create_table(
        "stats_leaders",
        sa.Column("host_id", sa.String(40), nullable=False),
        sa.Column("leader_id", sa.String(40), nullable=False),
        sa.Column("orders", sa.Integer(), nullable=False),
        sa.Column("gmv_cents", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("host_id", "leader_id", name="pk_stats_leaders"),
    )


def downgrade() -> None:
    for table in ("stats_leaders", "stats_products", "stats_customers"):
        op.drop_table(table)
