"""CSV import: idempotent on external_id, bad rows reported and skipped, good rows kept."""

from __future__ import annotations

import io

import pytest
import sqlalchemy as sa
from flask import Flask

from finder.csv_input import CsvFormatError
from finder.db import session_scope
from finder.importer import read_rows
from finder.models import Location
from finder.validation import FIELDS
from tests.conftest import AUSTIN, csv_text, load, row


def locations(app: Flask) -> dict[str, Location]:
    with session_scope(app) as session:
        return {loc.external_id or "": loc for loc in session.scalars(sa.select(Location))}


def test_import_creates_then_updates_then_leaves_unchanged(app: Flask) -> None:
    first = load(app, [row("a", "Alpha PT", AUSTIN), row("b", "Beta PT", AUSTIN)])
    assert (first.created, first.updated, first.unchanged) == (2, 0, 0)
    again = load(app, [row("a", "Alpha PT", AUSTIN), row("b", "Beta Physio", AUSTIN)])
    assert (again.created, again.updated, again.unchanged) == (0, 1, 1)
    assert locations(app)["b"].name == "Beta Physio"
    assert len(locations(app)) == 2


@pytest.mark.parametrize(("fields", "reason"), [
    ({"name": ""}, "name: is required"),
    ({"external_id": ""}, "external_id: is required"),
    ({"latitude": "91", "longitude": "0"}, "latitude"),
    ({"latitude": "abc", "longitude": "0"}, "latitude"),
    ({"latitude": "30.1"}, "latitude: give both coordinates, or neither"),
    ({"postcode": "00000"}, "was not found"),
    ({"postcode": "", "latitude": "", "longitude": ""}, "postcode: is required"),
    ({"phone": "12"}, "phone"),
    ({"email": "not-an-email"}, "email"),
    ({"website": "ht!tp://bad url"}, "website"),
    ({"hours": "Mon-Fri 9am to 5pm"}, "hours"),
    ({"telehealth": "sometimes"}, "telehealth"),
    ({"npi": "1234567890"}, "npi: '1234567890' has a wrong check digit"),
    ({"country": "USA"}, "country"),
])
def test_bad_row_is_reported_and_good_rows_are_kept(app: Flask, fields: dict[str, str],
                                                    reason: str) -> None:
    bad = {**row("bad", "Bad PT", None), **fields}
    report = load(app, [row("good-1", "Good One", AUSTIN), bad, row("good-2", "Good Two", AUSTIN)])
    assert report.created == 2
    assert len(report.rejected) == 1
    rejected = report.rejected[0]
    assert rejected.line == 3
    assert reason in rejected.reason
    assert set(locations(app)) == {"good-1", "good-2"}


def test_duplicate_external_id_in_one_file_is_rejected(app: Flask) -> None:
    report = load(app, [row("a", "First", AUSTIN), row("a", "Second", AUSTIN)])
    assert report.created == 1
    assert "already appeared on line 2" in report.rejected[0].reason
    assert locations(app)["a"].name == "First"


def test_values_are_normalised(app: Flask) -> None:
    load(app, [row("a", "Alpha PT", None, postcode="78701-1234", phone="(512) 555 0100",
                   website="alpha.example", services="Dry needling; ; Cupping; Dry needling",
                   telehealth="Yes", accepting_new_patients="0", npi="1234567893",
                   hours="mon-fri 8-18")])
    location = locations(app)["a"]
    assert location.phone == "+1 512-555-0100"
    assert location.website == "https://alpha.example"
    assert location.services == ["Dry needling", "Cupping"]
    assert (location.telehealth, location.accepting_new_patients) == (True, False)
    assert location.hours["fri"] == [["08:00", "18:00"]]
    assert (location.geocode_precision, location.geocode_source) == ("postcode", "gazetteer")
    assert location.timezone == "America/Chicago"


def test_given_coordinates_are_kept_as_a_point(app: Flask) -> None:
    load(app, [row("a", "Alpha PT", (30.3, -97.7))])
    location = locations(app)["a"]
    assert (location.latitude, location.longitude) == (30.3, -97.7)
    assert location.geocode_precision == "point"


@pytest.mark.parametrize(("text", "message"), [
    ("", "The file is empty"),
    ("external_id,name,colour\n1,A,red\n", "Unknown column(s): colour"),
    ("name,city\nA,Austin\n", "Missing required column(s): external_id"),
])
def test_unusable_file_is_refused_as_a_whole(text: str, message: str) -> None:
    with pytest.raises(CsvFormatError, match=message.replace("(", r"\(").replace(")", r"\)")):
        list(read_rows(io.StringIO(text)))


