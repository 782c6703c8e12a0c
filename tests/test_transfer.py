"""Transfer: compressed responses, versioned static files with long caching, the favicon, and
a focus ring that can be seen."""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Iterator
from pathlib import Path

import brotli  # type: ignore[import-untyped]
import pytest
from flask import Flask
from flask.testing import FlaskClient
from playwright.sync_api import Browser, Page, Response

from finder import create_app
from finder.db import get_database
from finder.search import get_backend
from finder.transfer import IMMUTABLE, MIN_COMPRESSED_SIZE, SHORT_LIVED, static_url
from tests.browser import (
    PageFactory,
    browser,  # noqa: F401  (the module's Chromium)
    page_factory,
)
from tests.conftest import AUSTIN, TEST_CONFIG, Server, load, near, row, serve_directory

STATIC = Path(__file__).parent.parent / "finder" / "static"


@pytest.fixture
def directory(app: Flask) -> FlaskClient:
    """Enough listings for a search answer well above the compression threshold."""
    load(app, [row(f"c{i}", f"Clinic {i} Physical Therapy", near(AUSTIN, 0.3 * i, 40.0 * i),
                   services="Dry needling; Manual therapy; Cupping",
                   conditions="Low back pain; Sciatica", hours="Mon-Fri 08:00-18:00",
                   phone="512-555-0100") for i in range(10)])
    return app.test_client()


SEARCH = "/api/v1/search?postcode=78701&q=dry+needling"


# -- compression -----------------------------------------------------------------------------


@pytest.mark.parametrize(("encoding", "decode"), [
    ("gzip", gzip.decompress),
    ("br", brotli.decompress),
])
def test_compressed_search_decodes_to_the_same_json(directory: FlaskClient, encoding: str,
                                                    decode: object) -> None:
    plain = directory.get(SEARCH)
    compressed = directory.get(SEARCH, headers={"Accept-Encoding": encoding})
    assert compressed.headers["Content-Encoding"] == encoding
    assert "Accept-Encoding" in compressed.headers["Vary"]
    assert callable(decode)
    body = decode(compressed.data)
    assert json.loads(body) == plain.get_json()
    assert len(compressed.data) < len(plain.data) / 2


def test_browsers_get_brotli(directory: FlaskClient) -> None:
    response = directory.get(SEARCH, headers={"Accept-Encoding": "gzip, deflate, br, zstd"})
    assert response.headers["Content-Encoding"] == "br"


