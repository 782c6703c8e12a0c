"""directory trust: re-verification, patients' reports, distinct pairs, the NPI registry

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
WHEN = sa.DateTime(timezone=True)

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("location") as batch:
        batch.add_column(sa.Column("flagged_at", WHEN, nullable=True))
        batch.add_column(sa.Column("verify_notice", sa.String(length=20), nullable=False,
                                   server_default=""))
        batch.add_column(sa.Column("verify_notice_for", sa.Date(), nullable=True))
        batch.add_column(sa.Column("unpublished_reason", sa.String(length=20), nullable=False,
                                   server_default=""))
        batch.add_column(sa.Column("merged_into_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("npi_status", sa.String(length=20), nullable=False,
                                   server_default=""))
        batch.add_column(sa.Column("npi_detail", sa.Text(), nullable=False, server_default=""))
        batch.add_column(sa.Column("npi_checked_on", sa.Date(), nullable=True))
        batch.create_foreign_key(op.f("fk_location_merged_into_id_location"), "location",
                                 ["merged_into_id"], ["id"])
    with op.batch_alter_table("practitioner") as batch:
        batch.add_column(sa.Column("npi_status", sa.String(length=20), nullable=False,
                                   server_default=""))
        batch.add_column(sa.Column("npi_checked_on", sa.Date(), nullable=True))
    # The defaults filled the existing rows; new rows get theirs from the models.
    for table, columns in (("location", ("verify_notice", "unpublished_reason", "npi_status",
                                         "npi_detail")),
                           ("practitioner", ("npi_status",))):
        with op.batch_alter_table(table) as batch:
            for column in columns:
                batch.alter_column(column, server_default=None)
    op.create_table(
        "patient_report",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("location_id", sa.Integer(), nullable=False),
        sa.Column("problem", sa.String(length=20), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("reporter", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("resolved_at", WHEN, nullable=True),
        sa.Column("resolved_by", sa.Integer(), nullable=True),
        sa.Column("resolution", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["location_id"], ["location.id"],
                                name=op.f("fk_patient_report_location_id_location")),
        sa.ForeignKeyConstraint(["resolved_by"], ["account.id"],
                                name=op.f("fk_patient_report_resolved_by_account")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_patient_report")),
    )
    op.create_index(op.f("ix_patient_report_location_id"), "patient_report", ["location_id"])
    op.create_index(op.f("ix_patient_report_status"), "patient_report", ["status"])
    op.create_table(
        "distinct_pair",
        sa.Column("first_id", sa.Integer(), nullable=False),
        sa.Column("second_id", sa.Integer(), nullable=False),
        sa.Column("marked_by", sa.Integer(), nullable=True),
        sa.Column("marked_at", WHEN, nullable=False),
        sa.ForeignKeyConstraint(["first_id"], ["location.id"],
                                name=op.f("fk_distinct_pair_first_id_location")),
        sa.ForeignKeyConstraint(["second_id"], ["location.id"],
                                name=op.f("fk_distinct_pair_second_id_location")),
        sa.ForeignKeyConstraint(["marked_by"], ["account.id"],
                                name=op.f("fk_distinct_pair_marked_by_account")),
        sa.PrimaryKeyConstraint("first_id", "second_id", name=op.f("pk_distinct_pair")),
    )
    op.create_table(
        "nppes_record",
        sa.Column("npi", sa.String(length=10), nullable=False),
        sa.Column("entity_type", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("address_1", sa.String(length=200), nullable=False),
        sa.Column("address_2", sa.String(length=200), nullable=False),
        sa.Column("city", sa.String(length=100), nullable=False),
        sa.Column("region", sa.String(length=100), nullable=False),
        sa.Column("postcode", sa.String(length=20), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("phone", sa.String(length=40), nullable=False),
        sa.Column("taxonomies", JSON, nullable=False),
        sa.Column("deactivated_on", sa.Date(), nullable=True),
        sa.Column("reactivated_on", sa.Date(), nullable=True),
        sa.Column("imported_at", WHEN, nullable=False),
        sa.PrimaryKeyConstraint("npi", name=op.f("pk_nppes_record")),
    )


def downgrade() -> None:
    for table in ("nppes_record", "distinct_pair", "patient_report"):
        op.drop_table(table)
    with op.batch_alter_table("practitioner") as batch:
        batch.drop_column("npi_checked_on")
        batch.drop_column("npi_status")
    with op.batch_alter_table("location") as batch:
        batch.drop_constraint(op.f("fk_location_merged_into_id_location"), type_="foreignkey")
        for column in ("npi_checked_on", "npi_detail", "npi_status", "merged_into_id",
                       "unpublished_reason", "verify_notice_for", "verify_notice",
                       "flagged_at"):
            batch.drop_column(column)
