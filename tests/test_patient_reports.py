"""Patients' reports of wrong information: from the "Report incorrect information" link (and
its JSON twin) to the moderation queue and the listing's owner; several people agreeing mark
a listing out of date; a moderator resolves a report once and the patient hears of it; the
form refuses bots, forged posts and floods; nothing private reaches a public page or answer.
In Chromium, a patient reports with the keyboard on a desktop and a 390 px phone, and a
moderator resolves it, with axe-core finding nothing wrong on any of these pages."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from playwright.sync_api import Browser, Page, expect

from finder.db import session_scope
from finder.errors import InvalidInput
from finder.models import Actor, IndexChange, ListingChange, Location, OutboxMessage
from finder.moderation.accounts import create_account
from finder.trust import reports
from finder.trust.models import PatientReport, Problem, ReportStatus
from tests import browser as browsing
from tests.browser import DESKTOP, PHONE, PageFactory, assert_accessible, page_factory, shot
from tests.conftest import AUSTIN, Server, load, near, row, serve_directory
from tests.test_mail import MailServer
from tests.test_moderation_queue import MODERATOR, PASSWORD, csrf, moderator
from tests.test_openapi import assert_documented

browser = browsing.browser

OWNER = "owner@eastside-needling.example"
PATIENT = "patient@mail.example"
NOTE = "They moved to 400 Lamar Blvd in March."


@pytest.fixture
def listing_id(app: Flask) -> int:
    """One published listing in Austin, with an owner."""
    load(app, [row("eastside", "Eastside Needling", near(AUSTIN, 1), phone="512-555-0177",
                   services="Dry needling", address_1="12 East St")])
    with session_scope(app) as session:
        location = session.scalars(sa.select(Location)).one()
        location.owner_email = OWNER
        session.commit()
        return location.id


def form_report(client: FlaskClient, location_id: int, address: str = "198.51.100.7",
                **fields: str) -> Any:
    """Send the report form as a browser at ``address`` would."""
    path = f"/providers/{location_id}/report"
    data = {"csrf_token": csrf(client, path), "problem": "closed", "note": NOTE,
            "email": "", "send": "1", **fields}
    return client.post(path, data=data, environ_base={"REMOTE_ADDR": address})


def api_report(client: FlaskClient, location_id: int, address: str = "198.51.100.7",
               **body: Any) -> Any:
    return client.post(f"/api/v1/listings/{location_id}/reports",
                       json={"problem": "closed", **body},
                       environ_base={"REMOTE_ADDR": address})


def stored(app: Flask) -> list[PatientReport]:
    with session_scope(app) as session:
        return list(session.scalars(sa.select(PatientReport).order_by(PatientReport.id)))


def outbox(app: Flask, kind: str) -> list[OutboxMessage]:
    with session_scope(app) as session:
        return list(session.scalars(sa.select(OutboxMessage).where(OutboxMessage.kind == kind)
                                    .order_by(OutboxMessage.id)))


def flagged(app: Flask, location_id: int) -> bool:
    with session_scope(app) as session:
        location = session.get(Location, location_id)
        assert location is not None
        return location.flagged_at is not None


def field_errors(response: Any) -> dict[str, str]:
    page = response.get_data(as_text=True)
    return dict(re.findall(r'<p class="field-error" id="([a-z_]+)-error">([^<]*)</p>', page))


# -- taking a report ----------------------------------------------------------------------


def test_every_profile_and_result_links_to_the_form(client: FlaskClient,
                                                    listing_id: int) -> None:
    form_path = f"/providers/{listing_id}/report"
    assert form_path in client.get(f"/providers/{listing_id}").get_data(as_text=True)
    results = client.get("/search", query_string={"postcode": "78701"}).get_data(as_text=True)
    assert form_path in results
    assert "Report incorrect information about Eastside Needling" in results
    page = client.get(form_path)
    assert page.status_code == 200
    assert "Eastside Needling" in page.get_data(as_text=True)


def test_a_report_reaches_the_queue_and_the_owner_without_the_reporter(
        app: Flask, client: FlaskClient, listing_id: int) -> None:
    response = form_report(client, listing_id, problem="phone", email=PATIENT,
                           note="The number rings a bakery.")
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/providers/{listing_id}/report/thanks")
    thanks = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Thank you" in thanks and PATIENT not in thanks

    [report] = stored(app)
    assert (report.problem, report.status, report.email) == \
        (Problem.PHONE, ReportStatus.OPEN, PATIENT)
    assert report.reporter and "198.51.100.7" not in report.reporter

    queue = moderator(app).get("/moderation").get_data(as_text=True)
    section = queue.split("Reports from patients", 1)[1]
    assert "Eastside Needling" in section
    assert "The phone number is wrong" in section
    assert "The number rings a bakery." in section
    assert f"/moderation/reports/{report.id}" in section

    [message] = outbox(app, "report_to_owner")
    assert message.to == OWNER
    assert "The phone number is wrong" in message.body
    assert "The number rings a bakery." in message.body
    assert PATIENT not in message.body and PATIENT not in message.subject
    assert report.reporter not in message.body
    token = re.search(r"/manage/(\S+)", message.body)
    assert token, message.body
    assert client.get(f"/manage/{token.group(1)}").status_code == 200  # a working edit link


def test_one_person_s_repeated_reports_tell_the_owner_once(
        app: Flask, client: FlaskClient, listing_id: int) -> None:
    for _ in range(3):
        assert form_report(client, listing_id).status_code == 303
    assert form_report(client, listing_id, address="203.0.113.9").status_code == 303
    assert len(stored(app)) == 4
    assert len(outbox(app, "report_to_owner")) == 2


def test_the_api_takes_a_report_as_documented(app: Flask, client: FlaskClient,
                                              listing_id: int) -> None:
    response = api_report(client, listing_id, problem="hours", note="Closed on Mondays now.",
                          email=PATIENT)
    assert response.status_code == 201
    body = assert_documented(response, "POST")
    [report] = stored(app)
    assert body == {"id": report.id, "status": "open"}
    assert (report.problem, report.note, report.email) == \
        (Problem.HOURS, "Closed on Mondays now.", PATIENT)
    assert len(outbox(app, "report_to_owner")) == 1


@pytest.mark.parametrize(("body", "field", "says"), [
    ({"problem": "rude"}, "problem", "is not one of the choices: phone, address"),
    ({"problem": ""}, "problem", "Choose what is wrong"),
    ({"problem": None}, "problem", "Choose what is wrong"),
    ({"email": "not-an-address"}, "email", "@-sign"),
    ({"note": "x" * 1001}, "note", "keep it to 1,000"),
    ({"note": 12}, "note", "must be text"),
    ({"reporter": "me"}, "reporter", "is not a field of a report"),
])
def test_the_api_names_each_bad_field(app: Flask, client: FlaskClient, listing_id: int,
                                      body: dict[str, Any], field: str, says: str) -> None:
    response = api_report(client, listing_id, **body)
    assert response.status_code == 400
    error = assert_documented(response, "POST")["error"]
    assert error["code"] == "invalid_report"
    assert any(item["field"] == field and says in item["message"]
               for item in error["fields"]), error
    assert stored(app) == []


@pytest.mark.parametrize("payload", [b"[1, 2]", b"not json", b""])
def test_the_api_wants_a_json_object(client: FlaskClient, listing_id: int,
                                     payload: bytes) -> None:
    response = client.post(f"/api/v1/listings/{listing_id}/reports", data=payload,
                           content_type="application/json")
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_report"


def test_only_a_published_listing_can_be_reported(app: Flask, client: FlaskClient,
                                                  listing_id: int) -> None:
    with session_scope(app) as session:
        location = session.get(Location, listing_id)
        assert location is not None
        location.status = location.status.UNPUBLISHED
        session.commit()
    assert client.get(f"/providers/{listing_id}/report").status_code == 404
    missing = api_report(client, listing_id)
    assert missing.status_code == 404
    assert assert_documented(missing, "POST")["error"]["code"] == "listing_not_found"
    assert api_report(client, 2**40).status_code == 404
    assert stored(app) == []


@pytest.mark.parametrize(("fields", "expected"), [
    ({"email": "not-an-address"}, {"email": "@-sign"}),
    ({"problem": ""}, {"problem": "Choose what is wrong."}),
    ({"problem": "rude"}, {"problem": "is not one of the choices"}),
    ({"note": "y" * 1001}, {"note": "keep it to 1,000"}),
    ({"problem": "", "email": "a@b"}, {"problem": "Choose", "email": "should have a period"}),
])
def test_a_bad_form_says_what_is_wrong_by_its_field_and_keeps_what_was_typed(
        app: Flask, client: FlaskClient, listing_id: int, fields: dict[str, str],
        expected: dict[str, str]) -> None:
    typed = {"problem": "hours", "note": "Shut on Fridays", "email": "me@mail.example",
             **fields}
    response = form_report(client, listing_id, **typed)
    assert response.status_code == 400
    found = field_errors(response)
    assert set(found) == set(expected), found
    for name, says in expected.items():
        assert says in found[name].replace("&#39;", "'"), found
    page = response.get_data(as_text=True)
    assert typed["note"][:50] in page
    assert f'value="{typed["email"]}"' in page
    if typed["problem"] == "hours":
        assert re.search(r'<input[^>]*checked[^>]*value="hours"', page), page
    assert page.count('aria-invalid="true"') >= 1
    assert stored(app) == []


def test_a_filled_honeypot_stores_nothing(app: Flask, client: FlaskClient,
                                          listing_id: int) -> None:
    response = form_report(client, listing_id, fax_number="+1 555 0100")
    assert response.status_code == 303  # a bot learns nothing
    assert stored(app) == []
    assert outbox(app, "report_to_owner") == []


def test_a_post_without_its_csrf_token_is_refused(app: Flask, client: FlaskClient,
                                                  listing_id: int) -> None:
    response = client.post(f"/providers/{listing_id}/report",
                           data={"problem": "closed", "note": NOTE, "send": "1"})
    assert response.status_code == 400
    assert "CSRF token is missing" in response.get_data(as_text=True)
    assert stored(app) == []


def test_a_flood_from_one_address_is_refused_with_a_clear_message(
        app: Flask, client: FlaskClient, listing_id: int) -> None:
    app.config["REPORT_RATE_LIMIT"] = "2/hour"
    statuses = [form_report(client, listing_id).status_code for _ in range(2)]
    refused = form_report(client, listing_id)
    assert statuses + [refused.status_code] == [303, 303, 429]
    assert "as many reports as we take for now (2 reports an hour)" in \
        refused.get_data(as_text=True)
    assert int(refused.headers["Retry-After"]) > 0
    by_api = api_report(client, listing_id)  # the form and the API share the limit
    assert by_api.status_code == 429
    assert assert_documented(by_api, "POST")["error"]["code"] == "rate_limited"
    assert api_report(client, listing_id, address="203.0.113.9").status_code == 201
    assert len(stored(app)) == 3


# -- several people agreeing ---------------------------------------------------------------


@pytest.mark.parametrize(("sent", "marked"), [
    ([("closed", "10.0.0.1"), ("closed", "10.0.0.2"), ("closed", "10.0.0.3")], True),
    ([("phone", "10.0.0.1"), ("phone", "10.0.0.2"), ("phone", "10.0.0.3")], True),
    ([("closed", "10.0.0.1"), ("closed", "10.0.0.2")], False),
    ([("closed", "10.0.0.1"), ("closed", "10.0.0.1"), ("closed", "10.0.0.1")], False),
    ([("closed", "10.0.0.1"), ("closed", "10.0.0.2"), ("phone", "10.0.0.3")], False),
    ([("hours", "10.0.0.1"), ("hours", "10.0.0.2"), ("hours", "10.0.0.3")], False),
    # One IPv6 network (a household, a phone) is one person, whatever its address's end.
    ([("closed", "2001:db8:1:2::a"), ("closed", "2001:db8:1:2::b"),
      ("closed", "2001:db8:1:2::c")], False),
    ([("closed", "2001:db8:1:2::a"), ("closed", "2001:db8:1:3::a"),
      ("closed", "2001:db8:1:4::a")], True),
])
def test_three_people_reporting_a_closure_or_a_wrong_phone_mark_the_listing(
        app: Flask, client: FlaskClient, listing_id: int, sent: list[tuple[str, str]],
        marked: bool) -> None:
    with session_scope(app) as session:
        changes_before = session.scalar(sa.select(sa.func.count()).select_from(IndexChange))
    for problem, address in sent:
        assert api_report(client, listing_id, address=address, problem=problem
                          ).status_code == 201
    assert flagged(app, listing_id) is marked
    with session_scope(app) as session:
        changes_after = session.scalar(sa.select(sa.func.count()).select_from(IndexChange))
        notes = session.scalars(sa.select(ListingChange.note).where(
            ListingChange.actor_kind == Actor.SYSTEM)).all()
    # Marked through the ORM: the search index is told of the listing's change.
    assert (changes_after != changes_before) is marked
    assert any("marked out of date: 3 patients" in note for note in notes) is marked


def test_a_reporter_is_kept_as_a_keyed_digest_only() -> None:
    digest = reports.reporter_digest("key one", "198.51.100.7")
    assert len(digest) == 64 and "198" not in digest
    assert digest == reports.reporter_digest("key one", "198.51.100.7")
    assert digest != reports.reporter_digest("key two", "198.51.100.7")
    assert digest != reports.reporter_digest("key one", "198.51.100.8")


# -- resolving -------------------------------------------------------------------------------


def resolve(staff: FlaskClient, report_id: int, button: str = "fixed",
            message: str = "Corrected the phone number.", token: str = "") -> Any:
    path = f"/moderation/reports/{report_id}"
    return staff.post(path, data={"csrf_token": token or csrf(staff, path), button: "1",
                                  "message": message})


def test_resolving_records_who_and_tells_the_reporter(app: Flask, client: FlaskClient,
                                                      listing_id: int) -> None:
    api_report(client, listing_id, problem="phone", email=PATIENT, note="Wrong number")
    [report] = stored(app)
    staff = moderator(app)
    page = staff.get(f"/moderation/reports/{report.id}").get_data(as_text=True)
    assert "Wrong number" in page and PATIENT in page and "The phone number is wrong" in page
    silent = resolve(staff, report.id, message="  ")
    assert silent.status_code == 400 and "Say what was done" in silent.get_data(as_text=True)

    response = resolve(staff, report.id, "fixed", "We corrected the phone number.")
    assert response.status_code == 302
    assert "and told the patient" in staff.get("/moderation").get_data(as_text=True)
    [done] = stored(app)
    assert done.status is ReportStatus.FIXED
    assert done.resolution == "We corrected the phone number."
    assert done.resolved_at is not None and done.resolved_by is not None
    [message] = outbox(app, "report_resolved")
    assert message.to == PATIENT
    assert "We have corrected the listing" in message.body
    assert "We corrected the phone number." in message.body
    with session_scope(app) as session:
        [note] = session.scalars(sa.select(ListingChange).where(
            ListingChange.actor_kind == Actor.MODERATOR)).all()
        assert note.actor == MODERATOR and note.location_id == listing_id
        assert f"patient report {done.id}" in note.note and "fixed" in note.note
    assert "No open reports" in staff.get("/moderation").get_data(as_text=True)


def test_a_dismissal_without_an_e_mail_tells_no_one(app: Flask, client: FlaskClient,
                                                    listing_id: int) -> None:
    api_report(client, listing_id)
    [report] = stored(app)
    assert resolve(moderator(app), report.id, "dismissed", "Open as usual.").status_code == 302
    assert stored(app)[0].status is ReportStatus.DISMISSED
    assert outbox(app, "report_resolved") == []


def test_resolving_twice_is_refused(app: Flask, client: FlaskClient, listing_id: int) -> None:
    api_report(client, listing_id, email=PATIENT)
    [report] = stored(app)
    staff = moderator(app)
    # The page in a second tab still has its form; the first tab resolves the report.
    token = csrf(staff, f"/moderation/reports/{report.id}")
    assert resolve(staff, report.id, "fixed", token=token).status_code == 302
    again = resolve(staff, report.id, "dismissed", "Changed my mind.", token=token)
    assert again.status_code == 400
    assert "already resolved as fixed" in again.get_data(as_text=True)
    assert 'name="fixed"' not in again.get_data(as_text=True)  # and no form to try again
    assert stored(app)[0].status is ReportStatus.FIXED
    assert len(outbox(app, "report_resolved")) == 1


def test_a_resolution_taken_meanwhile_wins(app: Flask, client: FlaskClient,
                                           listing_id: int) -> None:
    """Two moderators with the report open at once: the conditional update lets one in."""
    api_report(client, listing_id)
    [report] = stored(app)
    with session_scope(app) as first, session_scope(app) as second:
        mine = first.get(PatientReport, report.id)
        theirs = second.get(PatientReport, report.id)
        assert mine is not None and theirs is not None
        assert theirs.status is ReportStatus.OPEN  # read before the other's decision
        reports.resolve(first, mine, ReportStatus.FIXED, None, "a@finder.example", "Done.")
        first.commit()
        with pytest.raises(InvalidInput, match="Another moderator resolved this report"):
            reports.resolve(second, theirs, ReportStatus.DISMISSED, None, "b@finder.example",
                            "Not so.")
        second.rollback()
    assert stored(app)[0].status is ReportStatus.FIXED


def test_resolving_the_last_open_report_takes_the_mark_off(
        app: Flask, client: FlaskClient, listing_id: int) -> None:
    for address in ("10.0.0.1", "10.0.0.2", "10.0.0.3"):
        api_report(client, listing_id, address=address)
    assert flagged(app, listing_id)
    staff = moderator(app)
    first, second, third = stored(app)
    assert "marked out of date" in staff.get("/moderation").get_data(as_text=True)
    assert resolve(staff, first.id, "dismissed", "Called: they are open.").status_code == 302
    assert resolve(staff, second.id, "dismissed", "Called: they are open.").status_code == 302
    assert flagged(app, listing_id)  # one report is still open
    assert resolve(staff, third.id, "dismissed", "Called: they are open.").status_code == 302
    assert not flagged(app, listing_id)


def test_the_report_page_is_for_moderators(app: Flask, client: FlaskClient,
                                           listing_id: int) -> None:
    api_report(client, listing_id)
    [report] = stored(app)
    response = client.get(f"/moderation/reports/{report.id}")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert moderator(app).get("/moderation/reports/999").status_code == 404


@pytest.fixture
def mail_server() -> Iterator[MailServer]:
    server = MailServer().start()
    yield server
    server.stop()


def _delivered(server: MailServer, count: int) -> list[Any]:
    deadline = time.monotonic() + 15
    while len(server.received) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return server.received


def test_the_owner_and_the_patient_get_their_e_mails(app: Flask, client: FlaskClient,
                                                      listing_id: int,
                                                      mail_server: MailServer) -> None:
    app.config["SMTP_URL"] = mail_server.url()
    assert api_report(client, listing_id, problem="hours", email=PATIENT,
                      note="Closed on Mondays").status_code == 201
    [to_owner] = _delivered(mail_server, 1)
    assert to_owner["To"] == OWNER
    assert "The opening hours are wrong" in to_owner.get_content()
    assert PATIENT not in to_owner.as_string()
    [report] = stored(app)
    assert resolve(moderator(app), report.id, "fixed", "Mondays are now shown as closed."
                   ).status_code == 302
    _, to_patient = _delivered(mail_server, 2)
    assert to_patient["To"] == PATIENT
    assert str(to_patient["Subject"]) == "Your report about Eastside Needling"
    assert "Mondays are now shown as closed." in to_patient.get_content()
    assert OWNER not in to_patient.as_string()


# -- privacy -----------------------------------------------------------------------------------


def test_nothing_private_reaches_a_public_page_or_answer(app: Flask, client: FlaskClient,
                                                         listing_id: int) -> None:
    secret_note = "Private note: the receptionist is my cousin"
    for address in ("10.0.0.1", "10.0.0.2", "10.0.0.3"):
        api_report(client, listing_id, address=address, email=PATIENT, note=secret_note)
    digests = {report.reporter for report in stored(app)}
    assert flagged(app, listing_id)
    public = [
        client.get(f"/api/v1/listings/{listing_id}"),
        client.get(f"/providers/{listing_id}"),
        client.get("/search", query_string={"postcode": "78701"}),
        client.get("/api/v1/search", query_string={"postcode": "78701"}),
        client.get("/api/v1/listings"),
        client.get(f"/providers/{listing_id}/report"),
        client.get(f"/providers/{listing_id}/report/thanks"),
    ]
    for response in public:
        assert response.status_code == 200, response.request.path
        text = response.get_data(as_text=True)
        assert "Eastside Needling" in text, response.request.path
        for private in (PATIENT, secret_note, OWNER, *digests):
            assert private not in text, (response.request.path, private)


# -- in a browser ------------------------------------------------------------------------------


def _fill(app: Flask) -> None:
    load(app, [row("eastside", "Eastside Needling", near(AUSTIN, 1), phone="512-555-0177",
                   services="Dry needling", address_1="12 East St")])
    with session_scope(app) as session:
        create_account(session, MODERATOR, PASSWORD, "moderator")
        location = session.scalars(sa.select(Location)).one()
        location.owner_email = OWNER
        for address in ("192.0.2.1", "192.0.2.2"):  # one for each device's moderator
            reports.take(session, location, reports.check("phone", "It rings a bakery.", ""),
                         reports.reporter_digest("key", address))
        session.commit()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, migrated_database: Path) -> Iterator[Server]:
    yield from serve_directory(tmp_path_factory, migrated_database, "reports", _fill)


@pytest.fixture
def open_page(browser: Browser, site: Server) -> Iterator[PageFactory]:
    yield from page_factory(browser, site.url)


def _fits(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"]  # type: ignore[index]


def _tab_to(page: Page, name: str, presses: int = 60) -> None:
    """Press Tab until the link or control named ``name`` has the focus."""
    for _ in range(presses):
        page.keyboard.press("Tab")
        if page.evaluate("(document.activeElement.textContent || '').trim()") == name:
            return
    raise AssertionError(f"{name!r} was never reached with Tab")


@pytest.mark.parametrize("device", ["desktop", "phone"])
def test_a_patient_reports_with_the_keyboard(open_page: PageFactory, device: str) -> None:
    page = open_page(**(DESKTOP if device == "desktop" else PHONE))
    page.goto("/providers/1")
    _tab_to(page, "Report incorrect information")
    shot(page, f"report-link-profile-{device}")
    page.keyboard.press("Enter")
    expect(page.locator("h1")).to_have_text("Report incorrect information")
    assert_accessible(page)
    _fits(page)
    shot(page, f"report-form-{device}")

    page.get_by_label("The phone number is wrong").focus()
    for _ in range(3):  # arrow keys move through a radio group, choosing as they go
        page.keyboard.press("ArrowDown")
    expect(page.get_by_label("The clinic has closed")).to_be_checked()
    page.keyboard.press("Tab")
    page.keyboard.type("The sign on the door says they closed in March.")
    page.keyboard.press("Tab")
    page.keyboard.type("patient-at-mail.example")
    page.keyboard.press("Enter")
    expect(page.locator("#email-error")).to_contain_text("@-sign")
    expect(page.get_by_label("The clinic has closed")).to_be_checked()
    expect(page.locator("#note")).to_have_value("The sign on the door says they closed in March.")
    expect(page.get_by_label("Your e-mail (optional)")).to_have_value("patient-at-mail.example")
    assert_accessible(page)
    _fits(page)
    shot(page, f"report-errors-{device}")

    page.get_by_label("Your e-mail (optional)").fill(f"{device}@mail.example")
    page.get_by_label("Your e-mail (optional)").press("Enter")
    expect(page.locator("h1")).to_contain_text("Thank you")
    assert_accessible(page)
    _fits(page)
    shot(page, f"report-thanks-{device}")


@pytest.mark.parametrize("device", ["desktop", "phone"])
def test_a_moderator_sees_the_reports_and_resolves_one(open_page: PageFactory,
                                                       device: str) -> None:
    page = open_page(**(DESKTOP if device == "desktop" else PHONE))
    page.goto("/login?next=/moderation")
    page.get_by_label("E-mail").fill(MODERATOR)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    section = page.locator("table.reports")
    expect(section).to_contain_text("Eastside Needling")
    assert_accessible(page)
    _fits(page)
    shot(page, f"report-queue-{device}")
    section.get_by_role("link").first.click()
    expect(page.locator("h1")).to_have_text("Report on Eastside Needling")
    assert_accessible(page)
    _fits(page)
    shot(page, f"report-resolve-{device}")
    page.get_by_label(re.compile("What was done")).fill("Checked by phone: corrected.")
    page.get_by_role("button", name="Fixed").click()
    expect(page.get_by_role("status")).to_contain_text("Report on Eastside Needling fixed")


@pytest.mark.parametrize(("seconds", "said"), [
    (5, "just now"), (60, "1 minute ago"), (3 * 3600 + 5, "3 hours ago"),
    (86_400 * 2, "2 days ago"),
])
def test_a_report_s_age_is_said_in_words(seconds: int, said: str) -> None:
    now = datetime(2026, 12, 1, 12, tzinfo=UTC)
    assert reports.age(now - timedelta(seconds=seconds), now) == said
