"""postgis search: each listing's verification day, for its freshness

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01

The ``postgis`` backend's documents gain the day each listing was last verified (an
ordinal; 0 when patients' reports flagged it). Their format version changes with them, so the
backend refills the table from the listings on its next start.
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE search_document ADD COLUMN verified_on integer NOT NULL DEFAULT 0")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE search_document DROP COLUMN verified_on")
