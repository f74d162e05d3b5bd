"""stats: room counters, people, buyers and per-minute buckets

Revision ID: stats_0001
Revises:
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from live.db import UTCDateTime

revision = "stats_0001"
down_revision = None
branch_labels = ("stats",)
depends_on = "core_0001"


def upgrade() -> None:
    op.create_table(
        "room_stats",
        sa.Column("room_id", sa.String(40), nullable=False),
        sa.Column("visitors", sa.BigInteger(), nullable=False),
        sa.Column("chat_messages", sa.BigInteger(), nullable=False),
        sa.Column("orders", sa.BigInteger(), nullable=False),
        sa.Column("buyers", sa.BigInteger(), nullable=False),
        sa.Column("gmv_cents", sa.BigInteger(), nullable=False),
        sa.Column("refunds", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["room_id"], ["rooms.id"], name="fk_room_stats_room_id_rooms"),
        sa.PrimaryKeyConstraint("room_id", name="pk_room_stats"),
    )
    op.create_table(
        "stats_identities",
        sa.Column("room_id", sa.String(40), nullable=False),
        sa.Column("identity", sa.String(80), nullable=False),
        sa.Column("person_id", sa.String(80), nullable=False),
        sa.PrimaryKeyConstraint("room_id", "identity", name="pk_stats_identities"),
    )
    op.create_table(
        "stats_persons",
        sa.Column("room_id", sa.String(40), nullable=False),
        sa.Column("person_id", sa.String(80), nullable=False),
        sa.Column("leader_id", sa.String(40), nullable=True),
        sa.Column("stages", sa.Integer(), nullable=False),
        sa.Column("first_seen_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("room_id", "person_id", name="pk_stats_persons"),
    )
    op.create_table(
        "stats_buyers",
        sa.Column("room_id", sa.String(40), nullable=False),
        sa.Column("viewer_id", sa.String(40), nullable=False),
        sa.Column("orders", sa.Integer(), nullable=False),
        sa.Column("gmv_cents", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("room_id", "viewer_id", name="pk_stats_buyers"),
    )
    op.create_table(
        "stats_minutes",
        sa.Column("room_id", sa.String(40), nullable=False),
        sa.Column("minute", UTCDateTime(), nullable=False),
        sa.Column("visitors", sa.Integer(), nullable=False),
        sa.Column("peak_viewers", sa.Integer(), nullable=False),
        sa.Column("chat_messages", sa.Integer(), nullable=False),
        sa.Column("likes_total", sa.BigInteger(), nullable=False),
        sa.Column("orders", sa.Integer(), nullable=False),
        sa.Column("gmv_cents", sa.BigInteger(), nullable=False),
        sa.Column("refunds", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("room_id", "minute", name="pk_stats_minutes"),
    )


def downgrade() -> None:
    for table in ("stats_minutes", "stats_buyers", "stats_persons", "stats_identities",
                  "room_stats"):
        op.drop_table(table)
