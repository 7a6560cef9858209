"""FMAN: flexibility contracts and the price series plans ran against.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "fman_contracts",
        sa.Column("party", sa.String(128), primary_key=True),
        sa.Column("contract_id", sa.String(128), nullable=True),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "fman_price_series",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("party", sa.String(128), nullable=False),
        sa.Column("start", sa.DateTime(), nullable=False),
        sa.Column("end", sa.DateTime(), nullable=False),
        sa.Column("slot_seconds", sa.Integer(), nullable=False),
        sa.Column("prices", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_fman_price_series_party_window", "fman_price_series", ["party", "start", "end"])


def downgrade() -> None:
    op.drop_index("ix_fman_price_series_party_window", table_name="fman_price_series")
    op.drop_table("fman_price_series")
    op.drop_table("fman_contracts")
