"""Both search backends give the same answers, to the last score, on the same database.

A Whoosh-backed app and a PostGIS-backed app share one PostgreSQL database holding a dense
synthetic directory; every query of a broad mix must get byte-identical JSON from both, before
and after listings are edited, moved, unpublished and added.
"""

from __future__ import annotations

import csv
import io
import itertools
import random
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from flask import Flask

from finder import create_app
from finder.db import get_database, session_scope
from finder.generate import PRACTITIONER_FIELDS, listings, practitioners
from finder.importer import import_practitioners, read_rows
from finder.models import Location, Status
from finder.search import get_backend
from tests.conftest import TEST_CONFIG, Postgres, load

ANCHORS = 6  # dense clusters, so radii hold hundreds of listings and ties occur
COUNT = 1500
KEYWORDS = ["", "dry needling", "back pain", "low back pain", "IMS", "sciatica", "sciatcia",
            "neck pain headaches", '"sports rehabilitation"', "vestibular", "tmj jaw",
            "trigger point", "needlng", "pelvic health", "physio", "zzqx"]
FILTERS: list[dict[str, str]] = [
    {}, {"telehealth": "true"}, {"accepting_new_patients": "false"},
    {"insurance": "Aetna"}, {"language": "Spanish"}, {"open_now": "true"},
    {"technique": "trigger_point"}, {"certified": "true"}, {"max_price": "120"},
    {"accessibility": "wheelchair", "direct_access": "true"}, {"home_visits": "false"},
    {"age_group": "children"},
]


def _directory(seed: int) -> list[dict[str, str]]:
    """Generated listings moved into a few dense clusters around US postcodes."""
    rows = [row for row in listings(COUNT * 2, seed) if row["country"] == "US"][:COUNT]
    anchors = rows[:ANCHORS]
    rng = random.Random(seed)
    chosen = []
    for row in rows:
        anchor = rng.choice(anchors)
        row = {**row, **{key: anchor[key] for key in ("postcode", "city", "region")}}
        if row["latitude"]:  # the rest stay at the postcode centroid: equal distances
            row["latitude"] = f"{float(anchor['latitude'] or 0) + rng.uniform(-0.4, 0.4):.6f}"
            row["longitude"] = f"{float(anchor['longitude'] or 0) + rng.uniform(-0.4, 0.4):.6f}"
        chosen.append(row)
    return [{key: value for key, value in row.items() if key != "last_verified"}
            for row in chosen]


@pytest.fixture(scope="module")
def apps(postgres: Postgres, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[dict[str, Flask]]:
    url = postgres.fresh_database()
    made = {}
    for backend in ("whoosh", "postgis"):
        data_dir = tmp_path_factory.mktemp(backend)
        made[backend] = create_app({"DATA_DIR": str(data_dir), "DATABASE_URL": url,
                                    "SEARCH_BACKEND": backend, **TEST_CONFIG})
    yield made
    for app in made.values():
        get_backend(app).close()
        get_database(app).dispose()


def _queries(postcodes: list[str]) -> Iterator[dict[str, str]]:
    rng = random.Random(7)
    for postcode, q in itertools.product(postcodes, KEYWORDS):
        yield {"postcode": postcode, "q": q, "limit": "50", **rng.choice(FILTERS),
               "sort": rng.choice(["best", "distance", "relevance"]),
               "radius": rng.choice(["5", "25", "60"])}
    for postcode in postcodes:  # nothing within the radius: the nearest beyond it
        yield {"postcode": postcode, "q": "vestibular", "radius": "0.5"}
        yield {"postcode": postcode, "q": "dry needling", "radius": "0.2", "open_now": "true"}
        yield {"postcode": postcode, "offset": "40", "limit": "20", "radius": "250"}


def _assert_same(apps: dict[str, Flask], postcodes: list[str]) -> int:
    clients = {name: app.test_client() for name, app in apps.items()}
    compared = 0
    for params in _queries(postcodes):
        answers = {name: client.get("/api/v1/search", query_string=params)
                   for name, client in clients.items()}
        whoosh, postgis = answers["whoosh"], answers["postgis"]
        assert whoosh.status_code == postgis.status_code == 200, params
        assert postgis.get_json() == whoosh.get_json(), params
        compared += bool(whoosh.get_json()["results"])
    return compared


def _load_practitioners(app: Flask, rows: list[dict[str, str]], seed: int) -> None:
    kept = {row["external_id"] for row in rows}
    people = [p for p in practitioners(COUNT * 2, seed) if p["location_external_ids"] in kept]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(PRACTITIONER_FIELDS))
    writer.writeheader()
    writer.writerows(people)
    with session_scope(app) as session:
        report = import_practitioners(session, read_rows(io.StringIO(buffer.getvalue()),
                                                         kind="practitioners"))
        session.commit()
    assert report.created == len(people) and not report.rejected


def _catch_up(apps: dict[str, Flask]) -> None:
    for app in apps.values():
        get_backend(app).catch_up()


def test_both_backends_give_identical_results(apps: dict[str, Flask]) -> None:
    rows = _directory(seed=11)
    report = load(apps["whoosh"], rows)
    assert report.created == COUNT and not report.rejected
    _load_practitioners(apps["whoosh"], rows, seed=11)
    _catch_up(apps)
    postcodes = sorted({row["postcode"] for row in rows})
    assert _assert_same(apps, postcodes) > 60  # most queries find something

    # Edit, move and unpublish listings, and add new ones: both catch up to the same state.
    rng = random.Random(3)
    edited = [{**row, "services": "Vestibular rehabilitation; Dry needling",
               "latitude": row["latitude"] and f"{float(row['latitude']) + 0.05:.6f}"}
              for row in rng.sample(rows, 200)]
    load(apps["whoosh"], edited + _directory(seed=12)[:100])
    with session_scope(apps["whoosh"]) as session:
        for location in session.scalars(
                sa.select(Location).order_by(Location.id).limit(300)).all()[::3]:
            location.status = Status.UNPUBLISHED
        session.commit()
    _catch_up(apps)
    assert _assert_same(apps, postcodes) > 60

