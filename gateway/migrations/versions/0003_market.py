"""FMAR: markets, bids, results, audit trail and DSO congestion zones.

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "markets",
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("owner", sa.String(128), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("gate_closure", sa.DateTime(), nullable=True),
        sa.Column("next_sequence", sa.Integer(), nullable=False),
        sa.Column("config", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_markets_owner", "markets", ["owner"])
    op.create_index("ix_markets_gate_closure", "markets", ["gate_closure"])
    op.create_table(
        "market_bids",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("market_id", sa.String(128), nullable=False),
        sa.Column("bid_id", sa.String(128), nullable=False),
        sa.Column("party", sa.String(128), nullable=False),
        sa.Column("side", sa.String(8), nullable=False),
        sa.Column("zone", sa.String(100), nullable=True),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("offer_ref", sa.String(128), nullable=True),
        sa.Column("submitted_at", sa.DateTime(), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.UniqueConstraint("market_id", "bid_id", name="uq_market_bids_market_bid"),
    )
    op.create_index("ix_market_bids_market_id", "market_bids", ["market_id"])
    op.create_index("ix_market_bids_party", "market_bids", ["party"])
    op.create_index("ix_market_bids_zone_status", "market_bids", ["zone", "status"])
    op.create_table(
        "market_results",
        sa.Column("market_id", sa.String(128), primary_key=True),
        sa.Column("cleared_at", sa.DateTime(), nullable=False),
        sa.Column("input_sha256", sa.String(64), nullable=False),
        sa.Column("result_sha256", sa.String(64), nullable=False),
        sa.Column("input_document", sa.Text(), nullable=False),
        sa.Column("result_document", sa.Text(), nullable=False),
    )
    op.create_table(
        "market_audit",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("market_id", sa.String(128), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("party", sa.String(128), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
    )
    op.create_index("ix_market_audit_market_id", "market_audit", ["market_id"])
    op.create_table(
        "market_congestion_zones",
        sa.Column("zone", sa.String(100), primary_key=True),
        sa.Column("party", sa.String(128), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_market_congestion_zones_party", "market_congestion_zones", ["party"])


def downgrade() -> None:
    op.drop_table("market_congestion_zones")
    op.drop_table("market_audit")
    op.drop_table("market_results")
    op.drop_table("market_bids")
    op.drop_table("markets")
