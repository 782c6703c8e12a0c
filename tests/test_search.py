"""The search contract: what a patient gets for a query, on every backend."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from geopy.distance import geodesic

from tests.conftest import AUSTIN, load, near, row, search


@pytest.fixture
def app(any_database_app: Flask) -> Flask:
    return any_database_app


@pytest.fixture
def directory(app: Flask) -> Flask:
    """A small directory around downtown Austin, with one listing in Toronto."""
    report = load(app, [
        row("near-dn", "Needle Point PT", near(AUSTIN, 0.5), services="Dry needling",
            conditions="Low back pain", hours="Mon-Sun 00:00-24:00"),
        row("ims", "Lakeside Rehab", near(AUSTIN, 2.0, 180), services="Intramuscular stimulation",
            conditions="Sciatica", telehealth="yes", languages="English; Spanish",
            insurance="Aetna; Medicare"),
        row("plain", "Congress Avenue Physio", near(AUSTIN, 1.0, 0), services="Manual therapy",
            conditions="Back pain", accepting_new_patients="no", hours="Mon 00:00-00:30"),
        row("edge", "Round Rock Sports PT", near(AUSTIN, 24.0, 0), services="Dry needling"),
        row("outside", "Georgetown Spine", near(AUSTIN, 27.0, 0), services="Dry needling"),
        row("centroid", "South Congress PT", None, postcode="78704",
            services="Functional dry needling"),
        row("toronto", "King West Physio", None, postcode="M5V 1A1", country="CA", city="Toronto",
            region="ON", services="Dry needling"),
    ])
    assert report.rejected == [] and report.created == 7
    return app


def names(body: dict[str, Any]) -> list[str]:
    return [hit["name"] for hit in body["results"]]


def test_all_keywords_must_match_nearest_first(directory: Flask, client: FlaskClient) -> None:
    body = search(client, postcode="78701", q="dry needling back pain", sort="distance")
    assert names(body) == ["Needle Point PT"]
    body = search(client, postcode="78701", q="dry needling", sort="distance")
    assert names(body) == ["Needle Point PT", "Lakeside Rehab", "South Congress PT",
                           "Round Rock Sports PT"]
    distances = [hit["distance"] for hit in body["results"]]
    assert distances == sorted(distances)


def test_synonym_finds_intramuscular_stimulation(directory: Flask, client: FlaskClient) -> None:
    body = search(client, postcode="78701", q="dry needling")
    hit = next(h for h in body["results"] if h["name"] == "Lakeside Rehab")
    assert hit["matched_terms"] == ["intramuscular stimulation"]
    assert "Lakeside Rehab" in names(search(client, postcode="78701", q="IMS"))


def test_lay_term_finds_the_broader_term(directory: Flask, client: FlaskClient) -> None:
    found = names(search(client, postcode="78701", q="low back pain", sort="distance"))
    assert found == ["Needle Point PT", "Congress Avenue Physio"]


def test_phrase_stays_a_phrase(directory: Flask, client: FlaskClient) -> None:
    assert names(search(client, postcode="78701", q='"pain back"')) == []
    assert "Congress Avenue Physio" in names(search(client, postcode="78701", q='"back pain"'))


def test_typo_is_corrected_and_reported(directory: Flask, client: FlaskClient) -> None:
    body = search(client, postcode="78701", q="sciatcia")
    assert names(body) == ["Lakeside Rehab"]
    assert body["did_you_mean"] == "sciatica"


@pytest.mark.parametrize("q", ['dry AND (needling OR "', "* ? ~ ^2 [a TO z]", "name:foo",
                               "<script>alert(1)</script>", "'; DROP TABLE location; --"])
def test_query_syntax_is_text_never_an_error(directory: Flask, client: FlaskClient,
                                             q: str) -> None:
    body = search(client, postcode="78701", q=q)
    assert isinstance(body["results"], list)


def test_radius_is_a_hard_filter(directory: Flask, client: FlaskClient) -> None:
    inside = names(search(client, postcode="78701", q="dry needling", radius=25))
    assert "Round Rock Sports PT" in inside and "Georgetown Spine" not in inside
    wider = names(search(client, postcode="78701", q="dry needling", radius=30))
    assert "Georgetown Spine" in wider


def test_radius_in_km(directory: Flask, client: FlaskClient) -> None:
    body = search(client, postcode="78701", q="dry needling", radius=2, unit="km",
                  sort="distance")
    assert names(body) == ["Needle Point PT"]
    assert body["results"][0]["unit"] == "km"
    assert body["results"][0]["distance"] == pytest.approx(0.5 * 1.609344, abs=0.01)


def test_zip_plus_four_resolves_like_its_zip(directory: Flask, client: FlaskClient) -> None:
    plain = search(client, postcode="78701", q="dry needling")
    plus4 = search(client, postcode="78701-1234", q="dry needling")
    assert plus4["origin"] == plain["origin"]
    assert names(plus4) == names(plain)


def test_canadian_postcode_resolves_to_downtown_toronto(directory: Flask,
                                                        client: FlaskClient) -> None:
    body = search(client, postcode="M5V 2T6", country="CA")
    origin = body["origin"]
    assert origin["precision"] == "postcode" and "Toronto" in origin["label"]
    assert geodesic((origin["lat"], origin["lon"]), (43.6426, -79.3871)).km < 3
    assert names(body) == ["King West Physio"]
    assert body["results"][0]["unit"] == "km"


def test_distance_is_geodesic_from_the_echoed_origin(directory: Flask,
                                                     client: FlaskClient) -> None:
    body = search(client, postcode="78701", radius=30, unit="mi")
    origin = (body["origin"]["lat"], body["origin"]["lon"])
    assert len(body["results"]) >= 5
    for hit in body["results"]:
        expected = geodesic(origin, (hit["lat"], hit["lon"])).miles
        assert hit["distance"] == pytest.approx(expected, abs=0.001)


def test_listing_without_coordinates_sits_at_its_postcode_centroid(
        directory: Flask, client: FlaskClient) -> None:
    body = search(client, postcode="78704", radius=1)
    hit = next(h for h in body["results"] if h["name"] == "South Congress PT")
    assert (hit["lat"], hit["lon"]) == (body["origin"]["lat"], body["origin"]["lon"])
    assert hit["geocode_precision"] == "postcode"
    assert hit["distance"] == 0


def test_best_sort_prefers_a_much_better_match_over_a_few_yards(
        app: Flask, client: FlaskClient) -> None:
    load(app, [
        row("weak", "Downtown Rehab", near(AUSTIN, 0.4), description="We also offer sciatica care"),
        row("strong", "Sciatica Center", near(AUSTIN, 0.5), services="Sciatica treatment"),
    ])
    best = search(client, postcode="78701", q="sciatica")
    assert names(best) == ["Sciatica Center", "Downtown Rehab"]
    strong, weak = best["results"]
    assert strong["score_components"]["text"] > weak["score_components"]["text"]
    assert strong["score_components"]["distance_decay"] == 1.0
    assert names(search(client, postcode="78701", q="sciatica", sort="distance")) == [
        "Downtown Rehab", "Sciatica Center"]


def test_without_keywords_best_is_distance_order(directory: Flask, client: FlaskClient) -> None:
    best = search(client, postcode="78701", radius=30)
    assert names(best) == names(search(client, postcode="78701", radius=30, sort="distance"))


def test_relevance_sort_breaks_ties_by_distance(directory: Flask, client: FlaskClient) -> None:
    body = search(client, postcode="78701", q="dry needling", sort="relevance", radius=30)
    keys = [(-h["score_components"]["text"], h["distance"]) for h in body["results"]]
    assert keys == sorted(keys)


def test_every_hit_explains_its_score(directory: Flask, client: FlaskClient) -> None:
    for hit in search(client, postcode="78701", q="dry needling")["results"]:
        parts = hit["score_components"]
        assert hit["score"] == pytest.approx(parts["text"] * parts["distance_decay"], abs=1e-5)
        assert hit["matched_terms"]


@pytest.mark.parametrize(("params", "expected"), [
    ({"telehealth": "true"}, ["Lakeside Rehab"]),
    ({"accepting_new_patients": "false"}, ["Congress Avenue Physio"]),
    ({"insurance": "aetna"}, ["Lakeside Rehab"]),
    ({"language": "Spanish"}, ["Lakeside Rehab"]),
    ({"open_now": "true"}, ["Needle Point PT"]),
])
def test_filters(directory: Flask, client: FlaskClient, params: dict[str, str],
                 expected: list[str]) -> None:
    assert names(search(client, postcode="78701", radius=5, **params)) == expected


def test_pagination(directory: Flask, client: FlaskClient) -> None:
    everything = names(search(client, postcode="78701", radius=30, sort="distance"))
    first = search(client, postcode="78701", radius=30, sort="distance", limit=2)
    second = search(client, postcode="78701", radius=30, sort="distance", limit=2, offset=2)
    assert first["total"] == len(everything) == 6
    assert names(first) + names(second) == everything[:4]
    assert "offset=2" in first["links"]["next"]


def test_nothing_within_radius_offers_the_nearest_beyond(directory: Flask,
                                                         client: FlaskClient) -> None:
    body = search(client, postcode="78613", q="sciatica", radius=5)
    assert body["total"] == 0
    assert names(body) == ["Lakeside Rehab"]
    assert body["widened"]["nearest_distance"] == pytest.approx(body["results"][0]["distance"],
                                                                abs=0.01)
    assert "nearest" in body["widened"]["message"]


def test_nothing_anywhere_says_so(directory: Flask, client: FlaskClient) -> None:
    body = search(client, postcode="78701", q="acupuncture", telehealth="true")
    assert body["results"] == [] and body["total"] == 0
    assert body["suggestion"]["remove_filters"] == ["telehealth"]


def test_city_origin(directory: Flask, client: FlaskClient) -> None:
    body = search(client, city="Austin, TX", q="dry needling")
    assert body["origin"]["precision"] == "city"
    assert body["origin"]["label"] == "Austin, TX"
    assert "Needle Point PT" in names(body)


def test_town_typed_in_the_postcode_box(directory: Flask, client: FlaskClient) -> None:
    body = search(client, postcode="Austin, TX")
    assert body["origin"]["precision"] == "city"


def test_point_origin(directory: Flask, client: FlaskClient) -> None:
    body = search(client, lat=AUSTIN[0], lon=AUSTIN[1], q="dry needling", sort="distance")
    assert body["origin"]["precision"] == "point"
    assert names(body)[0] == "Needle Point PT"


def test_private_fields_never_leave(app: Flask, client: FlaskClient) -> None:
    load(app, [row("x", "Private PT", AUSTIN)])
    from finder.db import session_scope
    from finder.models import Location

    with session_scope(app) as session:
        location = session.query(Location).one()
        location.owner_email = "owner@secret.example"
        session.commit()
    body = client.get("/api/v1/search?postcode=78701").get_data(as_text=True)
    listing = client.get("/api/v1/listings/1").get_data(as_text=True)
    page = client.get("/providers/1").get_data(as_text=True)
    for text in (body, listing, page):
        assert "secret.example" not in text and "owner_email" not in text


def test_phrase_never_spans_two_list_items(app: Flask, client: FlaskClient) -> None:
    load(app, [row("a", "Alpha PT", AUSTIN, conditions="Neck pain; Sciatica")])
    assert names(search(client, postcode="78701", q='"pain sciatica"')) == []
    assert names(search(client, postcode="78701", q='"neck pain"')) == ["Alpha PT"]


@pytest.mark.parametrize(("field", "stored", "asked"), [
    ("insurance", "Blue Cross, Blue Shield", "blue cross, blue shield"),
    ("insurance", "UnitedHealthcare", "unitedhealthcare"),
    ("languages", "Māori", "maori"),
    ("languages", "Español", "espanol"),
])
def test_insurance_and_language_filters_fold_case_accents_and_commas(
        app: Flask, client: FlaskClient, field: str, stored: str, asked: str) -> None:
    load(app, [row("a", "Alpha PT", AUSTIN, **{field: stored}), row("b", "Beta PT", AUSTIN)])
    name = "insurance" if field == "insurance" else "language"
    assert names(search(client, postcode="78701", **{name: asked})) == ["Alpha PT"]


def test_did_you_mean_replaces_whole_words(app: Flask, client: FlaskClient) -> None:
    load(app, [row("a", "Alpha PT", AUSTIN, conditions="Sciatica")])
    body = search(client, postcode="78701", q="sciatca sciatcaa")
    assert body["did_you_mean"] == "sciatica sciatica"


def test_widened_results_respect_the_limit(directory: Flask, client: FlaskClient) -> None:
    body = search(client, postcode="78613", q="dry needling", radius=2, limit=2, offset=4)
    assert body["total"] == 0 and len(body["results"]) == 2
    assert "prev" not in body["links"] and "next" not in body["links"]


def test_radius_limit_is_in_the_unit_of_the_search(directory: Flask,
                                                   client: FlaskClient) -> None:
    assert search(client, postcode="M5V", country="CA", radius=300)["query"]["unit"] == "km"
    response = client.get("/api/v1/search?postcode=78701&radius=300")
    assert response.get_json()["error"]["code"] == "invalid_radius"


@pytest.mark.parametrize("path", ["/api/v1/listings/9223372036854775808",
                                  "/providers/99999999999999999999"])
def test_impossible_listing_ids_are_404(client: FlaskClient, path: str) -> None:
    assert client.get(path).status_code == 404
