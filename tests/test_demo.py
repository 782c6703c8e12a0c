"""The generated demo directory: it imports cleanly and backs every suggested search."""

from __future__ import annotations

import io
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from flask import Flask

from finder import create_app
from finder.db import get_database, session_scope
from finder.generate import write_csv
from finder.geocode import get_geocoder
from finder.importer import import_csv, read_rows
from finder.search import MatchQuery, get_backend
from finder.search.query import parse
from finder.views import SUGGESTED_KEYWORDS


@pytest.fixture(scope="module")
def demo(migrated_database: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    """One generated directory shared by this module's read-only tests."""
    data_dir = tmp_path_factory.mktemp("demo")
    shutil.copy(migrated_database, data_dir / "finder.sqlite3")
    app = create_app({"DATA_DIR": str(data_dir), "RATE_LIMIT": "100000/minute"})
    buffer = io.StringIO()
    write_csv(buffer, 400, seed=1)
    buffer.seek(0)
    with session_scope(app) as session:
        report = import_csv(session, get_geocoder(app), read_rows(buffer), default_country="US")
        session.commit()
    assert report.rejected == [] and report.created == 400
    get_backend(app).catch_up()
    yield app
    get_backend(app).close()
    get_database(app).dispose()


@pytest.mark.parametrize("term", SUGGESTED_KEYWORDS)
def test_every_suggested_term_finds_providers(demo: Flask, term: str) -> None:
    matches = get_backend(demo).match(MatchQuery(40.75, -73.99, None, parse(term)))
    assert len(matches.ids) >= 5


def test_demo_spans_several_countries(demo: Flask) -> None:
    client = demo.test_client()
    for postcode, country in [("M5V", "CA"), ("2000", "AU"), ("SW1A 1AA", "GB")]:
        body = client.get("/api/v1/search", query_string={
            "postcode": postcode, "country": country, "radius": 250}).get_json()
        assert body["total"] > 0 or body["widened"]["count"] > 0


QUERIES = ["dry needling", "low back pain", '"back pain"', "ims sciatica", "pelvic floor",
           "tennis elbow headaches", "trigger point dry needling", "physio", "cupping",
           "sports injuries runner's knee", "achilles", "percutaneous electrical nerve stimulation",
           "sciatcia", "austin", "vestibular therapy migraine"]


@pytest.mark.parametrize("q", QUERIES)
def test_index_matches_and_scores_like_the_reference_function(demo: Flask, q: str) -> None:
    from sqlalchemy.orm import selectinload

    from finder.models import Location
    from finder.search.documents import field_tokens
    from finder.search.ranking import text_relevance

    # Three times: scored on the candidates, then every row's scores built, then cached.
    runs = [get_backend(demo).match(MatchQuery(40.75, -73.99, None, parse(q)))
            for _ in range(3)]
    expected = {}
    with session_scope(demo) as session:
        for location in session.scalars(sa.select(Location).options(
                selectinload(Location.organization))):
            result = text_relevance(runs[0].concepts, field_tokens(location))
            if result is not None:
                expected[location.id] = result
    for matches in runs:
        found = {int(i): (float(t), matches.matched_terms(n))
                 for n, (i, t) in enumerate(zip(matches.ids, matches.text, strict=True))}
        assert found.keys() == expected.keys()
        for listing_id, (text, terms) in expected.items():
            assert found[listing_id][0] == pytest.approx(text, abs=1e-9)
            assert found[listing_id][1] == terms


@pytest.mark.parametrize(("lat", "lon", "q"), [(40.75, -73.99, "vestibular"),
                                               (-60.0, 0.0, "dry needling"),
                                               (64.1, -21.9, "pelvic floor migraine"),
                                               (30.27, -97.74, "")])
def test_nearest_beyond_the_radius_are_the_true_nearest(demo: Flask, lat: float, lon: float,
                                                        q: str) -> None:
    backend = get_backend(demo)
    everything = backend.match(MatchQuery(lat, lon, None, parse(q)))
    nearest = backend.match(MatchQuery(lat, lon, None, parse(q), nearest=3))
    expected = [int(i) for i in everything.ids[np.lexsort((everything.ids,
                                                           everything.distance_km))][:3]]
    got = [int(i) for i in nearest.ids[np.lexsort((nearest.ids, nearest.distance_km))][:3]]
    assert got == expected and len(expected) == 3


@pytest.mark.parametrize(("radius_km", "q"), [(60.0, ""), (40.0, "vestibular"),
                                               (400.0, "pelvic floor migraine"),
                                               (1.0, "vestibular")])
def test_nearest_within_a_radius_stop_at_it(demo: Flask, radius_km: float, q: str) -> None:
    backend = get_backend(demo)
    everything = backend.match(MatchQuery(40.75, -73.99, radius_km, parse(q)))
    nearest = backend.match(MatchQuery(40.75, -73.99, radius_km, parse(q), nearest=3))
    expected = [int(i) for i in everything.ids[np.lexsort((everything.ids,
                                                           everything.distance_km))][:3]]
    got = [int(i) for i in nearest.ids[np.lexsort((nearest.ids, nearest.distance_km))][:3]]
    assert got == expected
    assert (nearest.distance_km <= radius_km).all()


def test_warming_up_changes_no_result(demo: Flask) -> None:
    backend = get_backend(demo)
    before = backend.match(MatchQuery(40.75, -73.99, 400.0, parse("low back pain")))
    backend.warm_up([*SUGGESTED_KEYWORDS, "dry needling spanish"])
    after = backend.match(MatchQuery(40.75, -73.99, 400.0, parse("low back pain")))
    assert len(before.ids) > 0
    assert sorted(before.ids.tolist()) == sorted(after.ids.tolist())
