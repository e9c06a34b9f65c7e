"""case topics: the FAQ topic of a legal case, and an index on when cases opened

Revision ID: 0016_case_topics
Revises: 0015_code_guards
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016_case_topics"
down_revision = "0015_code_guards"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("legal_cases") as batch_op:
        batch_op.add_column(sa.Column("topic", sa.String(length=32), nullable=True))
    op.create_index("ix_legal_cases_created", "legal_cases", ["created_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_legal_cases_created", table_name="legal_cases")
    with op.batch_alter_table("legal_cases") as batch_op:
        batch_op.drop_column("topic")
