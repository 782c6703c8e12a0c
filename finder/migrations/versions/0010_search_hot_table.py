"""postgis search: keep the searched columns apart from the listings' JSON, uncompressed

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02

Every search reads each candidate's ``keys``. Beside the listing's JSON and its spelling
words they made rows of over 2 kB, which PostgreSQL compresses, so each candidate cost a
decompression (about 3 us, most of a search's time in the database). The JSON and the words
move to ``search_listing``, read only for the page's listings and by catch-up, and rows of
``search_document`` are kept whole up to a page's size. Both are refilled from the listings
on the backend's next start.
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("""
        CREATE TABLE search_listing (
            id bigint NOT NULL,
            listing text NOT NULL,
            words text[] NOT NULL,
            CONSTRAINT pk_search_listing PRIMARY KEY (id)
        )""")
    op.execute("TRUNCATE search_document, search_word")
    op.execute("ALTER TABLE search_document DROP COLUMN listing, DROP COLUMN words")
    op.execute("ALTER TABLE search_document SET (toast_tuple_target = 8160)")
    op.execute("UPDATE search_state SET applied_seq = 0, format_version = 0")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("TRUNCATE search_document, search_word")
    op.execute("ALTER TABLE search_document RESET (toast_tuple_target)")
    op.execute("ALTER TABLE search_document ADD COLUMN words text[] NOT NULL, "
               "ADD COLUMN listing text NOT NULL")
    op.execute("DROP TABLE search_listing")
    op.execute("UPDATE search_state SET applied_seq = 0, format_version = 0")
