"""Alembic environment: runs migrations on the connection or URL that finder passes in."""

from __future__ import annotations

from alembic import context

from finder.clinics import models as _clinic_models  # noqa: F401  (their tables)
from finder.db import make_engine
from finder.models import Base
from finder.moderation import models as _moderation_models  # noqa: F401
from finder.partners import models as _partner_models  # noqa: F401
from finder.trust import models as _trust_models  # noqa: F401

config = context.config
target_metadata = Base.metadata


def run_migrations() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=target_metadata,
                          render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as conn:
        context.configure(connection=conn, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations()
