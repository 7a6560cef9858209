"""CIM: inbound/outbound documents, the outbound delivery queue and the CIM party registry.

Revision ID: 0004
Revises: 0001
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "cim_documents",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("direction", sa.String(3), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("party", sa.String(128), nullable=True),
        sa.Column("kind", sa.String(64), nullable=True),
        sa.Column("version", sa.String(8), nullable=True),
        sa.Column("sender", sa.String(64), nullable=True),
        sa.Column("receiver", sa.String(64), nullable=True),
        sa.Column("mrid", sa.String(64), nullable=True),
        sa.Column("revision", sa.Integer(), nullable=True),
        sa.Column("digest", sa.String(64), nullable=True),
        sa.Column("status", sa.String(4), nullable=False),
        sa.Column("reasons", sa.Text(), nullable=True),
        sa.Column("ack_mrid", sa.String(64), nullable=True),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("ack", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_cim_documents_sender_mrid", "cim_documents", ["sender", "mrid"])
    op.create_table(
        "cim_outbound",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("target", sa.String(500), nullable=False),
        sa.Column("mrid", sa.String(64), nullable=True),
        sa.Column("kind", sa.String(64), nullable=True),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("delivered", sa.Boolean(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("delivered_at", sa.DateTime(), nullable=True),
    )
    op.create_table(
        "cim_parties",
        sa.Column("mrid", sa.String(64), primary_key=True),
        sa.Column("roles", sa.String(200), nullable=False),
        sa.Column("name", sa.String(200), nullable=True),
        sa.Column("coding_scheme", sa.String(3), nullable=False),
        sa.Column("is_hub", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("cim_parties")
    op.drop_table("cim_outbound")
    op.drop_index("ix_cim_documents_sender_mrid", table_name="cim_documents")
    op.drop_table("cim_documents")
