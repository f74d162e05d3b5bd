"""growth: coupons, claims, 拼团 offers/groups/seats, 福袋 draws, reminders

Revision ID: growth_0001
Revises:
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from live.db import UTCDateTime

revision = "growth_0001"
down_revision = None
branch_labels = ("growth",)
depends_on = "core_0001"


def upgrade() -> None:
    op.create_table(
        "coupons",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("room_id", sa.String(40), nullable=False),
        sa.Column("title", sa.String(120), nullable=False),
        sa.Column("discount_cents", sa.BigInteger(), nullable=True),
        sa.Column("discount_bps", sa.Integer(), nullable=True),
        sa.Column("min_spend_cents", sa.BigInteger(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("remaining", sa.Integer(), nullable=False),
        sa.Column("per_viewer", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["room_id"], ["rooms.id"], name="fk_coupons_room_id_rooms"),
        sa.PrimaryKeyConstraint("id", name="pk_coupons"),
    )
    op.create_index("ix_coupons_room_id", "coupons", ["room_id"])
    op.create_index("ix_coupons_expires_at", "coupons", ["expires_at"])
    op.create_table(
        "coupon_claims",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("coupon_id", sa.String(40), nullable=False),
        sa.Column("room_id", sa.String(40), nullable=False),
        sa.Column("viewer_id", sa.String(40), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("order_id", sa.String(40), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["coupon_id"], ["coupons.id"],
                                name="fk_coupon_claims_coupon_id_coupons"),
        sa.PrimaryKeyConstraint("id", name="pk_coupon_claims"),
        sa.UniqueConstraint("coupon_id", "viewer_id", "n", name="uq_coupon_claims_coupon_id"),
    )
    op.create_index("ix_coupon_claims_viewer_id", "coupon_claims", ["viewer_id"])
    op.create_index("ix_coupon_claims_order_id", "coupon_claims", ["order_id"])
    op.create_table(
        "group_buys",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("room_id", sa.String(40), nullable=False),
        sa.Column("product_id", sa.String(40), nullable=False),
        sa.Column("price_cents", sa.BigInteger(), nullable=False),
        sa.Column("group_size", sa.Integer(), nullable=False),
        sa.Column("window_s", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["room_id"], ["rooms.id"], name="fk_group_buys_room_id_rooms"),
        sa.ForeignKeyConstraint(["product_id"], ["products.id"],
                                name="fk_group_buys_product_id_products"),
        sa.PrimaryKeyConstraint("id", name="pk_group_buys"),
    )
    op.create_index("ix_group_buys_room_id", "group_buys", ["room_id"])
    op.create_table(
        "buy_groups",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("group_buy_id", sa.String(40), nullable=False),
        sa.Column("room_id", sa.String(40), nullable=False),
        sa.Column("group_size", sa.Integer(), nullable=False),
        sa.Column("members", sa.Integer(), nullable=False),
        sa.Column("held", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("opened_by", sa.String(40), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("closed_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["group_buy_id"], ["group_buys.id"],
                                name="fk_buy_groups_group_buy_id_group_buys"),
        sa.PrimaryKeyConstraint("id", name="pk_buy_groups"),
    )
    op.create_index("ix_buy_groups_group_buy_id", "buy_groups", ["group_buy_id"])
    op.create_index("ix_buy_groups_room_id", "buy_groups", ["room_id"])
    op.create_index("ix_buy_groups_status", "buy_groups", ["status"])
    op.create_index("ix_buy_groups_expires_at", "buy_groups", ["expires_at"])
    op.create_table(
        "group_seats",
        sa.Column("group_id", sa.String(40), nullable=False),
        sa.Column("viewer_id", sa.String(40), nullable=False),
        sa.Column("order_id", sa.String(40), nullable=False),
        sa.ForeignKeyConstraint(["group_id"], ["buy_groups.id"],
                                name="fk_group_seats_group_id_buy_groups"),
        sa.PrimaryKeyConstraint("group_id", "viewer_id", name="pk_group_seats"),
    )
    op.create_index("ix_group_seats_order_id", "group_seats", ["order_id"])
    op.create_table(
        "draws",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("room_id", sa.String(40), nullable=False),
        sa.Column("running_room_id", sa.String(40), nullable=True),
        sa.Column("prize", sa.String(120), nullable=False),
        sa.Column("winners", sa.Integer(), nullable=False),
        sa.Column("eligibility", sa.String(10), nullable=False),
        sa.Column("keyword", sa.String(20), nullable=True),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("starts_at", UTCDateTime(), nullable=False),
        sa.Column("ends_at", UTCDateTime(), nullable=False),
        sa.Column("seed", sa.String(64), nullable=False),
        sa.Column("commitment", sa.String(64), nullable=False),
        sa.Column("eligible", sa.Text(), nullable=True),
        sa.Column("winner_ids", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["room_id"], ["rooms.id"], name="fk_draws_room_id_rooms"),
        sa.PrimaryKeyConstraint("id", name="pk_draws"),
        sa.UniqueConstraint("running_room_id", name="uq_draws_running_room_id"),
    )
    op.create_index("ix_draws_room_id", "draws", ["room_id"])
    op.create_index("ix_draws_status", "draws", ["status"])
    op.create_index("ix_draws_ends_at", "draws", ["ends_at"])
    op.create_table(
        "room_subscriptions",
        sa.Column("room_id", sa.String(40), nullable=False),
        sa.Column("viewer_id", sa.String(40), nullable=False),
        sa.Column("subscribed_at", UTCDateTime(), nullable=False),
        sa.Column("notified_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["room_id"], ["rooms.id"],
                                name="fk_room_subscriptions_room_id_rooms"),
        sa.PrimaryKeyConstraint("room_id", "viewer_id", name="pk_room_subscriptions"),
    )
    op.create_index("ix_room_subscriptions_viewer_id", "room_subscriptions", ["viewer_id"])


def downgrade() -> None:
    for table in ("room_subscriptions", "draws", "group_seats", "buy_groups", "group_buys",
                  "coupon_claims", "coupons"):
        op.drop_table(table)
