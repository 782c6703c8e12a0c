"""postgis search: each listing's country, so the nearest matches beyond a radius are
looked for in the searched country directly

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02

Near a border most of the nearest matches may be across it: they were read and passed over,
up to thousands of them. The column is filled when the backend rebuilds its tables (the
search format changed with it).
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE search_document ADD COLUMN country text NOT NULL DEFAULT ''")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE search_document DROP COLUMN country")
