"""Searching the dry-needling listing, on every database and search backend: keywords find
practitioners and techniques, the new filters keep exactly the listings a brute-force check
keeps, and results carry techniques and practitioners."""

from __future__ import annotations

import csv
import io
import random
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from geopy.distance import geodesic
from sqlalchemy.orm import selectinload

from finder.db import session_scope
from finder.generate import listings, practitioners
from finder.geocode import get_geocoder
from finder.importer import import_documents, import_practitioners, read_rows
from finder.models import Location, Practitioner
from finder.search import get_backend
from finder.search.documents import normalize_keyword
from tests.conftest import AUSTIN, load, near, row, search

TODAY = datetime.now(UTC).date()


@pytest.fixture
def app(any_database_app: Flask) -> Flask:
    return any_database_app


def _documents(app: Flask, documents: list[dict[str, Any]]) -> None:
    with session_scope(app) as session:
        report = import_documents(session, get_geocoder(app), enumerate(documents, 1),
                                  default_country="US")
        session.commit()
    assert report.rejected == [], report.rejected
    get_backend(app).catch_up()


def _clinic(external_id: str, name: str, at: tuple[float, float], **fields: Any
            ) -> dict[str, Any]:
    return {"external_id": external_id, "name": name, "lat": at[0], "lon": at[1],
            "address": {"city": "Austin", "region": "TX", "postcode": "78701"},
            "services": ["Physical therapy"], **fields}


@pytest.fixture
def clinics(app: Flask) -> Flask:
    _documents(app, [
        _clinic("estim", "Eastside Physio", near(AUSTIN, 1.0), techniques=["electrical"],
                accessibility=["wheelchair", "elevator"], self_pay_price={"min": 80},
                direct_access=True, age_groups=["adults"],
                practitioners=[{"name": "Rosa Quintero", "credentials": ["PT", "DPT"],
                                "certifications": [{"issuer": "I", "title": "DN",
                                                    "earned": "2020-01-01"}]}]),
        _clinic("expired", "Westside Physio", near(AUSTIN, 2.0, 270), techniques=["ims"],
                self_pay_price={"min": 150, "max": 200}, home_visits=True,
                age_groups=["children", "adults"],
                practitioners=[{"name": "Ben Okoro", "credentials": ["PT"],
                                "certifications": [{"issuer": "I", "title": "DN",
                                                    "earned": "2019-01-01",
                                                    "expires": "2021-01-01"}]}]),
        _clinic("bare", "Northside Physio", near(AUSTIN, 3.0, 0)),
    ])
    return app


def ids(body: dict[str, Any]) -> list[str]:
    return sorted(hit["name"] for hit in body["results"])


@pytest.mark.parametrize(("q", "expected"), [
    ("Quintero", ["Eastside Physio"]),
    ("DPT", ["Eastside Physio"]),
    ("e-stim", ["Eastside Physio"]),
    ("gunn", ["Westside Physio"]),
    ("Okoro", ["Westside Physio"]),
])
def test_keywords_find_practitioners_and_techniques(clinics: Flask, client: FlaskClient,
                                                    q: str, expected: list[str]) -> None:
    assert ids(search(client, postcode="78701", q=q)) == expected


@pytest.mark.parametrize(("params", "expected"), [
    ({"technique": "electrical"}, ["Eastside Physio"]),
    ({"technique": "ims"}, ["Westside Physio"]),
    ({"accessibility": "elevator"}, ["Eastside Physio"]),
    ({"direct_access": "true"}, ["Eastside Physio"]),
    ({"direct_access": "false"}, ["Northside Physio", "Westside Physio"]),
    ({"home_visits": "true"}, ["Westside Physio"]),
    ({"age_group": "children"}, ["Westside Physio"]),
    ({"max_price": "100"}, ["Eastside Physio"]),
    ({"max_price": "150"}, ["Eastside Physio", "Westside Physio"]),
    ({"certified": "true"}, ["Eastside Physio"]),
])
def test_new_filters(clinics: Flask, client: FlaskClient, params: dict[str, str],
                     expected: list[str]) -> None:
    assert ids(search(client, postcode="78701", **params)) == expected


