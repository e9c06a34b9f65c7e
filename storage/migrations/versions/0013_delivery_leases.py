"""delivery leases: inbox order and leases, replies kept with the dedupe key, outbox leases,
job leases and the readiness probe

Revision ID: 0013_delivery_leases
Revises: 0012_broadcasts
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.models

revision = "0013_delivery_leases"
down_revision = "0012_broadcasts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("inbox_events") as batch_op:
        batch_op.add_column(
            sa.Column("user_key", sa.String(length=200), nullable=False, server_default="")
        )
        batch_op.add_column(
            sa.Column("sequence", sa.BigInteger(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("lease_owner", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("lease_until", storage.models.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.create_index(
            "ix_inbox_user_order", ["user_key", "status", "sequence", "id"], unique=False
        )
    with op.batch_alter_table("processed_events") as batch_op:
        batch_op.add_column(sa.Column("replies", sa.Text(), nullable=True))
    with op.batch_alter_table("outbox_messages") as batch_op:
        batch_op.add_column(sa.Column("claimed_by", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("lease_until", storage.models.UTCDateTime(timezone=True), nullable=True)
        )
    op.create_table(
        "job_runs",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("next_run_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("lease_until", storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_run_at", storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "health_probes",
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("owner"),
    )


def downgrade() -> None:
    op.drop_table("health_probes")
    op.drop_table("job_runs")
    with op.batch_alter_table("outbox_messages") as batch_op:
        batch_op.drop_column("lease_until")
        batch_op.drop_column("claimed_by")
    with op.batch_alter_table("processed_events") as batch_op:
        batch_op.drop_column("replies")
    with op.batch_alter_table("inbox_events") as batch_op:
        batch_op.drop_index("ix_inbox_user_order")
        batch_op.drop_column("lease_until")
        batch_op.drop_column("lease_owner")
        batch_op.drop_column("sequence")
        batch_op.drop_column("user_key")
