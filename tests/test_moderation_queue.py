"""The moderation queue end to end, on every database and search backend: a clinic submits,
a moderator approves and the listing is searchable at once; the owner changes it through the
e-mailed link, the moderator sees the change field by field and approves, and the change is
live with its history. Refusals and requests say why; likely duplicates are flagged."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from playwright.sync_api import Browser, expect

from finder.clinics import submissions as clinic_submissions
from finder.clinics.models import Decision, Submission
from finder.db import session_scope
from finder.geocode import get_geocoder
from finder.models import OutboxMessage
from finder.moderation.accounts import create_account
from tests import browser as browsing
from tests.browser import DESKTOP, PHONE, PageFactory, assert_accessible, page_factory, shot
from tests.conftest import AUSTIN, Server, form_values, load, near, row, serve_directory

MODERATOR = "mod@finder.example"
PASSWORD = "correct horse battery"
OWNER = "owner@eastside-needling.example"


def listing(**fields: Any) -> dict[str, Any]:
    return {"name": "Eastside Needling", "lat": near(AUSTIN, 1)[0], "lon": near(AUSTIN, 1)[1],
            "address": {"postcode": "78701", "city": "Austin", "region": "TX"},
            "phone": "512-555-0177", "services": ["Dry needling"], **fields}


def csrf(client: FlaskClient, path: str) -> str:
    page = client.get(path).get_data(as_text=True)
    found = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    assert found, page[:300]
    return found.group(1)


def moderator(app: Flask) -> FlaskClient:
    with session_scope(app) as session:
        create_account(session, MODERATOR, PASSWORD, "moderator")
        session.commit()
    client = app.test_client()
    response = client.post("/login", data={"csrf_token": csrf(client, "/login"),
                                           "email": MODERATOR, "password": PASSWORD})
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return client


def decide(client: FlaskClient, submission_id: int, button: str, message: str = "") -> Any:
    path = f"/moderation/submissions/{submission_id}"
    return client.post(path, data={"csrf_token": csrf(client, path), button: "1",
                                   "message": message})


def names(client: FlaskClient, **params: str) -> list[str]:
    body = client.get("/api/v1/search", query_string={"postcode": "78701", **params}).get_json()
    return [result["name"] for result in body["results"]]


def messages(app: Flask) -> list[OutboxMessage]:
    with session_scope(app) as session:
        return list(session.query(OutboxMessage).order_by(OutboxMessage.id))


def test_submit_approve_edit_approve(any_database_app: Flask) -> None:
    app = any_database_app
    public, staff = app.test_client(), moderator(app)
    sent = public.post("/api/v1/listings", json={**listing(), "owner_email": OWNER}).get_json()
    queue = staff.get("/moderation").get_data(as_text=True)
    assert "Eastside Needling" in queue and OWNER in queue
    page = staff.get(f"/moderation/submissions/{sent['id']}").get_data(as_text=True)
    assert "What was sent" in page and "Eastside Needling" in page

    approved = decide(staff, sent["id"], "approve")
    assert approved.status_code == 302
    assert "Eastside Needling" in names(public)  # at once: the index caught up
    [mail] = messages(app)
    assert mail.to == OWNER and mail.kind == "approved"
    token = re.search(r"/manage/(\S+)", mail.body).group(1)  # type: ignore[union-attr]

    edit_page = public.get(f"/manage/{token}").get_data(as_text=True)
    form = form_values(edit_page)
    form.update(phone="512-555-0188", send="1", services="Dry needling")
    assert public.post(f"/manage/{token}", data=form).status_code == 303
    with session_scope(app) as session:
        edit = session.query(Submission).filter_by(kind="edit").one()
        edit_id, location_id = edit.id, edit.location_id
    diff = staff.get(f"/moderation/submissions/{edit_id}").get_data(as_text=True)
    assert re.search(r"phone</th><td class=\"old\">\+1 512-555-0177</td>"
                     r"<td class=\"new\">\+1 512-555-0188</td>", diff), diff
    assert decide(staff, edit_id, "approve").status_code == 302
    live = public.get(f"/api/v1/listings/{location_id}").get_json()
    assert live["phone"] == "+1 512-555-0188"
    history = public.get(f"/manage/{token}")
    assert history.status_code == 403  # that link was spent by the change
    with session_scope(app) as session:
        from finder.clinics.submissions import history as changes

        recorded = changes(session, location_id)  # type: ignore[arg-type]
    assert [change.changes.get("phone") for change in recorded][0] == \
        ["+1 512-555-0177", "+1 512-555-0188"]
    assert len(recorded) == 2


def test_a_refusal_and_a_request_say_why(app: Flask) -> None:
    public, staff = app.test_client(), moderator(app)
    first = public.post("/api/v1/listings", json={**listing(), "owner_email": OWNER}).get_json()
    second = public.post("/api/v1/listings",
                         json={**listing(name="Westside"), "owner_email": OWNER}).get_json()
    silent = decide(staff, first["id"], "reject")
    assert silent.status_code == 400
    assert "Say why" in silent.get_data(as_text=True)
    assert decide(staff, first["id"], "reject", "Not a physical therapy clinic.").status_code \
        == 302
    assert decide(staff, second["id"], "ask", "Please add your opening hours.").status_code \
        == 302
    with session_scope(app) as session:
        statuses = {s.id: s.status for s in session.query(Submission)}
    assert statuses == {first["id"]: Decision.REJECTED,
                        second["id"]: Decision.CHANGES_REQUESTED}
    kinds = [(m.kind, m.to) for m in messages(app)]
    assert kinds == [("rejected", OWNER), ("changes_requested", OWNER)]
    assert "Not a physical therapy clinic." in messages(app)[0].body
    assert "Nothing is waiting" in staff.get("/moderation").get_data(as_text=True)


def test_likely_duplicates_are_flagged_and_can_be_merged(app: Flask) -> None:
    load(app, [row("a", "Eastside Needling", near(AUSTIN, 1.02), phone="512-555-0199")])
    public, staff = app.test_client(), moderator(app)
    sent = public.post("/api/v1/listings", json={**listing(), "owner_email": OWNER}).get_json()
    assert "<strong class=\"flag\">1</strong>" in staff.get("/moderation").get_data(as_text=True)
    path = f"/moderation/submissions/{sent['id']}"
    page = staff.get(path).get_data(as_text=True)
    assert "a name like" in page
    merged = staff.post(path, data={"csrf_token": csrf(staff, path), "location_id": "1",
                                    "merge": "1"})
    assert merged.status_code == 302
    assert names(public) == ["Eastside Needling"]  # one listing, not two
    assert public.get("/api/v1/listings/1").get_json()["phone"] == "+1 512-555-0177"


def test_the_queue_needs_a_login(client: FlaskClient) -> None:
    response = client.get("/moderation/submissions/1")
    assert response.status_code == 302
    assert "/login?next=" in response.headers["Location"]


# -- in a browser ----------------------------------------------------------------------------

browser = browsing.browser


def _fill(app: Flask) -> None:
    load(app, [row("a", "Eastside Needling", near(AUSTIN, 1.02), phone="512-555-0199",
                   website="https://eastside-needling.example")])
    with session_scope(app) as session:
        create_account(session, MODERATOR, PASSWORD, "moderator")
        create_account(session, "admin@finder.example", PASSWORD, "admin")
        from finder.mail import queue

        queue(session, OWNER, "Eastside Needling is live", "body", "approved")
        from finder.models import Location

        location = session.query(Location).one()
        clinic_submissions.submit(session, listing(), OWNER, get_geocoder(app), "US")
        change = listing(name="Eastside Needling", phone="512-555-0199",
                         services=["Dry needling", "Cupping"])
        clinic_submissions.submit(session, change, OWNER, get_geocoder(app), "US",
                                  location=location)
        session.commit()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, migrated_database: Path) -> Iterator[Server]:
    yield from serve_directory(tmp_path_factory, migrated_database, "moderation-queue", _fill)


@pytest.fixture
def open_page(browser: Browser, site: Server) -> Iterator[PageFactory]:
    yield from page_factory(browser, site.url)


@pytest.mark.parametrize("device", ["desktop", "phone"])
def test_a_moderator_reads_the_queue_in_a_browser(open_page: PageFactory, device: str) -> None:
    page = open_page(**(DESKTOP if device == "desktop" else PHONE))
    page.goto("/moderation")
    page.get_by_label("E-mail").fill(MODERATOR)
    page.get_by_label("Password").fill(PASSWORD)
    page.keyboard.press("Enter")
    expect(page.locator("h1")).to_have_text("Moderation")
    expect(page.locator("table.queue tbody tr")).to_have_count(2)
    assert_accessible(page)
    shot(page, f"moderation-queue-{device}")
    page.get_by_role("link", name="Eastside Needling").first.click()
    expect(page.locator("h1")).to_contain_text("Eastside Needling")
    assert_accessible(page)
    shot(page, f"moderation-submission-{device}")
    page.goto("/moderation")
    page.locator("table.queue tbody tr").nth(1).get_by_role("link").click()
    expect(page.locator("table.diff")).to_contain_text("Cupping")
    assert_accessible(page)
    shot(page, f"moderation-diff-{device}")


def test_an_admin_reads_the_outbox_and_the_partners_in_a_browser(open_page: PageFactory
                                                                 ) -> None:
    page = open_page(**DESKTOP)
    page.goto("/login")
    page.get_by_label("E-mail").fill("admin@finder.example")
    page.get_by_label("Password").fill(PASSWORD)
    page.keyboard.press("Enter")
    page.get_by_role("link", name="Outbox").click()
    expect(page.locator("table.queue").first).to_contain_text("Eastside Needling is live")
    assert_accessible(page)
    shot(page, "moderation-outbox-desktop")
    page.goto("/moderation/partners")
    expect(page.locator("h1")).to_have_text("Partners")
    assert_accessible(page)


def test_admins_see_the_outbox_and_the_partners(app: Flask) -> None:
    from finder.mail import queue
    from finder.partners import keys

    staff = moderator(app)
    with session_scope(app) as session:
        create_account(session, "admin@finder.example", PASSWORD, "admin")
        queue(session, OWNER, "Your link to change Eastside", "body", "owner_link")
        keys.create(session, "Riverside Running Club", ["https://run.example"], preset={},
                    look={})
        session.commit()
    assert staff.get("/moderation/outbox").status_code == 403
    assert staff.get("/moderation/partners").status_code == 403
    admin = app.test_client()
    admin.post("/login", data={"csrf_token": csrf(admin, "/login"),
                               "email": "admin@finder.example", "password": PASSWORD})
    box = admin.get("/moderation/outbox").get_data(as_text=True)
    assert "Your link to change Eastside" in box and OWNER in box
    listed = admin.get("/moderation/partners").get_data(as_text=True)
    assert "Riverside Running Club" in listed and "https://run.example" in listed


def test_a_moderator_unpublishes_and_republishes_a_listing(any_database_app: Flask) -> None:
    app = any_database_app
    load(app, [row("a", "Eastside Needling", near(AUSTIN, 1.02))])
    public, staff = app.test_client(), moderator(app)
    found = staff.get("/moderation/listings?q=eastside").get_data(as_text=True)
    assert "/moderation/listings/1" in found
    path = "/moderation/listings/1"
    silent = staff.post(path, data={"csrf_token": csrf(staff, path), "unpublish": "1"})
    assert silent.status_code == 400 and "Say why" in silent.get_data(as_text=True)
    assert staff.post(path, data={"csrf_token": csrf(staff, path), "unpublish": "1",
                                  "reason": "Closed for good (called them)."}).status_code == 302
    assert names(public) == []  # out of search at once
    assert public.get("/api/v1/listings/1").status_code == 404
    page = staff.get(path).get_data(as_text=True)
    assert "Closed for good (called them)." in page and "unpublished" in page
    assert staff.post(path, data={"csrf_token": csrf(staff, path), "publish": "1",
                                  "reason": "Reopened."}).status_code == 302
    assert names(public) == ["Eastside Needling"]


def test_an_approved_claim_sends_the_claimant_a_link(app: Flask) -> None:
    from finder.clinics.models import Kind
    from finder.models import Location

    load(app, [row("a", "Eastside Needling", near(AUSTIN, 1.02),
                   website="https://eastside-needling.example")])
    public, staff = app.test_client(), moderator(app)
    path = "/providers/1/claim"
    public.post(path, data={"csrf_token": csrf(public, path), "email": "me@gmail.example",
                            "send": "1"})
    with session_scope(app) as session:
        claim = session.query(Submission).filter_by(kind=Kind.CLAIM).one()
        claim_id = claim.id
    page = staff.get(f"/moderation/submissions/{claim_id}").get_data(as_text=True)
    assert "is <strong>not</strong> on its domain" in page
    assert decide(staff, claim_id, "approve").status_code == 302
    with session_scope(app) as session:
        assert session.get(Location, 1).owner_email == "me@gmail.example"  # type: ignore[union-attr]
    sent = [(message.kind, message.to) for message in messages(app)]
    assert sent[-1] == ("owner_link", "me@gmail.example")
    token = re.search(r"/manage/(\S+)", messages(app)[-1].body).group(1)  # type: ignore[union-attr]
    assert public.get(f"/manage/{token}").status_code == 200


def test_odd_input_to_the_queue_is_a_clear_answer(any_database_app: Flask) -> None:
    app = any_database_app
    public, staff = app.test_client(), moderator(app)
    sent = public.post("/api/v1/listings", json={**listing(), "owner_email": OWNER}).get_json()
    for path in ("/moderation/submissions/9999999999", "/moderation/listings/99999999999"):
        assert staff.get(path).status_code == 404
    assert staff.get("/moderation/listings?q=%C2%B2").status_code == 200
    path = f"/moderation/submissions/{sent['id']}"
    for data in ({"merge": "1", "location_id": "\u00b2"},
                 {"merge": "1", "location_id": "9" * 30},
                 {"reject": "1", "message": "x" * 6000}):
        response = staff.post(path, data={"csrf_token": csrf(staff, path), **data})
        assert response.status_code == 400, data
    nul = public.post("/api/v1/listings", json={**listing(name="Bad\u0000Name"),
                                                 "owner_email": OWNER})
    assert nul.status_code == 400
    assert nul.get_json()["error"]["fields"][0]["field"] == "name"
    for query in ("after_id=999999999999999999", "modified_after=0001-01-01T00:00:00%2B14:00"):
        assert public.get(f"/api/v1/listings?{query}").status_code == 400, query


def test_a_refused_claim_is_told_as_a_claim(app: Flask) -> None:
    load(app, [row("a", "Eastside Needling", near(AUSTIN, 1.02),
                   website="https://eastside-needling.example")])
    public, staff = app.test_client(), moderator(app)
    path = "/providers/1/claim"
    response = public.post(path, data={"csrf_token": csrf(public, path),
                                       "email": "me@gmail.example", "send": "1"})
    assert response.headers["Cache-Control"] == "no-store"
    with session_scope(app) as session:
        claim_id = session.query(Submission).one().id
    assert decide(staff, claim_id, "reject", "We could not reach the clinic.").status_code == 302
    assert [m.kind for m in messages(app)] == ["claim_waiting", "claim_rejected"]