def test_row_with_extra_cells_is_rejected(app: Flask) -> None:
    cells = ["b", "Beta", *[""] * (len(FIELDS) - 2), "surplus"]
    text = csv_text([row("a", "Alpha PT", AUSTIN)]) + ",".join(cells) + "\n"
    from finder.geocode import get_geocoder
    from finder.importer import import_csv

    with session_scope(app) as session:
        report = import_csv(session, get_geocoder(app), read_rows(io.StringIO(text)),
                            default_country="US")
    assert report.created == 1
    assert "more cells than the header" in report.rejected[0].reason


def test_reimport_with_fewer_columns_keeps_the_other_fields(app: Flask) -> None:
    load(app, [row("a", "Alpha PT", (30.3, -97.7), services="Dry needling", telehealth="yes",
                   hours="Mon-Fri 08:00-18:00")])
    text = "external_id,name,phone\na,Alpha Physio,512-555-0100\n"
    from finder.geocode import get_geocoder
    from finder.importer import import_csv

    with session_scope(app) as session:
        report = import_csv(session, get_geocoder(app), read_rows(io.StringIO(text)),
                            default_country="US")
        session.commit()
    assert report.updated == 1
    location = locations(app)["a"]
    assert location.name == "Alpha Physio" and location.phone == "+1 512-555-0100"
    assert location.services == ["Dry needling"] and location.telehealth is True
    assert (location.latitude, location.longitude) == (30.3, -97.7)
    assert location.hours["mon"] == [["08:00", "18:00"]]


@pytest.mark.parametrize(("postcode", "country", "expected"), [
    ("2134", "US", "02134"), ("501", "US", "00501"), ("800", "AU", "0800"),
    ("78701", "US", "78701"),
])
def test_leading_zeros_lost_by_a_spreadsheet_are_restored(app: Flask, postcode: str,
                                                          country: str, expected: str) -> None:
    report = load(app, [row("a", "Alpha PT", None, postcode=postcode, country=country)])
    assert report.rejected == []
    assert locations(app)["a"].postcode == expected


def test_oversized_line_is_rejected_and_the_rest_imported(app: Flask) -> None:
    text = csv_text([row("a", "Alpha PT", AUSTIN)]) + 'b,"' + "x" * 200_000 + '"\n' + csv_text(
        [row("c", "Gamma PT", AUSTIN)]).split("\n", 1)[1]
    from finder.geocode import get_geocoder
    from finder.importer import import_csv

    with session_scope(app) as session:
        report = import_csv(session, get_geocoder(app), read_rows(io.StringIO(text)),
                            default_country="US")
        session.commit()
    assert report.created == 2
    assert report.rejected[0].reason == "name: longer than 200 characters"


def test_trailing_empty_column_is_ignored(app: Flask) -> None:
    rows = list(read_rows(io.StringIO("external_id,name,postcode,\na,Alpha,78701,\n")))
    assert rows == [(2, {"external_id": "a", "name": "Alpha", "postcode": "78701"})]


def test_semicolon_separated_file_gets_a_hint() -> None:
    with pytest.raises(CsvFormatError, match="semicolons"):
        list(read_rows(io.StringIO("external_id;name\na;Alpha\n")))


def test_renamed_listing_moves_to_its_new_organisation(app: Flask) -> None:
    load(app, [row("a", "Acme Physical Therapy", AUSTIN, website="acme.example")])
    load(app, [row("a", "Zeta Physical Therapy", AUSTIN, website="acme.example"),
               row("b", "Acme Physical Therapy", AUSTIN, website="other.example")])
    with session_scope(app) as session:
        a, b = (session.scalars(sa.select(Location).where(Location.external_id == key)).one()
                for key in ("a", "b"))
        assert a.organization.name == "Zeta Physical Therapy"
        assert b.organization_id != a.organization_id


def test_an_import_that_changes_a_listing_records_its_history(app: Flask) -> None:
    from finder.clinics.submissions import history
    from finder.models import Actor

    load(app, [row("h", "History Physio", phone="512-555-0100", hours="Mon 08:00-12:00")])
    load(app, [row("h", "History Physio", phone="512-555-0100", hours="Mon 08:00-12:00")])
    load(app, [row("h", "History Physio", phone="512-555-0111", hours="Mon 08:00-12:00")])
    with session_scope(app) as session:
        location = session.query(Location).one()
        [change] = history(session, location.id)  # the unchanged re-import records nothing
    assert change.actor_kind is Actor.IMPORT
    assert change.changes == {"phone": ["+1 512-555-0100", "+1 512-555-0111"],
}


def test_an_import_does_not_undo_what_a_clinic_maintains(app: Flask) -> None:
    from finder.models import Location

    load(app, [row("owned", "Owned Physio", phone="512-555-0100")])
    with session_scope(app) as session:
        session.query(Location).one().owner_email = "owner@owned.example"
        session.commit()
    report = load(app, [row("owned", "Owned Physio", phone="512-555-0111")])
    assert (report.updated, report.unchanged) == (0, 1)
    assert "its clinic maintains this listing" in report.warnings[0].reason
    with session_scope(app) as session:
        assert session.query(Location).one().phone == "+1 512-555-0100"
