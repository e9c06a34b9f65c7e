"""recruitment: enterprises, leads and their history, referral codes, attributions, campaigns,
one-time role invites

Revision ID: 0004_recruitment
Revises: 0002_people
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.models

revision = "0004_recruitment"
down_revision = "0002_people"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "campaigns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("created_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("standings_at", storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
    )
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.create_index("ix_campaigns_dates", ["starts_on", "ends_on"], unique=False)

    op.create_table(
        "enterprises",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("name_key", sa.String(length=300), nullable=False),
        sa.Column("area_code", sa.String(length=16), nullable=True),
        sa.Column("size_band", sa.String(length=16), nullable=False),
        sa.Column("union_status", sa.String(length=8), nullable=False),
        sa.Column("tax_code", sa.String(length=13), nullable=True),
        sa.Column("industrial_park", sa.String(length=200), nullable=True),
        sa.Column("report_count", sa.Integer(), nullable=False),
        sa.Column("created_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_reported_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("enterprises", schema=None) as batch_op:
        batch_op.create_index("ix_enterprises_area_key", ["area_code", "name_key"], unique=False)
        batch_op.create_index(batch_op.f("ix_enterprises_tax_code"), ["tax_code"], unique=False)

    op.create_table(
        "leads",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("enterprise_id", sa.Integer(), nullable=False),
        sa.Column("area_code", sa.String(length=16), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("is_open", sa.Boolean(), nullable=False),
        sa.Column("size_tier", sa.Integer(), nullable=False),
        sa.Column("size_order", sa.Integer(), nullable=False),
        sa.Column("report_count", sa.Integer(), nullable=False),
        sa.Column("reporter_contact_id", sa.Integer(), nullable=True),
        sa.Column("contact_ok", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("claimed_by", sa.Integer(), nullable=True),
        sa.Column("claimed_at", storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_progress_at", storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("opened_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("announced_at", storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("offered_at", storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("reminded_at", storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["claimed_by"], ["people.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["enterprise_id"], ["enterprises.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["reporter_contact_id"], ["contacts.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("enterprise_id"),
    )
    with op.batch_alter_table("leads", schema=None) as batch_op:
        batch_op.create_index("ix_leads_announced", ["announced_at"], unique=False)
        batch_op.create_index("ix_leads_claimed", ["claimed_by", "status"], unique=False)
        batch_op.create_index("ix_leads_opened", ["status", "opened_at"], unique=False)
        batch_op.create_index("ix_leads_progress", ["status", "last_progress_at"], unique=False)
        batch_op.create_index(
            "ix_leads_queue",
            ["area_code", "is_open", "size_tier", "report_count", "size_order", "id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_leads_rank",
            ["is_open", "size_tier", "report_count", "size_order", "id"],
            unique=False,
        )

    op.create_table(
        "person_invites",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("area_codes", sa.String(length=2000), nullable=False),
        sa.Column("created_by", sa.String(length=160), nullable=False),
        sa.Column("created_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("used_at", storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("used_by_person_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["used_by_person_id"], ["people.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
    )

    op.create_table(
        "referral_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=8), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["people.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
    )
    with op.batch_alter_table("referral_codes", schema=None) as batch_op:
        batch_op.create_index("ix_referral_codes_person", ["person_id", "purpose"], unique=False)

    op.create_table(
        "attributions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("code_id", sa.Integer(), nullable=False),
        sa.Column("referrer_id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=True),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("created_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaigns.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["code_id"], ["referral_codes.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["referrer_id"], ["people.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("contact_id"),
    )
    with op.batch_alter_table("attributions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_attributions_campaign", ["campaign_id", "referrer_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_attributions_referrer_id"), ["referrer_id"], unique=False
        )

    op.create_table(
        "lead_reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("lead_id", sa.Integer(), nullable=False),
        sa.Column("reporter_contact_id", sa.Integer(), nullable=True),
        sa.Column("contact_ok", sa.Boolean(), nullable=False),
        sa.Column("contact_enc", sa.String(length=512), nullable=True),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("size_band", sa.String(length=16), nullable=False),
        sa.Column("referrer_id", sa.Integer(), nullable=True),
        sa.Column("campaign_id", sa.Integer(), nullable=True),
        sa.Column("created_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["lead_id"], ["leads.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["referrer_id"], ["people.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["reporter_contact_id"], ["contacts.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("lead_reports", schema=None) as batch_op:
        batch_op.create_index(
            "ix_lead_reports_credit", ["campaign_id", "referrer_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_lead_reports_lead_id"), ["lead_id"], unique=False)
        batch_op.create_index(
            "ix_lead_reports_reporter", ["reporter_contact_id", "created_at"], unique=False
        )

    op.create_table(
        "lead_status_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("lead_id", sa.Integer(), nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=True),
        sa.Column("to_status", sa.String(length=16), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=True),
        sa.Column("note_enc", sa.Text(), nullable=True),
        sa.Column("created_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["lead_id"], ["leads.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["person_id"], ["people.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("lead_status_changes", schema=None) as batch_op:
        batch_op.create_index("ix_lead_changes_lead", ["lead_id", "created_at"], unique=False)

    op.create_table(
        "campaign_standings",
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("admitted", sa.Integer(), nullable=False),
        sa.Column("applications", sa.Integer(), nullable=False),
        sa.Column("leads", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaigns.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["person_id"], ["people.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("campaign_id", "person_id"),
    )
    with op.batch_alter_table("campaign_standings", schema=None) as batch_op:
        batch_op.create_index("ix_campaign_standings_rank", ["campaign_id", "rank"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("campaign_standings", schema=None) as batch_op:
        batch_op.drop_index("ix_campaign_standings_rank")

    op.drop_table("campaign_standings")
    with op.batch_alter_table("lead_status_changes", schema=None) as batch_op:
        batch_op.drop_index("ix_lead_changes_lead")

    op.drop_table("lead_status_changes")

    with op.batch_alter_table("lead_reports", schema=None) as batch_op:
        batch_op.drop_index("ix_lead_reports_reporter")
        batch_op.drop_index(batch_op.f("ix_lead_reports_lead_id"))
        batch_op.drop_index("ix_lead_reports_credit")

    op.drop_table("lead_reports")

    with op.batch_alter_table("attributions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_attributions_referrer_id"))
        batch_op.drop_index("ix_attributions_campaign")

    op.drop_table("attributions")

    with op.batch_alter_table("referral_codes", schema=None) as batch_op:
        batch_op.drop_index("ix_referral_codes_person")

    op.drop_table("referral_codes")

    op.drop_table("person_invites")

    with op.batch_alter_table("leads", schema=None) as batch_op:
        batch_op.drop_index("ix_leads_rank")
        batch_op.drop_index("ix_leads_queue")
        batch_op.drop_index("ix_leads_progress")
        batch_op.drop_index("ix_leads_opened")
        batch_op.drop_index("ix_leads_claimed")
        batch_op.drop_index("ix_leads_announced")

    op.drop_table("leads")

    with op.batch_alter_table("enterprises", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_enterprises_tax_code"))
        batch_op.drop_index("ix_enterprises_area_key")

    op.drop_table("enterprises")

    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_index("ix_campaigns_dates")

    op.drop_table("campaigns")
