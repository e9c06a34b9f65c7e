"""employer cases at the legal centre: legal_cases.audience

Revision ID: 0011_employer_cases
Revises: 0010_member_cards
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_employer_cases"
down_revision = "0010_member_cards"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("legal_cases") as batch:
        batch.add_column(
            sa.Column("audience", sa.String(length=8), nullable=False, server_default="worker")
        )


def downgrade() -> None:
    with op.batch_alter_table("legal_cases") as batch:
        batch.drop_column("audience")