def test_results_carry_techniques_and_practitioners_certified_today(
        clinics: Flask, client: FlaskClient) -> None:
    hits = {hit["name"]: hit for hit in search(client, postcode="78701")["results"]}
    assert hits["Eastside Physio"]["techniques"] == ["electrical"]
    assert hits["Eastside Physio"]["practitioners"] == [
        {"name": "Rosa Quintero", "credentials": ["PT", "DPT"], "certified": True}]
    assert hits["Westside Physio"]["practitioners"] == [
        {"name": "Ben Okoro", "credentials": ["PT"], "certified": False}]
    assert hits["Northside Physio"]["practitioners"] == []


@pytest.mark.parametrize(("name", "value", "allowed"), [
    ("technique", "acupuncture", "trigger_point, functional, electrical, superficial, deep, ims"),
    ("accessibility", "ramp", "wheelchair, accessible_parking, elevator"),
    ("age_group", "teens", "children, adults, seniors"),
])
def test_unknown_ids_are_a_400_naming_the_allowed_ones(app: Flask, client: FlaskClient,
                                                       name: str, value: str,
                                                       allowed: str) -> None:
    response = client.get("/api/v1/search", query_string={"postcode": "78701", name: value})
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "invalid_filter" and allowed in error["message"]


def test_an_emptying_new_filter_is_named_with_a_way_to_drop_it(
        clinics: Flask, client: FlaskClient) -> None:
    body = search(client, postcode="78701", technique="superficial")
    assert body["total"] == 0
    (offer,) = body["relaxations"]
    assert offer["drop"] == ["technique"] and offer["count"] == 3
    assert "lists Superficial dry needling" in offer["message"]


# -- against a brute-force reference, on generated data ----------------------------------


def _reference(app: Flask, origin: tuple[float, float], radius_mi: float,
               keep: Any) -> list[int]:
    """The listings within the radius passing ``keep(location)``, read from the database."""
    with session_scope(app) as session:
        found = session.scalars(sa.select(Location).options(
            selectinload(Location.practitioners).selectinload(Practitioner.certifications)))
        return sorted(location.id for location in found
                      if geodesic(origin, (location.latitude, location.longitude)).miles
                      <= radius_mi and keep(location))


def _certified(location: Location) -> bool:
    return any(c.current_on(TODAY) for p in location.practitioners for c in p.certifications)


FILTER_CHECKS: list[tuple[dict[str, str], Any]] = [
    ({"technique": "trigger_point"}, lambda loc: "trigger_point" in loc.techniques),
    ({"accessibility": "hearing_loop"}, lambda loc: "hearing_loop" in loc.accessibility),
    ({"age_group": "children"}, lambda loc: "children" in loc.age_groups),
    ({"direct_access": "true"}, lambda loc: loc.direct_access is True),
    ({"direct_access": "false"}, lambda loc: not loc.direct_access),
    ({"home_visits": "true"}, lambda loc: loc.home_visits is True),
    ({"max_price": "100"}, lambda loc: bool(loc.self_pay_price)
     and loc.self_pay_price["min"] <= 100),
    ({"certified": "true"}, _certified),
    ({"certified": "true", "technique": "electrical"},
     lambda loc: _certified(loc) and "electrical" in loc.techniques),
]


