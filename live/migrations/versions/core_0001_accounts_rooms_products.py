"""core: accounts, viewers, tokens, rooms, products, shelf

Revision ID: core_0001
Revises:
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from live.db import UTCDateTime

revision = "core_0001"
down_revision = None
branch_labels = ("core",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("name", sa.String(40), nullable=False),
        sa.Column("role", sa.String(10), nullable=False),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column("parent_id", sa.String(40), nullable=True),
        sa.Column("host_id", sa.String(40), nullable=False),
        sa.Column("invite_code", sa.String(20), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["parent_id"], ["accounts.id"],
                                name="fk_accounts_parent_id_accounts"),
        sa.PrimaryKeyConstraint("id", name="pk_accounts"),
        sa.UniqueConstraint("name", name="uq_accounts_name"),
        sa.UniqueConstraint("invite_code", name="uq_accounts_invite_code"),
    )
    op.create_index("ix_accounts_parent_id", "accounts", ["parent_id"])
    op.create_index("ix_accounts_host_id", "accounts", ["host_id"])
    op.create_table(
        "viewers",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("nickname", sa.String(24), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_viewers"),
    )
    op.create_table(
        "tokens",
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("subject_id", sa.String(40), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("token_hash", name="pk_tokens"),
    )
    op.create_index("ix_tokens_subject_id", "tokens", ["subject_id"])
    op.create_table(
        "rooms",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("host_id", sa.String(40), nullable=False),
        sa.Column("title", sa.String(120), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("scheduled_at", UTCDateTime(), nullable=True),
        sa.Column("playback_kind", sa.String(10), nullable=False),
        sa.Column("playback_url", sa.String(2000), nullable=True),
        sa.Column("pinned_product_id", sa.String(40), nullable=True),
        sa.Column("likes", sa.BigInteger(), nullable=False),
        sa.Column("peak_viewers", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=True),
        sa.Column("ended_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["host_id"], ["accounts.id"], name="fk_rooms_host_id_accounts"),
        sa.PrimaryKeyConstraint("id", name="pk_rooms"),
    )
    op.create_index("ix_rooms_host_id", "rooms", ["host_id"])
    op.create_index("ix_rooms_status", "rooms", ["status"])
    op.create_index("ix_rooms_created_at", "rooms", ["created_at"])
    op.create_table(
        "products",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("host_id", sa.String(40), nullable=False),
        sa.Column("title", sa.String(120), nullable=False),
        sa.Column("price_cents", sa.BigInteger(), nullable=False),
        sa.Column("stock", sa.BigInteger(), nullable=False),
        sa.Column("image_url", sa.String(2000), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["host_id"], ["accounts.id"],
                                name="fk_products_host_id_accounts"),
        sa.PrimaryKeyConstraint("id", name="pk_products"),
    )
    op.create_index("ix_products_host_id", "products", ["host_id"])
    op.create_table(
        "shelf_items",
        sa.Column("room_id", sa.String(40), nullable=False),
        sa.Column("product_id", sa.String(40), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["room_id"], ["rooms.id"], name="fk_shelf_items_room_id_rooms"),
        sa.ForeignKeyConstraint(["product_id"], ["products.id"],
                                name="fk_shelf_items_product_id_products"),
        sa.PrimaryKeyConstraint("room_id", "product_id", name="pk_shelf_items"),
    )
    op.create_index("ix_shelf_items_product_id", "shelf_items", ["product_id"])


def downgrade() -> None:
    for table in ("shelf_items", "products", "rooms", "tokens", "viewers", "accounts"):
        op.drop_table(table)
