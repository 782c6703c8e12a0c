"""The "Add your clinic" form: every mistake by its field with what was typed kept, the
address placed and shown before sending, CSRF, a honeypot and a limit; and in Chromium, a
clinic fills it in with the keyboard and axe-core finds nothing wrong."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from playwright.sync_api import Browser, expect

from finder.clinics.models import Submission
from finder.db import session_scope
from tests import browser as browsing
from tests.browser import DESKTOP, PHONE, PageFactory, assert_accessible, page_factory, shot
from tests.conftest import Server, serve_directory

browser = browsing.browser

GOOD = {"name": "Eastside Needling", "address_1": "12 East St", "city": "Austin",
        "region": "TX", "postcode": "78701", "country": "US", "phone": "512-555-0177",
        "services": "Dry needling\nManual therapy", "hours": "Mon-Fri 08:00-18:00",
        "techniques": ["electrical", "trigger_point"], "direct_access": "true",
        "owner_email": "owner@eastside.example"}


def token(client: FlaskClient) -> str:
    page = client.get("/submit").get_data(as_text=True)
    found = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    assert found, "the form has no CSRF token"
    return found.group(1)


def send(client: FlaskClient, button: str = "send", **fields: Any) -> Any:
    return client.post("/submit", data={"csrf_token": token(client), **GOOD, button: "1",
                                        **fields})


def errors(response: Any) -> dict[str, str]:
    page = response.get_data(as_text=True)
    return dict(re.findall(r'<p class="field-error" id="([a-z_0-9]+)-error">([^<]*)</p>', page))


def stored(app: Flask) -> list[Submission]:
    with session_scope(app) as session:
        return list(session.query(Submission))


def test_a_clinic_sends_a_listing_for_review(app: Flask, client: FlaskClient) -> None:
    response = send(client)
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/submit/thanks")
    [submission] = stored(app)
    assert submission.owner_email == "owner@eastside.example"
    assert submission.document["techniques"] == ["electrical", "trigger_point"]
    assert submission.document["services"] == ["Dry needling", "Manual therapy"]
    assert submission.document["direct_access"] is True


def test_practitioners_and_their_certifications_are_sent(app: Flask,
                                                          client: FlaskClient) -> None:
    people = ("Ana Diaz | PT, DPT | Northridge Institute | Level 2 | 54 | 2024-01-01 |\n"
              "Bo Chen | PT")
    assert send(client, practitioners=people).status_code == 303
    [submission] = stored(app)
    ana, bo = submission.document["practitioners"]
    assert (ana["name"], ana["credentials"], bo["credentials"]) == \
        ("Ana Diaz", ["PT", "DPT"], ["PT"])
    assert ana["certifications"] == [{"issuer": "Northridge Institute", "title": "Level 2",
                                      "hours": 54, "earned": "2024-01-01", "expires": None}]


def test_checking_shows_where_the_address_was_placed(app: Flask, client: FlaskClient) -> None:
    response = send(client, button="check")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "We placed the clinic at 30.2" in page
    assert "the centre of the postcode area" in page
    assert "data-frame=" in page  # the map to move the pin on
    # A centroid is not written into the coordinates: that would make it an exact point.
    assert not re.search(r'id="latitude"[^>]*value="3', page)
    assert stored(app) == []


@pytest.mark.parametrize(("fields", "expected"), [
    ({"name": ""}, {"name": "is required"}),
    ({"phone": "12"}, {"phone": "'12' is not a valid phone number in US"}),
    ({"hours": "Mon 25:00-26:00"}, {"hours": "25:00"}),
    ({"self_pay_price": "cheap"}, {"self_pay_price": "is not a price like 90 or 90-120"}),
    ({"holiday_hours": "Christmas"}, {"holiday_hours": "is not like '2026-12-25 closed'"}),
    ({"owner_email": "not-an-address"}, {"owner_email": "@-sign"}),
    ({"postcode": "00000"}, {"postcode": "00000"}),
    ({"latitude": "91", "longitude": "0"}, {"latitude": "less than or equal to 90"}),
    ({"website": "javascript:alert(1)"}, {"website": ""}),
    ({"phone": "12", "owner_email": "x"}, {"phone": "not a valid phone", "owner_email": "@"}),
    ({"practitioners": "Ana Diaz | PT | Institute | Level 2"}, {"practitioners": "bars"}),
    ({"practitioners": "Ana Diaz | PT | Institute | Level 2 | | 2030-01-01 |"},
     {"practitioners": "in the future"}),
])
def test_each_mistake_is_said_by_its_field_and_what_was_typed_is_kept(
        app: Flask, client: FlaskClient, fields: dict[str, str],
        expected: dict[str, str]) -> None:
    response = send(client, **fields)
    assert response.status_code == 400
    found = errors(response)
    for name, says in expected.items():
        assert says.replace("'", "&#39;") in found.get(name, "MISSING"), found
    page = response.get_data(as_text=True)
    assert 'value="Eastside Needling"' in page or fields.get("name") == ""
    assert "Dry needling\nManual therapy" in page
    assert 'value="electrical" checked' in page or 'checked value="electrical"' in page \
        or re.search(r'<input[^>]*checked[^>]*value="electrical"', page)
    assert stored(app) == []


def test_a_form_without_its_csrf_token_is_refused(app: Flask, client: FlaskClient) -> None:
    response = client.post("/submit", data={**GOOD, "send": "1"})
    assert response.status_code == 400
    assert stored(app) == []


def test_a_filled_honeypot_stores_nothing(app: Flask, client: FlaskClient) -> None:
    response = send(client, fax_number="+1 555 0100")
    assert response.status_code == 303  # a bot learns nothing
    assert stored(app) == []


def test_a_flood_from_one_address_is_refused(app: Flask, client: FlaskClient) -> None:
    app.config["SUBMIT_RATE_LIMIT"] = "2/hour"
    statuses = [send(client, name=f"Clinic {n}").status_code for n in range(3)]
    assert statuses == [303, 303, 429]
    assert len(stored(app)) == 2


def _fill(app: Flask) -> None:
    pass


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, migrated_database: Path) -> Iterator[Server]:
    yield from serve_directory(tmp_path_factory, migrated_database, "submit-page", _fill)


@pytest.fixture
def open_page(browser: Browser, site: Server) -> Iterator[PageFactory]:
    yield from page_factory(browser, site.url)


@pytest.mark.parametrize("device", ["desktop", "phone"])
def test_a_clinic_fills_in_the_form_in_a_browser(open_page: PageFactory, device: str) -> None:
    page = open_page(**(DESKTOP if device == "desktop" else PHONE))
    page.goto("/submit")
    assert_accessible(page)
    page.get_by_label("Clinic name").fill("Eastside Needling")
    page.get_by_label("ZIP or postcode").fill("78701")
    page.get_by_label("Phone").fill("12")
    page.get_by_label("Electrical dry needling").check()
    page.get_by_label("Your e-mail").fill("owner@eastside.example")
    page.get_by_role("button", name="Check the address").click()
    expect(page.locator("#phone-error")).to_contain_text("not a valid phone number")
    expect(page.get_by_label("Clinic name")).to_have_value("Eastside Needling")
    expect(page.get_by_label("Electrical dry needling")).to_be_checked()
    assert_accessible(page)
    shot(page, f"submit-errors-{device}")
    page.get_by_label("Phone").fill("512-555-0177")
    page.get_by_role("button", name="Check the address").click()
    expect(page.locator("#placement")).to_contain_text("We placed the clinic at")
    expect(page.get_by_label("Latitude")).to_have_value("")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"]  # type: ignore[index]
    frame = json.loads(page.locator("svg[data-frame]").get_attribute("data-frame") or "{}")
    placed = (frame["lat"], frame["lon"])
    # Click the map a little east of the pin: the pin and the coordinates follow.
    page.locator("svg[data-frame]").scroll_into_view_if_needed()
    pin = page.locator("svg[data-frame] .map-pin").bounding_box()
    assert pin is not None
    page.mouse.click(pin["x"] + pin["width"] / 2 + 40, pin["y"] + pin["height"])
    expect(page.locator("#pin-moved")).to_contain_text("Pin moved to")
    moved = (float(page.get_by_label("Latitude").input_value()),
             float(page.get_by_label("Longitude").input_value()))
    assert moved[1] > placed[1] and abs(moved[0] - placed[0]) < 0.001
    assert_accessible(page)
    shot(page, f"submit-placed-{device}")
    page.get_by_role("button", name="Send for review").click()
    expect(page.locator("h1")).to_contain_text("waiting for review")
    assert_accessible(page)
