"""UFTP: participant registry, message log (conversation state) and outbound queue.

Revision ID: 0005
Revises: 0001
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "uftp_participants",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("domain", sa.String(255), nullable=False),
        sa.Column("role", sa.String(3), nullable=False),
        sa.Column("public_key", sa.String(64), nullable=False),
        sa.Column("endpoint", sa.String(1000), nullable=False),
        sa.Column("dialect", sa.String(32), nullable=False),
        sa.Column("barred", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("domain", "role", name="uq_uftp_participants_domain_role"),
    )
    op.create_table(
        "uftp_messages",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("direction", sa.String(3), nullable=False),
        sa.Column("message_id", sa.String(36), nullable=False),
        sa.Column("conversation_id", sa.String(36), nullable=False),
        sa.Column("message_type", sa.String(64), nullable=False),
        sa.Column("sender_domain", sa.String(255), nullable=False),
        sa.Column("sender_role", sa.String(3), nullable=False),
        sa.Column("counterparty", sa.String(255), nullable=False),
        sa.Column("reference_id", sa.String(36), nullable=True),
        sa.Column("business_ref", sa.String(255), nullable=True),
        sa.Column("period", sa.String(10), nullable=True),
        sa.Column("congestion_point", sa.String(255), nullable=True),
        sa.Column("expires_at", sa.DateTime(), nullable=True),
        sa.Column("revoked", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("rejection_reason", sa.Text(), nullable=True),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("xml", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("direction", "sender_domain", "message_id", name="uq_uftp_messages_sender_id"),
    )
    op.create_index("ix_uftp_messages_message_id", "uftp_messages", ["message_id"])
    op.create_index("ix_uftp_messages_conversation", "uftp_messages", ["conversation_id"])
    op.create_index("ix_uftp_messages_type_counterparty", "uftp_messages", ["message_type", "counterparty"])
    op.create_table(
        "uftp_outbox",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("message_id", sa.String(36), nullable=False),
        sa.Column("message_type", sa.String(64), nullable=False),
        sa.Column("recipient_domain", sa.String(255), nullable=False),
        sa.Column("recipient_role", sa.String(3), nullable=False),
        sa.Column("endpoint", sa.String(1000), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("delivered_at", sa.DateTime(), nullable=True),
    )
    op.create_index("ix_uftp_outbox_due", "uftp_outbox", ["state", "next_attempt_at"])


def downgrade() -> None:
    op.drop_table("uftp_outbox")
    op.drop_index("ix_uftp_messages_type_counterparty", table_name="uftp_messages")
    op.drop_index("ix_uftp_messages_conversation", table_name="uftp_messages")
    op.drop_index("ix_uftp_messages_message_id", table_name="uftp_messages")
    op.drop_table("uftp_messages")
    op.drop_table("uftp_participants")
