"""HTTP at its edges: a 405 says what is allowed, gunicorn refuses only what the app never
accepts, and health checks are never rate limited."""

from __future__ import annotations

import http.client
import json
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from finder.cli import REQUEST_LIMITS
from finder.search.params import MAX_LIMIT
from finder.search.query import MAX_QUERY_LENGTH
from tests.conftest import Server

WIDE = "\N{GRINNING FACE}"  # four bytes in UTF-8, twelve characters percent-encoded


@pytest.mark.parametrize(("method", "path", "allowed"), [
    ("POST", "/api/v1/search", {"GET", "HEAD", "OPTIONS"}),
    ("DELETE", "/providers/1", {"GET", "HEAD", "OPTIONS"}),
    ("PUT", "/api/v1/listings", {"GET", "HEAD", "OPTIONS", "POST"}),
    ("DELETE", "/healthz", {"GET", "HEAD", "OPTIONS"}),
    ("PATCH", "/search", {"GET", "HEAD", "OPTIONS"}),
])
def test_a_405_says_which_methods_are_allowed(client: FlaskClient, method: str, path: str,
                                               allowed: set[str]) -> None:
    response = client.open(path, method=method)
    assert response.status_code == 405
    assert {name.strip() for name in response.headers["Allow"].split(",")} == allowed
    if path.startswith(("/api/", "/healthz")):
        assert response.get_json()["error"]["code"] == "method_not_allowed"
    else:
        assert response.mimetype == "text/html"


def test_healthz_is_never_rate_limited(data_dir: Path) -> None:
    server = Server(data_dir, workers=1, settings={"FINDER_RATE_LIMIT": "2/minute"})
    try:
        statuses = [request(server, "GET", "/healthz")[0] for _ in range(6)]
        searches = [request(server, "GET", "/api/v1/search?postcode=78701")[0]
                    for _ in range(3)]
    finally:
        server.stop()
    assert statuses == [200] * 6
    assert searches == [200, 200, 429]  # the limit is on, for everything else


def longest_search() -> str:
    """The longest search URL the app accepts: every text parameter at its length limit in
    characters that take the most bytes, and every other parameter given."""
    args = {"q": WIDE * MAX_QUERY_LENGTH, "postcode": WIDE * 100, "city": WIDE * 100,
            "insurance": WIDE * 100, "language": WIDE * 100, "country": "US",
            "lat": "-89.999999999", "lon": "-179.999999999", "radius": "249.999999999",
            "unit": "mi", "sort": "relevance", "limit": str(MAX_LIMIT), "offset": "10000",
            "telehealth": "false", "accepting_new_patients": "false", "open_now": "false",
            "technique": "electrical", "accessibility": "wheelchair", "age_group": "adults",
            "direct_access": "false", "home_visits": "false", "max_price": "99999.99",
            "certified": "false", "facets": "insurance,language,technique,accessibility"}
    return f"/api/v1/search?{urllib.parse.urlencode(args)}"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory,
           migrated_database: Path) -> Iterator[Server]:
    from tests.conftest import serve_directory

    yield from serve_directory(tmp_path_factory, migrated_database, "edges", lambda app: None)


def request(server: Server, method: str, path: str,
            headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.request(method, path, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_the_longest_valid_search_fits_gunicorn_s_request_line() -> None:
    line = f"GET {longest_search()} HTTP/1.1"
    assert len(line) > 4094  # gunicorn's default would refuse it
    assert len(line) <= REQUEST_LIMITS["limit_request_line"]


def test_the_longest_valid_search_is_answered_by_the_app(served: Server) -> None:
    status, body = request(served, "GET", longest_search())
    # The app answers (this postcode is unknown, as any would be in these characters).
    assert status == 400
    assert json.loads(body)["error"]["code"] in {"unknown_postcode", "invalid_postcode"}
    long_query = "/api/v1/search?" + urllib.parse.urlencode(
        {"q": WIDE * MAX_QUERY_LENGTH, "lat": "30.27", "lon": "-97.74",
         "insurance": WIDE * 100, "language": WIDE * 100})
    assert len(long_query) > 4094
    status, body = request(served, "GET", long_query)
    assert status == 200, body
    assert json.loads(body)["total"] == 0


@pytest.mark.parametrize(("path", "headers", "status"), [
    ("/api/v1/search?q=" + "x" * 9000, {}, 414),
    ("/healthz", {f"X-Filler-{n}": "x" for n in range(REQUEST_LIMITS["limit_request_fields"]
                                                      + 1)}, 431),
    ("/healthz", {"X-Filler": "x" * (REQUEST_LIMITS["limit_request_field_size"] + 1)}, 431),
])
def test_gunicorn_refuses_an_absurd_request_with_a_4xx(served: Server, path: str,
                                                       headers: dict[str, str],
                                                       status: int) -> None:
    assert request(served, "GET", path, headers)[0] == status
    assert request(served, "GET", "/healthz")[0] == 200  # and goes on serving


def test_a_browser_s_headers_are_well_within_the_limits(served: Server) -> None:
    browser = {"User-Agent": "Mozilla/5.0 " + "x" * 200, "Accept": "text/html,*/*;q=0.8",
               "Accept-Language": "en-US,en;q=0.5", "Accept-Encoding": "gzip, br",
               "Cookie": "session=" + "x" * 4000, "Referer": "https://finder.example/",
               "Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "navigate",
               "Sec-Fetch-Dest": "document", "Upgrade-Insecure-Requests": "1",
               "X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https",
               "X-Forwarded-Host": "finder.example", "X-Real-IP": "203.0.113.9"}
    assert request(served, "GET", "/", browser)[0] == 200
