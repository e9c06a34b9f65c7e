"""ciphertext columns are Text: a 129-character accented name sealed is over 512 characters

Revision ID: 0014_ciphertext_text
Revises: 0013_delivery_leases
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014_ciphertext_text"
down_revision = "0013_delivery_leases"
branch_labels = None
depends_on = None

COLUMNS = {
    "legal_cases": ("name_enc", "phone_enc"),
    "lead_reports": ("contact_enc",),
    "people": ("name_enc",),
}


def upgrade() -> None:
    for table, columns in COLUMNS.items():
        with op.batch_alter_table(table) as batch_op:
            for column in columns:
                batch_op.alter_column(column, type_=sa.Text(), existing_type=sa.String(512))


def downgrade() -> None:
    for table, columns in COLUMNS.items():
        with op.batch_alter_table(table) as batch_op:
            for column in columns:
                batch_op.alter_column(column, type_=sa.String(512), existing_type=sa.Text())
