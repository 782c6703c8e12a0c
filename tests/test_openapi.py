"""The OpenAPI document is valid, and every real response matches what it documents.

Responses are checked against a strict copy of the document, in which no object may carry a
field the document does not name: the published document stays open to new fields, but a
field added to a response without documenting it fails here.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from openapi_schema_validator import OAS31Validator, oas31_format_checker
from openapi_spec_validator import validate
from werkzeug.test import TestResponse

from finder import create_app
from finder.db import get_database, session_scope
from finder.openapi import ERROR_CODES, OPENAPI_VERSION, STATUS_ERROR_CODES, openapi_document
from finder.search import get_backend
from tests.conftest import AUSTIN, TEST_CONFIG, load, near, row
from tests.postgres import free_port

DOCUMENT = openapi_document()


def _strict(node: Any) -> Any:
    """Return a copy of the document in which objects forbid fields they do not declare."""
    if isinstance(node, list):
        return [_strict(item) for item in node]
    if not isinstance(node, dict):
        return node
    strict = {key: _strict(value) for key, value in node.items()}
    if isinstance(node.get("properties"), dict) and "additionalProperties" not in node:
        strict["additionalProperties"] = False
    return strict


STRICT = _strict(copy.deepcopy(DOCUMENT))


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    """Follow a local ``$ref`` in the strict document."""
    while "$ref" in node:
        target: Any = STRICT
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def documented_response(method: str, path: str, status: int) -> dict[str, Any]:
    """Return the response the document gives for a request, or fail saying what is missing."""
    for template, item in STRICT["paths"].items():
        if re.fullmatch(re.sub(r"\{[^/]+\}", "[^/]+", template), path):
            # A method the path does not answer is documented on the path's operations (405).
            operation = item.get(method.lower()) or next(iter(item.values()))
            responses = operation["responses"]
            assert str(status) in responses, f"{status} is not documented for {method} {template}"
            return _resolve(responses[str(status)])
    assert status == 404, f"{path} is not in the document"
    return _resolve(STRICT["components"]["responses"]["NotFound"])


def schema_errors(instance: Any, schema: dict[str, Any]) -> list[str]:
    """Return every way ``instance`` breaks ``schema`` (refs resolved in the strict document)."""
    validator = OAS31Validator({**schema, "components": STRICT["components"]},
                               format_checker=oas31_format_checker)
    return [f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
            for error in validator.iter_errors(instance)]


def assert_documented(response: TestResponse, method: str = "GET") -> dict[str, Any]:
    """Check a response's status, headers and JSON body against the document; return the body."""
    path = response.request.path
    documented = documented_response(method, path, response.status_code)
    for name, header in documented.get("headers", {}).items():
        if _resolve(header).get("required"):
            assert name in response.headers, f"{name} header missing from {path}"
    assert response.mimetype == "application/json"
    body: dict[str, Any] = response.get_json()
    schema = documented["content"]["application/json"]["schema"]
    errors = schema_errors(body, schema)
    assert errors == [], f"{method} {path} ({response.status_code}) is not as documented: {errors}"
    return body


# -- the document ----------------------------------------------------------------------------


def test_document_is_valid_openapi() -> None:
    validate(DOCUMENT)
    assert DOCUMENT["openapi"] == OPENAPI_VERSION


def test_served_document_is_the_document(client: FlaskClient) -> None:
    response = client.get("/api/v1/openapi.json")
    assert response.get_json() == DOCUMENT
    assert_documented(response)


def test_every_error_status_is_documented_for_every_operation() -> None:
    for template, item in DOCUMENT["paths"].items():
        for operation in item.values():
            statuses = set(operation["responses"])
            assert {"405", "429", "500"} <= statuses, template
    search = DOCUMENT["paths"]["/api/v1/search"]["get"]["responses"]
    assert {"200", "400", "503"} <= set(search)
    assert "404" in DOCUMENT["paths"]["/api/v1/listings/{location_id}"]["get"]["responses"]
    assert set(ERROR_CODES) == {code for codes in STATUS_ERROR_CODES.values() for code in codes}


def test_rate_limited_answers_document_retry_after() -> None:
    headers = DOCUMENT["components"]["responses"]["TooManyRequests"]["headers"]
    assert headers["Retry-After"]["required"] is True


