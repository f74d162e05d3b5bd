"""chat: messages, room joins, mutes, bans, chat settings

Revision ID: chat_0001
Revises:
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from live.db import UTCDateTime

revision = "chat_0001"
down_revision = None
branch_labels = ("chat",)
depends_on = "core_0001"


def upgrade() -> None:
    op.create_table(
        "chat_messages",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("room_id", sa.String(40), nullable=False),
        sa.Column("user_id", sa.String(40), nullable=False),
        sa.Column("user_role", sa.String(10), nullable=False),
        sa.Column("nickname", sa.String(40), nullable=False),
        sa.Column("text", sa.String(200), nullable=False),
        sa.Column("client_msg_id", sa.String(64), nullable=True),
        sa.Column("seq", sa.BigInteger(), nullable=True),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["room_id"], ["rooms.id"],
                                name="fk_chat_messages_room_id_rooms"),
        sa.PrimaryKeyConstraint("id", name="pk_chat_messages"),
        sa.UniqueConstraint("room_id", "user_id", "client_msg_id",
                            name="uq_chat_messages_client_msg_id"),
    )
    op.create_index("ix_chat_messages_room_id_created_at", "chat_messages",
                    ["room_id", "created_at"])
    op.create_table(
        "room_joins",
        sa.Column("room_id", sa.String(40), nullable=False),
        sa.Column("user_id", sa.String(40), nullable=False),
        sa.Column("role", sa.String(10), nullable=False),
        sa.Column("first_joined_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["room_id"], ["rooms.id"], name="fk_room_joins_room_id_rooms"),
        sa.PrimaryKeyConstraint("room_id", "user_id", name="pk_room_joins"),
    )
    op.create_table(
        "chat_mutes",
        sa.Column("room_id", sa.String(40), nullable=False),
        sa.Column("user_id", sa.String(40), nullable=False),
        sa.Column("until", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["room_id"], ["rooms.id"], name="fk_chat_mutes_room_id_rooms"),
        sa.PrimaryKeyConstraint("room_id", "user_id", name="pk_chat_mutes"),
    )
    op.create_table(
        "chat_bans",
        sa.Column("room_id", sa.String(40), nullable=False),
        sa.Column("user_id", sa.String(40), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["room_id"], ["rooms.id"], name="fk_chat_bans_room_id_rooms"),
        sa.PrimaryKeyConstraint("room_id", "user_id", name="pk_chat_bans"),
    )
    op.create_table(
        "chat_settings",
        sa.Column("room_id", sa.String(40), nullable=False),
        sa.Column("slow_mode_s", sa.Integer(), nullable=False),
        sa.Column("blocked_words", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["room_id"], ["rooms.id"],
                                name="fk_chat_settings_room_id_rooms"),
        sa.PrimaryKeyConstraint("room_id", name="pk_chat_settings"),
    )


def downgrade() -> None:
    for table in ("chat_settings", "chat_bans", "chat_mutes", "room_joins", "chat_messages"):
        op.drop_table(table)
