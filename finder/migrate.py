"""Schema migrations through Alembic, for SQLite and PostgreSQL alike."""

from __future__ import annotations

from importlib import resources

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory


def alembic_config(url: str) -> Config:
    """Return an Alembic config pointing at finder's migrations and the given database."""
    config = Config()
    config.set_main_option("script_location", str(resources.files("finder") / "migrations"))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def is_current(engine: sa.Engine) -> bool:
    """Return whether the database schema is at the newest revision."""
    head = ScriptDirectory.from_config(alembic_config(str(engine.url))).get_current_head()
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision() == head


def upgrade(engine: sa.Engine) -> None:
    """Create or upgrade the schema to the newest revision."""
    config = alembic_config(str(engine.url))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
