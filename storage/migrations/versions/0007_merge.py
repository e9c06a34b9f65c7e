"""Join the feature branches into one head; index applications for the leaderboard.

The features (membership, recruitment, legal cases, Zalo) were built in parallel, each branching
from 0002_people. From here on there is one line of migrations again.

Revision ID: 0007_merge
Revises: 0003_membership, 0004_recruitment, 0005_legal, 0006_zalo
Create Date: 2026-11-24
"""

from __future__ import annotations

from alembic import op

revision = "0007_merge"
down_revision = ("0003_membership", "0004_recruitment", "0005_legal", "0006_zalo")
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_member_app_contact_status",
        "member_applications",
        ["contact_id", "status", "created_at"],
    )


def downgrade() -> None:
    op.drop_index("ix_member_app_contact_status", table_name="member_applications")
