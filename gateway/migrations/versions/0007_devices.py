"""Devices: alarms, measurements and schedule executions of the flex-offer agent.

Revision ID: 0007
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "device_alarms",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("party", sa.String(128), nullable=False),
        sa.Column("device_id", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("offer_ids", sa.JSON(), nullable=False),
        sa.Column("raised_at", sa.DateTime(), nullable=False),
        sa.Column("cleared_at", sa.DateTime(), nullable=True),
    )
    op.create_index("ix_device_alarms_device_open", "device_alarms", ["party", "device_id", "kind", "cleared_at"])
    op.create_table(
        "device_measurements",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("party", sa.String(128), nullable=False),
        sa.Column("device_id", sa.String(128), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("unit", sa.String(16), nullable=False),
        sa.Column("quality", sa.String(16), nullable=False),
        sa.Column("measured_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_device_measurements_device_time", "device_measurements", ["party", "device_id", "measured_at"])
    op.create_table(
        "device_executions",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("party", sa.String(128), nullable=False),
        sa.Column("device_id", sa.String(128), nullable=False),
        sa.Column("offer_id", sa.String(128), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("report", sa.JSON(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_device_executions_device", "device_executions", ["party", "device_id", "finished_at"])


def downgrade() -> None:
    op.drop_index("ix_device_executions_device", "device_executions")
    op.drop_table("device_executions")
    op.drop_index("ix_device_measurements_device_time", "device_measurements")
    op.drop_table("device_measurements")
    op.drop_index("ix_device_alarms_device_open", "device_alarms")
    op.drop_table("device_alarms")
