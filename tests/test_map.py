"""Maps of results and profiles, and directions links: layout, pages, privacy and the browser."""

from __future__ import annotations

import math
import random
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, expect

from finder import create_app, maps
from finder.db import get_database
from finder.errors import ConfigError
from finder.search import get_backend
from finder.security import CONTENT_SECURITY_POLICY
from finder.settings import BY_NAME
from tests import browser as browsing
from tests.browser import DESKTOP, NARROW, PHONE, PageFactory, assert_accessible, page_factory
from tests.conftest import AUSTIN, TEST_CONFIG, Server, load, near, row, serve_directory

browser = browsing.browser  # the module's Chromium

SHOTS = Path("/tmp/finder-shots")
TILES = "https://tile.example.org/{z}/{x}/{y}.png"
ORIGIN = maps.Origin(*AUSTIN, "78701, Austin, TX")
NEEDLE_POINT = near(AUSTIN, 0.5)
# (name, miles, bearing): twelve providers around 78701, two of them in one building.
DIRECTORY = [
    ("Needle Point PT", 0.5, 90.0), ("Congress Avenue Physio", 0.9, 200.0),
    ("Lamar Sports Rehab", 1.6, 300.0), ("Zilker Dry Needling", 2.4, 235.0),
    ("East Side Motion", 3.1, 80.0), ("Mueller Physical Therapy", 4.2, 40.0),
    ("Riverside Recovery", 5.0, 140.0), ("North Loop PT", 6.3, 5.0),
    ("Hyde Park Needling", 6.3, 5.0), ("Westlake Spine", 8.5, 260.0),
    ("Pflugerville Physio", 14.0, 25.0), ("Buda Back Clinic", 16.5, 205.0),
]


# --- layout (finder.maps, pure) ---------------------------------------------------------------


def layout(points: list[maps.Point], radius: float | None = 25.0, **options: Any) -> maps.Map:
    return maps.build(ORIGIN, points, radius=radius, unit="mi", title="Map", **options)


def point(number: int, miles: float, bearing: float) -> maps.Point:
    lat, lon = near(AUSTIN, miles, bearing)
    return maps.Point(number, number, f"Clinic {number}", lat, lon, f"{miles:.1f} mi")


@pytest.mark.parametrize(("bearing", "right", "down"), [
    (90.0, 1, 0), (270.0, -1, 0), (0.0, 0, -1), (180.0, 0, 1)], ids=["E", "W", "N", "S"])
@pytest.mark.parametrize("tiles", [False, True], ids=["plain", "tiles"])
def test_east_is_right_and_north_is_up(bearing: float, right: int, down: int,
                                       tiles: bool) -> None:
    drawn = layout([point(1, 10.0, bearing)], tile_url=TILES if tiles else "")
    assert drawn.origin is not None
    pin, (ox, oy) = drawn.pins[0], drawn.origin
    for offset, sign in ((pin.ax - ox, right), (pin.ay - oy, down)):
        if sign:
            assert offset * sign > 50
        else:
            assert abs(offset) < 2


def test_rings_are_the_radius_and_its_half_drawn_to_scale() -> None:
    drawn = layout([point(1, 10.0, 45.0), point(2, 20.0, 200.0)], radius=25.0)
    assert [ring.distance for ring in drawn.rings] == [12.5, 25.0]
    assert [ring.label for ring in drawn.rings] == ["12.5 mi", "25 mi"]
    assert drawn.rings[1].radius == pytest.approx(2 * drawn.rings[0].radius)
    assert drawn.rings_text == "12.5 and 25 mi"
    # Distances from the origin are true to scale: a pin 20 mi out is at 20/25 of the ring.
    far = drawn.pins[1]
    assert drawn.origin is not None
    pixels = math.hypot(far.ax - drawn.origin[0], far.ay - drawn.origin[1])
    assert pixels == pytest.approx(drawn.rings[1].radius * 20 / 25, rel=1e-3)
    # The scale bar agrees with the rings.
    bar_miles = float(drawn.scale.label.split()[0])
    assert drawn.scale.length == pytest.approx(drawn.rings[1].radius * bar_miles / 25, rel=1e-6)


