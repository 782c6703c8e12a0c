"""Re-verification: listings go current, due, stale and unpublished on schedule (the clock is
moved, not waited for), owners are asked once per stage, one confirmation brings a listing
back, stale listings rank lower on every backend, and the change feed sends tombstones."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from finder import create_app
from finder.clinics import submissions
from finder.clinics.models import Submission
from finder.db import get_database, session_scope
from finder.errors import ConfigError
from finder.models import Actor, ListingChange, Location, OutboxMessage, Status
from finder.moderation.accounts import create_account
from finder.search import get_backend
from finder.trust import reminders
from finder.trust.cli import owner_links
from finder.trust.verification import Policy, State, today
from tests.conftest import AUSTIN, TEST_CONFIG, Postgres, Runner, load, near, row, search

TODAY = today()
OWNER = "desk@eastside-needling.example"


@pytest.fixture(autouse=True)
def _today() -> None:
    """Each test's today, so a run across midnight compares with the code's own today()."""
    global TODAY
    TODAY = today()


def add(app: Flask, external_id: str, name: str, at: tuple[float, float],
        verified: date | None, owner: str = "", **fields: str) -> int:
    """Import one listing, then set its verification day and owner as a clinic's would be."""
    load(app, [row(external_id, name, at, services="Dry needling", **fields)])
    with session_scope(app) as session:
        location = session.scalars(sa.select(Location).where(
            Location.external_id == external_id)).one()
        location.last_verified, location.owner_email = verified, owner
        session.commit()
        get_backend(app).catch_up()
        return location.id


def run(app: Flask, day: date) -> reminders.RunReport:
    return reminders.run(get_database(app).sessionmaker, Policy(), day, owner_links(app))


def sent(app: Flask) -> list[OutboxMessage]:
    with session_scope(app) as session:
        return list(session.scalars(sa.select(OutboxMessage).order_by(OutboxMessage.id)))


def stored(app: Flask, location_id: int) -> Location:
    with session_scope(app) as session:
        location = session.get(Location, location_id)
        assert location is not None
        session.expunge(location)
        return location


def found(client: FlaskClient, **params: Any) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = search(client, postcode="78701", **params)["results"]
    return results


def csrf(client: FlaskClient, path: str) -> str:
    page = client.get(path).get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    assert token, page[:500]
    return token.group(1)


# -- the policy --------------------------------------------------------------------------------

@pytest.mark.parametrize(("age", "state"), [
    (0, State.CURRENT), (76, State.CURRENT), (77, State.DUE), (90, State.DUE),
    (91, State.STALE), (400, State.STALE)])
def test_a_listing_ages_through_the_states(age: int, state: State) -> None:
    policy = Policy(every_days=90, reminder_days=14, unpublish_after_days=180)
    assert policy.state(TODAY - timedelta(days=age), False, TODAY) is state


def test_patients_reports_make_a_listing_stale_whatever_its_age() -> None:
    assert Policy().state(TODAY, True, TODAY) is State.STALE


def test_the_stages_follow_the_settings() -> None:
    policy = Policy(every_days=30, reminder_days=5, unpublish_after_days=0)
    assert reminders.stage(policy, TODAY - timedelta(days=25), TODAY) == ""
    assert reminders.stage(policy, TODAY - timedelta(days=26), TODAY) == "due"
    assert reminders.stage(policy, TODAY - timedelta(days=31), TODAY) == "stale"
    assert reminders.stage(policy, TODAY - timedelta(days=3000), TODAY) == "stale"  # 0: never


