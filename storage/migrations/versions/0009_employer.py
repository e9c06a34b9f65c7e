"""employer track: requests for help founding a CĐCS, "doanh nghiệp đề nghị" on leads

Revision ID: 0009_employer
Revises: 0008_dashboard
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.models

revision = "0009_employer"
down_revision = "0008_dashboard"
branch_labels = None
depends_on = None

_QUEUE_OLD = ["area_code", "is_open", "size_tier", "report_count", "size_order", "id"]
_RANK_OLD = ["is_open", "size_tier", "report_count", "size_order", "id"]


def upgrade() -> None:
    with op.batch_alter_table("leads") as batch:
        batch.add_column(
            sa.Column("employer_request", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(
            sa.Column(
                "employer_requested_at", storage.models.UTCDateTime(timezone=True), nullable=True
            )
        )
        batch.drop_index("ix_leads_queue")
        batch.drop_index("ix_leads_rank")
        batch.create_index("ix_leads_queue", [*_QUEUE_OLD[:2], "employer_request", *_QUEUE_OLD[2:]])
        batch.create_index("ix_leads_rank", [_RANK_OLD[0], "employer_request", *_RANK_OLD[1:]])
    op.create_table(
        "employer_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(length=20), nullable=True),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("lead_id", sa.Integer(), nullable=True),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("company", sa.String(length=300), nullable=False),
        sa.Column("workers", sa.Integer(), nullable=False),
        sa.Column("person_enc", sa.Text(), nullable=False),
        sa.Column("phone_enc", sa.Text(), nullable=False),
        sa.Column("created_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["lead_id"], ["leads.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("reference"),
    )
    op.create_index("ix_employer_requests_contact_id", "employer_requests", ["contact_id"])
    op.create_index("ix_employer_requests_lead_id", "employer_requests", ["lead_id"])


def downgrade() -> None:
    op.drop_index("ix_employer_requests_lead_id", table_name="employer_requests")
    op.drop_index("ix_employer_requests_contact_id", table_name="employer_requests")
    op.drop_table("employer_requests")
    with op.batch_alter_table("leads") as batch:
        batch.drop_index("ix_leads_rank")
        batch.drop_index("ix_leads_queue")
        batch.create_index("ix_leads_queue", _QUEUE_OLD)
        batch.create_index("ix_leads_rank", _RANK_OLD)
        batch.drop_column("employer_requested_at")
        batch.drop_column("employer_request")
