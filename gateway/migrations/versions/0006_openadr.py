"""OpenADR 2.0b: registered VENs, events and their deliveries, opts, reports, measurements.

Revision ID: 0006
Revises: 0001
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "oadr_vens",
        sa.Column("ven_id", sa.String(128), primary_key=True),
        sa.Column("registration_id", sa.String(128), nullable=True, unique=True),
        sa.Column("ven_name", sa.String(200), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=True),
        sa.Column("profile_name", sa.String(16), nullable=False),
        sa.Column("transport_name", sa.String(16), nullable=False),
        sa.Column("transport_address", sa.String(500), nullable=True),
        sa.Column("http_pull_model", sa.Boolean(), nullable=False),
        sa.Column("xml_signature", sa.Boolean(), nullable=False),
        sa.Column("report_only", sa.Boolean(), nullable=False),
        sa.Column("groups", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_oadr_vens_fingerprint", "oadr_vens", ["fingerprint"])
    op.create_table(
        "oadr_events",
        sa.Column("event_id", sa.String(128), primary_key=True),
        sa.Column("modification_number", sa.Integer(), nullable=False),
        sa.Column("market_context", sa.String(300), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("test_event", sa.Boolean(), nullable=False),
        sa.Column("cancelled", sa.Boolean(), nullable=False),
        sa.Column("dtstart", sa.DateTime(), nullable=False),
        sa.Column("duration_seconds", sa.Integer(), nullable=False),
        sa.Column("ramp_up_seconds", sa.Integer(), nullable=True),
        sa.Column("signals", sa.JSON(), nullable=False),
        sa.Column("ven_ids", sa.JSON(), nullable=False),
        sa.Column("group_ids", sa.JSON(), nullable=False),
        sa.Column("response_required", sa.String(16), nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "oadr_deliveries",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(128), nullable=False),
        sa.Column("ven_id", sa.String(128), nullable=False),
        sa.Column("pending", sa.Boolean(), nullable=False),
        sa.Column("sent_modification", sa.Integer(), nullable=True),
        sa.Column("opt_type", sa.String(16), nullable=True),
        sa.Column("response_code", sa.Integer(), nullable=True),
        sa.Column("responded_modification", sa.Integer(), nullable=True),
        sa.Column("responded_at", sa.DateTime(), nullable=True),
        sa.UniqueConstraint("event_id", "ven_id", name="uq_oadr_deliveries_event_ven"),
    )
    op.create_index("ix_oadr_deliveries_event_id", "oadr_deliveries", ["event_id"])
    op.create_index("ix_oadr_deliveries_ven_pending", "oadr_deliveries", ["ven_id", "pending"])
    op.create_table(
        "oadr_outbox",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("ven_id", sa.String(128), nullable=False),
        sa.Column("message_type", sa.String(64), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("delivered_at", sa.DateTime(), nullable=True),
    )
    op.create_index("ix_oadr_outbox_ven_delivered", "oadr_outbox", ["ven_id", "delivered_at"])
    op.create_table(
        "oadr_opts",
        sa.Column("opt_id", sa.String(128), primary_key=True),
        sa.Column("ven_id", sa.String(128), nullable=False),
        sa.Column("opt_type", sa.String(16), nullable=False),
        sa.Column("opt_reason", sa.String(64), nullable=False),
        sa.Column("market_context", sa.String(300), nullable=True),
        sa.Column("event_id", sa.String(128), nullable=True),
        sa.Column("resource_ids", sa.JSON(), nullable=False),
        sa.Column("windows", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("cancelled_at", sa.DateTime(), nullable=True),
    )
    op.create_index("ix_oadr_opts_ven_id", "oadr_opts", ["ven_id"])
    op.create_table(
        "oadr_report_registrations",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("ven_id", sa.String(128), nullable=False),
        sa.Column("report_specifier_id", sa.String(128), nullable=False),
        sa.Column("report_name", sa.String(64), nullable=False),
        sa.Column("descriptions", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("ven_id", "report_specifier_id", name="uq_oadr_report_reg_ven_spec"),
    )
    op.create_table(
        "oadr_report_requests",
        sa.Column("report_request_id", sa.String(128), primary_key=True),
        sa.Column("ven_id", sa.String(128), nullable=False),
        sa.Column("report_specifier_id", sa.String(128), nullable=False),
        sa.Column("r_ids", sa.JSON(), nullable=False),
        sa.Column("granularity_seconds", sa.Integer(), nullable=False),
        sa.Column("report_back_seconds", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_oadr_report_requests_ven_id", "oadr_report_requests", ["ven_id"])
    op.create_table(
        "oadr_measurements",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("ven_id", sa.String(128), nullable=False),
        sa.Column("report_request_id", sa.String(128), nullable=False),
        sa.Column("report_name", sa.String(64), nullable=True),
        sa.Column("report_type", sa.String(64), nullable=False),
        sa.Column("reading_type", sa.String(64), nullable=False),
        sa.Column("r_id", sa.String(128), nullable=False),
        sa.Column("start", sa.DateTime(), nullable=False),
        sa.Column("duration_seconds", sa.Integer(), nullable=True),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("unit", sa.String(32), nullable=True),
        sa.Column("received_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_oadr_measurements_ven_start", "oadr_measurements", ["ven_id", "start"])
    op.create_table(
        "oadr_inbound",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("role", sa.String(8), nullable=False),
        sa.Column("peer_id", sa.String(128), nullable=True),
        sa.Column("message_type", sa.String(64), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "oadr_nonces",
        sa.Column("nonce", sa.String(200), primary_key=True),
        sa.Column("received_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "oadr_upstream_events",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("vtn_id", sa.String(128), nullable=False),
        sa.Column("event_id", sa.String(128), nullable=False),
        sa.Column("modification_number", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("targets", sa.JSON(), nullable=False),
        sa.Column("opt_type", sa.String(16), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("vtn_id", "event_id", name="uq_oadr_upstream_vtn_event"),
    )


def downgrade() -> None:
    op.drop_table("oadr_upstream_events")
    op.drop_table("oadr_nonces")
    op.drop_table("oadr_inbound")
    op.drop_table("oadr_measurements")
    op.drop_table("oadr_report_requests")
    op.drop_table("oadr_report_registrations")
    op.drop_table("oadr_opts")
    op.drop_table("oadr_outbox")
    op.drop_table("oadr_deliveries")
    op.drop_table("oadr_events")
    op.drop_table("oadr_vens")
