"""Absolute URLs never come from a client's Host header; proxies are believed only as far as
FINDER_PROXY_HOPS says."""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from finder import create_app
from finder.db import get_database, session_scope
from finder.models import Location, OutboxMessage
from finder.openapi import ERROR_CODES
from finder.search import get_backend
from tests.conftest import AUSTIN, TEST_CONFIG, Server, load, near, row

HOSTILE = "evil.example"
PUBLIC = "https://finder.example"
# Every place a page or document can hold a URL.
URL = re.compile(r"(?:https?:)?//[^\s\"'<>)]+")

PAGES = ["/api/v1/search?postcode=78701&limit=1", "/api/v1/listings?limit=1",
         "/search?postcode=78701&limit=1", "/", "/sitemap.xml", "/robots.txt",
         "/api/v1/schemas/listing.json"]


def make_app(data_dir: Path, **config: Any) -> Flask:
    """The app with two published listings, each with an owner."""
    # No SERVER_NAME, as in production (the test config names one).
    app = create_app({"DATA_DIR": str(data_dir), **TEST_CONFIG, "SERVER_NAME": None, **config})
    load(app, [row("east", "Eastside Needling", near(AUSTIN, 1), services="Dry needling"),
               row("west", "Westside Needling", near(AUSTIN, 2, 270), services="Dry needling")])
    with session_scope(app) as session:
        for location in session.scalars(sa.select(Location)):
            location.owner_email = "owner@clinic.example"
        session.commit()
    return app


def closing(app: Flask) -> Iterator[Flask]:
    yield app
    get_backend(app).close()
    get_database(app).dispose()


@pytest.fixture
def based(data_dir: Path) -> Iterator[Flask]:
    """The app with FINDER_BASE_URL set and no trusted hosts: it answers any host."""
    yield from closing(make_app(data_dir, BASE_URL=PUBLIC))


@pytest.fixture
def guarded(data_dir: Path) -> Iterator[Flask]:
    """The app answering only finder.example."""
    yield from closing(make_app(data_dir, TRUSTED_HOSTS=["finder.example"]))


@pytest.fixture
def open_app(data_dir: Path) -> Iterator[Flask]:
    """The app as on a development machine: no base URL, any host."""
    yield from closing(make_app(data_dir))


def urls(text: str) -> list[str]:
    return URL.findall(text)


@pytest.mark.parametrize("path", PAGES)
def test_without_a_base_url_links_follow_the_host_as_documented(open_app: Flask,
                                                                path: str) -> None:
    # The development default, and the risk the README warns about; it also shows that the
    # pages checked below do hold absolute URLs.
    response = open_app.test_client().get(path, headers={"Host": HOSTILE})
    if path in ("/api/v1/search?postcode=78701&limit=1", "/sitemap.xml", "/robots.txt"):
        assert any(HOSTILE in url for url in urls(response.get_data(as_text=True)))


@pytest.mark.parametrize("path", PAGES)
def test_with_a_base_url_no_url_names_the_request_s_host(based: Flask, path: str) -> None:
    response = based.test_client().get(path, headers={"Host": HOSTILE})
    assert response.status_code == 200
    text = response.get_data(as_text=True) + response.headers.get("Link", "")
    assert HOSTILE not in text
    assert all(not url.startswith("http") or url.startswith((PUBLIC, "http://www.w3.org",
                                                             "https://schema.org",
                                                             "http://www.sitemaps.org",
                                                             "https://json-schema.org",
                                                             "https://www.openstreetmap.org"))
               for url in urls(text)), urls(text)


def test_with_a_base_url_results_and_pages_link_to_it(based: Flask) -> None:
    client = based.test_client()
    response = client.get("/api/v1/search?postcode=78701&limit=1", headers={"Host": HOSTILE})
    body = response.get_json()
    assert body["results"][0]["url"].startswith(f"{PUBLIC}/providers/")
    assert body["links"]["next"].startswith(f"{PUBLIC}/api/v1/search?")
    assert f"<{body['links']['next']}>" in response.headers["Link"]
    sitemap = client.get("/sitemap.xml", headers={"Host": HOSTILE}).get_data(as_text=True)
    assert f"<loc>{PUBLIC}/</loc>" in sitemap
    robots = client.get("/robots.txt", headers={"Host": HOSTILE}).get_data(as_text=True)
    assert f"Sitemap: {PUBLIC}/sitemap.xml" in robots
    changes = client.get("/api/v1/listings?limit=1", headers={"Host": HOSTILE}).get_json()
    assert changes["next"].startswith(f"{PUBLIC}/api/v1/listings?")


def test_an_owner_s_link_in_an_e_mail_is_on_the_base_url(based: Flask) -> None:
    with session_scope(based) as session:
        listing = session.scalars(sa.select(Location.id)).first()
    response = based.test_client().post(f"/api/v1/listings/{listing}/reports",
                                        json={"problem": "closed"},
                                        headers={"Host": HOSTILE})
    assert response.status_code == 201
    with session_scope(based) as session:
        [message] = session.scalars(sa.select(OutboxMessage.body)
                                    .where(OutboxMessage.kind == "report_to_owner"))
    assert f"{PUBLIC}/manage/" in message
    assert HOSTILE not in message


def test_a_redirect_goes_to_the_base_url(based: Flask) -> None:
    # Werkzeug's own redirects (a missing trailing slash) are absolute too.
    rules = [rule for rule in based.url_map.iter_rules()
             if rule.rule.endswith("/") and rule.rule != "/" and not rule.arguments]
    assert rules, "no route ends with a slash"
    path = rules[0].rule.rstrip("/")
    response = based.test_client().get(path, headers={"Host": HOSTILE})
    assert response.status_code == 308
    assert response.headers["Location"].startswith(f"{PUBLIC}/")


