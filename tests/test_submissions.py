"""Clinic submissions through the API: queued for moderation, checked field by field, limited,
approved into search on every backend with their history, duplicates flagged, and the
owner's e-mail never public."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from finder.clinics import submissions
from finder.clinics.models import Decision, Kind, Submission
from finder.db import session_scope
from finder.errors import InvalidInput
from finder.geocode import get_geocoder
from finder.search import get_backend
from tests.conftest import AUSTIN, load, near, row

OWNER = "owner@eastside-needling.example"


def listing(**fields: Any) -> dict[str, Any]:
    return {"name": "Eastside Needling", "lat": near(AUSTIN, 1)[0], "lon": near(AUSTIN, 1)[1],
            "address": {"address_1": "12 East St", "city": "Austin", "region": "TX",
                        "postcode": "78701", "country": "US"},
            "phone": "512-555-0177", "website": "https://eastside-needling.example",
            "services": ["Dry needling", "Manual therapy"], "techniques": ["electrical"],
            "hours": "Mon-Fri 08:00-18:00", **fields}


def post(client: FlaskClient, body: Any) -> Any:
    return client.post("/api/v1/listings", json=body)


def names(client: FlaskClient, **params: str) -> list[str]:
    body = client.get("/api/v1/search", query_string={"postcode": "78701", **params}).get_json()
    return [result["name"] for result in body["results"]]


def approve(app: Flask, submission_id: int) -> int:
    with session_scope(app) as session:
        submission = session.get(Submission, submission_id)
        assert submission is not None
        location = submissions.approve(session, submission, None, "mod@finder.example",
                                       get_geocoder(app), "US")
        session.commit()
        location_id = location.id
    get_backend(app).catch_up()
    return location_id


def test_a_submission_is_pending_until_approved_then_searchable(any_database_app: Flask) -> None:
    app = any_database_app
    client = app.test_client()
    response = post(client, {**listing(), "owner_email": OWNER})
    assert response.status_code == 202
    body = response.get_json()
    assert body == {"id": body["id"], "status": "pending"}
    get_backend(app).catch_up()
    assert "Eastside Needling" not in names(client)
    location_id = approve(app, body["id"])
    assert "Eastside Needling" in names(client, q="electrical dry needling")
    public = client.get(f"/api/v1/listings/{location_id}").get_json()
    assert public["source"] == "self-submitted"
    with session_scope(app) as session:
        changes = submissions.history(session, location_id)
    assert len(changes) == 1 and changes[0].actor == "mod@finder.example"
    assert changes[0].changes["name"] == [None, "Eastside Needling"]


@pytest.mark.parametrize(("body", "code", "says"), [
    ({**listing(), "owner_email": "not-an-address"}, "invalid_owner_email", "owner_email"),
    (listing(), "invalid_owner_email", "owner_email"),
    ({**listing(name=""), "owner_email": OWNER}, "invalid_listing", "name"),
    ({**listing(phone="12"), "owner_email": OWNER}, "invalid_listing", "phone"),
    ({**listing(techniques=["laser"]), "owner_email": OWNER}, "invalid_listing", "technique"),
    ({**listing(hours="Mon 25:00-26:00"), "owner_email": OWNER}, "invalid_listing", "hours"),
    ({**listing(lat=None, lon=None, address={"postcode": "00000", "country": "US"}),
      "owner_email": OWNER}, "invalid_listing", "address"),
    ({**listing(colour="blue"), "owner_email": OWNER}, "invalid_listing", "colour"),
    (["not", "an", "object"], "invalid_listing", "JSON object"),
])
def test_bad_input_is_a_specific_400(client: FlaskClient, body: Any, code: str,
                                     says: str) -> None:
    response = post(client, body)
    assert response.status_code == 400, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == code
    assert says in error["message"]


def test_every_bad_field_is_listed(client: FlaskClient) -> None:
    body = {**listing(name="", phone="12", techniques=["laser"], hours="Mon 25:00-26:00",
                      npi="123"), "owner_email": OWNER}
    error = post(client, body).get_json()["error"]
    fields = {item["field"]: item["message"] for item in error["fields"]}
    assert set(fields) >= {"name", "phone", "techniques[0]", "hours", "npi"}, fields
    assert fields["name"] == "is required"


def test_a_flood_of_submissions_is_refused(app: Flask) -> None:
    app.config["SUBMIT_RATE_LIMIT"] = "3/hour"
    client = app.test_client()
    statuses = [post(client, {**listing(name=f"Clinic {n}"), "owner_email": OWNER}).status_code
                for n in range(4)]
    assert statuses == [202, 202, 202, 429]
    with session_scope(app) as session:
        assert session.query(Submission).count() == 3


def test_an_edit_is_moderated_while_the_published_listing_stays(app: Flask,
                                                                client: FlaskClient) -> None:
    load(app, [row("imported", "Congress Physio", near(AUSTIN, 0.5),
                   services="Dry needling", phone="512-555-0100")])
    with session_scope(app) as session:
        from finder.models import Location

        location = session.query(Location).one()
        edit = submissions.submit(session, listing(name="Congress Physio & Needling",
                                                   phone="512-555-0100"),
                                  OWNER, get_geocoder(app), "US", location=location)
        session.commit()
        edit_id, location_id = edit.id, location.id
        assert edit.kind is Kind.EDIT
        changes = submissions.proposed_changes(session, edit)
    assert changes["name"] == ["Congress Physio", "Congress Physio & Needling"]
    assert "phone" not in changes  # the same as published
    assert client.get(f"/api/v1/listings/{location_id}").get_json()["name"] == "Congress Physio"
    approve(app, edit_id)
    assert client.get(f"/api/v1/listings/{location_id}").get_json()["name"] == \
        "Congress Physio & Needling"
    with session_scope(app) as session:
        latest = submissions.history(session, location_id)[0]
    assert latest.changes["name"] == ["Congress Physio", "Congress Physio & Needling"]
    assert "phone" not in latest.changes


def test_likely_duplicates_are_flagged_with_why(app: Flask, client: FlaskClient) -> None:
    load(app, [row("a", "Eastside Needling", near(AUSTIN, 1.05), phone="512-555-0199"),
               row("b", "Other Clinic", near(AUSTIN, 9), phone="512-555-0177"),
               row("c", "Unrelated Physio", near(AUSTIN, 20), phone="512-555-0111")])
    response = post(client, {**listing(), "owner_email": OWNER})
    with session_scope(app) as session:
        submission = session.get(Submission, response.get_json()["id"])
        assert submission is not None
        found = submissions.likely_duplicates(session, submission, get_geocoder(app), "US")
    reasons = {duplicate.name: duplicate.reasons for duplicate in found}
    assert set(reasons) == {"Eastside Needling", "Other Clinic"}
    assert any("name like" in reason for reason in reasons["Eastside Needling"])
    assert reasons["Other Clinic"] == ("same phone +1 512-555-0177",)


def test_a_decision_needs_a_reason_and_is_made_once(app: Flask, client: FlaskClient) -> None:
    response = post(client, {**listing(), "owner_email": OWNER})
    with session_scope(app) as session:
        submission = session.get(Submission, response.get_json()["id"])
        assert submission is not None
        with pytest.raises(InvalidInput, match="why"):
            submissions.reject(session, submission, None, "  ")
        with pytest.raises(InvalidInput, match="what should change"):
            submissions.request_changes(session, submission, None, "")
        submissions.reject(session, submission, None, "Not a clinic.")
        for decide in (lambda: submissions.approve(session, submission, None, "mod",
                                                   get_geocoder(app), "US"),
                       lambda: submissions.request_changes(session, submission, None, "x"),
                       lambda: submissions.reject(session, submission, None, "again")):
            with pytest.raises(InvalidInput, match="already rejected"):
                decide()


def test_private_fields_are_never_public(app: Flask, client: FlaskClient) -> None:
    from finder.clinics import owners
    from finder.db import session_scope
    from finder.models import ListingChange
    from finder.partners import keys

    response = post(client, {**listing(), "owner_email": OWNER})
    location_id = approve(app, response.get_json()["id"])
    with session_scope(app) as session:
        _, key = keys.create(session, "Club", ["https://run.example"], preset={}, look={})
        session.add(ListingChange(location_id=location_id, actor_kind="moderator",
                                  actor="mod@finder.example", note="a private note"))
        session.commit()
    token = owners.make_token(app.config["SECRET_KEY"], location_id, OWNER)
    private = [OWNER, "mod@finder.example", "a private note", token]
    pages = [client.get(f"/api/v1/listings/{location_id}"),
             client.get("/api/v1/search?postcode=78701"),
             client.get("/api/v1/listings?modified_after=2000-01-01"),
             client.get(f"/api/v1/search?postcode=78701&key={key}",
                        headers={"Origin": "https://run.example"}),
             client.get(f"/providers/{location_id}"),
             client.get("/search?postcode=78701"),
             client.get("/dry-needling/us/tx/austin"),
             client.get("/sitemap.xml")]
    for page in pages:
        assert page.status_code == 200, page.request.path
        text = page.get_data(as_text=True)
        assert [secret for secret in private if secret in text] == [], page.request.path


def test_submission_answers_are_as_documented(client: FlaskClient) -> None:
    from tests.test_openapi import assert_documented

    accepted = post(client, {**listing(), "owner_email": OWNER})
    assert accepted.status_code == 202
    assert_documented(accepted, "POST")
    assert_documented(post(client, {**listing(phone="12"), "owner_email": OWNER}), "POST")


def test_a_duplicate_is_merged_or_set_aside(app: Flask, client: FlaskClient) -> None:
    from finder.models import Location

    load(app, [row("a", "Eastside Needling", near(AUSTIN, 1.05), phone="512-555-0199")])
    first = post(client, {**listing(), "owner_email": OWNER}).get_json()["id"]
    second = post(client, {**listing(name="Eastside Needling"), "owner_email": OWNER}
                  ).get_json()["id"]
    with session_scope(app) as session:
        existing = session.query(Location).one()
        merging = session.get(Submission, first)
        dismissing = session.get(Submission, second)
        assert merging is not None and dismissing is not None
        submissions.not_a_duplicate(dismissing, existing.id)
        assert submissions.likely_duplicates(session, dismissing, get_geocoder(app), "US") == []
        location = submissions.merge(session, merging, existing.id, None, "mod",
                                     get_geocoder(app), "US")
        session.commit()
        assert location.id == existing.id and location.external_id == "a"
        assert location.owner_email == OWNER
        assert location.phone == "+1 512-555-0177"  # the submitted details
        assert merging.status is Decision.MERGED
        assert session.query(Location).count() == 1


def test_an_approved_claim_gives_the_listing_its_owner(app: Flask, client: FlaskClient) -> None:
    from finder.models import Location

    load(app, [row("a", "Eastside Needling", near(AUSTIN, 1.05))])
    with session_scope(app) as session:
        location = session.query(Location).one()
        claim = Submission(kind=Kind.CLAIM, location_id=location.id, document={},
                           owner_email=OWNER)
        session.add(claim)
        session.flush()
        submissions.approve(session, claim, None, "mod", get_geocoder(app), "US")
        session.commit()
        assert location.owner_email == OWNER
        assert "claim" in submissions.history(session, location.id)[0].note
        assert submissions.pending(session) == []


def test_several_locations_are_sent_at_once_or_not_at_all(app: Flask,
                                                          client: FlaskClient) -> None:
    two = [listing(), listing(name="Eastside Needling North", lat=None, lon=None,
                              address={"postcode": "78702", "country": "US"})]
    response = post(client, {"listings": two, "owner_email": OWNER})
    assert response.status_code == 202
    body = response.get_json()
    assert body["status"] == "pending" and len(body["ids"]) == 2
    bad = post(client, {"listings": [listing(), listing(phone="12")], "owner_email": OWNER})
    assert bad.status_code == 400
    error = bad.get_json()["error"]
    assert error["message"].startswith("listings[1]: ")
    assert [item["field"] for item in error["fields"]] == ["listings[1].phone"]
    with session_scope(app) as session:
        assert session.query(Submission).count() == 2  # the refused pair left nothing
    too_many = post(client, {"listings": [], "owner_email": OWNER})
    assert too_many.status_code == 400


def test_a_submission_never_touches_another_listing_s_practitioners(
        app: Flask, client: FlaskClient) -> None:
    from finder.models import Location, Practitioner

    load(app, [row("other", "Other Clinic", near(AUSTIN, 5))])
    with session_scope(app) as session:
        other = session.query(Location).one()
        session.add(Practitioner(organization=other.organization, external_id="p-77",
                                 name="Real Person", npi="1234567893", locations=[other]))
        session.commit()
    sent = post(client, {**listing(practitioners=[
        {"external_id": "p-77", "name": "Jane Fake"}]), "owner_email": OWNER}).get_json()
    approve(app, sent["id"])
    with session_scope(app) as session:
        real = session.query(Practitioner).filter_by(external_id="p-77").one()
        assert (real.name, real.npi, [loc.name for loc in real.locations]) == \
            ("Real Person", "1234567893", ["Other Clinic"])
        fake = session.query(Practitioner).filter_by(name="Jane Fake").one()
        assert [loc.name for loc in fake.locations] == ["Eastside Needling"]


def test_an_edit_neither_republishes_nor_changes_the_owner(app: Flask,
                                                           client: FlaskClient) -> None:
    from finder.models import Location, Status

    load(app, [row("imported", "Congress Physio", near(AUSTIN, 0.5))])
    with session_scope(app) as session:
        location = session.query(Location).one()
        location.owner_email = "new-owner@congress.example"
        edit = submissions.submit(session, listing(name="Congress Physio"), "old@congress.example",
                                  get_geocoder(app), "US", location=location)
        location.status = Status.UNPUBLISHED
        session.commit()
        edit_id = edit.id
    approve(app, edit_id)
    with session_scope(app) as session:
        location = session.query(Location).one()
        assert location.status is Status.UNPUBLISHED
        assert location.owner_email == "new-owner@congress.example"
