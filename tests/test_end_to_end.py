"""The acceptance path: `finder import` a CSV, `finder serve` it, search it over real HTTP."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from geopy.distance import geodesic

from tests.conftest import AUSTIN, Server, csv_text, near, row

LISTINGS = [
    row("dn-1", "Downtown Dry Needling", near(AUSTIN, 1.0), services="Dry needling",
        conditions="Neck pain"),
    row("dn-2", "Eastside Trigger Point PT", near(AUSTIN, 3.0), services="Dry needling",
        conditions="Neck pain; Headaches"),
    row("ims", "IMS Austin", near(AUSTIN, 2.0, 270), services="Intramuscular stimulation"),
    row("massage", "Only Massage", near(AUSTIN, 0.3), services="Massage therapy"),
    row("edge", "Just Outside PT", near(AUSTIN, 26.0, 180), services="Dry needling"),
    row("no-coordinates", "Centroid Physio", None, postcode="78702", services="Cupping"),
    row("toronto", "Spadina Physio", None, postcode="M5V 3L9", country="CA", city="Toronto",
        region="ON", services="Dry needling"),
]


@pytest.fixture(scope="module")
def served(migrated_database: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data_dir = tmp_path_factory.mktemp("e2e")
    shutil.copy(migrated_database, data_dir / "finder.sqlite3")
    listings = data_dir / "listings.csv"
    listings.write_text(csv_text(LISTINGS))
    result = subprocess.run([sys.executable, "-m", "finder", "import", str(listings)],
                            env={**os.environ, "FINDER_DATA_DIR": str(data_dir)},
                            capture_output=True, text=True, check=True)
    assert "created 7, updated 0, unchanged 0, rejected 0" in result.stdout
    server = Server(data_dir)
    yield server.url
    server.stop()


def get(base: str, **params: object) -> dict[str, Any]:
    url = f"{base}/api/v1/search?{urllib.parse.urlencode(params)}"
    with urllib.request.urlopen(url, timeout=10) as response:
        body: dict[str, Any] = json.load(response)
    return body


def names(body: dict[str, Any]) -> list[str]:
    return [hit["name"] for hit in body["results"]]


def test_all_keywords_match_nearest_first(served: str) -> None:
    body = get(served, postcode="78701", q="dry needling neck pain", sort="distance")
    assert names(body) == ["Downtown Dry Needling", "Eastside Trigger Point PT"]


def test_intramuscular_stimulation_is_found_by_dry_needling(served: str) -> None:
    assert "IMS Austin" in names(get(served, postcode="78701", q="dry needling"))


def test_just_outside_the_radius_until_it_grows(served: str) -> None:
    assert "Just Outside PT" not in names(get(served, postcode="78701", q="dry needling"))
    assert "Just Outside PT" in names(get(served, postcode="78701", q="dry needling", radius=27))


def test_zip_plus_four_resolves_like_its_zip(served: str) -> None:
    plain, plus4 = get(served, postcode="78701"), get(served, postcode="78701-1234")
    assert plus4["origin"] == plain["origin"] and names(plus4) == names(plain)


def test_canadian_postcode_resolves_to_downtown_toronto(served: str) -> None:
    body = get(served, postcode="M5V 2T6", country="CA")
    assert "Downtown Toronto" in body["origin"]["label"]
    assert geodesic((body["origin"]["lat"], body["origin"]["lon"]), (43.6426, -79.3871)).km < 3
    assert names(body) == ["Spadina Physio"]


def test_distances_are_geodesic_from_the_echoed_origin(served: str) -> None:
    body = get(served, postcode="78701", unit="km", radius=50)
    origin = (body["origin"]["lat"], body["origin"]["lon"])
    for hit in body["results"]:
        assert hit["distance"] == pytest.approx(geodesic(origin, (hit["lat"], hit["lon"])).km,
                                                abs=0.001)


def test_listing_without_coordinates_is_at_its_postcode_centroid(served: str) -> None:
    body = get(served, postcode="78702", q="cupping")
    hit = body["results"][0]
    assert hit["name"] == "Centroid Physio"
    assert (hit["lat"], hit["lon"]) == (body["origin"]["lat"], body["origin"]["lon"])
    assert hit["geocode_precision"] == "postcode"