def test_rings_fit_the_results_when_the_radius_dwarfs_them() -> None:
    drawn = layout([point(1, 1.2, 10.0), point(2, 2.7, 120.0)], radius=250.0)
    assert [ring.distance for ring in drawn.rings] == [1.5, 3.0]
    assert max(ring.radius for ring in drawn.rings) > drawn.width / 3


def test_results_beyond_the_radius_are_on_the_map() -> None:
    drawn = layout([point(1, 30.0, 0.0)], radius=10.0)  # a widened search
    assert [ring.distance for ring in drawn.rings] == [5.0, 10.0]
    assert 0 < drawn.pins[0].y < drawn.rings[1].radius


@pytest.mark.parametrize("count", [1, 10, 50])
@pytest.mark.parametrize("tiles", [False, True], ids=["plain", "tiles"])
def test_pins_stay_inside_the_frame_and_never_overlap(count: int, tiles: bool) -> None:
    spread = random.Random(count)
    points = [point(n, spread.uniform(0, 25), spread.uniform(0, 360)) for n in range(1, count)]
    points.append(point(count, 3.0, 90.0))
    points += [point(count + n, 3.0, 90.0) for n in range(1, 4)]  # one building, four pins
    drawn = layout(points, tile_url=TILES if tiles else "")
    radius = maps.PIN_RADIUS
    for pin in drawn.pins:
        assert radius <= pin.x <= drawn.width - radius
        assert radius <= pin.y <= drawn.height - radius
    for i, one in enumerate(drawn.pins):
        for other in drawn.pins[i + 1:]:
            assert math.hypot(one.x - other.x, one.y - other.y) >= 2 * radius
    assert [pin.number for pin in drawn.pins] == [p.number for p in points]
    assert sum(pin.moved for pin in drawn.pins[-4:]) >= 3  # each shows where it belongs


def test_without_a_tile_url_there_are_no_tiles() -> None:
    assert layout([point(1, 2.0, 0.0)]).tiles == []


@pytest.mark.parametrize("miles", [0.5, 5.0, 25.0, 250.0])
def test_tiles_cover_the_frame_and_line_up_with_the_pins(miles: float) -> None:
    drawn = layout([point(1, miles * 0.8, 60.0), point(2, miles * 0.3, 250.0)], radius=miles,
                   tile_url=TILES)
    assert drawn.tiles
    zooms = {int(tile.href.split("/")[3]) for tile in drawn.tiles}
    assert len(zooms) == 1 and all(t.href.startswith("https://tile.example.org/")
                                   for t in drawn.tiles)
    # Every corner and the middle of the frame lies on a tile.
    for x in (0.5, drawn.width / 2, drawn.width - 0.5):
        for y in (0.5, drawn.height / 2, drawn.height - 0.5):
            assert any(t.x <= x < t.x + t.size and t.y <= y < t.y + t.size
                       for t in drawn.tiles), (x, y)
    # A pin sits on its own Web Mercator pixel of the tile beneath it.
    zoom = zooms.pop()
    pin, target = drawn.pins[0], near(AUSTIN, miles * 0.8, 60.0)
    world_x, world_y = (value * 2**zoom for value in maps._Projection.world(*target))
    tile = next(t for t in drawn.tiles if t.x <= pin.ax < t.x + t.size
                and t.y <= pin.ay < t.y + t.size)
    _, _, _, _, tx, ty_png = tile.href.split("/")
    assert pin.ax - tile.x == pytest.approx(world_x - int(tx) * 256, abs=0.01)
    assert pin.ay - tile.y == pytest.approx(world_y - int(ty_png.split(".")[0]) * 256, abs=0.01)