def _clustered(app: Flask, count: int, seed: int, anchors: int, spread: float
               ) -> list[dict[str, str]]:
    """Load ``count`` generated US listings, with their practitioners, moved into dense
    clusters around the first ``anchors`` of them; return the anchors' rows."""
    generated = [r for r in listings(count * 4, seed) if r["country"] == "US"][:count]
    rng = random.Random(seed)
    centres = [dict(r) for r in generated[:anchors]]
    for r in generated:
        anchor = rng.choice(centres)
        del r["last_verified"]
        lat = float(anchor["latitude"] or 39) + rng.uniform(-spread, spread)
        lon = float(anchor["longitude"] or -95) + rng.uniform(-spread, spread)
        r.update(latitude=f"{lat:.6f}", longitude=f"{lon:.6f}", postcode=anchor["postcode"],
                 city=anchor["city"], region=anchor["region"])
    assert load(app, generated).created == count
    kept = {r["external_id"] for r in generated}
    people = [p for p in practitioners(count * 4, seed) if p["location_external_ids"] in kept]
    with session_scope(app) as session:
        report = import_practitioners(session, read_rows(
            io.StringIO(csv_text_of(people)), kind="practitioners"))
        session.commit()
    assert report.rejected == [] and report.created == len(people)
    get_backend(app).catch_up()
    return generated[:anchors]


def test_filters_keep_what_a_brute_force_check_keeps(app: Flask, client: FlaskClient) -> None:
    anchors = _clustered(app, 300, seed=5, anchors=3, spread=0.3)
    checked = 0
    for anchor in anchors:
        origin = (float(anchor["latitude"] or 0), float(anchor["longitude"] or 0))
        for params, keep in FILTER_CHECKS:
            body = search(client, lat=str(origin[0]), lon=str(origin[1]), radius="20",
                          limit="50", sort="distance", **params)
            expected = _reference(app, origin, 20, keep)
            assert body["total"] == len(expected), params
            assert sorted(hit["id"] for hit in body["results"]) == expected[:50] or (
                body["total"] > 50), params
            checked += body["total"]
    assert checked > 100


