"""Owners at work: ask for a link (the same answer for any address), change the listing
through it (once; moderated while the listing stays live), and claim an imported listing
(at once from the clinic's own domain, through a moderator otherwise)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from playwright.sync_api import Browser, expect

from finder.clinics.models import Kind, Submission
from finder.db import session_scope
from finder.models import Location, OutboxMessage
from tests import browser as browsing
from tests.browser import DESKTOP, PHONE, PageFactory, assert_accessible, page_factory, shot
from tests.conftest import AUSTIN, Server, form_values, load, near, row, serve_directory

browser = browsing.browser

OWNER = "frontdesk@congress-physio.example"


def csrf(client: FlaskClient, path: str) -> str:
    page = client.get(path).get_data(as_text=True)
    found = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    assert found, page[:500]
    return found.group(1)


def outbox(app: Flask) -> list[OutboxMessage]:
    with session_scope(app) as session:
        return list(session.query(OutboxMessage).order_by(OutboxMessage.id))


def submissions(app: Flask) -> list[Submission]:
    with session_scope(app) as session:
        return list(session.query(Submission).order_by(Submission.id))


def directory(app: Flask, owner: str = OWNER) -> int:
    load(app, [row("congress", "Congress Physio", near(AUSTIN, 0.5), services="Dry needling",
                   phone="512-555-0100", website="https://www.congress-physio.example")])
    with session_scope(app) as session:
        location = session.query(Location).one()
        location.owner_email = owner
        session.commit()
        return location.id


def link_in(message: OutboxMessage) -> str:
    found = re.search(r"https?://\S+/manage/\S+", message.body)
    assert found, message.body
    return found.group(0).split("/manage/", 1)[1]


def ask_for_link(client: FlaskClient, email: str) -> Any:
    return client.post("/manage", data={"csrf_token": csrf(client, "/manage"), "email": email,
                                        "send": "1"})


def test_the_manage_page_answers_alike_for_any_address(app: Flask, client: FlaskClient) -> None:
    directory(app)
    known = ask_for_link(client, OWNER).get_data(as_text=True)
    unknown = ask_for_link(client, "someone@else.example").get_data(as_text=True)
    assert known.replace(OWNER, "X") == unknown.replace("someone@else.example", "X")
    [message] = outbox(app)
    assert message.to == OWNER and message.kind == "owner_link"
    assert "Congress Physio" in message.subject


def test_an_owner_changes_the_listing_through_the_link_once(app: Flask,
                                                            client: FlaskClient) -> None:
    location_id = directory(app)
    ask_for_link(client, OWNER)
    token = link_in(outbox(app)[0])
    page = client.get(f"/manage/{token}")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert 'value="Congress Physio"' in text and "History" in text
    form = form_values(text)
    form.update(name="Congress Physio & Needling", send="1", services="Dry needling\nCupping")
    sent = client.post(f"/manage/{token}", data=form)
    assert sent.status_code == 303, sent.get_data(as_text=True)[:2000]
    [edit] = submissions(app)
    assert (edit.kind, edit.location_id, edit.owner_email) == (Kind.EDIT, location_id, OWNER)
    assert edit.document["name"] == "Congress Physio & Needling"
    # The published listing stays as it was until a moderator approves.
    live = client.get(f"/api/v1/listings/{location_id}").get_json()
    assert live["name"] == "Congress Physio"
    again = client.get(f"/manage/{token}")
    assert again.status_code == 403
    assert "used already" in again.get_data(as_text=True)


def test_a_forged_link_is_refused(app: Flask, client: FlaskClient) -> None:
    directory(app)
    response = client.get("/manage/not-a-real-token")
    assert response.status_code == 403
    assert "not valid" in response.get_data(as_text=True)


def test_a_link_for_an_owner_who_changed_is_refused(app: Flask, client: FlaskClient) -> None:
    directory(app)
    ask_for_link(client, OWNER)
    token = link_in(outbox(app)[0])
    with session_scope(app) as session:
        session.query(Location).one().owner_email = "new-owner@congress-physio.example"
        session.commit()
    assert client.get(f"/manage/{token}").status_code == 403


def claim(client: FlaskClient, location_id: int, email: str) -> Any:
    path = f"/providers/{location_id}/claim"
    return client.post(path, data={"csrf_token": csrf(client, path), "email": email,
                                   "send": "1"})


def test_a_claim_from_the_clinic_s_domain_gets_a_link_at_once(app: Flask,
                                                              client: FlaskClient) -> None:
    location_id = directory(app, owner="")
    response = claim(client, location_id, "Reception@Congress-Physio.example")
    assert response.status_code == 200
    [message] = outbox(app)
    assert message.kind == "owner_link"
    with session_scope(app) as session:  # not the owner until the link is used
        assert session.get(Location, location_id).owner_email == ""  # type: ignore[union-attr]
    token = link_in(message)
    page = client.get(f"/manage/{token}").get_data(as_text=True)
    form = form_values(page)
    assert client.post(f"/manage/{token}", data={**form, "send": "1"}).status_code == 303
    with session_scope(app) as session:
        owner = session.get(Location, location_id).owner_email  # type: ignore[union-attr]
    assert owner == "Reception@congress-physio.example"


@pytest.mark.parametrize(("email", "website", "same"), [
    ("jo@congress-physio.example", "https://www.congress-physio.example/team", True),
    ("jo@mail.congress-physio.example", "congress-physio.example", True),
    ("jo@example", "https://congress-physio.example", False),  # a parent domain
    ("jo@facebook.com", "https://facebook.com/congressphysio", False),  # a shared site
    ("jo@gmail.example", "https://congress-physio.example", False),
    ("jo@congress-physio.example", "", False),
])
def test_a_claim_s_domain_must_be_the_clinic_s_own(email: str, website: str,
                                                   same: bool) -> None:
    from finder.clinics.submissions import same_domain

    assert same_domain(email, website) is same


def test_a_claim_from_another_domain_goes_to_a_moderator(app: Flask,
                                                         client: FlaskClient) -> None:
    location_id = directory(app, owner="")
    response = claim(client, location_id, "someone@gmail.example")
    assert response.status_code == 200
    [waiting] = submissions(app)
    assert (waiting.kind, waiting.location_id, waiting.owner_email) == \
        (Kind.CLAIM, location_id, "someone@gmail.example")
    assert [message.kind for message in outbox(app)] == ["claim_waiting"]
    with session_scope(app) as session:
        assert session.get(Location, location_id).owner_email == ""  # type: ignore[union-attr]


def test_a_bad_address_is_said_by_its_field(app: Flask, client: FlaskClient) -> None:
    location_id = directory(app)
    for response in (ask_for_link(client, "nope"), claim(client, location_id, "nope@")):
        assert response.status_code == 400
        assert 'id="email-error"' in response.get_data(as_text=True)
    assert outbox(app) == []


def test_the_profile_offers_the_claim(app: Flask, client: FlaskClient) -> None:
    location_id = directory(app)
    page = client.get(f"/providers/{location_id}").get_data(as_text=True)
    assert f"/providers/{location_id}/claim" in page
    assert OWNER not in page


# -- in a browser ----------------------------------------------------------------------------

TOKENS: dict[str, str] = {}


def _fill(app: Flask) -> None:
    from finder.clinics import owners

    location_id = directory(app)
    for device in ("desktop", "phone"):
        TOKENS[device] = owners.make_token(app.config["SECRET_KEY"], location_id, OWNER)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, migrated_database: Path) -> Iterator[Server]:
    yield from serve_directory(tmp_path_factory, migrated_database, "owner-pages", _fill)


@pytest.fixture
def open_page(browser: Browser, site: Server) -> Iterator[PageFactory]:
    yield from page_factory(browser, site.url)


@pytest.mark.parametrize("device", ["desktop", "phone"])
def test_an_owner_uses_the_link_in_a_browser(open_page: PageFactory, device: str) -> None:
    page = open_page(**(DESKTOP if device == "desktop" else PHONE))
    page.goto("/manage")
    assert_accessible(page)
    shot(page, f"manage-{device}")
    page.goto("/providers/1/claim")
    assert_accessible(page)
    page.goto(f"/manage/{TOKENS[device]}")
    expect(page.get_by_label("Clinic name")).to_have_value("Congress Physio")
    assert_accessible(page)
    page.get_by_label("Phone").fill("512-555-0123")
    page.get_by_role("button", name="Send the change for review").click()
    expect(page.locator("h1")).to_contain_text("waiting for review")
    page.goto(f"/manage/{TOKENS[device]}")
    expect(page.locator("body")).to_contain_text("used already")
    shot(page, f"manage-used-link-{device}")


def test_an_owner_s_edit_keeps_what_the_form_does_not_show_of_practitioners(
        app: Flask, client: FlaskClient) -> None:
    from finder.models import Practitioner

    location_id = directory(app)
    with session_scope(app) as session:
        location = session.get(Location, location_id)
        assert location is not None
        session.add(Practitioner(organization=location.organization, name="Ana Diaz",
                                 credentials=["PT"], npi="1234567893", languages=["Spanish"],
                                 locations=[location]))
        session.commit()
    for change, expected in ((None, None), ("Ana Diaz | PT DPT", ["PT", "DPT"])):
        with session_scope(app) as session:
            session.query(OutboxMessage).delete()
            session.commit()
        ask_for_link(client, OWNER)
        token = link_in(outbox(app)[0])
        page = client.get(f"/manage/{token}").get_data(as_text=True)
        assert "Ana Diaz | PT</textarea>" in page
        form = form_values(page)
        form.update(send="1", practitioners=change or "Ana Diaz | PT")
        assert client.post(f"/manage/{token}", data=form).status_code == 303
        document = submissions(app)[-1].document
        if expected is None:
            assert "practitioners" not in document  # left alone: kept as stored
        else:
            [ana] = document["practitioners"]
            assert (ana["credentials"], ana["npi"], ana["languages"]) == \
                (expected, "1234567893", ["Spanish"])


def test_an_edit_sends_only_what_the_owner_changed(app: Flask, client: FlaskClient) -> None:
    from finder.clinics import submissions as clinic_submissions
    from finder.geocode import get_geocoder
    from finder.importer import import_documents

    document = {"external_id": "toronto", "name": "Praxis Mitte",
                "organization": {"name": "Praxis Gruppe", "website": "https://praxis.example",
                                 "phone": "(416) 555-0100"},
                "address": {"postcode": "M5V 2T6", "city": "Toronto", "region": "ON",
                            "country": "CA"},
                "phone": "(416) 555-0100", "self_pay_price": {"min": 80.5, "currency": "EUR"},
                "hours": "Mon-Fri 08:00-18:00",
                "holiday_hours": [{"date": "2026-12-24", "hours": "09:00-12:00",
                                   "note": "Christmas Eve"}]}
    with session_scope(app) as session:
        report = import_documents(session, get_geocoder(app), [(1, document)],
                                  default_country="US")
        assert report.rejected == [], report.rejected
        location = session.query(Location).one()
        location.owner_email = OWNER
        session.commit()
        location_id = location.id
    ask_for_link(client, OWNER)
    token = link_in(outbox(app)[0])
    page = client.get(f"/manage/{token}").get_data(as_text=True)
    assert "2026-12-24 09:00-12:00" in page
    form = form_values(page)
    form["hours"] = "Mon-Fri 08:00-19:00"
    response = client.post(f"/manage/{token}", data={**form, "send": "1"})
    assert response.status_code == 303, response.get_data(as_text=True)[:3000]
    [edit] = submissions(app)
    assert set(edit.document) == {"name", "external_id", "hours"}
    with session_scope(app) as session:
        clinic_submissions.approve(session, session.merge(edit), None, "mod",
                                   get_geocoder(app), "US")
        session.commit()
    live = client.get(f"/api/v1/listings/{location_id}").get_json()
    assert live["hours"]["mon"] == [["08:00", "19:00"]]
    assert live["organization"]["name"] == "Praxis Gruppe"
    assert live["organization"]["website"] == "https://praxis.example"
    assert live["organization"]["phone"] != ""
    assert live["self_pay_price"] == {"min": 80.5, "max": None, "currency": "EUR"}
    assert live["holiday_hours"][0]["note"] == "Christmas Eve"