@pytest.mark.parametrize(("settings", "said"), [
    ({"VERIFY_REMINDER_DAYS": "90"}, "FINDER_VERIFY_REMINDER_DAYS=90 must be fewer"),
    ({"UNPUBLISH_AFTER_DAYS": "60"}, "FINDER_UNPUBLISH_AFTER_DAYS=60 must be more"),
    ({"UNPUBLISH_AFTER_DAYS": "soon"}, "must be a whole number of days"),
    ({"VERIFY_EVERY_DAYS": "-3"}, "must be a positive whole number"),
])
def test_bad_policy_settings_are_refused_clearly(settings: dict[str, str], said: str,
                                                 tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in settings.items():
        monkeypatch.setenv(f"FINDER_{name}", value)
    with pytest.raises(ConfigError, match=said):
        create_app({"DATA_DIR": str(tmp_path), **TEST_CONFIG})


# -- the run -----------------------------------------------------------------------------------

def test_a_listing_is_asked_then_told_then_hidden_then_confirmed_back(
        app: Flask, client: FlaskClient) -> None:
    listing = add(app, "east", "Eastside Needling", near(AUSTIN, 0.5),
                  TODAY - timedelta(days=70), OWNER)
    assert run(app, TODAY) == reminders.RunReport()  # 70 days: current, nothing to send

    # Ten days on it is due: the owner is asked, once.
    assert run(app, TODAY + timedelta(days=10)).asked == 1
    assert run(app, TODAY + timedelta(days=12)) == reminders.RunReport()
    [asked] = sent(app)
    assert asked.to == OWNER and asked.kind == "verify_due"
    assert asked.subject == "Is Eastside Needling still correct?"
    assert "/verify/" in asked.body and "/manage/" in asked.body
    assert stored(app, listing).verify_notice == "due"
    assert found(client, q="dry needling")[0]["verification_status"] == "current"

    # Past 90 days it is stale: the owner is told, once.
    assert run(app, TODAY + timedelta(days=25)).stale == 1
    assert run(app, TODAY + timedelta(days=26)) == reminders.RunReport()
    assert [m.kind for m in sent(app)] == ["verify_due", "verify_stale"]

    # Past 180 days it is unpublished, kept, out of search, with the owner told how to
    # restore it, and its history saying why.
    assert run(app, TODAY + timedelta(days=111)).unpublished == 1
    assert run(app, TODAY + timedelta(days=112)) == reminders.RunReport()
    hidden = stored(app, listing)
    assert (hidden.status, hidden.unpublished_reason) == (Status.UNPUBLISHED, "unverified")
    get_backend(app).catch_up()
    assert found(client, q="dry needling") == []
    assert client.get(f"/providers/{listing}").status_code == 404
    last = sent(app)[-1]
    assert last.kind == "verify_unpublished" and "bring" in last.body
    with session_scope(app) as session:
        change = session.scalars(sa.select(ListingChange).where(
            ListingChange.location_id == listing)).all()[-1]
        assert change.actor_kind is Actor.SYSTEM
        assert change.changes == {"status": ["published", "unpublished"]}

    # One click on the link (after its page) confirms it: back in search, current.
    token = re.search(r"/verify/(\S+)", last.body)
    assert token
    path = f"/verify/{token.group(1)}"
    page = client.get(path).get_data(as_text=True)
    assert "Yes, everything is still correct" in page and "Eastside Needling" in page
    assert stored(app, listing).status is Status.UNPUBLISHED  # opening the link is not enough
    done = client.post(path, data={"csrf_token": csrf(client, path), "confirm": "1"})
    assert done.status_code == 200 and "shown in the directory again" in done.get_data(
        as_text=True)
    back = stored(app, listing)
    assert (back.status, back.last_verified, back.unpublished_reason) == (
        Status.PUBLISHED, TODAY, "")
    get_backend(app).catch_up()
    [result] = found(client, q="dry needling")
    assert result["verification_status"] == "current" and result["last_verified"] == str(TODAY)
    assert result["score_components"]["freshness"] == 1.0
    # The next cycle starts from the confirmation: nothing is due today.
    assert run(app, TODAY) == reminders.RunReport()


def test_a_confirmation_without_the_csrf_token_changes_nothing(app: Flask,
                                                               client: FlaskClient) -> None:
    listing = add(app, "east", "Eastside Needling", near(AUSTIN, 0.5),
                  TODAY - timedelta(days=100), OWNER)
    run(app, TODAY)
    token = re.search(r"/verify/(\S+)", sent(app)[-1].body)
    assert token
    client.post(f"/verify/{token.group(1)}", data={"confirm": "1"})
    assert stored(app, listing).last_verified == TODAY - timedelta(days=100)


def test_a_confirmation_link_stops_working_when_the_owner_changes(
        app: Flask, client: FlaskClient) -> None:
    listing = add(app, "east", "Eastside Needling", near(AUSTIN, 0.5),
                  TODAY - timedelta(days=100), OWNER)
    run(app, TODAY)
    token = re.search(r"/verify/(\S+)", sent(app)[-1].body)
    assert token
    with session_scope(app) as session:
        location = session.get(Location, listing)
        assert location is not None
        location.owner_email = "new-owner@eastside-needling.example"
        session.commit()
    answer = client.get(f"/verify/{token.group(1)}")
    assert answer.status_code == 403 and "no longer manages" in answer.get_data(as_text=True)
    assert client.get("/verify/forged-token").status_code == 403


def test_an_approved_change_from_the_owner_verifies_and_restores_a_hidden_listing(
        app: Flask) -> None:
    listing = add(app, "east", "Eastside Needling", near(AUSTIN, 0.5),
                  TODAY - timedelta(days=200), OWNER)
    run(app, TODAY)
    assert stored(app, listing).status is Status.UNPUBLISHED
    with session_scope(app) as session:
        location = session.get(Location, listing)
        assert location is not None
        item = submissions.submit(session, {"name": "Eastside Needling", "lat": 30.27,
                                            "lon": -97.74, "phone": "512-555-0123",
                                            "address": {"postcode": "78701"}},
                                  OWNER, _geocoder(app), "US", location=location)
        session.commit()
        waiting = session.get(Submission, item.id)
        assert waiting is not None
        submissions.approve(session, waiting, None, "mod@example", _geocoder(app), "US")
        session.commit()
    back = stored(app, listing)
    assert (back.status, back.last_verified, back.phone) == (Status.PUBLISHED, TODAY,
                                                             "+1 512-555-0123")


def _geocoder(app: Flask) -> Any:
    from finder.geocode import get_geocoder

    with app.app_context():
        return get_geocoder()


def test_listings_without_an_owner_are_listed_to_call_not_written_to(
        app: Flask, runner: Runner) -> None:
    add(app, "due", "Due Physio", near(AUSTIN, 0.5), TODAY - timedelta(days=80),
        phone="512-555-0142")
    add(app, "fresh", "Fresh Physio", near(AUSTIN, 0.6), TODAY)
    assert run(app, TODAY) == reminders.RunReport()
    assert sent(app) == []
    listed = runner.invoke("verify", "list")
    assert "Due Physio" in listed.output and "+1 512-555-0142" in listed.output
    assert "due" in listed.output and "Fresh Physio" not in listed.output
    said = runner.invoke("verify", "run")
    assert said.exit_code == 0, said.output
    assert "1 listing(s) due or stale have no owner" in said.output


def test_a_moderator_verifies_a_listing_after_a_call(app: Flask) -> None:
    listing = add(app, "due", "Due Physio", near(AUSTIN, 0.5), TODAY - timedelta(days=120))
    with session_scope(app) as session:
        create_account(session, "mod@finder.example", "a long enough password", "moderator")
        session.commit()
    staff = app.test_client()
    staff.post("/login", data={"csrf_token": csrf(staff, "/login"),
                               "email": "mod@finder.example",
                               "password": "a long enough password"})
    assert "Due Physio" in staff.get("/moderation/verification").get_data(as_text=True)
    path = f"/moderation/listings/{listing}"
    assert "stale" in staff.get(path).get_data(as_text=True)
    staff.post(path, data={"csrf_token": csrf(staff, path), "verified": "1",
                           "reason": "called the front desk"})
    assert stored(app, listing).last_verified == TODAY
    assert "Due Physio" not in staff.get("/moderation/verification").get_data(as_text=True)


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_runs_on_several_machines_at_once_send_each_message_once(
        engine: str, data_dir: Path, request: pytest.FixtureRequest) -> None:
    config: dict[str, Any] = {"DATA_DIR": str(data_dir), **TEST_CONFIG}
    environ = {**os.environ, "FINDER_DATA_DIR": str(data_dir)}
    if engine == "postgresql":
        postgres: Postgres = request.getfixturevalue("postgres")
        config["DATABASE_URL"] = environ["FINDER_DATABASE_URL"] = postgres.fresh_database()
    app = create_app(config)
    rows = [row(f"c{n}", f"Clinic {n}", near(AUSTIN, 0.01 * n)) for n in range(60)]
    load(app, rows)
    with session_scope(app) as session:
        for n, location in enumerate(session.scalars(sa.select(Location))):
            location.owner_email = f"owner{n}@clinic.example"
            location.last_verified = TODAY - timedelta(days=(80, 100, 200)[n % 3])
        session.commit()
    runs = [subprocess.Popen([sys.executable, "-m", "finder", "verify", "run"], env=environ,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(3)]
    outputs = [process.communicate(timeout=120) for process in runs]
    assert all(process.returncode == 0 for process in runs), outputs
    kinds = [message.kind for message in sent(app)]
    assert sorted(kinds) == sorted(["verify_due", "verify_stale", "verify_unpublished"] * 20)
    assert len({message.to for message in sent(app)}) == 60
    get_database(app).dispose()


# -- ranking and showing -----------------------------------------------------------------------

def test_a_stale_listing_ranks_below_an_equal_current_one(any_database_app: Flask) -> None:
    app, client = any_database_app, any_database_app.test_client()
    # Equally described, both within the distance decay's no-penalty offset; the stale one is
    # nearer, so without freshness it would win the tie.
    stale = add(app, "old", "Old Town Physio", near(AUSTIN, 0.4), TODAY - timedelta(days=120))
    current = add(app, "new", "New Town Physio", near(AUSTIN, 0.6), TODAY)
    for sort in ("best", "relevance"):
        results = found(client, q="dry needling", sort=sort)
        assert [r["id"] for r in results] == [current, stale]
        assert results[0]["score_components"]["freshness"] == 1.0
        assert results[1]["score_components"]["freshness"] == 0.5
        assert results[1]["score"] == pytest.approx(results[0]["score"] / 2, abs=1e-6)
        assert results[1]["verification_status"] == "stale"
    # Nearest first is nearest first.
    assert [r["id"] for r in found(client, q="dry needling", sort="distance")] == [stale,
                                                                                   current]
    # Confirmed, it ranks as the current one again.
    with session_scope(app) as session:
        location = session.get(Location, stale)
        assert location is not None
        location.last_verified = TODAY
        session.commit()
    get_backend(app).catch_up()
    assert [r["id"] for r in found(client, q="dry needling")] == [stale, current]


def test_reported_listings_are_stale_at_once_and_say_why(app: Flask,
                                                         client: FlaskClient) -> None:
    listing = add(app, "east", "Eastside Needling", near(AUSTIN, 0.5), TODAY)
    with session_scope(app) as session:
        location = session.get(Location, listing)
        assert location is not None
        location.flagged_at = datetime.now(UTC)
        session.commit()
    get_backend(app).catch_up()
    [result] = found(client, q="dry needling")
    assert result["verification_status"] == "stale" and result["reported_outdated"] is True
    assert result["score_components"]["freshness"] == 0.5
    profile = client.get(f"/providers/{listing}").get_data(as_text=True)
    assert "patients have reported that something here is wrong" in profile
    page = client.get("/search?postcode=78701&q=dry+needling").get_data(as_text=True)
    assert "May not be up to date: patients reported a problem" in page
    api = client.get(f"/api/v1/listings/{listing}").get_json()
    assert api["verification_status"] == "stale"


def test_a_stale_profile_tells_patients_to_call(app: Flask, client: FlaskClient) -> None:
    old = add(app, "old", "Old Town Physio", near(AUSTIN, 0.5), date(2026, 1, 5))
    fresh = add(app, "new", "New Town Physio", near(AUSTIN, 0.6), TODAY)
    page = client.get(f"/providers/{old}").get_data(as_text=True)
    months = round((TODAY - date(2026, 1, 5)).days / 30.4)
    assert (f"may not be up to date: they were last verified {months} months ago, on "
            "January 5, 2026") in page
    assert 'id="stale"' not in client.get(f"/providers/{fresh}").get_data(as_text=True)


# -- the change feed ---------------------------------------------------------------------------

def test_the_change_feed_returns_exactly_the_changed_listings_with_tombstones(
        app: Flask, client: FlaskClient) -> None:
    ids = [add(app, f"c{n}", f"Clinic {n}", near(AUSTIN, 0.1 * n), TODAY) for n in range(4)]
    mark = client.get("/api/v1/listings?limit=500").get_json()["listings"][-1]["updated_at"]
    with session_scope(app) as session:
        edited, hidden = session.get(Location, ids[1]), session.get(Location, ids[3])
        assert edited is not None and hidden is not None
        edited.phone = "+1 512-555-0188"
        submissions.set_published(session, hidden, False, "mod@example", "closed for good")
        session.commit()
    changes = client.get("/api/v1/listings", query_string={"modified_after": mark}).get_json()
    by_id = {item["id"]: item for item in changes["listings"]}
    assert set(by_id) == {ids[1], ids[3]}
    assert by_id[ids[1]]["status"] == "published"
    assert by_id[ids[1]]["phone"] == "+1 512-555-0188"
    assert set(by_id[ids[3]]) == {"id", "status", "updated_at"}
    assert by_id[ids[3]]["status"] == "unpublished"


def test_three_patients_reporting_a_closure_make_the_listing_stale_in_search(
        app: Flask, client: FlaskClient) -> None:
    listing = add(app, "east", "Eastside Needling", near(AUSTIN, 0.5), TODAY, OWNER)
    for number in range(3):
        answer = client.post(f"/api/v1/listings/{listing}/reports",
                             json={"problem": "closed", "note": "The door is boarded up."},
                             environ_base={"REMOTE_ADDR": f"203.0.113.{number + 1}"})
        assert answer.status_code == 201, answer.get_json()
        get_backend(app).catch_up()
        status = found(client, q="dry needling")[0]["verification_status"]
        assert status == ("stale" if number == 2 else "current")
    # The owner's confirmation clears the mark.
    run(app, TODAY + timedelta(days=80))
    token = re.search(r"/verify/(\S+)", sent(app)[-1].body)
    assert token
    path = f"/verify/{token.group(1)}"
    client.post(path, data={"csrf_token": csrf(client, path), "confirm": "1"})
    get_backend(app).catch_up()
    assert found(client, q="dry needling")[0]["verification_status"] == "current"
