"""Verification in a browser: patients see when a listing may be out of date, and an owner
confirms one with the keyboard alone, on a desktop and a phone."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from playwright.sync_api import Browser, expect

from finder.db import session_scope
from finder.models import Location
from finder.moderation.accounts import create_account
from finder.trust import confirmations
from finder.trust.verification import today
from tests import browser as browsing
from tests.browser import DESKTOP, PHONE, PageFactory, assert_accessible, page_factory, shot
from tests.conftest import AUSTIN, Server, load, near, row, serve_directory

browser = browsing.browser
OWNER = "desk@old-town-physio.example"
MODERATOR, PASSWORD = "mod@finder.example", "a long enough password"
TOKENS: dict[str, str] = {}


def _fill(app: Flask) -> None:
    load(app, [row("old", "Old Town Physio", near(AUSTIN, 0.4), services="Dry needling",
                   phone="512-555-0110", hours="Mon-Fri 08:00-18:00"),
               row("new", "New Town Physio", near(AUSTIN, 0.6), services="Dry needling",
                   phone="512-555-0111")])
    with session_scope(app) as session:
        for location in session.scalars(sa.select(Location)):
            stale = location.external_id == "old"
            location.last_verified = today() - timedelta(days=150 if stale else 3)
            location.owner_email = OWNER if stale else ""
            if stale:
                for device in ("desktop", "phone"):
                    TOKENS[device] = confirmations.make_token(app.config["SECRET_KEY"],
                                                              location.id, OWNER)
        # Stale with no owner to write to, beyond the patients' searches above.
        load(app, [row("call", "Call Us Physio", near(AUSTIN, 60), phone="512-555-0112")])
        session.scalars(sa.select(Location).where(Location.external_id == "call")).one() \
            .last_verified = today() - timedelta(days=95)
        create_account(session, MODERATOR, PASSWORD, "moderator")
        session.commit()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, migrated_database: Path) -> Iterator[Server]:
    yield from serve_directory(tmp_path_factory, migrated_database, "verification", _fill)


@pytest.fixture
def open_page(browser: Browser, site: Server) -> Iterator[PageFactory]:
    yield from page_factory(browser, site.url)


@pytest.mark.parametrize("device", ["desktop", "phone"])
def test_patients_see_a_stale_listing_said_and_ranked_below(open_page: PageFactory,
                                                            device: str) -> None:
    page = open_page(**(DESKTOP if device == "desktop" else PHONE))
    page.goto("/search?postcode=78701&q=dry+needling")
    results = page.locator("ol.results-list > li")
    expect(results.nth(0)).to_contain_text("New Town Physio")
    expect(results.nth(1)).to_contain_text("Old Town Physio")
    expect(results.nth(1)).to_contain_text("May not be up to date")
    expect(results.nth(0)).not_to_contain_text("May not be up to date")
    assert_accessible(page)
    shot(page, f"results-stale-{device}")
    page.goto("/providers/1")
    expect(page.locator("#stale")).to_contain_text("may not be up to date")
    assert_accessible(page)
    shot(page, f"profile-stale-{device}")


@pytest.mark.parametrize("device", ["desktop", "phone"])
def test_an_owner_confirms_with_the_keyboard(open_page: PageFactory, device: str) -> None:
    page = open_page(**(DESKTOP if device == "desktop" else PHONE))
    page.goto(f"/verify/{TOKENS[device]}")
    expect(page.locator("h1")).to_have_text("Is Old Town Physio still correct?")
    assert_accessible(page)
    shot(page, f"verify-confirm-{device}")
    button = page.get_by_role("button", name="Yes, everything is still correct")
    for _ in range(40):  # tab from the top of the page to the button
        page.keyboard.press("Tab")
        if button.evaluate("element => element === document.activeElement"):
            break
    page.keyboard.press("Enter")
    expect(page.locator("h1")).to_have_text("Listing confirmed")
    assert_accessible(page)
    shot(page, f"verify-confirmed-{device}")


@pytest.mark.parametrize("device", ["desktop", "phone"])
def test_moderators_see_whom_to_call_and_each_listing_s_verification(
        open_page: PageFactory, device: str) -> None:
    page = open_page(**(DESKTOP if device == "desktop" else PHONE))
    page.goto("/moderation/verification")
    page.get_by_label("E-mail").fill(MODERATOR)
    page.get_by_label("Password").fill(PASSWORD)
    page.keyboard.press("Enter")
    expect(page.locator("h1")).to_have_text("Listings to call")
    rows = page.locator("table.to-call tbody tr")
    expect(rows).to_have_count(1)  # the other stale listing has an owner to write to
    expect(rows.first).to_contain_text("Call Us Physio")
    expect(rows.first).to_contain_text("+1 512-555-0112")
    assert_accessible(page)
    shot(page, f"moderation-to-call-{device}")
    rows.first.get_by_role("link", name="Call Us Physio").click()
    expect(page.locator("main")).to_contain_text("Verification: stale")
    assert_accessible(page)
    shot(page, f"moderation-listing-verification-{device}")
