"""Generated listings: phone numbers only from ranges reserved for fiction, a CSV that imports
cleanly, and a demo directory that says on every page that it is fictional."""

from __future__ import annotations

import io
import re
from collections import Counter
from pathlib import Path

import phonenumbers
import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from finder.db import get_database, session_scope
from finder.demo import get_demo_notice
from finder.generate import listings, write_csv
from finder.geocode import get_geocoder
from finder.geocode.gazetteer import us_zip_rows
from finder.importer import import_csv, read_rows
from finder.models import Location, Source
from finder.search import get_backend
from tests.conftest import AUSTIN, Runner, csv_text, load, near, row

# The published ranges, written out independently of the generator (national numbers).
# NANPA: 555-0100 to 555-0199 in any area code.
NANP_FICTION = re.compile(r"[2-9]\d\d55501\d\d")
# Ofcom, "telephone numbers for drama purposes": 1,000 numbers per geographic code.
OFCOM_DRAMA = re.compile(r"(?:2079460|11[3-8]4960|1[2-6]14960|1914980|2890180|2920180)\d{3}")
# ACMA, fictitious numbers: (02), (03), (07), (08) 5550 xxxx and 7010 xxxx.
ACMA_FICTION = re.compile(r"[2378](?:5550|7010)\d{4}")
NOTICE = "Demo directory: every listing here is fictional."


def in_fiction_range(phone: str, country: str) -> bool:
    """Return True when ``phone`` is in the range set aside for fiction in ``country``."""
    if country == "NZ":  # no published range: New Zealand listings carry no number
        return phone == ""
    number = phonenumbers.parse(phone, country)
    national = phonenumbers.national_significant_number(number)
    pattern = {"US": NANP_FICTION, "CA": NANP_FICTION, "GB": OFCOM_DRAMA,
               "AU": ACMA_FICTION}[country]
    return number.country_code == {"GB": 44, "AU": 61}.get(country, 1) and bool(
        pattern.fullmatch(national))


@pytest.mark.parametrize(("phone", "country", "fictional"), [
    ("(512) 555-0100", "US", True),
    ("+1 416 555 0199", "CA", True),
    ("(512) 555-0200", "US", False),
    ("(512) 555-1234", "US", False),
    ("020 7946 0999", "GB", True),
    ("0191 498 0123", "GB", True),
    ("020 7946 1000", "GB", False),
    ("0121 496 1000", "GB", False),
    ("(02) 5550 1234", "AU", True),
    ("(08) 7010 0000", "AU", True),
    ("(02) 9550 1234", "AU", False),
    ("", "NZ", True),
    ("09 555 0123", "NZ", False),
])
def test_fiction_ranges(phone: str, country: str, fictional: bool) -> None:
    assert in_fiction_range(phone, country) is fictional


def test_every_generated_phone_is_in_a_fiction_range() -> None:
    rows = list(listings(4000, seed=11))
    assert Counter(r["country"] for r in rows).keys() == {"US", "CA", "GB", "AU", "NZ"}
    outside = [(r["country"], r["phone"]) for r in rows
               if not in_fiction_range(r["phone"], r["country"])]
    assert outside == []
    # The area code is one of the listing's own ZIP where the ZIP has any.
    zip_codes = {z["zip_code"]: z["area_codes"] for z in us_zip_rows()}
    wrong = [(r["postcode"], r["phone"]) for r in rows if r["country"] == "US"
             and zip_codes.get(r["postcode"]) and r["phone"][1:4] not in zip_codes[r["postcode"]]]
    assert wrong == []
    # Many different numbers, not one repeated.
    assert len({r["phone"] for r in rows if r["country"] == "US"}) > 1000


def test_generation_is_deterministic_per_seed() -> None:
    assert list(listings(50, seed=3)) == list(listings(50, seed=3))
    assert list(listings(50, seed=3)) != list(listings(50, seed=4))


def test_generated_listings_are_as_rich_as_real_ones() -> None:
    rows = list(listings(500, seed=2))
    assert {len(r["services"].split("; ")) for r in rows} == {4, 5}
    assert {len(r["conditions"].split("; ")) for r in rows} == {4}
    # One sentence of description each, in words that vary from clinic to clinic.
    assert all(r["description"].count(".") == 1 and r["description"].endswith(".")
               for r in rows)
    words = Counter(word for r in rows for word in set(r["description"].lower().split()))
    assert len(words) > 300


