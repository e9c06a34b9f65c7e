"""legal cases, case messages, relay links, ratings, FAQ misses

Revision ID: 0005_legal
Revises: 0002_people
Create Date: 2026-11-24 03:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.models

revision = "0005_legal"
down_revision = "0002_people"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "faq_misses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("question", sa.String(length=300), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("faq_id", sa.String(length=80), nullable=True),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("first_seen", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("question"),
    )
    op.create_table(
        "legal_cases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=20), nullable=True),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("chat_id", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("question_enc", sa.Text(), nullable=False),
        sa.Column("workplace_enc", sa.Text(), nullable=True),
        sa.Column("named", sa.Boolean(), nullable=False),
        sa.Column("name_enc", sa.String(length=512), nullable=True),
        sa.Column("phone_enc", sa.String(length=512), nullable=True),
        sa.Column("phone_hash", sa.String(length=64), nullable=True),
        sa.Column("staff_channel", sa.String(length=32), nullable=True),
        sa.Column("staff_chat_id", sa.String(length=128), nullable=True),
        sa.Column("thread_id", sa.String(length=64), nullable=True),
        sa.Column("card_posted", sa.Boolean(), nullable=False),
        sa.Column("assignee_id", sa.String(length=128), nullable=True),
        sa.Column("assignee_label", sa.String(length=128), nullable=True),
        sa.Column("awaiting_worker", sa.Boolean(), nullable=False),
        sa.Column("created_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("first_response_at", storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("closed_at", storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("reposted_at", storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("escalated_at", storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("number"),
    )
    op.create_index(op.f("ix_legal_cases_contact_id"), "legal_cases", ["contact_id"], unique=False)
    op.create_index(op.f("ix_legal_cases_phone_hash"), "legal_cases", ["phone_hash"], unique=False)
    op.create_index(
        "ix_legal_cases_status_created", "legal_cases", ["status", "created_at"], unique=False
    )
    op.create_table(
        "legal_case_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("chat_id", sa.String(length=128), nullable=False),
        sa.Column("message_id", sa.String(length=64), nullable=True),
        sa.Column("thread_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["legal_cases.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_legal_case_links_case_id"), "legal_case_links", ["case_id"], unique=False
    )
    op.create_index(
        "ix_legal_links_message",
        "legal_case_links",
        ["channel", "chat_id", "message_id"],
        unique=False,
    )
    op.create_index(
        "ix_legal_links_thread",
        "legal_case_links",
        ["channel", "chat_id", "thread_id"],
        unique=False,
    )
    op.create_table(
        "legal_case_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("direction", sa.String(length=8), nullable=False),
        sa.Column("author_id", sa.String(length=128), nullable=True),
        sa.Column("body_enc", sa.Text(), nullable=True),
        sa.Column("media", sa.JSON(), nullable=False),
        sa.Column("source_channel", sa.String(length=32), nullable=True),
        sa.Column("source_chat_id", sa.String(length=128), nullable=True),
        sa.Column("source_message_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["legal_cases.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_legal_case_messages_case_id"), "legal_case_messages", ["case_id"], unique=False
    )
    op.create_table(
        "legal_case_ratings",
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("created_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["legal_cases.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("case_id"),
    )


def downgrade() -> None:
    op.drop_table("legal_case_ratings")
    op.drop_index(op.f("ix_legal_case_messages_case_id"), table_name="legal_case_messages")
    op.drop_table("legal_case_messages")
    op.drop_index("ix_legal_links_thread", table_name="legal_case_links")
    op.drop_index("ix_legal_links_message", table_name="legal_case_links")
    op.drop_index(op.f("ix_legal_case_links_case_id"), table_name="legal_case_links")
    op.drop_table("legal_case_links")
    op.drop_index("ix_legal_cases_status_created", table_name="legal_cases")
    op.drop_index(op.f("ix_legal_cases_phone_hash"), table_name="legal_cases")
    op.drop_index(op.f("ix_legal_cases_contact_id"), table_name="legal_cases")
    op.drop_table("legal_cases")
    op.drop_table("faq_misses")