@pytest.mark.parametrize(("instance", "valid"), [
    ({"error": {"code": "unknown_postcode", "message": "No such postcode."}}, True),
    ({"error": {"code": "unknown_postcode", "message": "No such postcode.",
                "suggestions": [{"country": "GB", "postcode": "SW1A 1AA",
                                 "label": "SW1A 1AA in United Kingdom",
                                 "place": "SW, London South West"}]}}, True),
    ({"error": {"code": "invalid_postcode", "message": "Not a ZIP.",
                "suggestions": [{"postcode": "SW1A 1AA"}]}}, False),
    ({"error": {"code": "unknown_postcode"}}, False),
    ({"error": {"code": "Not Snake", "message": "x"}}, False),
    ({"message": "x"}, False),
])
def test_error_schema(instance: dict[str, Any], valid: bool) -> None:
    assert (schema_errors(instance, {"$ref": "#/components/schemas/Error"}) == []) is valid


def test_strict_copy_rejects_an_undocumented_field() -> None:
    health = {"status": "ok", "checks": {"database": "ok", "search_backend": "whoosh",
                                         "index": "ok"}}
    assert schema_errors(health, {"$ref": "#/components/schemas/Health"}) == []
    assert schema_errors({**health, "uptime": 3}, {"$ref": "#/components/schemas/Health"})


def test_declared_optional_fields_validate() -> None:
    hit = {"$ref": "#/components/schemas/Hit"}
    results = {"$ref": "#/components/schemas/SearchResults"}
    assert any("matched" in error for error in schema_errors(
        {"matched": [{"term": "ims", "as": "intramuscular stimulation", "kind": "sideways"}]},
        hit))
    errors = schema_errors({
        "did_you_mean": "sciatica",
        "relaxations": [{"drop": ["open_now"], "count": 3, "message": "3 open later today.",
                         "next_opening": "2026-11-02T08:00:00-06:00", "url": "/search?q=x"},
                        {"drop": ["insurance"], "count": 1, "message": "1 without it.",
                         "next_opening": None, "url": "/search?q=y"}],
        "filters": {"insurance": ["Blue Cross Blue Shield"], "language": ["Spanish"]},
        "widened": {"radius": 25, "unit": "mi", "nearest_distance": 31.2, "count": 2,
                    "message": "...", "search_radius": 50, "country": "US"},
    }, results)
    # Only the required fields this partial body leaves out are reported.
    assert sorted(errors) == sorted(f": '{name}' is a required property"
                                    for name in ("origin", "query", "total", "results", "links"))


# -- real responses --------------------------------------------------------------------------


@pytest.fixture
def directory(app: Flask) -> FlaskClient:
    """A small Austin directory, with one clinic 30 miles out."""
    report = load(app, [
        row("needle", "Needle Point PT", near(AUSTIN, 0.5), services="Dry needling; Cupping",
            conditions="Low back pain", hours="Mon-Fri 08:00-12:00,13:00-18:00; Sat 09:00-13:00",
            phone="512-555-0100", address_1="100 Congress Ave", address_2="Suite 200",
            website="needlepoint.example", email="front@needlepoint.example",
            insurance="Aetna; Cigna", languages="English; Spanish", telehealth="yes"),
        row("plain", "Congress Avenue Physio", near(AUSTIN, 0.2, 0), services="Manual therapy"),
        row("far", "Hill Country Shockwave", near(AUSTIN, 30.0, 0),
            services="Shockwave therapy"),
    ])
    assert report.rejected == []
    return app.test_client()


