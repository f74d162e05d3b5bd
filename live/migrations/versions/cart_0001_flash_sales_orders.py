"""cart: flash sales, flash buyers, carts, orders, order items, idempotency keys

Revision ID: cart_0001
Revises:
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from live.db import UTCDateTime

revision = "cart_0001"
down_revision = None
branch_labels = ("cart",)
depends_on = "core_0001"


def upgrade() -> None:
    op.create_table(
        "flash_sales",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("room_id", sa.String(40), nullable=False),
        sa.Column("product_id", sa.String(40), nullable=False),
        sa.Column("active_product_id", sa.String(40), nullable=True),
        sa.Column("price_cents", sa.BigInteger(), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("remaining", sa.BigInteger(), nullable=False),
        sa.Column("per_user_limit", sa.Integer(), nullable=False),
        sa.Column("starts_at", UTCDateTime(), nullable=False),
        sa.Column("ends_at", UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("ended_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["room_id"], ["rooms.id"], name="fk_flash_sales_room_id_rooms"),
        sa.ForeignKeyConstraint(["product_id"], ["products.id"],
                                name="fk_flash_sales_product_id_products"),
        sa.PrimaryKeyConstraint("id", name="pk_flash_sales"),
        sa.UniqueConstraint("active_product_id", name="uq_flash_sales_active_product_id"),
    )
    for col in ("room_id", "product_id", "starts_at", "ends_at", "status"):
        op.create_index(f"ix_flash_sales_{col}", "flash_sales", [col])
    op.create_table(
        "flash_buyers",
        sa.Column("flash_sale_id", sa.String(40), nullable=False),
        sa.Column("viewer_id", sa.String(40), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["flash_sale_id"], ["flash_sales.id"],
                                name="fk_flash_buyers_flash_sale_id_flash_sales"),
        sa.PrimaryKeyConstraint("flash_sale_id", "viewer_id", name="pk_flash_buyers"),
    )
    op.create_table(
        "cart_items",
        sa.Column("viewer_id", sa.String(40), nullable=False),
        sa.Column("room_id", sa.String(40), nullable=False),
        sa.Column("product_id", sa.String(40), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["viewer_id"], ["viewers.id"],
                                name="fk_cart_items_viewer_id_viewers"),
        sa.ForeignKeyConstraint(["room_id"], ["rooms.id"], name="fk_cart_items_room_id_rooms"),
        sa.ForeignKeyConstraint(["product_id"], ["products.id"],
                                name="fk_cart_items_product_id_products"),
        sa.PrimaryKeyConstraint("viewer_id", "room_id", "product_id", name="pk_cart_items"),
    )
    op.create_table(
        "orders",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("room_id", sa.String(40), nullable=False),
        sa.Column("viewer_id", sa.String(40), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("items_cents", sa.BigInteger(), nullable=False),
        sa.Column("discount_cents", sa.BigInteger(), nullable=False),
        sa.Column("total_cents", sa.BigInteger(), nullable=False),
        sa.Column("leader_id", sa.String(40), nullable=True),
        sa.Column("fulfilment_kind", sa.String(10), nullable=False),
        sa.Column("fulfilment_detail", sa.String(300), nullable=False),
        sa.Column("coupon_claim_id", sa.String(64), nullable=True),
        sa.Column("group_buy_id", sa.String(64), nullable=True),
        sa.Column("group_id", sa.String(64), nullable=True),
        sa.Column("payment_provider", sa.String(20), nullable=True),
        sa.Column("payment_ref", sa.String(100), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("paid_at", UTCDateTime(), nullable=True),
        sa.Column("closed_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["room_id"], ["rooms.id"], name="fk_orders_room_id_rooms"),
        sa.ForeignKeyConstraint(["viewer_id"], ["viewers.id"],
                                name="fk_orders_viewer_id_viewers"),
        sa.PrimaryKeyConstraint("id", name="pk_orders"),
    )
    for col in ("room_id", "viewer_id", "status", "leader_id", "coupon_claim_id",
                "group_buy_id", "group_id", "created_at", "expires_at"):
        op.create_index(f"ix_orders_{col}", "orders", [col])
    op.create_table(
        "order_items",
        sa.Column("order_id", sa.String(40), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.String(40), nullable=False),
        sa.Column("flash_sale_id", sa.String(40), nullable=True),
        sa.Column("title", sa.String(120), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("unit_price_cents", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"],
                                name="fk_order_items_order_id_orders"),
        sa.ForeignKeyConstraint(["product_id"], ["products.id"],
                                name="fk_order_items_product_id_products"),
        sa.ForeignKeyConstraint(["flash_sale_id"], ["flash_sales.id"],
                                name="fk_order_items_flash_sale_id_flash_sales"),
        sa.PrimaryKeyConstraint("order_id", "position", name="pk_order_items"),
    )
    op.create_index("ix_order_items_product_id", "order_items", ["product_id"])
    op.create_index("ix_order_items_flash_sale_id", "order_items", ["flash_sale_id"])
    op.create_table(
        "idempotency_keys",
        sa.Column("caller_id", sa.String(40), nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("body_hash", sa.String(64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("response", sa.Text(), nullable=False),
        sa.Column("order_id", sa.String(40), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("caller_id", "key", name="pk_idempotency_keys"),
    )
    op.create_index("ix_idempotency_keys_created_at", "idempotency_keys", ["created_at"])


def downgrade() -> None:
    for table in ("idempotency_keys", "order_items", "orders", "cart_items", "flash_buyers",
                  "flash_sales"):
        op.drop_table(table)
