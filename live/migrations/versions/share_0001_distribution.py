"""share: distribution rules, visits, person links, bindings, attributed orders, ledger

Revision ID: share_0001
Revises:
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from live.db import UTCDateTime

revision = "share_0001"
down_revision = None
branch_labels = ("share",)
depends_on = "core_0001"


def upgrade() -> None:
    op.create_table(
        "share_rules",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("host_id", sa.String(40), nullable=False),
        sa.Column("levels", sa.Integer(), nullable=False),
        sa.Column("rates_bps", sa.String(40), nullable=False),
        sa.Column("attribution_window_h", sa.Integer(), nullable=False),
        sa.Column("refund_window_h", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(12), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["host_id"], ["accounts.id"],
                                name="fk_share_rules_host_id_accounts"),
        sa.PrimaryKeyConstraint("id", name="pk_share_rules"),
    )
    op.create_index("ix_share_rules_host_id", "share_rules", ["host_id"])

    op.create_table(
        "share_visits",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("room_id", sa.String(40), nullable=False),
        sa.Column("host_id", sa.String(40), nullable=False),
        sa.Column("leader_id", sa.String(40), nullable=False),
        sa.Column("visitor_id", sa.String(64), nullable=True),
        sa.Column("viewer_id", sa.String(40), nullable=True),
        sa.Column("source", sa.String(8), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["room_id"], ["rooms.id"],
                                name="fk_share_visits_room_id_rooms"),
        sa.ForeignKeyConstraint(["leader_id"], ["accounts.id"],
                                name="fk_share_visits_leader_id_accounts"),
        sa.PrimaryKeyConstraint("id", name="pk_share_visits"),
    )
    op.create_index("ix_share_visits_room_leader", "share_visits", ["room_id", "leader_id"])
    op.create_index("ix_share_visits_leader_id", "share_visits", ["leader_id"])
    op.create_index("ix_share_visits_visitor_id", "share_visits", ["visitor_id"])
    op.create_index("ix_share_visits_viewer_id", "share_visits", ["viewer_id"])

    op.create_table(
        "share_person_links",
        sa.Column("visitor_id", sa.String(64), nullable=False),
        sa.Column("viewer_id", sa.String(40), nullable=False),
        sa.Column("linked_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["viewer_id"], ["viewers.id"],
                                name="fk_share_person_links_viewer_id_viewers"),
        sa.PrimaryKeyConstraint("visitor_id", name="pk_share_person_links"),
    )
    op.create_index("ix_share_person_links_viewer_id", "share_person_links", ["viewer_id"])

    op.create_table(
        "share_bindings",
        sa.Column("host_id", sa.String(40), nullable=False),
        sa.Column("subject", sa.String(80), nullable=False),
        sa.Column("leader_id", sa.String(40), nullable=False),
        sa.Column("bound_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("host_id", "subject", name="pk_share_bindings"),
    )

    op.create_table(
        "share_orders",
        sa.Column("order_id", sa.String(40), nullable=False),
        sa.Column("host_id", sa.String(40), nullable=False),
        sa.Column("room_id", sa.String(40), nullable=False),
        sa.Column("leader_id", sa.String(40), nullable=False),
        sa.Column("viewer_id", sa.String(40), nullable=False),
        sa.Column("total_cents", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("paid_at", UTCDateTime(), nullable=False),
        sa.Column("refunded_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("order_id", name="pk_share_orders"),
    )
    op.create_index("ix_share_orders_host_id", "share_orders", ["host_id"])
    op.create_index("ix_share_orders_room_id", "share_orders", ["room_id"])
    op.create_index("ix_share_orders_leader_id", "share_orders", ["leader_id"])

    op.create_table(
        "share_commissions",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("order_id", sa.String(40), nullable=False),
        sa.Column("leader_id", sa.String(40), nullable=False),
        sa.Column("host_id", sa.String(40), nullable=False),
        sa.Column("room_id", sa.String(40), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("rate_bps", sa.Integer(), nullable=False),
        sa.Column("base_cents", sa.BigInteger(), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("paid_at", UTCDateTime(), nullable=False),
        sa.Column("settle_after", UTCDateTime(), nullable=False),
        sa.Column("settled_at", UTCDateTime(), nullable=True),
        sa.Column("reversed_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["leader_id"], ["accounts.id"],
                                name="fk_share_commissions_leader_id_accounts"),
        sa.PrimaryKeyConstraint("id", name="pk_share_commissions"),
        sa.UniqueConstraint("order_id", "level", name="uq_share_commissions_order_id"),
    )
    op.create_index("ix_share_commissions_status_settle", "share_commissions",
                    ["status", "settle_after"])
    op.create_index("ix_share_commissions_leader_id", "share_commissions", ["leader_id"])
    op.create_index("ix_share_commissions_host_id", "share_commissions", ["host_id"])


def downgrade() -> None:
    for table in ("share_commissions", "share_orders", "share_bindings",
                  "share_person_links", "share_visits", "share_rules"):
        op.drop_table(table)