def test_directions_url_with_and_without_an_origin() -> None:
    template = BY_NAME["DIRECTIONS_URL"].default
    assert maps.directions_url(template, 30.2713, -97.73424, 30.2713, -97.7426) == (
        "https://www.openstreetmap.org/directions?route=30.27130%2C-97.74260"
        "%3B30.27130%2C-97.73424")
    assert maps.directions_url(template, 30.2713, -97.73424) == (
        "https://www.openstreetmap.org/directions?route=%3B30.27130%2C-97.73424")
    custom = "https://maps.example/?to={to}&from={from}&a={from_lat}&b={from_lon}"
    assert maps.directions_url(custom, 1.0, 2.0) == (
        "https://maps.example/?to=1.00000%2C2.00000&from=&a=&b=")


@pytest.mark.parametrize("args", [
    {}, {"from_lat": "30.2"}, {"from_lat": "x", "from_lon": "1"},
    {"from_lat": "91", "from_lon": "0"}, {"from_lat": "0", "from_lon": "-181"},
    {"from_lat": "nan", "from_lon": "0"}, {"from_lat": "inf", "from_lon": "0"}])
def test_a_bad_or_missing_origin_is_ignored(args: dict[str, str]) -> None:
    assert maps.origin_from_args(args) is None


def test_a_valid_origin_is_read() -> None:
    assert maps.origin_from_args({"from_lat": " 30.5 ", "from_lon": "-97.25"}) == maps.Origin(
        30.5, -97.25, "your search point")


