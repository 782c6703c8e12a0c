"""Peer: the obvious embedded design, a Whoosh index with latitude/longitude range filters.

The keyword query (Whoosh's parser, every word required) is combined with ``NumericRange``
filters on latitude and longitude covering the radius' bounding box; the hits are then
measured exactly in Python (geopy's geodesic), cut at the radius and sorted nearest first.
Configured by ``BENCH_WHOOSH_DIR`` (the index folder).
"""

from __future__ import annotations

import math
import os
import shutil
import time
from pathlib import Path
from typing import Any

from flask import Flask, Response, jsonify
from geopy.distance import geodesic
from whoosh import index
from whoosh.analysis import StemmingAnalyzer
from whoosh.fields import BOOLEAN, ID, KEYWORD, NUMERIC, STORED, TEXT, Schema
from whoosh.qparser import QueryParser
from whoosh.query import And, NumericRange, Query, Term

from .common import Search, answer, install_common, parse_search, read_rows

KM_PER_DEGREE_LAT = 110.574  # the shortest degree of latitude, so the box is never too small


def schema() -> Schema:
    return Schema(
        id=ID(stored=True, unique=True),
        name=STORED,
        text=TEXT(analyzer=StemmingAnalyzer()),
        lat=NUMERIC(float, stored=True),
        lon=NUMERIC(float, stored=True),
        telehealth=BOOLEAN,
        accepting=BOOLEAN,
        language=KEYWORD(lowercase=True, commas=True),
    )


def load(csv_path: Path, directory: Path) -> float:
    """Build the index from a generated CSV; return the seconds."""
    started = time.perf_counter()
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    ix = index.create_in(str(directory), schema())
    with ix.writer(limitmb=256) as writer:
        for row in read_rows(csv_path):
            writer.add_document(
                id=str(row.id), name=row.name,
                text=" ".join((row.name, row.services, row.conditions, row.description)),
                lat=row.lat, lon=row.lon, telehealth=row.telehealth, accepting=row.accepting,
                language=",".join(row.languages))
    ix.close()
    return time.perf_counter() - started


def bounding_box(s: Search) -> list[Query]:
    """Return latitude and longitude ranges that contain the radius around the origin."""
    dlat = s.radius_km / KM_PER_DEGREE_LAT
    cos_lat = math.cos(math.radians(min(89.0, abs(s.lat) + dlat)))
    dlon = min(180.0, s.radius_km / (111.32 * max(cos_lat, 1e-6)))
    return [NumericRange("lat", s.lat - dlat, s.lat + dlat),
            NumericRange("lon", s.lon - dlon, s.lon + dlon)]


def create_app() -> Flask:
    """Create the peer app (gunicorn: ``bench.peers.naive_whoosh_app:create_app()``)."""
    app = Flask(__name__)
    ix = index.open_dir(os.environ["BENCH_WHOOSH_DIR"])
    parser = QueryParser("text", ix.schema)
    install_common(app)

    @app.get("/api/v1/search")
    def search() -> Response:
        s = parse_search()
        clauses = bounding_box(s)
        if s.q:
            clauses.append(parser.parse(s.q))
        if s.telehealth is not None:
            clauses.append(Term("telehealth", s.telehealth))
        if s.accepting is not None:
            clauses.append(Term("accepting", s.accepting))
        if s.language:
            clauses.append(Term("language", s.language))
        hits: list[tuple[int, str, float]] = []
        with ix.searcher() as searcher:
            for hit in searcher.search(And(clauses), limit=None):
                km = geodesic((s.lat, s.lon), (hit["lat"], hit["lon"])).km
                if km <= s.radius_km:
                    hits.append((int(hit["id"]), str(hit["name"]), km))
        hits.sort(key=lambda h: (h[2], h[0]))
        body: dict[str, Any] = answer(s, hits[:s.limit])
        return jsonify(body)

    return app
