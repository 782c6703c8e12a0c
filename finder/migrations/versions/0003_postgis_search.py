"""postgis search tables

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24

The tables of the ``postgis`` search backend, on PostgreSQL only: like the Whoosh index they
are derived from the listings and caught up from ``index_change``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from finder.errors import ConfigError

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    if not bind.scalar(sa.text(
            "SELECT count(*) FROM pg_available_extensions WHERE name = 'postgis'")):
        raise ConfigError(
            "finder needs the PostGIS extension on PostgreSQL; install it on the database "
            "server (Debian: postgresql-15-postgis-3) and run `finder init` again")
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.execute("""
        CREATE TABLE search_document (
            id bigint NOT NULL,
            geog geography(Point, 4326) NOT NULL,
            lat double precision NOT NULL,
            lon double precision NOT NULL,
            keys tsvector NOT NULL,
            words text[] NOT NULL,
            insurance text[] NOT NULL,
            languages text[] NOT NULL,
            telehealth boolean NOT NULL,
            accepting_new_patients boolean NOT NULL,
            hours text NOT NULL,
            timezone text NOT NULL,
            listing text NOT NULL,
            CONSTRAINT pk_search_document PRIMARY KEY (id)
        )""")
    op.execute("CREATE INDEX ix_search_document_geog ON search_document USING gist (geog)")
    op.execute("CREATE INDEX ix_search_document_keys ON search_document USING gin (keys)")
    op.execute("""
        CREATE TABLE search_word (
            word text COLLATE "C" NOT NULL,
            listings integer NOT NULL,
            CONSTRAINT pk_search_word PRIMARY KEY (word)
        )""")
    op.execute("""
        CREATE TABLE search_state (
            id integer NOT NULL,
            applied_seq bigint NOT NULL,
            format_version integer NOT NULL,
            CONSTRAINT pk_search_state PRIMARY KEY (id)
        )""")
    op.execute("INSERT INTO search_state (id, applied_seq, format_version) VALUES (1, 0, 0)")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in ("search_state", "search_word", "search_document"):
        op.execute(f"DROP TABLE {table}")