@pytest.mark.parametrize(("name", "value"), [
    ("MAP_TILE_URL", "tile.example.org/{z}/{x}/{y}.png"),
    ("MAP_TILE_URL", "https://tile.example.org/{z}/{x}.png"),
    ("MAP_TILE_URL", "https://tile.example.org/{z}/{x}/{y}/{s}.png"),
    ("DIRECTIONS_URL", "javascript:alert(1)"),
    ("DIRECTIONS_URL", "https://maps.example/?q={address}"),
])
def test_a_bad_map_setting_stops_the_app(name: str, value: str,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(f"FINDER_{name}", value)
    with pytest.raises(ConfigError, match=f"FINDER_{name}"):
        create_app()


# --- pages (Flask client) ---------------------------------------------------------------------


class Links(HTMLParser):
    """The attributes of every link, and the ids of the page's results."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.links: list[dict[str, str]] = []
        self.result_ids: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "a":
            self.links.append(values)
        if tag == "li" and "result" in values.get("class", "").split():
            self.result_ids.append(values["id"])

    def pins(self) -> list[dict[str, str]]:
        return [link for link in self.links if link.get("class") == "map-pin"]

    def directions(self) -> list[str]:
        return [link["href"] for link in self.links
                if link.get("aria-label", "").startswith("Directions to ")]


def directory_rows() -> list[dict[str, str]]:
    return [row(f"p{n}", name, near(AUSTIN, miles, bearing), services="Dry needling")
            for n, (name, miles, bearing) in enumerate(DIRECTORY)]


@pytest.fixture
def make_app(data_dir: Path) -> Iterator[Any]:
    """Create the app on the test's data folder with extra settings; close it afterwards."""
    apps: list[Flask] = []

    def make(**settings: str) -> Flask:
        app = create_app({"DATA_DIR": str(data_dir), **TEST_CONFIG, **settings})
        apps.append(app)
        return app

    yield make
    for app in apps:
        get_backend(app).close()
        get_database(app).dispose()


def svg_of(html: str) -> str:
    match = re.search(r"<svg class=\"map-svg\".*?</svg>", html, flags=re.DOTALL)
    assert match, "no map on the page"
    return match.group(0)


@pytest.mark.parametrize(("query", "offset"), [
    ("postcode=78701", 0), ("postcode=78701&limit=5&offset=5", 5),
    ("postcode=78701&limit=50", 0)])
def test_results_page_pins_every_result_once_with_links_to_the_list(make_app: Any, query: str,
                                                                    offset: int) -> None:
    app = make_app()
    load(app, directory_rows())
    html = app.test_client().get(f"/search?{query}").get_data(as_text=True)
    page = Links(html)
    assert page.result_ids
    assert [pin["href"] for pin in page.pins()] == [f"#{id_}" for id_ in page.result_ids]
    assert [pin["aria-label"].split(".")[0] for pin in page.pins()] == [
        str(offset + n) for n in range(1, len(page.result_ids) + 1)]
    assert page.pins()[0]["aria-label"].endswith(" mi")
    svg = svg_of(html)
    assert 'role="group"' in svg and 'aria-labelledby="map-title"' in svg
    assert '<title id="map-title">Map of the results around 78701, Austin, TX</title>' in svg
    assert "Map of the results around 78701, Austin, TX" in html.split("</svg>", 1)[1]


def test_the_first_pin_names_its_result() -> None:
    drawn = layout([maps.Point(7, 1, "Needle Point PT", *NEEDLE_POINT, "0.5 mi")])
    assert drawn.pins[0].label == "1. Needle Point PT, 0.5 mi"


def test_by_default_a_map_asks_no_other_host(make_app: Any) -> None:
    app = make_app()
    load(app, directory_rows())
    client = app.test_client()
    for path in ("/search?postcode=78701", "/providers/1",
                 "/providers/1?from_lat=30.2&from_lon=-97.7"):
        response = client.get(path)
        svg = svg_of(response.get_data(as_text=True))
        assert "<image" not in svg and "http" not in svg and "url(" not in svg
        assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY


def test_a_tile_url_draws_tiles_and_lets_the_policy_allow_that_host(make_app: Any) -> None:
    app = make_app(MAP_TILE_URL="https://tile.example.org:8443/osm/{z}/{x}/{y}.png",
                   MAP_TILE_ATTRIBUTION="© OpenStreetMap contributors")
    load(app, directory_rows())
    response = app.test_client().get("/search?postcode=78701")
    html = response.get_data(as_text=True)
    assert re.search(r'<image href="https://tile.example.org:8443/osm/\d+/\d+/\d+.png"',
                     svg_of(html))
    assert "Map tiles © OpenStreetMap contributors" in html
    policy = response.headers["Content-Security-Policy"]
    assert "img-src 'self' data: https://tile.example.org:8443;" in policy
    assert policy.replace(" https://tile.example.org:8443", "") == CONTENT_SECURITY_POLICY


def test_results_link_directions_from_the_search_origin(make_app: Any) -> None:
    app = make_app()
    load(app, directory_rows())
    page = Links(app.test_client().get("/search?postcode=78701&sort=distance")
                 .get_data(as_text=True))
    directions = page.directions()
    assert len(directions) == len(page.result_ids)
    lat, lon = NEEDLE_POINT
    assert directions[0] == ("https://www.openstreetmap.org/directions?route="
                             f"30.27130%2C-97.74260%3B{lat:.5f}%2C{lon:.5f}")
    link = next(link for link in page.links if link.get("href") == directions[0])
    assert link["rel"] == "noopener noreferrer"
    assert link["aria-label"] == "Directions to Needle Point PT"


@pytest.mark.parametrize("args", ["", "?from_lat=30.2713&from_lon=-97.7426",
                                  "?from_lat=abc&from_lon=-97.7426"])
def test_profile_links_directions_and_maps_the_provider(make_app: Any, args: str) -> None:
    app = make_app(DIRECTIONS_URL="https://maps.example/dir?to={to}&from={from}")
    load(app, directory_rows())
    html = app.test_client().get(f"/providers/1{args}").get_data(as_text=True)
    page = Links(html)
    lat, lon = NEEDLE_POINT
    known = "abc" not in args and args != ""
    start = "30.27130%2C-97.74260" if known else ""
    assert page.directions() == [
        f"https://maps.example/dir?to={lat:.5f}%2C{lon:.5f}&from={start}"]
    svg = svg_of(html)
    assert page.pins() == []  # nothing to link to: the profile is the provider
    if known:
        assert 'aria-label="Needle Point PT, 0.5 mi"' in svg
        assert "Map of Needle Point PT and your search point" in svg
        assert 'class="map-origin"' in svg
    else:
        assert 'aria-label="Needle Point PT"' in svg
        assert 'class="map-origin"' not in svg and 'class="map-ring' not in svg


def test_no_results_no_map(make_app: Any) -> None:
    app = make_app()
    html = app.test_client().get("/search?postcode=78701").get_data(as_text=True)
    assert "map-svg" not in html


# --- in the browser ---------------------------------------------------------------------------


def _fill(app: Flask) -> None:
    report = load(app, directory_rows())
    assert report.rejected == []


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, migrated_database: Path) -> Iterator[Server]:
    """Serve the Austin directory with a real `finder serve`, one for the module: its browser
    tests only read."""
    yield from serve_directory(tmp_path_factory, migrated_database, "map", _fill)


