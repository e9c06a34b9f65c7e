"""lead report keys: the same worker reporting one company twice is counted once

Revision ID: 0018_lead_report_keys
Revises: 0017_report_indexes
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018_lead_report_keys"
down_revision = "0017_report_indexes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("lead_reports") as batch_op:
        batch_op.add_column(sa.Column("reporter_key", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("counted", sa.Boolean(), nullable=False, server_default=sa.true())
        )
        batch_op.create_index("ix_lead_reports_key", ["lead_id", "reporter_key"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("lead_reports") as batch_op:
        batch_op.drop_index("ix_lead_reports_key")
        batch_op.drop_column("counted")
        batch_op.drop_column("reporter_key")