def csv_text_of(rows: list[dict[str, str]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def test_expired_certification_stops_counting_the_day_after_it_expires(
        app: Flask, client: FlaskClient) -> None:
    yesterday = date.fromordinal(TODAY.toordinal() - 1).isoformat()
    _documents(app, [
        _clinic("today", "Until Today PT", near(AUSTIN, 1.0), practitioners=[
            {"name": "A", "certifications": [{"issuer": "I", "title": "T",
                                              "earned": "2020-01-01",
                                              "expires": TODAY.isoformat()}]}]),
        _clinic("yesterday", "Until Yesterday PT", near(AUSTIN, 1.0), practitioners=[
            {"name": "B", "certifications": [{"issuer": "I", "title": "T",
                                              "earned": "2020-01-01", "expires": yesterday}]}]),
    ])
    assert ids(search(client, postcode="78701", certified="true")) == ["Until Today PT"]


def test_practitioner_change_is_searchable(clinics: Flask, client: FlaskClient) -> None:
    with session_scope(clinics) as session:
        person = session.scalars(sa.select(Practitioner).where(
            Practitioner.name == "Ben Okoro")).one()
        person.name = "Ben Adeyemi"
        session.commit()
    get_backend(clinics).catch_up()
    assert ids(search(client, postcode="78701", q="Adeyemi")) == ["Westside Physio"]
    assert ids(search(client, postcode="78701", q="Okoro")) == []


def test_csv_rows_with_new_columns(app: Flask, client: FlaskClient) -> None:
    load(app, [row("x", "Column Clinic", AUSTIN, techniques="functional",
                   self_pay_price="60")])
    assert ids(search(client, postcode="78701", technique="functional", max_price="60")) == [
        "Column Clinic"]


# -- facets ----------------------------------------------------------------------------------


def _facet_counts(body: dict[str, Any], name: str) -> dict[str, int]:
    return {normalize_keyword(value["value"]): value["count"] for value in body["facets"][name]}


def test_facets_count_each_value_without_their_own_filter(clinics: Flask,
                                                          client: FlaskClient) -> None:
    body = search(client, postcode="78701", technique="electrical",
                  facets="technique,accessibility,age_group")
    assert body["total"] == 1
    assert body["facets"]["technique"] == [
        {"value": "electrical", "label": "Electrical dry needling", "count": 1},
        {"value": "ims", "label": "Intramuscular stimulation (IMS)", "count": 1}]
    assert _facet_counts(body, "accessibility") == {"wheelchair": 1, "elevator": 1}
    assert _facet_counts(body, "age_group") == {"adults": 1}
    assert "facets" not in search(client, postcode="78701")


def test_unknown_facet_is_a_400(app: Flask, client: FlaskClient) -> None:
    response = client.get("/api/v1/search", query_string={"postcode": "78701",
                                                           "facets": "technique,colour"})
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_facets"
    assert "not 'colour'" in response.get_json()["error"]["message"]


PREDICATES: dict[str, Any] = {
    "technique": lambda loc, v: v in loc.techniques,
    "accessibility": lambda loc, v: v in loc.accessibility,
    "age_group": lambda loc, v: v in loc.age_groups,
    "insurance": lambda loc, v: v in {normalize_keyword(i) for i in loc.insurance},
    "language": lambda loc, v: v in {normalize_keyword(i) for i in loc.languages},
    "certified": lambda loc, v: _certified(loc),
    "max_price": lambda loc, v: bool(loc.self_pay_price) and loc.self_pay_price["min"] <= v,
}
VALUES: dict[str, Any] = {
    "technique": lambda loc: loc.techniques, "accessibility": lambda loc: loc.accessibility,
    "age_group": lambda loc: loc.age_groups,
    "insurance": lambda loc: {normalize_keyword(i) for i in loc.insurance},
    "language": lambda loc: {normalize_keyword(i) for i in loc.languages},
}


def _brute_force_facets(app: Flask, origin: tuple[float, float], radius_mi: float,
                        filters: dict[str, Any]) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = {name: {} for name in VALUES}
    with session_scope(app) as session:
        for loc in session.scalars(sa.select(Location).options(
                selectinload(Location.practitioners).selectinload(Practitioner.certifications))):
            if geodesic(origin, (loc.latitude, loc.longitude)).miles > radius_mi:
                continue
            for name, values in VALUES.items():
                if all(PREDICATES[f](loc, v) for f, v in filters.items() if f != name):
                    for value in values(loc):
                        counts[name][value] = counts[name].get(value, 0) + 1
    return counts


def test_facet_counts_equal_a_brute_force_count(app: Flask, client: FlaskClient) -> None:
    (centre,) = _clustered(app, 150, seed=8, anchors=1, spread=0.2)
    origin = (float(centre["latitude"] or 0), float(centre["longitude"] or 0))
    combinations: list[tuple[dict[str, str], dict[str, Any]]] = [
            ({}, {}),
            ({"technique": "trigger_point"}, {"technique": "trigger_point"}),
            ({"insurance": "Aetna", "certified": "true"},
             {"insurance": "aetna", "certified": True}),
            ({"language": "Spanish", "max_price": "120", "accessibility": "wheelchair"},
             {"language": "spanish", "max_price": 120, "accessibility": "wheelchair"})]
    for asked, filters in combinations:
        body = search(client, lat=str(origin[0]), lon=str(origin[1]), radius="15",
                      facets=",".join(VALUES), **asked)
        expected = _brute_force_facets(app, origin, 15, filters)
        for name in VALUES:
            assert _facet_counts(body, name) == expected[name], (asked, name)
        assert filters or sum(expected["technique"].values()) > 100


def test_open_now_keeps_a_clinic_closed_today_for_a_holiday_out(app: Flask,
                                                               client: FlaskClient) -> None:
    today = datetime.now(UTC).astimezone(ZoneInfo("America/Chicago")).date().isoformat()
    always = "Mon-Sun 00:00-24:00"
    _documents(app, [
        _clinic("open", "Always Open PT", near(AUSTIN, 1.0), hours=always),
        _clinic("holiday", "Holiday PT", near(AUSTIN, 1.2), hours=always,
                holiday_hours=[{"date": today, "closed": True, "note": "Staff day"}]),
    ])
    assert ids(search(client, postcode="78701", open_now="true")) == ["Always Open PT"]
    hits = {hit["name"]: hit for hit in search(client, postcode="78701")["results"]}
    assert hits["Holiday PT"]["holiday_hours"][0]["date"] == today