@pytest.fixture
def open_page(browser: Browser, site: Server) -> Iterator[PageFactory]:
    yield from page_factory(browser, site.url)


RESULTS = "/search?q=dry+needling&postcode=78701&sort=distance"


def pin(page: Page, number: int) -> Any:
    return page.locator("a.map-pin").nth(number - 1)


def result_id(page: Page, number: int) -> str:
    return str(page.locator("li.result").nth(number - 1).get_attribute("id"))


def test_tab_reaches_the_pins_and_focus_highlights_the_result(open_page: PageFactory) -> None:
    page = open_page(**DESKTOP)
    page.goto(RESULTS)
    expect(page.locator("#map-panel")).to_have_attribute("open", "")
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.classList.contains('map-skip')"):
            break
    skip = page.get_by_role("link", name="Skip the map to the first result")
    expect(skip).to_be_focused()
    expect(skip).to_be_visible()
    page.keyboard.press("Tab")
    first = pin(page, 1)
    expect(first).to_be_focused()
    expect(first).to_have_accessible_name("1. Needle Point PT, 0.5 mi")
    expect(page.locator(f"#{result_id(page, 1)}")).to_have_class(re.compile(r"\bis-active\b"))
    page.keyboard.press("Tab")
    expect(pin(page, 2)).to_be_focused()
    expect(page.locator(f"#{result_id(page, 2)}")).to_have_class(re.compile(r"\bis-active\b"))
    expect(page.locator("li.result.is-active")).to_have_count(1)
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(f"#{result_id(page, 2)}$"))
    expect(page.locator(f"#{result_id(page, 2)}")).to_be_in_viewport()


def test_the_map_can_be_skipped_with_the_keyboard(open_page: PageFactory) -> None:
    page = open_page(**DESKTOP)
    page.goto(RESULTS)
    page.get_by_role("link", name="Skip the map to the first result").focus()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(f"#{result_id(page, 1)}$"))
    page.keyboard.press("Tab")
    focused = page.evaluate("() => document.activeElement.closest('li.result')?.id")
    assert focused == result_id(page, 1)


def test_clicking_a_pin_shows_its_result(open_page: PageFactory) -> None:
    page = open_page(**DESKTOP)
    page.goto(RESULTS)
    target = page.locator(f"#{result_id(page, 10)}")
    expect(target).not_to_be_in_viewport()
    pin(page, 10).click()
    expect(target).to_be_in_viewport()
    expect(target).to_have_class(re.compile(r"\bis-active\b"))
    page.mouse.move(5, 5)  # the clicked pair stays highlighted when the pointer leaves
    expect(target).to_have_class(re.compile(r"\bis-active\b"))
    expect(pin(page, 10)).to_have_class(re.compile(r"\bis-active\b"))


