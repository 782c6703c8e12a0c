"""postgis search: the dry-needling listing's filters

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01

The ``postgis`` backend's documents gain what the new filters read. Their format version
changes with them, so the backend refills the table from the listings on its next start.
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

COLUMNS = {
    "techniques": "text[] NOT NULL DEFAULT '{}'",
    "accessibility": "text[] NOT NULL DEFAULT '{}'",
    "age_groups": "text[] NOT NULL DEFAULT '{}'",
    "direct_access": "boolean NOT NULL DEFAULT false",
    "home_visits": "boolean NOT NULL DEFAULT false",
    "price_min": "double precision",  # NULL: no price given
    "certified_until": "date",  # NULL: no dry-needling certification
}


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE search_document "
               + ", ".join(f"ADD COLUMN {name} {kind}" for name, kind in COLUMNS.items()))


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE search_document "
               + ", ".join(f"DROP COLUMN {name}" for name in COLUMNS))
