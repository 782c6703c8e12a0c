"""What a patient meets on the pages, in a real Chromium against `finder serve`: plain words
when nothing is near, filters typed loosely, typos, another country's postcode, a phone screen,
paging, popular searches and the profile. Every page is audited by axe-core, and none may ask
another host for anything."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from flask import Flask
from playwright.sync_api import Browser, expect

from finder.db import session_scope
from finder.hours import DAY_NAMES, DAYS
from finder.models import Location
from tests import browser as browsing
from tests.browser import (
    DESKTOP,
    NARROW,
    PHONE,
    PageFactory,
    assert_accessible,
    page_factory,
    shot,
)
from tests.conftest import AUSTIN, Server, load, near, row, serve_directory

browser = browsing.browser  # the module's Chromium
LONG_WEBSITE = "https://www.a-rather-long-clinic-name-for-physical-therapy-and-rehab.example"


def _tomorrow() -> str:
    local = datetime.now(UTC).astimezone(ZoneInfo("America/Chicago")) + timedelta(days=1)
    return DAY_NAMES[DAYS[local.weekday()]]


def _fill(app: Flask) -> None:
    """One Austin directory: none of these tests writes."""
    opens = f"{_tomorrow()} 08:00-17:00"  # never open now, open tomorrow at 8
    report = load(app, [
        row("needle", "Needle Point PT", near(AUSTIN, 0.5), services="Dry needling",
            insurance="Blue Cross Blue Shield", languages="English; Spanish", hours=opens,
            phone="512-555-0100", website=LONG_WEBSITE, telehealth="yes"),
        row("ims", "Lakeside Rehab", near(AUSTIN, 2.0, 180), services="Intramuscular stimulation",
            hours=opens, phone="512-555-0101"),
        *[row(f"more-{i}", f"Congress Clinic {i:02d}", near(AUSTIN, 3.0 + i, 20.0 * i),
              services="Manual therapy", hours=opens) for i in range(11)],
    ])
    assert report.rejected == []
    with session_scope(app) as session:
        session.execute(sa.update(Location).where(Location.external_id == "needle")
                        .values(last_verified=date.today() - timedelta(days=400)))
        session.commit()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, migrated_database: Path) -> Iterator[Server]:
    yield from serve_directory(tmp_path_factory, migrated_database, "patient-pages", _fill)


@pytest.fixture
def open_page(browser: Browser, site: Server) -> Iterator[PageFactory]:
    yield from page_factory(browser, site.url)


def test_open_now_says_when_they_open_and_drops_the_filter_in_one_click(
        open_page: PageFactory) -> None:
    page = open_page()
    page.goto("/search?q=dry+needling&postcode=78701&open_now=true")
    offer = page.locator(".relaxation")
    # "today" once midnight has passed in Austin since the directory was loaded
    expect(offer).to_contain_text(re.compile(
        r"No provider is open now within 25 mi\. 2 providers are open at other times; the "
        r"first opens (tomorrow|today) at 8 AM\."))
    expect(page.locator("#widened")).to_have_count(0)  # never far-away clinics instead
    assert_accessible(page)
    offer.get_by_role("link", name="Show the 2 providers open at other times").click()
    page.wait_for_url(re.compile(r"/search\?"))
    assert "open_now" not in page.url
    expect(page.locator("#summary")).to_have_text("2 providers within 25 mi")


@pytest.mark.parametrize("typed", ["Blue Cross", "BCBS", "blue cross blue"])
def test_insurance_typed_loosely_finds_the_listed_name(open_page: PageFactory,
                                                       typed: str) -> None:
    page = open_page(java_script_enabled=False)
    page.goto("/")
    page.get_by_label("take insurance", exact=True).fill(typed)
    page.get_by_label("ZIP / postcode or city", exact=True).fill("78701")
    page.get_by_role("button", name="Search").click()
    page.wait_for_url(re.compile(r"/search\?"))
    expect(page.locator("li.result h3")).to_have_text(["Needle Point PT"])
    expect(page.get_by_role("link", name=f"Remove filter: Insurance: {typed}")).to_be_visible()


def test_known_insurance_and_languages_are_offered_without_javascript(
        open_page: PageFactory) -> None:
    page = open_page(java_script_enabled=False)
    page.goto("/")
    choices = page.locator("#insurance-choices option")
    assert "Blue Cross Blue Shield" in [o.get_attribute("value") for o in choices.all()]
    expect(page.get_by_label("take insurance", exact=True)).to_have_attribute(
        "list", "insurance-choices")
    languages = [o.get_attribute("value") for o in page.locator("#language-choices option").all()]
    assert languages[:2] == ["English", "Spanish"]


def test_a_typo_shows_the_corrected_query_with_its_synonyms(open_page: PageFactory) -> None:
    page = open_page()
    page.goto("/search?q=dry+needling&postcode=78701")
    right = page.locator("li.result h3").all_inner_texts()
    page.goto("/search?q=dry+neeedling&postcode=78701")
    expect(page.locator("#did-you-mean")).to_have_text(
        "Showing results for dry needling (you typed “dry neeedling”).")
    assert page.locator("li.result h3").all_inner_texts() == right == [
        "Needle Point PT", "Lakeside Rehab"]
    expect(page.locator("li.result .matched").nth(1)).to_have_text(
        "Matched: dry needling (listed as “intramuscular stimulation”)")
    page.goto("/search?q=%3Cscript%3Eneeedling%3C%2Fscript%3E&postcode=78701")
    expect(page.locator("#did-you-mean")).to_have_count(0)


@pytest.mark.parametrize(("typed", "offer", "heading"), [
    ("M5V 2T6", "M5V 2T6 in Canada", re.compile(r"near M5V")),
    ("SW1A 1AA", "SW1A 1AA in United Kingdom", re.compile(r"near SW")),
    ("Austn, TX", "Austin, TX", re.compile(r"near Austin, TX")),
])
def test_another_countrys_postcode_or_a_misspelt_city_is_offered_in_one_click(
        open_page: PageFactory, typed: str, offer: str, heading: re.Pattern[str]) -> None:
    page = open_page()
    page.goto("/")
    page.get_by_label("ZIP / postcode or city", exact=True).fill(typed)
    page.get_by_role("button", name="Search").click()
    page.wait_for_url(re.compile(r"/search\?"))
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text(f"'{typed}'")  # echoed as typed
    expect(page.get_by_label("ZIP / postcode or city", exact=True)).to_have_value(typed)
    assert_accessible(page)
    alert.get_by_role("link", name=offer).click()
    page.wait_for_url(re.compile(r"/search\?"))
    expect(page.get_by_role("heading", level=1)).to_have_text(heading)


def test_filters_show_as_chips_and_results_stay_on_a_phones_first_screen(
        open_page: PageFactory) -> None:
    page = open_page(**PHONE)
    page.goto("/search?q=dry+needling&postcode=78701&telehealth=true&insurance=Blue+Cross"
              "&language=Spanish&radius=50&sort=distance")
    expect(page.locator("details.options")).not_to_have_attribute("open", "")
    first = page.locator("li.result h3").first
    box = first.bounding_box()
    assert box is not None and box["y"] + box["height"] <= 844, box
    assert_accessible(page)
    shot(page, "patient-results-phone")
    page.get_by_role("link", name="Remove filter: Language: Spanish").click()
    page.wait_for_url(re.compile(r"/search\?"))
    assert "language" not in page.url and "telehealth=true" in page.url


@pytest.mark.parametrize("path", ["/search?q=dry+needling&postcode=78701", "/providers/1"])
def test_nothing_scrolls_sideways_at_320_px(open_page: PageFactory, path: str) -> None:
    page = open_page(**NARROW)
    page.goto(path)
    widths = page.evaluate("() => [document.documentElement.scrollWidth, innerWidth]")
    assert widths[0] <= widths[1], f"{path} is {widths[0]}px wide in {widths[1]}px"


def test_pages_say_where_they_are_and_an_offset_past_the_end_shows_the_last(
        open_page: PageFactory) -> None:
    page = open_page(**DESKTOP)
    page.goto("/search?postcode=78701")
    expect(page.locator("#summary")).to_have_text("1–10 of 13 providers within 25 mi")
    page.get_by_role("link", name="Page 2", exact=True).click()
    expect(page.locator("#summary")).to_have_text("11–13 of 13 providers within 25 mi")
    expect(page.get_by_role("link", name="Page 2, current page")).to_be_visible()
    assert_accessible(page)
    page.goto("/search?postcode=78701&offset=500")
    expect(page.locator("#summary")).to_have_text("11–13 of 13 providers within 25 mi")
    expect(page.locator("li.result")).to_have_count(3)


def test_popular_searches_ask_for_a_place_then_search_near_the_last_one(
        open_page: PageFactory) -> None:
    page = open_page()
    page.goto("/")
    page.get_by_role("link", name="dry needling", exact=True).click()
    expect(page.locator("#prompt")).to_contain_text("Where should we look for “dry needling”?")
    expect(page.get_by_label("ZIP / postcode or city", exact=True)).to_be_focused()
    expect(page.get_by_label("What do you need help with?", exact=True)).to_have_value(
        "dry needling")
    assert_accessible(page)
    page.get_by_label("ZIP / postcode or city", exact=True).fill("78701")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/search\?"))
    page.goto("/")
    page.get_by_role("link", name="low back pain", exact=True).click()
    page.wait_for_url(re.compile(r"/search\?"))
    assert "postcode=78701" in page.url and "q=low+back+pain" in page.url


def test_profile_has_a_call_button_the_distance_and_an_honest_warning(
        open_page: PageFactory) -> None:
    page = open_page(**PHONE)
    page.goto("/search?q=dry+needling&postcode=78701")
    page.get_by_role("link", name="Needle Point PT", exact=True).click()
    page.wait_for_url(re.compile(r"/providers/\d+"))
    call = page.get_by_role("link", name="Call +1 512-555-0100")
    expect(call).to_be_visible()
    assert call.bounding_box() is not None and call.bounding_box()["y"] < 844  # type: ignore[index]
    expect(page.locator("#distance")).to_have_text("0.5 mi from where you searched")
    expect(page.locator("#stale")).to_contain_text("last verified 13 months ago")
    expect(page.locator("#stale")).to_contain_text("Call to check")
    expect(page.locator(".open-status")).to_have_text(re.compile(r"opens (tomorrow|today) at 8 AM"))
    body = page.locator("main").inner_text()
    assert "Source" not in body and "America/Chicago" not in body
    assert_accessible(page)
    shot(page, "patient-profile-phone")


@pytest.mark.parametrize(("path", "status"), [("/providers/999999", 404),
                                              ("/no-such-page", 404),
                                              ("/search?postcode=78701&radius=9999", 400)])
def test_error_pages_are_accessible_and_lead_back(open_page: PageFactory, path: str,
                                                  status: int) -> None:
    page = open_page()
    response = page.goto(path)
    assert response is not None and response.status == status
    expect(page.get_by_role("alert")).to_be_visible()
    assert_accessible(page)
