"""code guards: wrong tries at one-time codes counted apart from contacts, link codes bound to
the account that asked, role invites stored hashed and optionally bound to a recipient

Codes issued before this revision were 6 characters and stored in plaintext (invites): they are
retired (unused link codes deleted, unused invites expired), so only new 10-character codes work.

Revision ID: 0015_code_guards
Revises: 0014_ciphertext_text
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.models

revision = "0015_code_guards"
down_revision = "0014_ciphertext_text"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "code_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("account", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_code_attempts_account", "code_attempts", ["purpose", "account", "at"], unique=False
    )
    op.create_index(
        "ix_code_attempts_channel", "code_attempts", ["purpose", "channel", "at"], unique=False
    )

    op.execute("DELETE FROM link_codes")
    with op.batch_alter_table("link_codes") as batch_op:
        batch_op.add_column(sa.Column("identity_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            "fk_link_codes_identity", "channel_identities", ["identity_id"], ["id"],
            ondelete="CASCADE",
        )  # fmt: skip

    with op.batch_alter_table("person_invites") as batch_op:
        batch_op.add_column(sa.Column("code_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("recipient", sa.String(length=64), nullable=True))
    # old plaintext codes: kept only as a retired marker, never matched by a hash
    op.execute("UPDATE person_invites SET code_hash = 'retired:' || CAST(id AS VARCHAR(20))")
    op.execute("UPDATE person_invites SET expires_at = created_at WHERE used_at IS NULL")
    with op.batch_alter_table("person_invites") as batch_op:
        batch_op.drop_column("code")
        batch_op.alter_column("code_hash", existing_type=sa.String(length=64), nullable=False)
        batch_op.create_unique_constraint("uq_person_invites_code_hash", ["code_hash"])


def downgrade() -> None:
    with op.batch_alter_table("person_invites") as batch_op:
        batch_op.drop_constraint("uq_person_invites_code_hash", type_="unique")
        batch_op.add_column(sa.Column("code", sa.String(length=16), nullable=True))
    op.execute("UPDATE person_invites SET code = 'X' || CAST(id AS VARCHAR(15))")
    with op.batch_alter_table("person_invites") as batch_op:
        batch_op.alter_column("code", existing_type=sa.String(length=16), nullable=False)
        batch_op.create_unique_constraint("uq_person_invites_code", ["code"])
        batch_op.drop_column("recipient")
        batch_op.drop_column("code_hash")
    with op.batch_alter_table("link_codes") as batch_op:
        batch_op.drop_constraint("fk_link_codes_identity", type_="foreignkey")
        batch_op.drop_column("identity_id")
    op.drop_index("ix_code_attempts_channel", table_name="code_attempts")
    op.drop_index("ix_code_attempts_account", table_name="code_attempts")
    op.drop_table("code_attempts")
