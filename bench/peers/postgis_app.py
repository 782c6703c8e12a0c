"""Peer: a minimal Flask app answering each search with one PostGIS + full-text SQL query.

A ``geography(Point)`` column with a GiST index, ``ST_DWithin`` for the radius, a ``tsvector``
of name, services, conditions and description with a GIN index matched by
``plainto_tsquery('english', q)`` (every word must match), nearest first, ``LIMIT``.
Configured by ``BENCH_PG_DSN`` (a libpq connection string or URL).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import psycopg
from flask import Flask, Response, jsonify

from .common import answer, install_common, parse_search, read_rows

SCHEMA = """
DROP TABLE IF EXISTS listing;
CREATE TABLE listing (
    id integer PRIMARY KEY,
    name text NOT NULL,
    services text NOT NULL,
    conditions text NOT NULL,
    description text NOT NULL,
    lat double precision NOT NULL,
    lon double precision NOT NULL,
    telehealth boolean NOT NULL,
    accepting_new_patients boolean NOT NULL,
    languages text[] NOT NULL,
    geog geography(Point, 4326)
        GENERATED ALWAYS AS (ST_SetSRID(ST_MakePoint(lon, lat), 4326)::geography) STORED,
    tsv tsvector GENERATED ALWAYS AS (to_tsvector('english',
        name || ' ' || services || ' ' || conditions || ' ' || description)) STORED
)
"""
INDEXES = """
CREATE INDEX listing_geog ON listing USING gist (geog);
CREATE INDEX listing_tsv ON listing USING gin (tsv);
ANALYZE listing
"""
COLUMNS = ("id", "name", "services", "conditions", "description", "lat", "lon", "telehealth",
           "accepting_new_patients", "languages")
TYPES = ("int4", "text", "text", "text", "text", "float8", "float8", "bool", "bool", "text[]")


def dsn_from_sqlalchemy(url: str) -> str:
    """Turn ``postgresql+psycopg://...`` into a URL libpq understands."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def load(csv_path: Path, dsn: str) -> float:
    """Create the table from a generated CSV with COPY, then index; return the seconds."""
    started = time.perf_counter()
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(SCHEMA)
        with connection.cursor() as cursor, cursor.copy(
            f"COPY listing ({', '.join(COLUMNS)}) FROM STDIN"
        ) as copy:
            copy.set_types(list(TYPES))
            for row in read_rows(csv_path):
                copy.write_row((row.id, row.name, row.services, row.conditions,
                                row.description, row.lat, row.lon, row.telehealth,
                                row.accepting, row.languages))
        for statement in INDEXES.split(";"):
            connection.execute(statement)
    return time.perf_counter() - started


def _connection(app: Flask, dsn: str) -> psycopg.Connection[Any]:
    """Return the worker's connection, opened on first use (gunicorn builds one app per
    worker, so it is never shared across a fork)."""
    connection: psycopg.Connection[Any] | None = app.extensions.get("bench.pg")
    if connection is None or connection.closed:
        connection = app.extensions["bench.pg"] = psycopg.connect(dsn, autocommit=True)
    return connection


def create_app() -> Flask:
    """Create the peer app (gunicorn: ``bench.peers.postgis_app:create_app()``)."""
    app = Flask(__name__)
    dsn = os.environ["BENCH_PG_DSN"]
    install_common(app)

    @app.get("/api/v1/search")
    def search() -> Response:
        s = parse_search()
        where = ["ST_DWithin(l.geog, o.g, %(meters)s)"]
        params: dict[str, Any] = {"lat": s.lat, "lon": s.lon, "meters": s.radius_km * 1000.0,
                                  "limit": s.limit}
        if s.q:
            where.append("l.tsv @@ plainto_tsquery('english', %(q)s)")
            params["q"] = s.q
        if s.telehealth is not None:
            where.append("l.telehealth = %(telehealth)s")
            params["telehealth"] = s.telehealth
        if s.accepting is not None:
            where.append("l.accepting_new_patients = %(accepting)s")
            params["accepting"] = s.accepting
        if s.language:
            where.append("%(language)s = ANY(l.languages)")
            params["language"] = s.language
        sql = (
            "SELECT l.id, l.name, ST_Distance(l.geog, o.g) / 1000.0 AS km FROM listing l, "
            "(SELECT ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326)::geography AS g) o "
            f"WHERE {' AND '.join(where)} ORDER BY km, l.id LIMIT %(limit)s"
        )
        rows = _connection(app, dsn).execute(sql, params).fetchall()
        return jsonify(answer(s, [(int(i), str(name), float(km)) for i, name, km in rows]))

    return app
