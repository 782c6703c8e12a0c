"""The JSON API: listings, OpenAPI, health, and a specific 4xx for every bad input."""

from __future__ import annotations

from datetime import date

import pytest
from flask import Flask
from flask.testing import FlaskClient

from finder import create_app
from finder.openapi import ERROR_CODES
from tests.conftest import AUSTIN, load, near, row


@pytest.mark.parametrize(("query", "code"), [
    ({}, "missing_location"),
    ({"q": "dry needling"}, "missing_location"),
    ({"postcode": "99999"}, "unknown_postcode"),
    ({"postcode": "7870"}, "invalid_postcode"),
    ({"postcode": "Xyzzyville"}, "invalid_postcode"),
    ({"postcode": "D9X 9X9", "country": "CA"}, "invalid_postcode"),
    ({"postcode": "X9X 9X9", "country": "CA"}, "unknown_postcode"),
    ({"postcode": "12345", "country": "ZZ"}, "unsupported_country"),
    ({"postcode": "10115", "country": "DE"}, "unsupported_country"),
    ({"postcode": "78701", "country": "USA"}, "invalid_country"),
    ({"city": "Nowhereville, TX"}, "unknown_city"),
    ({"lat": "30.2"}, "invalid_coordinates"),
    ({"lat": "north", "lon": "-97"}, "invalid_coordinates"),
    ({"lat": "91", "lon": "0"}, "invalid_coordinates"),
    ({"lat": "nan", "lon": "0"}, "invalid_coordinates"),
    ({"postcode": "78701", "radius": "far"}, "invalid_radius"),
    ({"postcode": "78701", "radius": "0"}, "invalid_radius"),
    ({"postcode": "78701", "radius": "-5"}, "invalid_radius"),
    ({"postcode": "78701", "radius": "251"}, "invalid_radius"),
    ({"postcode": "78701", "radius": "inf"}, "invalid_radius"),
    ({"postcode": "78701", "radius": "500", "unit": "km"}, "invalid_radius"),
    ({"postcode": "78701", "unit": "furlong"}, "invalid_unit"),
    ({"postcode": "78701", "sort": "random"}, "invalid_sort"),
    ({"postcode": "78701", "limit": "0"}, "invalid_limit"),
    ({"postcode": "78701", "limit": "51"}, "invalid_limit"),
    ({"postcode": "78701", "limit": "ten"}, "invalid_limit"),
    ({"postcode": "78701", "offset": "-1"}, "invalid_offset"),
    ({"postcode": "78701", "telehealth": "maybe"}, "invalid_filter"),
    ({"postcode": "78701", "open_now": "sometimes"}, "invalid_filter"),
    ({"postcode": "78701", "q": "x" * 201}, "invalid_q"),
    ({"postcode": "78701", "insurance": "x" * 101}, "invalid_insurance"),
])
def test_bad_search_input_is_a_specific_400(client: FlaskClient, query: dict[str, str],
                                            code: str) -> None:
    response = client.get("/api/v1/search", query_string=query)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == code
    assert len(error["message"]) > 10
    assert code in ERROR_CODES  # the OpenAPI document lists every code


def test_unknown_listing_is_a_404(client: FlaskClient) -> None:
    response = client.get("/api/v1/listings/12345")
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "listing_not_found"


@pytest.mark.parametrize(("method", "path", "status", "code"), [
    ("get", "/api/v1/nothing-here", 404, "not_found"),
    ("post", "/api/v1/search", 405, "method_not_allowed"),
    ("get", "/api/v1/listings/abc", 404, "not_found"),
])
def test_http_errors_are_json_under_the_api(client: FlaskClient, method: str, path: str,
                                            status: int, code: str) -> None:
    response = getattr(client, method)(path)
    assert response.status_code == status
    assert response.get_json()["error"]["code"] == code


def test_listing_json(app: Flask, client: FlaskClient) -> None:
    load(app, [row("a", "Needle & Co", AUSTIN, services="Dry needling; Cupping",
                   hours="Mon-Fri 08:00-18:00", phone="512-555-0199")])
    body = client.get("/api/v1/listings/1").get_json()
    assert body["name"] == "Needle & Co"
    assert body["services"] == ["Dry needling", "Cupping"]
    assert body["hours"]["mon"] == [["08:00", "18:00"]]
    assert body["hours_text"] == "Mon-Fri 08:00-18:00"
    assert body["timezone"] == "America/Chicago"
    assert body["url"].endswith("/providers/1")