def test_hovering_or_focusing_a_result_highlights_its_pin(open_page: PageFactory) -> None:
    page = open_page(**DESKTOP)
    page.goto(RESULTS)
    page.locator("li.result").nth(2).hover()
    expect(pin(page, 3)).to_have_class(re.compile(r"\bis-active\b"))
    expect(page.locator("a.map-pin.is-active")).to_have_count(1)
    page.locator("li.result").nth(4).get_by_role("link").first.focus()
    expect(pin(page, 5)).to_have_class(re.compile(r"\bis-active\b"))
    expect(page.locator("a.map-pin.is-active")).to_have_count(1)


def test_on_desktop_the_map_is_beside_the_list(open_page: PageFactory) -> None:
    page = open_page(**DESKTOP)
    page.goto(RESULTS)
    svg = page.locator("svg.map-svg").bounding_box()
    first = page.locator("li.result").first.bounding_box()
    assert svg and first
    assert svg["x"] >= first["x"] + first["width"]
    assert svg["y"] < 800
    SHOTS.mkdir(parents=True, exist_ok=True)
    pin(page, 3).hover()
    page.screenshot(path=str(SHOTS / "map-results-desktop.png"))


def test_without_javascript_the_pins_are_links_to_the_results(open_page: PageFactory) -> None:
    page = open_page(java_script_enabled=False, **DESKTOP)
    page.goto(RESULTS)
    panel = page.locator("#map-panel")
    expect(panel).not_to_have_attribute("open", "")
    panel.locator("summary").click()
    expect(pin(page, 4)).to_be_visible()
    pin(page, 4).click()
    expect(page).to_have_url(re.compile(f"#{result_id(page, 4)}$"))
    expect(page.locator(f"#{result_id(page, 4)}")).to_be_in_viewport()


@pytest.mark.parametrize("path", [RESULTS, "/providers/1?from_lat=30.2713&from_lon=-97.7426",
                                  "/providers/1"])
@pytest.mark.parametrize("device", ["desktop", "phone"])
def test_pages_with_a_map_are_accessible(open_page: PageFactory, path: str,
                                         device: str) -> None:
    page = open_page(**(DESKTOP if device == "desktop" else PHONE))
    page.goto(path)
    if page.locator("#map-panel").count():
        page.locator("#map-panel").evaluate("(panel) => { panel.open = true; }")
    expect(page.locator("svg.map-svg")).to_be_visible()
    assert_accessible(page)


def test_on_a_phone_the_results_come_first(open_page: PageFactory) -> None:
    page = open_page(**PHONE)
    page.goto(RESULTS)
    heading = page.locator("li.result h3").first.bounding_box()
    assert heading and heading["y"] < PHONE["viewport"]["height"]  # type: ignore[index]
    expect(page.locator("#map-panel summary")).to_be_in_viewport()
    page.locator("#map-panel summary").click()
    expect(page.locator("svg.map-svg")).to_be_visible()
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.locator("#map-panel").evaluate("(panel) => panel.scrollIntoView()")
    page.screenshot(path=str(SHOTS / "map-results-phone.png"))

    page.goto("/providers/1?from_lat=30.2713&from_lon=-97.7426")
    expect(page.locator("svg.map-svg")).to_be_visible()
    page.screenshot(path=str(SHOTS / "map-profile-phone.png"), full_page=True)


@pytest.mark.parametrize("path", [RESULTS, "/providers/1?from_lat=30.2713&from_lon=-97.7426"])
def test_at_320_pixels_nothing_scrolls_sideways(open_page: PageFactory, path: str) -> None:
    page = open_page(**NARROW)
    page.goto(path)
    if page.locator("#map-panel").count():
        page.locator("#map-panel summary").click()
    expect(page.locator("svg.map-svg")).to_be_visible()
    widths = page.evaluate("() => [document.documentElement.scrollWidth, innerWidth]")
    assert widths[0] <= widths[1]