@pytest.mark.parametrize(("method", "url", "status", "shows"), [
    ("GET", "/api/v1/search?postcode=78701&q=dry+needling", 200, "results"),
    ("GET", "/api/v1/search?postcode=78701&sort=distance&limit=1&offset=1", 200, "links"),
    ("GET", "/api/v1/search?lat=30.27&lon=-97.74&unit=km&radius=5", 200, "results"),
    ("GET", "/api/v1/search?city=Austin,+TX&q=manual+therapy", 200, "results"),
    ("GET", "/api/v1/search?postcode=78701&q=shockwave&radius=5", 200, "widened"),
    ("GET", "/api/v1/search?postcode=78701&q=neeedling", 200, "did_you_mean"),
    ("GET", "/api/v1/search?postcode=78701&q=zebra+crossing", 200, "suggestion"),
    ("GET", "/api/v1/search?postcode=78701&q=cupping&telehealth=no", 200, "suggestion"),
    ("GET", "/api/v1/search?postcode=78701&q=cupping&telehealth=no", 200, "relaxations"),
    ("GET", "/api/v1/search?postcode=78701&insurance=cign", 200, "filters"),
    ("GET", "/api/v1/listings/1", 200, "hours"),
    ("GET", "/api/v1/listings/3", 200, "address"),
    ("GET", "/healthz", 200, "checks"),
    ("GET", "/api/v1/search", 400, "error"),
    ("GET", "/api/v1/search?postcode=99999", 400, "error"),
    ("GET", "/api/v1/search?postcode=78701&radius=0", 400, "error"),
    ("GET", "/api/v1/search?postcode=78701&sort=random", 400, "error"),
    ("GET", "/api/v1/search?postcode=12345&country=ZZ", 400, "error"),
    ("GET", "/api/v1/search?postcode=M5V+2T6", 400, "error"),
    ("GET", "/api/v1/search?city=Austn,+TX", 400, "error"),
    ("GET", "/api/v1/listings/12345", 404, "error"),
    ("GET", "/api/v1/listings/abc", 404, "error"),
    ("GET", "/api/v1/nothing-here", 404, "error"),
    ("POST", "/api/v1/search", 405, "error"),
    ("DELETE", "/api/v1/listings/1", 405, "error"),
    ("POST", "/healthz", 405, "error"),
])
def test_responses_are_as_documented(directory: FlaskClient, method: str, url: str,
                                     status: int, shows: str) -> None:
    response = directory.open(url, method=method)
    assert response.status_code == status, response.get_json()
    body = assert_documented(response, method)
    assert body[shows]


def test_rate_limited_response_is_as_documented(data_dir: Path) -> None:
    app = create_app({"DATA_DIR": str(data_dir), **TEST_CONFIG, "RATE_LIMIT": "1/minute"})
    client = app.test_client()
    assert_documented(client.get("/api/v1/search?postcode=78701"))
    limited = client.get("/api/v1/search?postcode=78701")
    assert limited.status_code == 429
    assert_documented(limited)
    get_backend(app).close()
    get_database(app).dispose()


def test_internal_error_is_as_documented(app: Flask, client: FlaskClient) -> None:
    # A database missing its main table: the listing endpoint cannot answer.
    with session_scope(app) as session:
        session.execute(sa.text("ALTER TABLE location RENAME TO location_gone"))
        session.commit()
    response = client.get("/api/v1/listings/1")
    assert response.status_code == 500
    assert assert_documented(response)["error"]["code"] == "internal_error"


@pytest.fixture
def unreachable_geocoder(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Flask]:
    """An app whose online geocoder is a closed port on this machine."""
    for name in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    app = create_app({"DATA_DIR": str(data_dir), **TEST_CONFIG,
                      "GEOCODERS": ["gazetteer", "nominatim"], "NOMINATIM_SCHEME": "http",
                      "NOMINATIM_DOMAIN": f"127.0.0.1:{free_port()}",
                      "GEOCODER_TIMEOUT": 2.0, "GEOCODER_MIN_DELAY": 0.01})
    yield app
    get_backend(app).close()
    get_database(app).dispose()


def test_unavailable_geocoder_is_as_documented(unreachable_geocoder: Flask) -> None:
    response = unreachable_geocoder.test_client().get("/api/v1/search?city=Nowhereville,+TX")
    assert response.status_code == 503
    assert assert_documented(response)["error"]["code"] == "geocoder_unavailable"


def test_unhealthy_answer_is_as_documented(app: Flask, data_dir: Path) -> None:
    client = app.test_client()
    assert client.get("/healthz").status_code == 200
    # The database file becomes a folder: SQLite can no longer open it.
    get_database(app).dispose()
    database = data_dir / "finder.sqlite3"
    for path in data_dir.glob("finder.sqlite3*"):
        path.unlink()
    database.mkdir()
    response = client.get("/healthz")
    assert response.status_code == 503
    assert assert_documented(response)["status"] == "error"
