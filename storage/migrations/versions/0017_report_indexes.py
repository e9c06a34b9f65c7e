"""report indexes: covering indexes for the overview, the workbook and the funnel

Each report count reads one of these alone, never a table row per entry (bench/report.py).

Revision ID: 0017_report_indexes
Revises: 0016_case_topics
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

revision = "0017_report_indexes"
down_revision = "0016_case_topics"
branch_labels = None
depends_on = None

NEW = (
    ("ix_member_app_decided", "member_applications", ["status", "decided_at", "union_body"]),
    ("ix_member_app_body", "member_applications", ["status", "union_body", "decided_at"]),
    ("ix_member_app_waiting", "member_applications", ["status", "created_at", "union_body"]),
    (
        "ix_member_app_created",
        "member_applications",
        ["created_at", "union_body", "channel", "contact_id"],
    ),
    ("ix_enterprises_size_union", "enterprises", ["area_code", "size_band", "union_status"]),
    ("ix_leads_funnel", "leads", ["status", "area_code", "employer_request", "enterprise_id"]),
    ("ix_attributions_joins", "attributions", ["campaign_id", "contact_id", "created_at"]),
)
OLD = (
    ("ix_member_app_decided", "member_applications", ["status", "decided_at"]),
    ("ix_member_app_created", "member_applications", ["created_at"]),
    ("ix_enterprises_size_union", "enterprises", ["size_band", "union_status"]),
)


def upgrade() -> None:
    for name, table, _ in OLD:
        op.drop_index(name, table_name=table)
    for name, table, columns in NEW:
        op.create_index(name, table, columns, unique=False)


def downgrade() -> None:
    for name, table, _ in NEW:
        op.drop_index(name, table_name=table)
    for name, table, columns in OLD:
        op.create_index(name, table, columns, unique=False)
