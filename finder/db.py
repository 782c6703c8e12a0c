"""Database engine and sessions: one engine per app, one session per request or command."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Flask, current_app, g
from sqlalchemy import orm

from . import fastjson

SQLITE_MMAP_BYTES = 256 * 2**20  # at most; pages are mapped as they are read


@dataclass
class Database:
    engine: sa.Engine
    sessionmaker: orm.sessionmaker[orm.Session]
    # Where searches may read: a replica when DATABASE_READ_URL is set, else ``engine``.
    read_engine: sa.Engine

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()
        self.read_engine.dispose()


def database_url(config: dict[str, Any]) -> str:
    """Return the configured database URL, defaulting to SQLite in the data folder."""
    url = str(config.get("DATABASE_URL") or "")
    if url:
        return url
    return f"sqlite:///{Path(config['DATA_DIR']).resolve() / 'finder.sqlite3'}"


def copy_rows(connection: sa.Connection, table: str, columns: Sequence[str],
              rows: Iterable[Sequence[Any]]) -> None:
    """Insert rows (their values in ``columns`` order, as the driver passes them) with
    PostgreSQL's COPY, in the connection's transaction: many times faster than INSERTs."""
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def copy_insert(connection: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]
                ) -> None:
    """Insert rows of ``table`` (each with the same columns) with COPY, like ``sa.insert``
    would: each value through its column's type, and columns a row lacks given their
    Python-side default (evaluated once for all the rows) or the database's."""
    dialect = connection.dialect
    given = [table.c[name] for name in rows[0]]
    defaulted = [column for column in table.columns if column.name not in rows[0]
                 and column.default is not None and not column.primary_key]
    defaults = [column.default.arg(None)  # type: ignore[union-attr]
                if column.default.is_callable else column.default.arg  # type: ignore[union-attr]
                for column in defaulted]
    convert = [column.type.dialect_impl(dialect).bind_processor(dialect) or _same
               for column in (*given, *defaulted)]
    copy_rows(connection, table.name, [column.name for column in (*given, *defaulted)], (
        [to_driver(value) for to_driver, value in zip(
            convert, [*(row[column.name] for column in given), *defaults], strict=True)]
        for row in rows))


def _same(value: Any) -> Any:
    return value


def make_engine(url: str) -> sa.Engine:
    """Create an engine; SQLite gets WAL, a busy timeout and foreign keys."""
    # hide_parameters: a failed statement's values (an owner's e-mail, a link in a message)
    # must not reach the logs with its error.
    json_codec = {"json_serializer": fastjson.dumps, "json_deserializer": fastjson.loads,
                  "hide_parameters": True}
    if not url.startswith("sqlite"):
        # JIT compilation costs milliseconds a query and pays off only on long analytic
        # ones: a search would spend more compiling than running. psycopg prepares a
        # statement run five times, and PostgreSQL may then plan it once for any values: a
        # plan that cannot know how large a radius or how common a keyword is (a repeated
        # search took 40 ms instead of 3). Each run is planned for its own values.
        options = "-c jit=off -c plan_cache_mode=force_custom_plan"
        return sa.create_engine(url, pool_pre_ping=True, connect_args={"options": options},
                                **json_codec)
    engine = sa.create_engine(url, connect_args={"timeout": 30}, **json_codec)

    @sa.event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        # WAL lets readers and one writer work at once; the busy timeout makes writers queue
        # instead of failing with "database is locked".
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        # Reading through a memory map skips a system call per page, for the listings that
        # a provider page or an index batch reads scattered over the file.
        cursor.execute(f"PRAGMA mmap_size={SQLITE_MMAP_BYTES}")
        cursor.close()

    return engine


def init_app(app: Flask) -> None:
    """Create the engine and session factory and close the request session on teardown."""
    Path(app.config["DATA_DIR"]).mkdir(parents=True, exist_ok=True)
    engine = make_engine(database_url(app.config))
    read_url = app.config.get("DATABASE_READ_URL")
    app.extensions["finder.db"] = Database(
        engine, orm.sessionmaker(engine, expire_on_commit=False),
        make_engine(read_url) if read_url else engine,
    )

    @app.teardown_appcontext
    def _close_session(_exc: BaseException | None) -> None:
        session = g.pop("finder_session", None)
        if session is not None:
            session.close()


def get_database(app: Flask | None = None) -> Database:
    """Return the app's database (the current app's by default)."""
    database: Database = (app or current_app).extensions["finder.db"]
    return database


def get_session() -> orm.Session:
    """Return the session of the current request or command, creating it on first use."""
    if "finder_session" not in g:
        g.finder_session = get_database().sessionmaker()
    session: orm.Session = g.finder_session
    return session


@contextmanager
def session_scope(app: Flask) -> Iterator[orm.Session]:
    """Yield a session outside a request; the caller commits."""
    session = get_database(app).sessionmaker()
    try:
        yield session
    finally:
        session.close()