def test_json_columns_and_bodies_keep_text_exactly(app: Flask, client: FlaskClient) -> None:
    # Non-ASCII and markup survive the JSON columns and the response encoder unchanged.
    services = ["Aguja seca (punción)", "Kinesio <tape> & \"more\"", "針灸 / 乾針"]
    load(app, [row("a", "Fisioterapia Núñez", AUSTIN, services="; ".join(services),
                   languages="Español; 中文")])
    response = client.get("/api/v1/listings/1")
    assert response.get_json()["services"] == services
    assert response.get_json()["languages"] == ["Español", "中文"]
    assert response.data.index(b'"accepting_new_patients"') < response.data.index(b'"name"')
    hit = client.get("/api/v1/search?postcode=78701&q=punci%C3%B3n").get_json()["results"][0]
    assert hit["name"] == "Fisioterapia Núñez" and hit["services"] == services
    with app.test_request_context():
        assert app.json.dumps({"when": date(2026, 1, 2), 3: "x"}) == (
            '{"3":"x","when":"Fri, 02 Jan 2026 00:00:00 GMT"}')


def test_search_pagination_headers(app: Flask, client: FlaskClient) -> None:
    load(app, [row(str(i), f"Clinic {i}", AUSTIN) for i in range(3)])
    response = client.get("/api/v1/search?postcode=78701&limit=2")
    assert response.headers["X-Total-Count"] == "3"
    assert 'rel="next"' in response.headers["Link"]


def test_openapi_document_describes_the_search(client: FlaskClient) -> None:
    document = client.get("/api/v1/openapi.json").get_json()
    assert document["openapi"].startswith("3.")
    operation = document["paths"]["/api/v1/search"]["get"]
    names = {parameter["name"] for parameter in operation["parameters"]}
    assert {"postcode", "country", "lat", "lon", "city", "q", "radius", "unit", "sort", "limit",
            "offset", "telehealth", "accepting_new_patients", "insurance", "language",
            "open_now"} <= names


def test_healthz(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json()["checks"]["database"] == "ok"


def test_security_headers(client: FlaskClient) -> None:
    response = client.get("/")
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_rate_limit_answers_429_in_json(data_dir: object) -> None:
    app = create_app({"DATA_DIR": str(data_dir), "RATE_LIMIT": "3/minute;2/hour"})
    client = app.test_client()
    for _ in range(5):  # stylesheets and scripts are not counted
        with client.get("/static/style.css") as stylesheet:
            assert stylesheet.status_code == 200
    first = client.get("/api/v1/search?postcode=78701")
    assert first.status_code == 200
    assert (first.headers["X-RateLimit-Limit"], first.headers["X-RateLimit-Remaining"]) == (
        "3", "2")
    second, third = (client.get("/api/v1/search?postcode=78701") for _ in range(2))
    assert second.status_code == 200
    assert third.status_code == 429  # the second limit, two per hour, is used up
    assert third.get_json()["error"]["code"] == "rate_limited"
    assert "2 per 1 hour" in third.get_json()["error"]["message"]
    assert 3000 < int(third.headers["Retry-After"]) <= 3600
    # Another address has its own allowance.
    other = client.get("/api/v1/search?postcode=78701",
                       environ_base={"REMOTE_ADDR": "192.0.2.7"})
    assert other.status_code == 200
    from finder.search import get_backend

    get_backend(app).close()
    from finder.search import get_backend

    get_backend(app).close()


def test_listings_changed_since_are_paged_in_order(app: Flask, client: FlaskClient) -> None:
    load(app, [row(f"c{n}", f"Clinic {n}", near(AUSTIN, n + 1)) for n in range(3)])
    first = client.get("/api/v1/listings?limit=2").get_json()
    assert [listing["name"] for listing in first["listings"]] == ["Clinic 0", "Clinic 1"]
    assert all(listing["url"].endswith(f"/providers/{listing['id']}")
               for listing in first["listings"])
    rest = client.get(first["next"]).get_json()
    assert [listing["name"] for listing in rest["listings"]] == ["Clinic 2"]
    assert "next" not in rest
    from tests.test_openapi import assert_documented

    assert_documented(client.get("/api/v1/listings?limit=2"))
    later = client.get("/api/v1/listings", query_string={
        "modified_after": rest["listings"][0]["updated_at"]}).get_json()
    assert later == {"listings": []}
    for bad, code in (("modified_after=yesterday", "invalid_modified_after"),
                      ("limit=0", "invalid_limit"), ("after_id=x", "invalid_after_id")):
        response = client.get(f"/api/v1/listings?{bad}")
        assert response.status_code == 400
        assert_documented(response)
        assert response.get_json()["error"]["code"] == code