def test_nothing_is_compressed_without_accept_encoding(directory: FlaskClient) -> None:
    response = directory.get(SEARCH)
    assert len(response.data) > MIN_COMPRESSED_SIZE
    assert "Content-Encoding" not in response.headers
    assert "Accept-Encoding" in response.headers["Vary"]
    assert response.get_json()["total"] == 10
    identity = directory.get(SEARCH, headers={"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in identity.headers


def test_small_bodies_are_not_compressed(client: FlaskClient) -> None:
    response = client.get("/healthz", headers={"Accept-Encoding": "gzip, br"})
    assert len(response.data) < MIN_COMPRESSED_SIZE
    assert "Content-Encoding" not in response.headers


def test_pages_and_static_files_are_compressed(client: FlaskClient) -> None:
    page = client.get("/", headers={"Accept-Encoding": "gzip"})
    assert page.headers["Content-Encoding"] == "gzip"
    assert b"<!doctype html>" in gzip.decompress(page.data)
    with client.get("/static/style.css", headers={"Accept-Encoding": "br"}) as stylesheet:
        assert stylesheet.headers["Content-Encoding"] == "br"
        assert brotli.decompress(stylesheet.data) == (STATIC / "style.css").read_bytes()
    with client.get("/static/locate.js", headers={"Accept-Encoding": "gzip"}) as script:
        assert script.headers["Content-Encoding"] == "gzip"
        assert gzip.decompress(script.data) == (STATIC / "locate.js").read_bytes()


# -- static files ----------------------------------------------------------------------------


def _linked(client: FlaskClient, pattern: str) -> str:
    match = re.search(pattern, client.get("/").get_data(as_text=True))
    assert match, pattern
    return match.group(1)


def test_pages_link_versioned_static_files(client: FlaskClient) -> None:
    stylesheet = _linked(client, r'<link rel="stylesheet" href="(/static/style\.css\?v=\w+)"')
    script = _linked(client, r'<script src="(/static/locate\.js\?v=\w+)"')
    for url in (stylesheet, script):
        with client.get(url) as response:
            assert response.status_code == 200
            assert response.headers["Cache-Control"] == IMMUTABLE


@pytest.mark.parametrize("query", ["", "?v=0123456789", "?v="])
def test_unversioned_or_stale_static_urls_are_cached_briefly(client: FlaskClient,
                                                             query: str) -> None:
    with client.get(f"/static/style.css{query}") as response:
        assert response.status_code == 200
        assert response.headers["Cache-Control"] == SHORT_LIVED


def _app_serving(static: Path, data_dir: Path) -> Flask:
    app = create_app({"DATA_DIR": str(data_dir), **TEST_CONFIG})
    app.static_folder = str(static)
    return app


def _close(app: Flask) -> None:
    get_backend(app).close()
    get_database(app).dispose()


def test_static_version_follows_the_content(tmp_path: Path, data_dir: Path) -> None:
    static = tmp_path / "static"
    static.mkdir()
    (static / "site.css").write_text("body { color: black; }")
    first = _app_serving(static, data_dir)
    with first.test_request_context():
        before = static_url("site.css")
    assert re.fullmatch(r"/static/site\.css\?v=[0-9a-f]{10}", before)
    with first.test_client().get(before) as response:
        assert response.headers["Cache-Control"] == IMMUTABLE

    (static / "site.css").write_text("body { color: navy; }")
    with first.test_request_context():
        assert static_url("site.css") == before  # hashed once per process
    second = _app_serving(static, data_dir)  # a restarted server
    with second.test_request_context():
        after = static_url("site.css")
    assert after != before
    client = second.test_client()
    for url, caching in ((after, IMMUTABLE), (before, SHORT_LIVED)):
        with client.get(url) as response:
            assert response.headers["Cache-Control"] == caching
    with second.test_request_context():
        assert static_url("missing.css") == "/static/missing.css"
    for app in (first, second):
        _close(app)


# -- favicon ---------------------------------------------------------------------------------


def test_favicon_answers_as_svg(client: FlaskClient) -> None:
    icon = _linked(client, r'<link rel="icon" href="(/static/favicon\.svg\?v=\w+)" '
                           r'type="image/svg\+xml">')
    for url in (icon, "/favicon.ico"):
        with client.get(url) as response:
            assert response.status_code == 200
            assert response.mimetype == "image/svg+xml"
            assert response.data == (STATIC / "favicon.svg").read_bytes()


# -- focus ring ------------------------------------------------------------------------------


def luminance(rgb: tuple[int, int, int]) -> float:
    """Return the WCAG relative luminance of an sRGB colour."""
    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(v) for v in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(one: tuple[int, int, int], other: tuple[int, int, int]) -> float:
    """Return the WCAG contrast ratio of two colours (1 to 21)."""
    light, dark = sorted((luminance(one), luminance(other)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def hex_colour(text: str) -> tuple[int, int, int]:
    value = text.lstrip("#")
    if len(value) == 3:
        value = "".join(ch * 2 for ch in value)
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


def test_wcag_contrast_of_known_pairs() -> None:
    assert contrast((0, 0, 0), (255, 255, 255)) == pytest.approx(21.0)
    assert contrast(hex_colour("#777"), hex_colour("#fff")) == pytest.approx(4.48, abs=0.01)


def test_focus_ring_colours_contrast_with_every_background_in_the_stylesheet() -> None:
    css = (STATIC / "style.css").read_text()
    focus = css[css.index("/* Focus */"):]
    variables = dict(re.findall(r"--([\w-]+):\s*(#[0-9a-fA-F]{3,6})", css))
    ring, gap = hex_colour(variables["focus-ring"]), hex_colour(variables["focus-gap"])
    assert "outline: 3px solid var(--focus-ring)" in focus
    assert "box-shadow: 0 0 0 2px var(--focus-gap)" in focus
    backgrounds = set()
    pattern = r"background:\s*(?:var\(--([\w-]+)\)|(#[0-9a-fA-F]{3,6}))"
    for variable, literal in re.findall(pattern, css.replace(focus, "")):
        backgrounds.add(hex_colour(variables[variable] if variable else literal))
    assert len(backgrounds) >= 4
    assert contrast(ring, gap) >= 3
    for background in backgrounds:
        # The ring sits on the page around the control; the gap touches the control itself.
        assert max(contrast(ring, background), contrast(gap, background)) >= 3, background
        if luminance(background) > 0.5:  # a light page background
            assert contrast(ring, background) >= 3, background


def _fill(app: Flask) -> None:
    load(app, [row("needle", "Needle Point PT", near(AUSTIN, 0.5), services="Dry needling")])


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, migrated_database: Path) -> Iterator[Server]:
    """A real server on a small directory, one for the module: its browser tests only read."""
    yield from serve_directory(tmp_path_factory, migrated_database, "transfer", _fill)


@pytest.fixture
def pages(browser: Browser, site: Server) -> Iterator[PageFactory]:  # noqa: F811
    yield from page_factory(browser, site.url)


_FOCUS_STYLE = """element => {
  const opaque = node => {
    for (; node; node = node.parentElement) {
      const colour = getComputedStyle(node).backgroundColor;
      if (colour !== 'rgba(0, 0, 0, 0)' && colour !== 'transparent') return colour;
    }
    return 'rgb(255, 255, 255)';
  };
  const style = getComputedStyle(element);
  return {text: element.textContent.trim().slice(0, 40) || element.name || element.tagName,
          outlineStyle: style.outlineStyle, outlineWidth: style.outlineWidth,
          outlineColor: style.outlineColor, boxShadow: style.boxShadow,
          own: opaque(element), around: opaque(element.parentElement)};
}"""


def _rgb(text: str) -> tuple[int, int, int]:
    match = re.search(r"rgba?\((\d+), (\d+), (\d+)", text)
    assert match, text
    red, green, blue = (int(value) for value in match.groups())
    return red, green, blue


def test_tabbing_shows_a_focus_ring_of_3_to_1(pages: PageFactory) -> None:
    page = pages(viewport={"width": 1280, "height": 800})
    page.goto("/")
    seen = []
    for _ in range(26):  # past the primary button (white text on the accent colour)
        page.keyboard.press("Tab")
        focus = page.evaluate(_FOCUS_STYLE, page.evaluate_handle("document.activeElement"))
        seen.append(focus["text"])
        assert focus["outlineStyle"] == "solid", focus
        assert float(focus["outlineWidth"].removesuffix("px")) >= 2, focus
        ring, around, own = (_rgb(focus[key]) for key in ("outlineColor", "around", "own"))
        gap = _rgb(focus["boxShadow"])
        assert contrast(ring, around) >= 3, focus
        assert max(contrast(ring, own), contrast(gap, own)) >= 3, focus
    assert {"Skip to content", "finder", "Search"} <= set(seen)


def test_pages_load_the_favicon_without_a_404(pages: PageFactory) -> None:
    page: Page = pages()
    responses: list[Response] = []
    page.on("response", lambda response: responses.append(response))
    for path in ("/", "/search?postcode=78701&q=dry+needling", "/providers/1"):
        page.goto(path)
        icon = page.locator('link[rel="icon"]').get_attribute("href")
        assert icon and icon.startswith("/static/favicon.svg?v=")
        status = page.evaluate("href => fetch(href).then(r => r.status)", icon)
        assert status == 200
    failed = [(response.status, response.url) for response in responses if response.status >= 400]
    assert failed == []
    assert page.evaluate("fetch('/favicon.ico').then(r => r.headers.get('content-type'))") == (
        "image/svg+xml; charset=utf-8")
