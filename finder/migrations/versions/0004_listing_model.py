"""the dry-needling listing: practitioners, certifications, techniques, access and price

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01

Existing locations keep every value; the new columns start empty (lists), unknown (flags)
or absent (price).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
EMPTY_LIST = sa.text("'[]'")

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

LIST_COLUMNS = ("holiday_hours", "techniques", "accessibility", "age_groups")


def upgrade() -> None:
    with op.batch_alter_table("location") as batch:
        for name in LIST_COLUMNS:
            batch.add_column(sa.Column(name, JSON, nullable=False, server_default=EMPTY_LIST))
        batch.add_column(sa.Column("direct_access", sa.Boolean(), nullable=True))
        batch.add_column(sa.Column("home_visits", sa.Boolean(), nullable=True))
        batch.add_column(sa.Column("self_pay_price", JSON, nullable=True))
    op.create_table(
        "practitioner",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(length=100), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("credentials", JSON, nullable=False),
        sa.Column("npi", sa.String(length=10), nullable=False),
        sa.Column("licence_region", sa.String(length=100), nullable=False),
        sa.Column("licence_number", sa.String(length=50), nullable=False),
        sa.Column("languages", JSON, nullable=False),
        sa.Column("gender", sa.String(length=20), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["organization_id"], ["organization.id"],
                                name=op.f("fk_practitioner_organization_id_organization")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_practitioner")),
        sa.UniqueConstraint("external_id", name=op.f("uq_practitioner_external_id")),
    )
    op.create_index(op.f("ix_practitioner_organization_id"), "practitioner",
                    ["organization_id"])
    op.create_table(
        "certification",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("practitioner_id", sa.Integer(), nullable=False),
        sa.Column("issuer", sa.String(length=200), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("hours", sa.Integer(), nullable=True),
        sa.Column("earned", sa.Date(), nullable=False),
        sa.Column("expires", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(["practitioner_id"], ["practitioner.id"], ondelete="CASCADE",
                                name=op.f("fk_certification_practitioner_id_practitioner")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_certification")),
    )
    op.create_index(op.f("ix_certification_practitioner_id"), "certification",
                    ["practitioner_id"])
    op.create_table(
        "practitioner_location",
        sa.Column("practitioner_id", sa.Integer(), nullable=False),
        sa.Column("location_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["practitioner_id"], ["practitioner.id"], ondelete="CASCADE",
                                name=op.f("fk_practitioner_location_practitioner_id_practitioner")),
        sa.ForeignKeyConstraint(["location_id"], ["location.id"], ondelete="CASCADE",
                                name=op.f("fk_practitioner_location_location_id_location")),
        sa.PrimaryKeyConstraint("practitioner_id", "location_id",
                                name=op.f("pk_practitioner_location")),
    )
    op.create_index(op.f("ix_practitioner_location_location_id"), "practitioner_location",
                    ["location_id"])


def downgrade() -> None:
    op.drop_table("practitioner_location")
    op.drop_table("certification")
    op.drop_table("practitioner")
    with op.batch_alter_table("location") as batch:
        for name in (*LIST_COLUMNS, "direct_access", "home_visits", "self_pay_price"):
            batch.drop_column(name)
