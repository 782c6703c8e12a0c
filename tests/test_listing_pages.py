"""The dry-needling listing on the pages, in a real Chromium against `finder serve`: who
needles and how they were trained (an expired certification never shown as current), the
techniques explained, price, referral and access; the new filters as links with counts that
work without JavaScript; and the About page. Every page is audited by axe-core."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, expect

from finder.db import session_scope
from finder.geocode import get_geocoder
from finder.importer import import_documents
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
from tests.conftest import AUSTIN, Server, near, serve_directory

browser = browsing.browser
NEXT_YEAR = datetime.now(UTC).year + 1


def _clinic(external_id: str, name: str, at: tuple[float, float], **fields: object
            ) -> dict[str, object]:
    return {"external_id": external_id, "name": name, "lat": at[0], "lon": at[1],
            "address": {"address_1": "100 Congress Ave", "city": "Austin", "region": "TX",
                        "postcode": "78701"},
            "phone": "512-555-0142", "services": ["Physical therapy"],
            "hours": "Mon-Fri 08:00-18:00", "last_verified": datetime.now(UTC).date().isoformat(),
            **fields}


DOCUMENTS = [
    _clinic("east", "Eastside Needling", near(AUSTIN, 0.5),
            techniques=["trigger_point", "electrical"],
            accessibility=["wheelchair", "accessible_parking"],
            self_pay_price={"min": 90, "max": 120},
            direct_access=True, home_visits=False, age_groups=["adults", "seniors"],
            holiday_hours=[{"date": f"{NEXT_YEAR}-01-01", "closed": True, "note": "New Year"}],
            practitioners=[
                {"name": "Rosa Quintero", "credentials": ["PT", "DPT"],
                 "licence": {"region": "TX", "number": "1234"},
                 "certifications": [
                     {"issuer": "Northridge Needling Education", "title": "Dry Needling Level 2",
                      "hours": 54, "earned": "2022-05-01"},
                     {"issuer": "Old Course Co", "title": "Intro to Needling", "hours": 27,
                      "earned": "2018-01-01", "expires": "2021-01-01"}]},
                {"name": "Ben Okoro", "credentials": ["PT"],
                 "certifications": [{"issuer": "Old Course Co", "title": "Intro to Needling",
                                     "earned": "2017-01-01", "expires": "2020-06-30"}]}]),
    _clinic("west", "Westside IMS", near(AUSTIN, 1.5, 270), techniques=["ims"],
            accessibility=["wheelchair"], age_groups=["children", "adults"]),
    _clinic("north", "Northside Physio", near(AUSTIN, 2.5, 0), techniques=["trigger_point"]),
]


def _fill(app: Flask) -> None:
    with session_scope(app) as session:
        report = import_documents(session, get_geocoder(app), enumerate(DOCUMENTS, 1),
                                  default_country="US")
        session.commit()
    assert report.rejected == [], report.rejected


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, migrated_database: Path) -> Iterator[Server]:
    yield from serve_directory(tmp_path_factory, migrated_database, "listing-pages", _fill)


@pytest.fixture
def open_page(browser: Browser, site: Server) -> Iterator[PageFactory]:
    yield from page_factory(browser, site.url)


def _profile(page: Page) -> None:
    page.goto("/search?postcode=78701&q=Quintero")
    page.get_by_role("link", name="Eastside Needling", exact=True).click()
    page.wait_for_url(re.compile(r"/providers/\d+"))


@pytest.mark.parametrize("device", ["desktop", "phone"])
def test_profile_shows_who_needles_and_an_expired_certification_as_expired(
        open_page: PageFactory, device: str) -> None:
    page = open_page(**(DESKTOP if device == "desktop" else PHONE))
    _profile(page)
    rosa = page.locator(".person", has_text="Rosa Quintero")
    expect(rosa.locator(".person-name")).to_contain_text("Rosa Quintero, PT, DPT")
    expect(rosa.locator(".certified")).to_have_text("Certified in dry needling")
    expect(rosa.locator(".certificates .current")).to_contain_text(
        "Dry Needling Level 2 from Northridge Needling Education, 54 hours — earned May 1, 2022, "
        "does not expire")
    expect(rosa.locator(".certificates .expired")).to_contain_text(
        "Intro to Needling from Old Course Co, 27 hours — expired January 1, 2021")
    ben = page.locator(".person", has_text="Ben Okoro")
    expect(ben.locator(".certified")).to_have_count(0)  # only an expired one: not certified
    expect(ben.locator(".certificates .expired .status")).to_have_text("expired June 30, 2020")
    expect(page.locator("dl.techniques dt")).to_have_text(
        ["Trigger point dry needling", "Electrical dry needling"])
    expect(page.locator("#price")).to_have_text("Self-pay: $90–$120 a session")
    expect(page.locator("#referral")).to_have_text("No referral needed: book directly")
    expect(page.locator(".access li")).to_have_text(
        ["Wheelchair accessible entrance", "Accessible parking"])
    expect(page.locator(".holidays")).to_contain_text(f"January 1, {NEXT_YEAR}")
    expect(page.locator(".holidays")).to_contain_text("Closed (New Year)")
    assert_accessible(page)
    shot(page, f"profile-listing-{device}")


def test_results_mark_certified_practitioners_and_name_techniques(
        open_page: PageFactory) -> None:
    page = open_page(**DESKTOP)
    page.goto("/search?postcode=78701&sort=distance")
    page.locator("details.refine > summary").click()  # audited open, with its links
    first = page.locator("li.result").first
    expect(first.locator(".techniques")).to_have_text(
        "Dry needling: Trigger point dry needling, Electrical dry needling")
    expect(first.locator(".practitioners")).to_contain_text(
        "Ben Okoro, PT; Rosa Quintero, PT, DPT certified in dry needling")
    assert_accessible(page)


def test_facet_links_with_counts_filter_without_javascript(open_page: PageFactory) -> None:
    page = open_page(java_script_enabled=False, **DESKTOP)
    page.goto("/search?postcode=78701")
    page.locator("details.refine > summary").click()
    technique = page.locator(".facet", has_text="Technique")
    expect(technique.get_by_role("link")).to_have_text([
        re.compile(r"Trigger point dry needling\s+2"), re.compile(r"Electrical dry needling\s+1"),
        re.compile(r"Intramuscular stimulation \(IMS\)\s+1")])
    technique.get_by_role("link", name="Trigger point dry needling, 2 providers").click()
    page.wait_for_url(re.compile(r"technique=trigger_point"))
    expect(page.locator("li.result h3")).to_have_text(["Eastside Needling", "Northside Physio"])
    expect(page.get_by_role("link", name="Remove filter: Trigger point dry needling")
           ).to_be_visible()
    # The other facets count within the chosen technique; its own still offers the others.
    page.locator("details.refine > summary").click()
    expect(page.locator(".facet", has_text="Ages seen").get_by_role("link")).to_have_text(
        [re.compile(r"Adults\s+1"), re.compile(r"Seniors\s+1")])
    expect(page.locator(".facet", has_text="Technique").get_by_role("link")).to_have_count(3)
    shot(page, "results-facets-desktop")


def test_new_filters_in_the_form_work_without_javascript(open_page: PageFactory) -> None:
    page = open_page(java_script_enabled=False, **DESKTOP)
    page.goto("/")
    page.get_by_label("ZIP / postcode or city", exact=True).fill("78701")
    page.get_by_label("have a practitioner certified in dry needling").check()
    page.get_by_label("see patients without a referral").check()
    page.get_by_role("button", name="Search").click()
    page.wait_for_url(re.compile(r"/search\?"))
    expect(page.locator("li.result h3")).to_have_text(["Eastside Needling"])
    expect(page.get_by_role("link", name="Remove filter: Certified in dry needling")
           ).to_be_visible()


def test_phone_keeps_the_first_result_on_the_first_screen(open_page: PageFactory) -> None:
    page = open_page(**PHONE)
    page.goto("/search?postcode=78701&technique=trigger_point&certified=true")
    box = page.locator("li.result").first.bounding_box()
    assert box is not None and box["y"] < 844, box
    shot(page, "results-facets-phone")
    narrow = open_page(**NARROW)
    narrow.goto("/search?postcode=78701")
    width = narrow.evaluate("document.documentElement.scrollWidth")
    assert width <= 320, width


@pytest.mark.parametrize("device", ["desktop", "phone"])
def test_about_page_explains_each_technique_and_links_to_searches(
        open_page: PageFactory, device: str) -> None:
    page = open_page(**(DESKTOP if device == "desktop" else PHONE))
    page.goto("/")
    page.get_by_role("link", name="About dry needling").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("About dry needling")
    expect(page.locator("dl.techniques dt")).to_have_count(6)
    expect(page.get_by_role("heading", name="What to ask a provider")).to_be_visible()
    assert_accessible(page)
    shot(page, f"about-{device}")
    page.get_by_role("link", name="Providers offering intramuscular stimulation (ims)").click()
    page.wait_for_url(re.compile(r"/\?q=Intramuscular"))
    expect(page.get_by_label("What do you need help with?")).to_have_value(
        "Intramuscular stimulation (IMS)")


def test_listing_document_is_served_for_each_profile(site: Server) -> None:
    import urllib.request

    with urllib.request.urlopen(f"{site.url}/api/v1/search?postcode=78701&q=Quintero") as r:
        (hit,) = json.load(r)["results"]
    with urllib.request.urlopen(f"{site.url}/api/v1/listings/{hit['id']}") as r:
        listing = json.load(r)
    assert [p["name"] for p in listing["practitioners"]] == ["Ben Okoro", "Rosa Quintero"]
    assert listing["self_pay_price"] == {"min": 90.0, "max": 120.0, "currency": "USD"}
    assert timedelta(0) <= datetime.now(UTC) - datetime.fromisoformat(listing["updated_at"])
