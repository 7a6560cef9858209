"""Foundation: parties, API keys, flex-offers and their measurements.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "parties",
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("party", sa.String(128), sa.ForeignKey("parties.id"), nullable=False),
        sa.Column("scopes", sa.String(200), nullable=False),
        sa.Column("label", sa.String(200), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
    )
    op.create_index("ix_api_keys_key_hash", "api_keys", ["key_hash"], unique=True)
    op.create_index("ix_api_keys_party", "api_keys", ["party"])
    op.create_table(
        "flex_offers",
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("party", sa.String(128), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("window_start", sa.DateTime(), nullable=False),
        sa.Column("window_end", sa.DateTime(), nullable=False),
        sa.Column("latest_start", sa.DateTime(), nullable=False),
        sa.Column("location_id", sa.String(200), nullable=True),
        sa.Column("zone", sa.String(100), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
    )
    op.create_index("ix_flex_offers_party", "flex_offers", ["party"])
    op.create_index("ix_flex_offers_party_window", "flex_offers", ["party", "window_start", "window_end"])
    op.create_index("ix_flex_offers_party_state", "flex_offers", ["party", "state"])
    op.create_table(
        "flex_offer_measurements",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("offer_id", sa.String(128), sa.ForeignKey("flex_offers.id", ondelete="CASCADE"), nullable=False),
        sa.Column("party", sa.String(128), nullable=False),
        sa.Column("start", sa.DateTime(), nullable=False),
        sa.Column("interval_seconds", sa.Integer(), nullable=False),
        sa.Column("energy_kwh", sa.Float(), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_flex_offer_measurements_party_start", "flex_offer_measurements", ["party", "start"])
    op.create_index("ix_flex_offer_measurements_offer", "flex_offer_measurements", ["offer_id", "start"])


def downgrade() -> None:
    op.drop_table("flex_offer_measurements")
    op.drop_table("flex_offers")
    op.drop_table("api_keys")
    op.drop_table("parties")
