"""The listing document: the same shape out of GET /api/v1/listings/<id> and into
`finder import x.json`, published as a JSON Schema, with every bad field named."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from finder.db import session_scope
from finder.geocode import get_geocoder
from finder.importer import ImportReport, import_documents
from finder.models import IndexChange, Location, Source, Status
from tests.conftest import AUSTIN, Runner, load, row

FULL = {
    "external_id": "doc-1",
    "name": "Needle & Motion Physio",
    "organization": {"name": "Motion Group", "website": "https://motion.example",
                     "phone": "512-555-0190", "npi": ""},
    "description": "Trigger point and electrical dry needling for runners.",
    "address": {"address_1": "100 Congress Ave", "city": "Austin", "region": "TX",
                "postcode": "78701", "country": "US"},
    "lat": 30.2672, "lon": -97.7431,
    "phone": "(512) 555-0123",
    "website": "needlemotion.example",
    "services": ["Dry needling", "Manual therapy"],
    "conditions": ["Low back pain"],
    "insurance": ["Aetna", "Self-pay"],
    "languages": ["English", "Spanish"],
    "hours": {"mon": [["08:00", "18:00"]], "sat": "09:00-13:00"},
    "holiday_hours": [{"date": "2026-12-25", "closed": True, "note": "Christmas"},
                      {"date": "2026-12-24", "hours": [["09:00", "12:00"]]}],
    "direct_access": True,
    "home_visits": False,
    "techniques": ["trigger_point", "Electrical dry needling", "e-stim"],
    "accessibility": ["wheelchair", "elevator"],
    "age_groups": ["adults", "seniors"],
    "self_pay_price": {"min": 90, "max": 120},
    "practitioners": [
        {"external_id": "pr-1", "name": "Dana Ortiz", "credentials": ["PT", "DPT"],
         "npi": "1234567893", "licence": {"region": "TX", "number": "1234"},
         "languages": ["English", "Spanish"], "gender": "female",
         "certifications": [
             {"issuer": "Dry Needling Institute", "title": "DN-2", "hours": 54,
              "earned": "2023-05-01", "expires": None},
             {"issuer": "Old Course Co", "title": "Intro", "hours": 27,
              "earned": "2019-01-01", "expires": "2021-01-01"}]},
        {"name": "Sam Lee", "credentials": ["PT"]}],
    "last_verified": "2026-11-01",
}


def import_file(runner: Runner, tmp_path: Path, name: str, text: str, *args: str) -> str:
    path = tmp_path / name
    path.write_text(text, "utf-8")
    result = runner.invoke("import", str(path), *args)
    return result.output


def listing_id(client: FlaskClient, external_id: str) -> int:
    with session_scope(client.application) as session:
        return session.scalars(sa.select(Location.id).where(
            Location.external_id == external_id)).one()


def test_a_document_imported_comes_back_the_same(client: FlaskClient, runner: Runner,
                                                 tmp_path: Path) -> None:
    output = import_file(runner, tmp_path, "one.json", json.dumps([FULL]))
    assert "created 1, updated 0, unchanged 0, rejected 0" in output
    got = client.get(f"/api/v1/listings/{listing_id(client, 'doc-1')}").get_json()
    assert got["organization"] == {"name": "Motion Group", "website": "https://motion.example",
                                   "phone": "+1 512-555-0190", "npi": ""}
    assert got["phone"] == "+1 512-555-0123" and got["website"] == "https://needlemotion.example"
    assert got["hours"] == {"mon": [["08:00", "18:00"]], "sat": [["09:00", "13:00"]]}
    assert got["holiday_hours"] == [
        {"date": "2026-12-24", "closed": False, "hours": [["09:00", "12:00"]], "note": ""},
        {"date": "2026-12-25", "closed": True, "hours": [], "note": "Christmas"}]
    assert got["techniques"] == ["trigger_point", "electrical"]
    assert got["self_pay_price"] == {"min": 90.0, "max": 120.0, "currency": "USD"}
    assert (got["direct_access"], got["home_visits"]) == (True, False)
    dana, sam = got["practitioners"]
    assert dana["licence"] == {"region": "TX", "number": "1234"}
    assert [c["expires"] for c in dana["certifications"]] == ["2021-01-01", None]
    assert sam == {"external_id": None, "name": "Sam Lee", "credentials": ["PT"], "npi": "",
                   "licence": None, "languages": [], "gender": None, "certifications": []}


def test_every_database_stores_an_imported_document_alike(any_database_app: Flask) -> None:
    """New listings are written in bulk (COPY on PostgreSQL): every value comes back as
    given, defaults filled in, each listing's change recorded, and a second import of the
    same documents finds nothing to change."""
    plain = {"external_id": "doc-2", "name": "Plain PT",
             "address": {"postcode": "78701", "country": "US"}}
    app, client = any_database_app, any_database_app.test_client()

    def imported() -> ImportReport:
        with session_scope(app) as session:
            report = import_documents(session, get_geocoder(app), enumerate([FULL, plain], 1),
                                      default_country="US")
            session.commit()
        return report

    assert imported().created == 2
    got = client.get(f"/api/v1/listings/{listing_id(client, 'doc-1')}").get_json()
    assert got["hours"] == {"mon": [["08:00", "18:00"]], "sat": [["09:00", "13:00"]]}
    assert got["holiday_hours"][1]["note"] == "Christmas"
    assert got["self_pay_price"] == {"min": 90.0, "max": 120.0, "currency": "USD"}
    assert (got["direct_access"], got["home_visits"]) == (True, False)
    assert got["last_verified"] == "2026-11-01" and got["languages"] == ["English", "Spanish"]
    assert [p["name"] for p in got["practitioners"]] == ["Dana Ortiz", "Sam Lee"]
    bare = client.get(f"/api/v1/listings/{listing_id(client, 'doc-2')}").get_json()
    assert bare["self_pay_price"] is None and bare["services"] == [] and bare["hours"] == {}
    with session_scope(app) as session:
        stored = session.scalars(sa.select(Location).order_by(Location.id)).all()
        assert [(s.status, s.source) for s in stored] == [(Status.PUBLISHED, Source.IMPORT)] * 2
        assert all(abs(s.created_at - datetime.now(UTC)) < timedelta(minutes=5)
                   for s in stored)
        assert sorted(session.scalars(sa.select(IndexChange.location_id))) == \
            [s.id for s in stored]
    again = imported()
    assert (again.created, again.updated, again.unchanged) == (0, 0, 2)


def test_round_trip_changes_only_what_was_changed(client: FlaskClient, runner: Runner,
                                                  tmp_path: Path) -> None:
    import_file(runner, tmp_path, "one.json", json.dumps([FULL]))
    url = f"/api/v1/listings/{listing_id(client, 'doc-1')}"
    exported = client.get(url).get_json()

    again = import_file(runner, tmp_path, "same.json", json.dumps([exported]))
    assert "created 0, updated 0, unchanged 1, rejected 0" in again

    changed = copy.deepcopy(exported)
    changed["self_pay_price"]["max"] = 150
    changed["practitioners"][0]["certifications"][1]["expires"] = "2027-01-01"
    output = import_file(runner, tmp_path, "changed.ndjson", json.dumps(changed) + "\n")
    assert "created 0, updated 1, unchanged 0, rejected 0" in output
    after = client.get(url).get_json()
    assert after["self_pay_price"]["max"] == 150
    assert after["practitioners"][0]["certifications"][1]["expires"] == "2027-01-01"
    for name in ("updated_at", "self_pay_price", "practitioners"):
        after.pop(name), exported.pop(name)
    assert after == exported


def test_served_documents_validate_against_the_published_schema(
        client: FlaskClient, runner: Runner, tmp_path: Path) -> None:
    import_file(runner, tmp_path, "one.json", json.dumps([FULL]))
    load(client.application, [row("csv-1", "Plain CSV Clinic", AUSTIN)])
    response = client.get("/api/v1/schemas/listing.json")
    assert response.status_code == 200 and response.mimetype == "application/schema+json"
    schema = response.get_json()
    assert schema["$id"] == "http://finder.test/api/v1/schemas/listing.json"
    validator = jsonschema.Draft202012Validator(schema,
                                                format_checker=jsonschema.FormatChecker())
    for external_id in ("doc-1", "csv-1"):
        document = client.get(f"/api/v1/listings/{listing_id(client, external_id)}").get_json()
        assert list(validator.iter_errors(document)) == []
    assert list(validator.iter_errors({"name": "x", "techniques": ["acupuncture"]}))


@pytest.mark.parametrize(("change", "reason"), [
    ({"techniques": ["acupuncture"]}, "techniques[0]: 'acupuncture' is not a known technique; "
                                      "use one of: trigger_point, functional, electrical"),
    ({"accessibility": ["ramp"]}, "accessibility[0]: 'ramp' is not a known accessibility "
                                  "feature"),
    ({"age_groups": ["teens"]}, "age_groups[0]: Input should be 'children', 'adults' or "
                                "'seniors'"),
    ({"self_pay_price": {"min": 120, "max": 90}}, "self_pay_price.max: 90 is below min (120)"),
    ({"self_pay_price": {"min": -5}}, "self_pay_price.min: Input should be greater than or "
                                      "equal to 0"),
    ({"holiday_hours": [{"date": "2026-02-30", "closed": True}]}, "holiday_hours[0].date:"),
    ({"holiday_hours": [{"date": "2026-12-25"}]}, "holiday_hours[0]: give either closed: true "
                                                  "or the hours open on 2026-12-25"),
    ({"direct_access": "maybe"}, "direct_access: Input should be a valid boolean"),
    ({"practitioners": [{"name": "A", "npi": "1234567890"}]},
     "practitioners[0].npi: '1234567890' has a wrong check digit"),
    ({"practitioners": [{"name": "A", "certifications": [
        {"issuer": "I", "title": "T", "earned": "2024-01-01", "expires": "2023-01-01"}]}]},
     "practitioners[0].certifications[0].expires: 2023-01-01 is before earned (2024-01-01)"),
    ({"practitioners": [{"name": "A", "gender": "x"}]}, "practitioners[0].gender:"),
    ({"colour": "red"}, "colour: is not a field of a listing"),
    ({"lat": 95}, "lat: Input should be less than or equal to 90"),
])
def test_every_bad_field_is_named_and_the_good_records_land(
        client: FlaskClient, runner: Runner, tmp_path: Path, change: dict[str, Any],
        reason: str) -> None:
    bad = {**FULL, "external_id": "bad", **change}
    good = {**FULL, "external_id": "good", "practitioners": []}
    output = import_file(runner, tmp_path, "mixed.json", json.dumps([bad, good]))
    assert "created 1, updated 0, unchanged 0, rejected 1" in output
    assert f"record 1 (bad): {reason}" in output


def test_ndjson_line_that_is_not_json_is_reported_with_its_line(
        runner: Runner, tmp_path: Path) -> None:
    good = json.dumps({**FULL, "external_id": "good", "practitioners": []})
    output = import_file(runner, tmp_path, "mixed.ndjson", good + '\n{"name": "broken\n\n'
                         + json.dumps({**FULL, "external_id": "other", "practitioners": []}))
    assert "created 2, updated 0, unchanged 0, rejected 1" in output
    assert "line 2 (no external_id): the line is not JSON" in output


def test_json_that_is_not_a_list_of_documents_is_refused(runner: Runner,
                                                         tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('[{"name": "a"},', "utf-8")
    result = runner.invoke("import", str(path))
    assert result.exit_code == 1
    assert "The file is not valid JSON" in result.output and "line 1" in result.output


PRACTITIONERS = ("external_id,location_external_ids,name,credentials,npi,licence_region,"
                 "licence_number,languages,gender,certifications\n")


def test_practitioners_file_links_people_to_listings(client: FlaskClient, runner: Runner,
                                                     tmp_path: Path) -> None:
    load(client.application, [row("a", "Chain North", AUSTIN, website="chain.example"),
                              row("b", "Chain North", AUSTIN, website="chain.example",
                                  postcode="78702"),
                              row("c", "Other Clinic", AUSTIN)])
    text = (PRACTITIONERS
            + "p1,a;b,Ana Diaz,PT;DPT,,TX,55,English;Spanish,female,"
              "DN Institute|DN-1|27|2024-01-01|;Old Co|Intro||2018-01-01|2020-01-01\n"
            + "p2,a;c,Bo Chen,PT,,,,,,\n"
            + "p3,zzz,Cy Park,PT,,,,,,\n"
            + "p4,a,Di Ray,PT,,,,,,Bad|Cert|x|2024-01-01|\n"
            + ",a,No Id,PT,,,,,,\n")
    output = import_file(runner, tmp_path, "people.csv", text, "--kind", "practitioners")
    assert "created 1, updated 0, unchanged 0, rejected 4" in output
    assert ("line 3 (p2): location_external_ids: the locations belong to different "
            "organisations") in output
    assert "line 4 (p3): location_external_ids: no listing has the external_id 'zzz'" in output
    assert "line 5 (p4): certifications[0].hours: Input should be a valid integer" in output
    assert "line 6 (no external_id): external_id: is required" in output
    for external_id in ("a", "b"):
        document = client.get(f"/api/v1/listings/{listing_id(client, external_id)}").get_json()
        (ana,) = document["practitioners"]
        assert ana["name"] == "Ana Diaz" and ana["credentials"] == ["PT", "DPT"]
        assert [c["title"] for c in ana["certifications"]] == ["Intro", "DN-1"]
    again = import_file(runner, tmp_path, "people.csv", text, "--kind", "practitioners")
    assert "created 0, updated 0, unchanged 1, rejected 4" in again
    moved = PRACTITIONERS + "p1,b,Ana Diaz,PT;DPT,,TX,55,English;Spanish,female,\n"
    import_file(runner, tmp_path, "people.csv", moved, "--kind", "practitioners")
    from finder.clinics.submissions import history
    from finder.db import session_scope

    with session_scope(client.application) as session:
        notes = {external_id: [(change.note, change.changes) for change in
                               history(session, listing_id(client, external_id))]
                 for external_id in ("a", "b")}
    joined = ("practitioner joined (practitioners import)", {"practitioners": [None, "Ana Diaz"]})
    assert notes["a"] == [
        ("practitioner left (practitioners import)", {"practitioners": ["Ana Diaz", None]}),
        joined]
    assert notes["b"][-1] == joined  # then her certifications were dropped: details changed
    assert notes["b"][0][0] == "practitioner details changed (practitioners import)"


def test_practitioners_file_must_be_csv(runner: Runner, tmp_path: Path) -> None:
    path = tmp_path / "people.json"
    path.write_text("[]", "utf-8")
    result = runner.invoke("import", str(path), "--kind", "practitioners")
    assert result.exit_code == 2
    assert "--kind practitioners reads CSV" in result.output


def test_new_csv_columns_are_read_and_checked(client: FlaskClient) -> None:
    report = load(client.application, [
        row("a", "Alpha", AUSTIN, techniques="trigger point; IMS", accessibility="wheelchair",
            self_pay_price="90-120", direct_access="yes", home_visits="no",
            age_groups="children;adults", holiday_hours="2026-12-25 closed; "
                                                        "2026-12-24 09:00-13:00"),
        row("b", "Beta", AUSTIN, self_pay_price="ninety"),
        row("c", "Gamma", AUSTIN, holiday_hours="Christmas closed"),
        row("d", "Delta", AUSTIN, techniques="cupping"),
    ])
    assert report.created == 1
    assert [r.reason for r in report.rejected] == [
        "self_pay_price: 'ninety' is not a price like 90 or 90-120",
        "holiday_hours: 'Christmas closed' is not like '2026-12-25 closed' or "
        "'2026-12-24 09:00-13:00'",
        "techniques: 'cupping' is not a known technique; use one of: trigger_point, "
        "functional, electrical, superficial, deep, ims"]
    got = client.get(f"/api/v1/listings/{listing_id(client, 'a')}").get_json()
    assert got["techniques"] == ["trigger_point", "ims"]
    assert got["self_pay_price"] == {"min": 90.0, "max": 120.0, "currency": "USD"}
    assert (got["direct_access"], got["home_visits"]) == (True, False)
    assert got["age_groups"] == ["children", "adults"]
    assert [h["date"] for h in got["holiday_hours"]] == ["2026-12-24", "2026-12-25"]


def test_the_document_takes_exactly_the_vocabulary_s_age_groups() -> None:
    from typing import get_args

    from finder.document import AgeGroup
    from finder.vocabulary import AGE_GROUPS

    assert set(get_args(AgeGroup)) == set(AGE_GROUPS)
