"""The patient pages in a real headless Chromium, driven by Playwright, against `finder serve`."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa
from flask import Flask
from playwright.sync_api import Browser, Locator, Page, expect

from finder.db import session_scope
from finder.models import Location
from tests import browser as browsing
from tests.browser import DESKTOP, PageFactory, page_factory
from tests.conftest import AUSTIN, Server, load, near, row, serve_directory

browser = browsing.browser  # the module's Chromium
MOBILE = {"viewport": {"width": 375, "height": 740}, "is_mobile": True, "has_touch": True}
SHOTS = Path("/tmp/finder-shots")

NEEDLE_POINT = near(AUSTIN, 0.5)
XSS_SCRIPT = "<script>window.__xss=1</script>"
XSS_IMG = '<img src=x onerror="window.__xss=2">'
# Every labelled control of the search form, by its accessible label and its field name.
FORM_LABELS = {
    "What do you need help with?": "q",
    "ZIP / postcode or city": "postcode",
    "Country": "country",
    "Within": "radius",
    "Unit": "unit",
    "Order": "sort",
    "accept new patients": "accepting_new_patients",
    "offer telehealth": "telehealth",
    "are open now": "open_now",
    "take insurance": "insurance",
    "speak": "language",
    "have a practitioner certified in dry needling": "certified",
    "see patients without a referral": "direct_access",
    "offer home visits": "home_visits",
    "use the technique": "technique",
    "have the access feature": "accessibility",
    "see the age group": "age_group",
    "charge at most, per session,": "max_price",
}
TELEHEALTH_CLINICS = [f"Telehealth Clinic {i:02d}" for i in range(1, 12)]



def _fill(app: Flask) -> None:
    """A small Austin directory."""
    report = load(app, [
        row("needle", "Needle Point PT", NEEDLE_POINT, services="Dry needling; Manual therapy",
            conditions="Low back pain", hours="Mon-Fri 08:00-18:00; Sat 09:00-13:00",
            phone="512-555-0100", address_1="100 Congress Ave", telehealth="yes"),
        # Nearer than Needle Point, but it does not offer dry needling.
        row("plain", "Congress Avenue Physio", near(AUSTIN, 0.2, 0), services="Manual therapy"),
        row("office", "Office Only PT", near(AUSTIN, 0.8, 180), services="Dry needling",
            telehealth="no"),
        *[row(f"tele-{i}", name, near(AUSTIN, 1.0 + i, 30.0 * i), services="Dry needling",
              telehealth="yes") for i, name in enumerate(TELEHEALTH_CLINICS, start=1)],
        row("far", "Hill Country Shockwave", near(AUSTIN, 30.0, 0),
            services="Shockwave therapy"),
        row("xss", f"Evil {XSS_SCRIPT}{XSS_IMG} PT", near(AUSTIN, 3.0, 270),
            services="Cupping", description=f"We do {XSS_SCRIPT} and {XSS_IMG} too."),
    ])
    assert report.rejected == []
    # `row()` writes only the CSV columns, and last_verified is not one of them.
    with session_scope(app) as session:
        session.execute(sa.update(Location).where(Location.external_id == "needle")
                        .values(last_verified=date(2026, 1, 15)))
        session.commit()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, migrated_database: Path) -> Iterator[Server]:
    """Serve the small Austin directory with a real server, one for the module: its browser
    tests only read."""
    yield from serve_directory(tmp_path_factory, migrated_database, "browser", _fill)


@pytest.fixture
def open_page(browser: Browser, site: Server) -> Iterator[PageFactory]:
    """Open pages in fresh browser contexts; none may ask another host for anything."""
    yield from page_factory(browser, site.url)


@pytest.fixture
def page(open_page: PageFactory) -> Page:
    return open_page()


def query(page: Page) -> dict[str, list[str]]:
    return parse_qs(urlsplit(page.url).query)


def results(page: Page) -> Locator:
    return page.locator("li.result")


def result_names(page: Page) -> list[str]:
    return results(page).locator("h3").all_inner_texts()


def distances(page: Page) -> list[float]:
    texts = results(page).locator(".distance strong").all_inner_texts()
    return [float(text.split()[0]) for text in texts]


def search_from_form(page: Page, q: str, postcode: str = "78701") -> None:
    """Type keywords and a postcode into the form and press Enter, as a patient does."""
    page.get_by_label("What do you need help with?", exact=True).fill(q)
    postcode_field = page.get_by_label("ZIP / postcode or city", exact=True)
    postcode_field.fill(postcode)
    postcode_field.press("Enter")
    page.wait_for_url(re.compile(r"/search\?"))


def test_every_visible_form_control_has_a_label(page: Page) -> None:
    page.goto("/")
    form = page.get_by_role("search")
    for label, name in FORM_LABELS.items():
        expect(form.get_by_label(label, exact=True)).to_have_attribute("name", name)
    controls = form.locator("input:visible, select:visible, textarea:visible")
    names = [control.get_attribute("name") for control in controls.all()]
    assert sorted(n or "" for n in names) == sorted(FORM_LABELS.values())
    for control in controls.all():
        expect(control).to_have_accessible_name(re.compile(r"\w"))


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_search_from_home_page_lists_nearest_match_first(open_page: PageFactory,
                                                         javascript: bool) -> None:
    page = open_page(java_script_enabled=javascript)
    page.goto("/")
    # "Use my location" needs JavaScript; without it the button must not show up, dead.
    locate = page.get_by_role("button", name="Use my location", include_hidden=True)
    if javascript:
        expect(locate).to_be_visible()
    else:
        expect(locate).to_be_hidden()
    search_from_form(page, "dry needling")
    assert query(page)["q"] == ["dry needling"] and query(page)["postcode"] == ["78701"]
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "“dry needling” near 78701, Austin, TX")
    first = results(page).first
    expect(first.get_by_role("heading", name="Needle Point PT")).to_be_visible()
    expect(first.locator(".distance")).to_contain_text("0.5 mi away")
    expect(first.get_by_role("link", name="Call Needle Point PT: +1 512-555-0100")).to_be_visible()
    expect(first.locator(".hours")).to_have_text(
        "Hours: Mon–Fri 8 AM–6 PM; Sat 9 AM–1 PM; Sun Closed")
    expect(first.locator(".services")).to_have_text("Services: Dry needling, Manual therapy")
    assert "Congress Avenue Physio" not in result_names(page)
    summary = page.get_by_role("heading", level=2, name="13 providers within 25 mi")
    expect(summary).to_be_visible()
    expect(page.get_by_role("region", name="13 providers within 25 mi")).to_be_visible()


def test_use_my_location_searches_from_the_device_position(open_page: PageFactory) -> None:
    lat, lon = NEEDLE_POINT
    page = open_page(geolocation={"latitude": lat, "longitude": lon},
                     permissions=["geolocation"])
    page.goto("/")
    page.get_by_label("What do you need help with?", exact=True).fill("dry needling")
    page.get_by_role("button", name="Use my location").click()
    page.wait_for_url(re.compile(r"/search\?"))
    assert query(page)["lat"] == [f"{lat:.5f}"] and query(page)["lon"] == [f"{lon:.5f}"]
    assert "postcode" not in query(page)
    expect(page.get_by_role("heading", level=1)).to_have_text("“dry needling” near your location")
    expect(page.locator("#locate-status")).to_contain_text("Searching near your location")
    assert result_names(page)[0] == "Needle Point PT"
    assert distances(page)[0] == 0.0


def test_use_my_location_when_refused_asks_for_a_postcode(page: Page) -> None:
    page.goto("/")
    page.get_by_role("button", name="Use my location").click()
    expect(page.locator("#locate-status")).to_contain_text("Your location is not available")
    expect(page.locator("#locate-status")).to_contain_text("Type a ZIP or postcode instead.")
    expect(page.get_by_label("ZIP / postcode or city", exact=True)).to_be_focused()
    assert urlsplit(page.url).path == "/"


def test_sort_and_next_links_keep_the_query_and_filters(page: Page) -> None:
    page.goto("/")
    page.get_by_label("offer telehealth", exact=True).check()
    search_from_form(page, "dry needling")
    expect(page.get_by_role("status").filter(has_text="provider")).to_have_text(
        "1–10 of 12 providers within 25 mi")

    page.get_by_role("link", name="distance", exact=True).click()
    page.wait_for_url(re.compile(r"sort=distance"))
    kept = {"q": ["dry needling"], "postcode": ["78701"], "country": ["US"],
            "telehealth": ["true"]}
    assert query(page) == {**kept, "sort": ["distance"]}
    expect(page.locator("strong[aria-current]")).to_have_text("distance")
    expect(page.get_by_label("offer telehealth", exact=True)).to_be_checked()
    first_page = result_names(page)
    first_distances = distances(page)
    assert len(first_page) == 10 and first_distances == sorted(first_distances)
    assert first_page[0] == "Needle Point PT" and "Office Only PT" not in first_page

    page.get_by_role("link", name="Next").click()
    page.wait_for_url(re.compile(r"offset=10"))
    assert query(page) == {**kept, "sort": ["distance"], "offset": ["10"]}
    second_page = result_names(page)
    assert len(second_page) == 2 and not set(second_page) & set(first_page)
    assert set(first_page + second_page) == {"Needle Point PT", *TELEHEALTH_CLINICS}
    assert min(distances(page)) >= max(first_distances)
    expect(page.locator("ol.results-list")).to_have_attribute("start", "11")
    expect(page.get_by_role("link", name="Previous")).to_be_visible()


@pytest.mark.parametrize("where", ["results", "profile"])
def test_markup_in_a_listing_is_shown_as_text_and_never_runs(page: Page, where: str) -> None:
    page.goto("/search?q=cupping&postcode=78701")
    if where == "profile":
        results(page).first.locator("h3 a").click()
        page.wait_for_url(re.compile(r"/providers/\d+"))
        expect(page.locator(".description")).to_have_text(f"We do {XSS_SCRIPT} and {XSS_IMG} too.")
    expect(page.get_by_text(f"Evil {XSS_SCRIPT}{XSS_IMG} PT", exact=True)).to_be_visible()
    assert page.evaluate("() => window.__xss") is None
    assert page.locator("img").count() == 0
    for script in page.locator("script").all():  # only our own scripts and JSON-LD data
        src, kind = script.get_attribute("src"), script.get_attribute("type")
        assert (src or "").startswith("/static/") or kind == "application/ld+json"


def test_unknown_postcode_is_a_400_with_a_message_and_keeps_the_form(page: Page) -> None:
    page.goto("/")
    page.get_by_label("offer telehealth", exact=True).check()
    with page.expect_response(re.compile(r"/search\?")) as answer:
        search_from_form(page, "dry needling", postcode="00000")
    assert answer.value.status == 400
    expect(page.get_by_role("alert")).to_contain_text(
        "Postcode '00000' was not found in United States.")
    form = page.get_by_role("search")
    expect(form.get_by_label("What do you need help with?")).to_have_value("dry needling")
    expect(form.get_by_label("ZIP / postcode or city")).to_have_value("00000")
    expect(form.get_by_label("offer telehealth")).to_be_checked()


def test_profile_shows_details_and_links_back_to_the_same_search(page: Page) -> None:
    page.goto("/")
    search_from_form(page, "dry needling")
    search_url = page.url
    page.get_by_role("link", name="Needle Point PT", exact=True).click()
    page.wait_for_url(re.compile(r"/providers/\d+"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Needle Point PT")
    expect(page.locator("address")).to_contain_text("100 Congress Ave")
    expect(page.locator("address")).to_contain_text("Austin, TX 78701")
    expect(page.locator("table.hours th")).to_have_text(["Mon–Fri", "Sat", "Sun"])
    expect(page.locator("table.hours td")).to_have_text(["8 AM–6 PM", "9 AM–1 PM", "Closed"])
    services = page.get_by_role("heading", name="Services").locator("+ ul li")
    expect(services).to_have_text(["Dry needling", "Manual therapy"])
    expect(page.locator(".verified")).to_contain_text("Details last verified January 15, 2026")

    page.get_by_role("link", name="Back to results").click()
    page.wait_for_url(re.compile(r"/search\?"))
    assert page.url == search_url
    assert result_names(page)[0] == "Needle Point PT"


@pytest.mark.parametrize("viewport", ["mobile", "desktop"])
def test_home_and_results_pages_never_scroll_sideways(open_page: PageFactory,
                                                      viewport: str) -> None:
    page = open_page(**(MOBILE if viewport == "mobile" else DESKTOP))
    for path in ("/", "/search?q=dry+needling&postcode=78701"):
        page.goto(path)
        widths = page.evaluate("() => [document.documentElement.scrollWidth, innerWidth]")
        assert widths[0] <= widths[1], f"{path} is {widths[0]}px wide in a {widths[1]}px window"
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"results-{viewport}.png"), full_page=True)


def test_search_form_works_with_the_keyboard_alone(open_page: PageFactory) -> None:
    page = open_page(**MOBILE)
    page.goto("/")
    for _ in range(5):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.id") == "q":
            break
    expect(page.get_by_label("What do you need help with?", exact=True)).to_be_focused()
    page.keyboard.type("dry needling")
    page.keyboard.press("Tab")
    expect(page.get_by_label("ZIP / postcode or city", exact=True)).to_be_focused()
    page.keyboard.type("78701")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/search\?"))
    assert result_names(page)[0] == "Needle Point PT"


def test_nothing_within_radius_offers_the_nearest_and_a_wider_search(page: Page) -> None:
    page.goto("/")
    page.get_by_label("Within", exact=True).select_option("10")
    search_from_form(page, "shockwave")
    expect(page.locator("#widened")).to_contain_text(
        "No providers within 10 mi. The nearest is 30.0 mi away.")
    assert result_names(page) == ["Hill Country Shockwave"]

    page.get_by_role("link", name="Search within 36 mi").click()
    page.wait_for_url(re.compile(r"radius=36"))
    assert query(page)["q"] == ["shockwave"] and query(page)["postcode"] == ["78701"]
    expect(page.locator("#summary")).to_have_text("1 provider within 36 mi")
    expect(page.locator("#widened")).to_have_count(0)
    assert result_names(page) == ["Hill Country Shockwave"]
    expect(page.get_by_label("Within", exact=True)).to_have_value("36")


def test_why_this_result_opens_to_show_the_score(page: Page) -> None:
    page.goto("/search?q=dry+needling&postcode=78701")
    why = results(page).first.locator("details.why")
    explanation = why.locator("p")
    expect(explanation).to_be_hidden()
    why.get_by_text("Why this result?").click()
    expect(explanation).to_be_visible()
    expect(explanation).to_have_text(re.compile(r"Keyword match [\d.]+ × distance factor "
                                                r"[\d.]+ = score [\d.]+\."))