def test_a_national_directory_is_in_one_country(tmp_path: Path) -> None:
    out = tmp_path / "national.csv"
    result = Runner(tmp_path).invoke("generate", "--count", "300", "--seed", "4",
                                     "--country", "ca", "-o", str(out))
    assert "wrote 300 listing(s)" in result.output
    rows = list(read_rows(io.StringIO(out.read_text("utf-8"))))
    assert len(rows) == 300 and {row["country"] for _, row in rows} == {"CA"}
    assert len({row["postcode"] for _, row in rows}) > 100  # spread over its postcodes
    bad = Runner(tmp_path).invoke("generate", "--count", "3", "--country", "FR", "-o",
                                  str(out))
    assert bad.exit_code == 2 and "'FR' is not one of" in bad.output


def test_generated_csv_imports_with_no_rejections(app: Flask) -> None:
    buffer = io.StringIO()
    assert write_csv(buffer, 1500, seed=5) == 1500
    buffer.seek(0)
    with session_scope(app) as session:
        report = import_csv(session, get_geocoder(app), read_rows(buffer), default_country="US")
        session.commit()
        assert report.rejected == [] and report.created == 1500
        phones = session.execute(sa.select(Location.phone, Location.country)).all()
    assert all(in_fiction_range(phone, country) for phone, country in phones)


# -- the demo notice -------------------------------------------------------------------------


def load_demo(app: Flask, rows: list[dict[str, str]]) -> None:
    """Import rows as `finder demo` does: as demo listings."""
    with session_scope(app) as session:
        report = import_csv(session, get_geocoder(app), read_rows(io.StringIO(csv_text(rows))),
                            default_country="US", source=Source.DEMO)
        session.commit()
    assert report.rejected == []
    get_backend(app).catch_up()


PAGES = ["/", "/search?postcode=78701&q=dry+needling", "/providers/1", "/no-such-page"]


def test_every_page_says_a_demo_directory_is_fictional(app: Flask,
                                                       client: FlaskClient) -> None:
    load_demo(app, [row("demo-1", "Demo Needle PT", near(AUSTIN, 0.5),
                        services="Dry needling")])
    for page in PAGES:
        assert NOTICE in client.get(page).get_data(as_text=True), page


def test_a_real_directory_shows_no_notice(app: Flask, client: FlaskClient) -> None:
    load(app, [row("real-1", "Real Needle PT", near(AUSTIN, 0.5), services="Dry needling")])
    for page in PAGES:
        assert NOTICE not in client.get(page).get_data(as_text=True), page


def test_the_notice_is_checked_at_most_once_a_minute_and_never_by_the_api(
        app: Flask, client: FlaskClient) -> None:
    notice = get_demo_notice(app)
    assert client.get("/api/v1/search?postcode=78701").status_code == 200
    assert client.get("/healthz").status_code == 200
    assert notice.checked_at == float("-inf")  # the API never asked
    assert NOTICE not in client.get("/").get_data(as_text=True)
    load_demo(app, [row("demo-1", "Demo Needle PT", near(AUSTIN, 0.5))])
    assert NOTICE not in client.get("/").get_data(as_text=True)  # the answer of a moment ago
    notice.expire()  # as a minute passing would
    assert NOTICE in client.get("/").get_data(as_text=True)


def test_pages_render_while_the_database_cannot_be_read(app: Flask, data_dir: Path) -> None:
    get_database(app).dispose()
    for path in data_dir.glob("finder.sqlite3*"):
        path.unlink()
    (data_dir / "finder.sqlite3").mkdir()  # SQLite can no longer open it
    response = app.test_client().get("/no-such-page")
    assert response.status_code == 404  # the page, not a failure of the notice
    assert "Skip to content" in response.get_data(as_text=True)
    assert NOTICE not in response.get_data(as_text=True)


def test_finder_demo_loads_demo_listings(app: Flask, runner: Runner) -> None:
    result = runner.invoke("demo", "--no-serve", "--count", "20")
    assert result.exit_code == 0, result.output
    with session_scope(app) as session:
        sources = Counter(session.scalars(sa.select(Location.source)))
    assert sources == {Source.DEMO: 20}
    assert NOTICE in app.test_client().get("/").get_data(as_text=True)
