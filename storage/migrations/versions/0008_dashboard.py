"""dashboard: sign-in links, web sessions, report targets, area mapping, report indexes

Revision ID: 0008_dashboard
Revises: 0007_merge
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.models

revision = "0008_dashboard"
down_revision = "0007_merge"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "area_union_bodies",
        sa.Column("area_code", sa.String(length=16), nullable=False),
        sa.Column("union_body", sa.String(length=200), nullable=False),
        sa.Column("updated_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("area_code"),
    )
    op.create_table(
        "report_targets",
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("union_body", sa.String(length=200), nullable=False),
        sa.Column("new_members", sa.Integer(), nullable=False),
        sa.Column("updated_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("year", "union_body"),
    )
    op.create_table(
        "web_login_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("external_id", sa.String(length=128), nullable=False),
        sa.Column("created_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("used_at", storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index(
        "ix_web_login_links_account",
        "web_login_links",
        ["channel", "external_id", "created_at"],
        unique=False,
    )
    op.create_table(
        "web_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("external_id", sa.String(length=128), nullable=False),
        sa.Column("created_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index("ix_web_sessions_seen", "web_sessions", ["last_seen_at"], unique=False)
    op.create_index("ix_contacts_created", "contacts", ["created_at"], unique=False)
    op.create_index(
        "ix_enterprises_size_union", "enterprises", ["size_band", "union_status"], unique=False
    )
    op.create_index(
        "ix_lead_changes_to", "lead_status_changes", ["to_status", "created_at"], unique=False
    )
    op.create_index("ix_member_app_created", "member_applications", ["created_at"], unique=False)
    op.create_index(
        "ix_member_app_decided", "member_applications", ["status", "decided_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_member_app_decided", table_name="member_applications")
    op.drop_index("ix_member_app_created", table_name="member_applications")
    op.drop_index("ix_lead_changes_to", table_name="lead_status_changes")
    op.drop_index("ix_enterprises_size_union", table_name="enterprises")
    op.drop_index("ix_contacts_created", table_name="contacts")
    op.drop_index("ix_web_sessions_seen", table_name="web_sessions")
    op.drop_table("web_sessions")
    op.drop_index("ix_web_login_links_account", table_name="web_login_links")
    op.drop_table("web_login_links")
    op.drop_table("report_targets")
    op.drop_table("area_union_bodies")