@pytest.mark.parametrize("path", PAGES)
def test_a_trusted_host_is_answered(guarded: Flask, path: str) -> None:
    response = guarded.test_client().get(path, headers={"Host": "finder.example"})
    assert response.status_code == 200


def test_an_untrusted_host_is_refused_in_the_api_s_shape(guarded: Flask) -> None:
    response = guarded.test_client().get("/api/v1/search?postcode=78701",
                                         headers={"Host": HOSTILE})
    assert response.status_code == 400
    assert response.get_json() == {"error": {
        "code": "untrusted_host",
        "message": f"This server does not answer for the host '{HOSTILE}'."}}
    assert "untrusted_host" in ERROR_CODES  # documented in the OpenAPI document


@pytest.mark.parametrize("path", ["/", "/search?postcode=78701", "/sitemap.xml", "/nowhere"])
def test_an_untrusted_host_gets_the_error_page_with_no_link_to_it(guarded: Flask,
                                                                  path: str) -> None:
    response = guarded.test_client().get(path, headers={"Host": HOSTILE})
    assert response.status_code == 400
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert "does not answer for the host" in page
    assert not any(HOSTILE in url for url in urls(page))
    assert 'href="/"' in page  # the page still renders its own links


def test_a_host_list_that_is_not_host_names_is_refused(data_dir: Path) -> None:
    from finder import settings
    from finder.errors import ConfigError

    with pytest.raises(ConfigError, match="FINDER_TRUSTED_HOSTS='https://finder.example'"):
        settings.load({"FINDER_TRUSTED_HOSTS": "https://finder.example"})
    assert settings.load({"FINDER_TRUSTED_HOSTS": "Finder.example, .finder.example"})[
        "TRUSTED_HOSTS"] == ["finder.example", ".finder.example"]


# --- behind a reverse proxy, with a real server -------------------------------------------

def get(server: Server, path: str, **headers: str) -> tuple[int, dict[str, str], Any]:
    request = urllib.request.Request(f"{server.url}{path}", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), json.load(response)
    except urllib.error.HTTPError as error:
        with error:
            return error.code, dict(error.headers), json.load(error)


def serve(data_dir: Path, **settings: str) -> Server:
    """Serve two listings with one worker (so one count of requests) and a small limit; the
    access log goes to ACCESS_LOG in the data folder."""
    list(closing(make_app(data_dir)))
    return Server(data_dir, workers=1, settings={"FINDER_RATE_LIMIT": "3/minute", **settings},
                  access_log=data_dir / ACCESS_LOG)


ACCESS_LOG = "access.log"


@pytest.fixture
def behind_proxy(data_dir: Path) -> Iterator[Server]:
    server = serve(data_dir, FINDER_PROXY_HOPS="1")
    yield server
    server.stop()


@pytest.fixture
def direct(data_dir: Path) -> Iterator[Server]:
    server = serve(data_dir)
    yield server
    server.stop()


SEARCH = "/api/v1/search?postcode=78701&limit=1"


def test_behind_a_proxy_each_forwarded_client_is_counted_apart(behind_proxy: Server) -> None:
    first = [get(behind_proxy, SEARCH, **{"X-Forwarded-For": "203.0.113.1"})[0]
             for _ in range(4)]
    second = get(behind_proxy, SEARCH, **{"X-Forwarded-For": "203.0.113.2"})[0]
    assert first == [200, 200, 200, 429]
    assert second == 200


def test_behind_a_proxy_the_access_log_names_the_client(behind_proxy: Server,
                                                        data_dir: Path) -> None:
    get(behind_proxy, "/healthz", **{"X-Forwarded-For": "198.51.100.23, 203.0.113.4"})
    behind_proxy.stop()  # flushes the log
    *_, line = [line for line in (data_dir / ACCESS_LOG).read_text().splitlines()
                if "/healthz" in line]
    assert line.startswith("203.0.113.4 ")  # the address the one proxy saw


def test_behind_a_proxy_urls_use_the_forwarded_scheme_and_host(behind_proxy: Server) -> None:
    status, headers, body = get(behind_proxy, SEARCH, **{
        "X-Forwarded-Proto": "https", "X-Forwarded-Host": "finder.example",
        "X-Forwarded-For": "203.0.113.3"})
    assert status == 200
    assert body["results"][0]["url"].startswith("https://finder.example/providers/")
    assert headers["Link"].startswith("<https://finder.example/api/v1/search?")


def test_without_proxies_forwarding_headers_change_nothing(direct: Server,
                                                           data_dir: Path) -> None:
    statuses = [get(direct, SEARCH, **{"X-Forwarded-For": f"203.0.113.{n}"})[0]
                for n in range(4)]
    assert statuses == [200, 200, 200, 429]  # one client, whatever it claims
    direct.stop()
    lines = (data_dir / ACCESS_LOG).read_text().splitlines()
    assert lines and all(line.startswith("127.0.0.1 ") for line in lines)


def test_without_proxies_the_scheme_and_host_are_the_connection_s(data_dir: Path) -> None:
    server = serve(data_dir, FINDER_RATE_LIMIT="100/minute")
    try:
        _, _, body = get(server, SEARCH, **{"X-Forwarded-Proto": "https",
                                            "X-Forwarded-Host": HOSTILE})
    finally:
        server.stop()
    assert body["results"][0]["url"].startswith(f"http://127.0.0.1:{server.port}/providers/")
