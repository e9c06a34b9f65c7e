"""membership cards

Revision ID: 0010_member_cards
Revises: 0009_employer
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.models

revision = "0010_member_cards"
down_revision = "0009_employer"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "member_cards",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=20), nullable=True),
        sa.Column("application_id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("token_id", sa.String(length=32), nullable=False),
        sa.Column("union_body", sa.String(length=200), nullable=False),
        sa.Column("member_since", sa.Date(), nullable=False),
        sa.Column("issued_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["application_id"], ["member_applications.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("application_id"),
        sa.UniqueConstraint("number"),
        sa.UniqueConstraint("token_id"),
    )
    op.create_index("ix_member_cards_contact_id", "member_cards", ["contact_id"])


def downgrade() -> None:
    op.drop_index("ix_member_cards_contact_id", table_name="member_cards")
    op.drop_table("member_cards")
