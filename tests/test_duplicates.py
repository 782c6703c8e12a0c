"""Duplicates across the directory: each rule finds its pair with why, and look-alikes that
are not duplicates are left alone; a pair marked distinct is never proposed again; a merge
keeps both histories and external ids, fills the listing kept, hides the duplicate from
search and sends its visitors to the one kept; a later import does not bring it back. The
command line and the moderation page do the same, the page through real forms."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from itertools import combinations
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from playwright.sync_api import Browser, expect

from finder import geo
from finder.db import session_scope
from finder.duplicate_rules import (
    name_key,
    name_likeness,
    names_alike,
)
from finder.errors import InvalidInput
from finder.generate import write_csv
from finder.geocode import get_geocoder
from finder.importer import import_csv, read_rows
from finder.models import ListingChange, Location, Status
from finder.moderation import duplicates
from finder.moderation.accounts import create_account
from finder.moderation.duplicates import find_duplicates
from finder.search import get_backend
from tests import browser as browsing
from tests.browser import DESKTOP, PHONE, PageFactory, assert_accessible, page_factory, shot
from tests.conftest import AUSTIN, Runner, Server, csv_text, load, near, row, serve_directory

MODERATOR = "mod@finder.example"
PASSWORD = "correct horse battery"
FAR = near(AUSTIN, 5)


def pairs(app: Flask) -> dict[tuple[str, str], list[str]]:
    """The likely pairs, by the external ids of the two listings."""
    with session_scope(app) as session:
        scan = find_duplicates(session)
        external = {number: str(key) for number, key in
                    session.query(Location.id, Location.external_id)}
    return {(external[pair.first.id], external[pair.second.id]): pair.reasons
            for pair in scan.pairs}


def ids(app: Flask) -> dict[str, int]:
    with session_scope(app) as session:
        return {str(external): number for number, external in
                session.query(Location.id, Location.external_id)}


@pytest.mark.parametrize(("first", "second", "reason"), [
    ({"npi": "1234567893"}, {"npi": "1234567893"}, "same NPI 1234567893"),
    ({"phone": "(512) 555-0123"}, {"phone": "512.555.0123"}, "same phone +1 512-555-0123"),
    ({"website": "https://www.PeakPT.example/about"}, {"website": "http://peakpt.example"},
     "same website peakpt.example"),
])
def test_a_shared_value_makes_a_pair_with_why(app: Flask, first: dict[str, str],
                                              second: dict[str, str], reason: str) -> None:
    load(app, [row("a", "Peak Physical Therapy", AUSTIN, **first),
               row("b", "Riverside Motion", FAR, **second),
               row("c", "Unrelated Clinic", near(AUSTIN, 9))])
    assert pairs(app) == {("a", "b"): [reason]}


@pytest.mark.parametrize("other", ["Peak Physical Therapy LLC", "Physical Therapy, Peak",
                                   "peak physical therapy, inc."])
def test_a_name_alike_close_by_makes_a_pair(app: Flask, other: str) -> None:
    load(app, [row("a", "Peak Physical Therapy", AUSTIN),
               row("b", other, near(AUSTIN, 0.1))])
    [(key, reasons)] = pairs(app).items()
    assert key == ("a", "b")
    [reason] = reasons
    assert re.fullmatch(r"a name (9\d|100)% alike 0\.16 km away", reason), reason


@pytest.mark.parametrize(("second", "at"), [
    ("Peak Physical Therapy", near(AUSTIN, 0.5)),  # the same name, 0.8 km away
    ("Peak PT South", near(AUSTIN, 0.05)),  # another name, next door
    ("Summit Physical Therapy", AUSTIN),  # another name, same building
])
def test_look_alikes_that_are_not_duplicates_are_left_alone(
        app: Flask, second: str, at: tuple[float, float]) -> None:
    first = "Peak PT North" if second == "Peak PT South" else "Peak Physical Therapy"
    load(app, [row("a", first, AUSTIN, website="https://facebook.com/peak"),
               row("b", second, at, website="https://www.facebook.com/other")])
    assert pairs(app) == {}


def test_every_reason_of_a_pair_is_given_once(app: Flask) -> None:
    load(app, [row("a", "Peak Physical Therapy", AUSTIN, phone="512-555-0123",
                   website="https://peakpt.example"),
               row("b", "Peak Physical Therapy", near(AUSTIN, 0.01), phone="512-555-0123",
                   website="https://peakpt.example/contact")])
    [reasons] = pairs(app).values()
    assert reasons[:2] == ["same phone +1 512-555-0123", "same website peakpt.example"]
    assert reasons[2].startswith("a name 100% alike")


def test_a_value_shared_by_many_is_noted_once_not_paired(app: Flask) -> None:
    chain = [row(f"site-{n}", f"Site {n}", near(AUSTIN, 3 * n), phone="512-555-0100")
             for n in range(6)]
    load(app, [*chain, row("x", "Other", AUSTIN, phone="512-555-0199"),
               row("y", "Elsewhere", FAR, phone="512-555-0199")])
    with session_scope(app) as session:
        scan = find_duplicates(session)
    assert [shared.text() for shared in scan.shared] == [
        "phone +1 512-555-0100 shared by 6 listings"]
    assert [(pair.first.name, pair.second.name) for pair in scan.pairs] == [("Other",
                                                                            "Elsewhere")]


def test_a_pair_marked_distinct_is_not_proposed_again(app: Flask) -> None:
    load(app, [row("a", "Peak Physical Therapy", AUSTIN, phone="512-555-0123"),
               row("b", "Peak Physical Therapy", FAR, phone="512-555-0123")])
    number = ids(app)
    with session_scope(app) as session:
        first, second = (session.get(Location, number[key]) for key in "ab")
        assert first is not None and second is not None
        # Either way round: the pair is stored with the lower id first.
        assert duplicates.mark_distinct(session, second, first, None) is True
        assert duplicates.mark_distinct(session, first, second, None) is False
        with pytest.raises(InvalidInput, match="same as itself"):
            duplicates.mark_distinct(session, first, first, None)
        session.commit()
    assert pairs(app) == {}


# -- merging ---------------------------------------------------------------------------------


def names_near_austin(client: FlaskClient) -> list[str]:
    body = client.get("/api/v1/search", query_string={"postcode": "78701"}).get_json()
    return [result["name"] for result in body["results"]]


def two_alike(app: Flask) -> tuple[int, int]:
    """Two listings of one clinic, each changed once by an import (so each has history)."""
    rows = [row("kept-1", "Peak Physical Therapy", AUSTIN, phone="512-555-0123",
                services="Dry needling", languages="English"),
            row("dup-1", "Peak Physical Therapy LLC", near(AUSTIN, 0.05),
                phone="512-555-0123", website="https://peakpt.example",
                email="front@peakpt.example", services="Dry needling; Cupping",
                languages="English; Spanish", insurance="Aetna")]
    load(app, rows)
    load(app, [{**rows[0], "description": "Sports clinic."},
               {**rows[1], "description": "Downtown."}])
    number = ids(app)
    return number["kept-1"], number["dup-1"]


def merge(app: Flask, keep: int, duplicate: int) -> dict[str, list[Any]]:
    with session_scope(app) as session:
        kept, merged = (duplicates.get_listing(session, n) for n in (keep, duplicate))
        taken = duplicates.merge_listings(session, kept, merged, MODERATOR)
        session.commit()
    get_backend(app).catch_up()
    return taken


def test_a_merge_fills_the_listing_kept_and_hides_the_duplicate(app: Flask,
                                                                client: FlaskClient) -> None:
    keep, duplicate = two_alike(app)
    assert sorted(names_near_austin(client)) == ["Peak Physical Therapy",
                                                 "Peak Physical Therapy LLC"]
    taken = merge(app, keep, duplicate)
    assert set(taken) == {"website", "email", "services", "languages", "insurance"}
    kept = client.get(f"/api/v1/listings/{keep}").get_json()
    assert kept["website"] == "https://peakpt.example"
    assert kept["services"] == ["Dry needling", "Cupping"]
    assert kept["languages"] == ["English", "Spanish"]
    assert kept["description"] == "Sports clinic."  # its own, not the duplicate's
    assert names_near_austin(client) == ["Peak Physical Therapy"]
    with session_scope(app) as session:
        hidden = session.get(Location, duplicate)
        assert hidden is not None
        assert (hidden.status, hidden.unpublished_reason, hidden.merged_into_id) == (
            Status.UNPUBLISHED, "merged", keep)
        assert hidden.external_id == "dup-1"  # its external id stays with its row
        history = {number: [(change.actor, change.note) for change in session.query(
            ListingChange).filter_by(location_id=number).order_by(ListingChange.id)]
            for number in (keep, duplicate)}
    assert history[keep] == [("", "import update"), (
        MODERATOR, f"merged listing {duplicate} (Peak Physical Therapy LLC) into this one")]
    assert history[duplicate] == [("", "import update"), (
        MODERATOR, f"merged into listing {keep} (Peak Physical Therapy)")]
    assert pairs(app) == {}  # a merged pair is not proposed again


def test_a_merge_leaves_search_on_every_backend(any_database_app: Flask) -> None:
    app = any_database_app
    keep, duplicate = two_alike(app)
    with session_scope(app) as session:
        assert {(p.first.id, p.second.id) for p in find_duplicates(session).pairs} == {
            (keep, duplicate)}
    client = app.test_client()
    assert len(names_near_austin(client)) == 2
    merge(app, keep, duplicate)
    assert names_near_austin(client) == ["Peak Physical Therapy"]
    assert client.get(f"/providers/{duplicate}").status_code == 301


def test_a_merged_listing_sends_visitors_to_the_one_kept(app: Flask,
                                                         client: FlaskClient) -> None:
    keep, duplicate = two_alike(app)
    merge(app, keep, duplicate)
    page = client.get(f"/providers/{duplicate}?back=/search%3Fpostcode%3D78701")
    assert page.status_code == 301
    assert page.headers["Location"].endswith(
        f"/providers/{keep}?back=/search?postcode%3D78701")
    assert client.get(page.headers["Location"]).status_code == 200
    api = client.get(f"/api/v1/listings/{duplicate}")
    assert api.status_code == 308
    assert api.headers["Location"].endswith(f"/api/v1/listings/{keep}")
    assert api.get_json()["merged_into"] == keep
    from tests.test_openapi import assert_documented

    assert_documented(api)
    # Merged again into a third listing: its visitors follow to the last one.
    load(app, [row("third", "Peak Therapy Group", FAR)])
    merge(app, ids(app)["third"], keep)
    assert client.get(f"/providers/{duplicate}").headers["Location"].endswith(
        f"/providers/{ids(app)['third']}")
    assert client.get("/providers/999999").status_code == 404


@pytest.mark.parametrize(("case", "message"), [
    ("itself", "cannot be merged into itself"),
    ("twice", "was merged into listing .* already"),
    ("into merged", "was itself merged into listing"),
    ("into unpublished", "must be a published one"),
])
def test_a_merge_that_cannot_be_is_refused(app: Flask, case: str, message: str) -> None:
    keep, duplicate = two_alike(app)
    load(app, [row("other", "Another Clinic", FAR)])
    other = ids(app)["other"]
    if case != "itself" and case != "into unpublished":
        merge(app, keep, duplicate)
    with session_scope(app) as session:
        if case == "into unpublished":
            location = session.get(Location, other)
            assert location is not None
            location.status = Status.UNPUBLISHED
            session.commit()
        keep_id, duplicate_id = {"itself": (keep, keep), "twice": (other, duplicate),
                                 "into merged": (duplicate, other),
                                 "into unpublished": (other, keep)}[case]
        with pytest.raises(InvalidInput, match=message):
            duplicates.merge_listings(session, duplicates.get_listing(session, keep_id),
                                      duplicates.get_listing(session, duplicate_id), "mod")


def test_an_import_row_of_a_merged_listing_is_reported_not_applied(
        app: Flask, client: FlaskClient, runner: Runner, tmp_path: Path) -> None:
    keep, duplicate = two_alike(app)
    merge(app, keep, duplicate)
    feed = tmp_path / "feed.csv"
    feed.write_text(csv_text([row("dup-1", "Peak Physical Therapy LLC", near(AUSTIN, 0.05),
                                  phone="512-555-0999", description="Back again?")]))
    result = runner.invoke("import", str(feed))
    assert result.exit_code == 0, result.output
    assert "created 0, updated 0, unchanged 1, rejected 0" in result.output
    assert (f"line 2 (dup-1): not applied: this listing was merged into listing {keep}; "
            "change that listing's row instead") in result.output
    with session_scope(app) as session:
        hidden = session.get(Location, duplicate)
        assert hidden is not None and hidden.status is Status.UNPUBLISHED
        assert hidden.phone == "+1 512-555-0123"
    assert client.get(f"/api/v1/listings/{keep}").get_json()["phone"] == "+1 512-555-0123"
    assert names_near_austin(client) == ["Peak Physical Therapy"]


def test_practitioners_of_the_same_organisation_join_the_listing_kept(app: Flask) -> None:
    from finder.importer import import_documents

    clinic = {"name": "Peak Group", "website": "https://peakpt.example"}
    documents = [
        {"external_id": "kept-1", "name": "Peak Physical Therapy", "organization": clinic,
         "lat": AUSTIN[0], "lon": AUSTIN[1],
         "address": {"postcode": "78701", "city": "Austin", "region": "TX"},
         "practitioners": [{"external_id": "p-ana", "name": "Ana Ruiz"}]},
        {"external_id": "dup-1", "name": "Peak Physical Therapy", "organization": clinic,
         "lat": AUSTIN[0], "lon": AUSTIN[1],
         "address": {"postcode": "78701", "city": "Austin", "region": "TX"},
         "practitioners": [{"external_id": "p-sam", "name": "Sam Lee"}]}]
    with session_scope(app) as session:
        report = import_documents(session, get_geocoder(app), enumerate(documents, 1),
                                  default_country="US")
        assert not report.rejected, report.rejected
        session.commit()
    number = ids(app)
    taken = merge(app, number["kept-1"], number["dup-1"])
    assert taken["practitioners"] == [["Ana Ruiz"], ["Ana Ruiz", "Sam Lee"]]


# -- the command line ------------------------------------------------------------------------


def test_the_command_lists_merges_and_marks(app: Flask, runner: Runner) -> None:
    load(app, [row("a", "Peak Physical Therapy", AUSTIN, npi="1234567893"),
               row("b", "Peak Physical Therapy LLC", near(AUSTIN, 0.02)),
               row("c", "Riverside Motion", FAR, npi="1234567893"),
               row("d", "Summit Rehab", near(AUSTIN, 20), phone="512-555-0123"),
               row("e", "Hill Country Rehab", near(AUSTIN, 30), phone="512-555-0123")])
    n = ids(app)
    listed = runner.invoke("duplicates")
    assert listed.exit_code == 0, listed.output
    assert f"{n['a']} Peak Physical Therapy (Austin, TX)  <->  {n['c']} Riverside Motion" \
        in listed.output
    assert "    same NPI 1234567893\n" in listed.output
    assert "same phone +1 512-555-0123" in listed.output
    body = json.loads(runner.invoke("duplicates", "--json").output)
    assert body["total"] == 3
    assert [pair["reasons"][0] for pair in body["pairs"]] == [
        "same NPI 1234567893", "same phone +1 512-555-0123", body["pairs"][2]["reasons"][0]]
    assert body["pairs"][0]["first"]["id"] == n["a"]
    limited = json.loads(runner.invoke("duplicates", "list", "--json", "--limit", "1").output)
    assert (limited["total"], len(limited["pairs"])) == (3, 1)
    assert "2 more pair(s)" in runner.invoke("duplicates", "--limit", "1").output

    marked = runner.invoke("duplicates", "distinct", str(n["d"]), str(n["e"]))
    assert marked.exit_code == 0 and "are distinct" in marked.output
    merged = runner.invoke("duplicates", "merge", str(n["a"]), str(n["b"]))
    assert merged.exit_code == 0, merged.output
    assert f"merged {n['b']} (Peak Physical Therapy LLC) into {n['a']}" in merged.output
    after = json.loads(runner.invoke("duplicates", "--json").output)
    assert [(p["first"]["id"], p["second"]["id"]) for p in after["pairs"]] == [(n["a"],
                                                                                n["c"])]
    with session_scope(app) as session:
        [change] = session.query(ListingChange).filter_by(location_id=n["b"])
        assert change.actor == "command line"


@pytest.mark.parametrize(("args", "message"), [
    (("merge", "1", "99999"), "There is no listing 99999."),
    (("merge", "1", "1"), "A listing cannot be merged into itself."),
    (("distinct", "99999", "1"), "There is no listing 99999."),
    (("merge", "1", "two"), "'two' is not a valid integer"),
])
def test_bad_ids_are_refused_with_a_message(app: Flask, runner: Runner, args: tuple[str, ...],
                                            message: str) -> None:
    load(app, [row("a", "Peak Physical Therapy", AUSTIN)])
    result = runner.invoke("duplicates", *args)
    assert result.exit_code != 0
    assert message in result.output


# -- the moderation page ---------------------------------------------------------------------


def csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    assert found, page[:500]
    return found.group(1)


def moderator(app: Flask) -> FlaskClient:
    with session_scope(app) as session:
        create_account(session, MODERATOR, PASSWORD, "moderator")
        session.commit()
    staff = app.test_client()
    login = staff.get("/login").get_data(as_text=True)
    response = staff.post("/login", data={"csrf_token": csrf(login), "email": MODERATOR,
                                          "password": PASSWORD})
    assert response.status_code == 302
    return staff


def test_the_page_needs_a_login(app: Flask, client: FlaskClient) -> None:
    keep, duplicate = two_alike(app)
    token = csrf(client.get("/login").get_data(as_text=True))  # a visitor's own valid token
    for response in (client.get("/moderation/duplicates"),
                     client.post("/moderation/duplicates", data={
                         "csrf_token": token, "first": keep, "second": duplicate,
                         "keep": keep})):
        assert response.status_code == 302
        assert "/login?next=" in response.headers["Location"]
    assert len(names_near_austin(client)) == 2  # nothing merged


def test_a_moderator_merges_and_sets_aside_through_the_page(app: Flask) -> None:
    keep, duplicate = two_alike(app)
    load(app, [row("x", "Summit Rehab", near(AUSTIN, 40), phone="512-555-0177"),
               row("y", "Hill Country Rehab", near(AUSTIN, 60), phone="512-555-0177")])
    x, y = ids(app)["x"], ids(app)["y"]
    staff, public = moderator(app), app.test_client()
    page = staff.get("/moderation/duplicates").get_data(as_text=True)
    assert 'aria-current="page">Duplicates</a>' in page
    assert f"Listings {keep} and {duplicate}" in page and f"Listings {x} and {y}" in page
    assert "same phone +1 512-555-0123" in page

    forged = staff.post("/moderation/duplicates", data={"first": keep, "second": duplicate,
                                                        "keep": keep})
    assert forged.status_code == 400  # no CSRF token: refused before anything is done
    assert len(names_near_austin(public)) == 2
    stranger = staff.post("/moderation/duplicates", data={
        "csrf_token": csrf(page), "first": keep, "second": duplicate, "keep": x})
    assert stranger.status_code == 400
    assert "Choose which of the two listings to keep." in stranger.get_data(as_text=True)

    merged = staff.post("/moderation/duplicates", data={
        "csrf_token": csrf(page), "first": keep, "second": duplicate, "keep": keep})
    assert merged.status_code == 302
    assert names_near_austin(public) == ["Peak Physical Therapy"]  # searchable at once
    after = staff.get("/moderation/duplicates").get_data(as_text=True)
    assert "Merged Peak Physical Therapy LLC" in after
    assert f"Listings {keep} and {duplicate}" not in after

    again = staff.post("/moderation/duplicates", data={
        "csrf_token": csrf(after), "first": keep, "second": duplicate, "keep": keep})
    assert again.status_code == 400 and "already" in again.get_data(as_text=True)

    distinct = staff.post("/moderation/duplicates", data={
        "csrf_token": csrf(after), "first": x, "second": y, "distinct": "Not duplicates"})
    assert distinct.status_code == 302
    final = staff.get("/moderation/duplicates").get_data(as_text=True)
    assert "will not be proposed again" in final
    assert "No likely duplicates" in final


# -- at scale --------------------------------------------------------------------------------


def test_a_generated_directory_is_scanned_without_comparing_every_pair(app: Flask) -> None:
    handle = io.StringIO()
    write_csv(handle, 20_000, seed=7, in_country="US")
    handle.seek(0)
    with session_scope(app) as session:
        import_csv(session, get_geocoder(app), read_rows(handle), default_country="US",
                   on_batch=lambda _: session.commit())
        session.commit()
        # A clinic listed twice by hand, beside one of the generated listings.
        some = session.query(Location).filter_by(country="US").order_by(Location.id).first()
        assert some is not None
        session.commit()
    lat, lon = near((some.latitude, some.longitude), 0.1)
    load(app, [row("twin", f"{some.name}, LLC", (lat, lon), postcode=some.postcode,
                   city=some.city, region=some.region)])
    with session_scope(app) as session:
        scan = find_duplicates(session)
        listed = {location.id: location for location in session.query(Location)}
    twin = ids(app)["twin"]
    found = {(pair.first.id, pair.second.id): pair for pair in scan.pairs}
    assert any("alike" in reason for reason in found[(some.id, twin)].reasons)
    assert len(found) == scan.total == len(scan.pairs)  # each pair once
    for (first, second), pair in found.items():
        assert first < second
        assert pair.reasons  # every pair says why, and each reason holds
        if "phone" in pair.rules:
            assert listed[first].phone == listed[second].phone
    for shared in scan.shared:
        assert shared.count > duplicates.GROUP_LIMIT
    # The grid misses no pair: within one state, every pair of names alike close by that
    # comparing everything finds, the scan found too.
    state = [location for location in listed.values() if location.region == "CA"
             and location.country == "US"]
    assert len(state) > 500
    expected = set()
    for a, b in combinations(sorted(state, key=lambda location: location.id), 2):
        likeness = name_likeness(name_key(a.name), name_key(b.name))
        if likeness >= 90 and names_alike(likeness, geo.geodesic_km(
                a.latitude, a.longitude, b.latitude, b.longitude)):
            expected.add((a.id, b.id))
    in_state = {key for key, pair in found.items() if "name" in pair.rules
                and listed[key[0]].region == "CA" and listed[key[1]].region == "CA"
                and listed[key[0]].country == "US" and listed[key[1]].country == "US"}
    assert expected and in_state == expected


# -- in a browser ----------------------------------------------------------------------------

browser = browsing.browser


def _fill(app: Flask) -> None:
    two_alike(app)
    load(app, [row("x", "Summit Rehab & Spine Specialists of Central Texas", near(AUSTIN, 20),
                   phone="512-555-0177", website="https://summit-rehab-central-texas.example"),
               row("y", "Hill Country Rehab", near(AUSTIN, 30), phone="512-555-0177",
                   website="https://summit-rehab-central-texas.example/hill-country")])
    with session_scope(app) as session:
        create_account(session, MODERATOR, PASSWORD, "moderator")
        session.commit()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, migrated_database: Path) -> Iterator[Server]:
    yield from serve_directory(tmp_path_factory, migrated_database, "duplicates", _fill)


@pytest.fixture
def open_page(browser: Browser, site: Server) -> Iterator[PageFactory]:
    yield from page_factory(browser, site.url)


@pytest.mark.parametrize("device", ["desktop", "phone"])
def test_a_moderator_reads_the_pairs_in_a_browser(open_page: PageFactory, device: str) -> None:
    page = open_page(**(DESKTOP if device == "desktop" else PHONE))
    page.goto("/moderation/duplicates")
    page.get_by_label("E-mail").fill(MODERATOR)
    page.get_by_label("Password").fill(PASSWORD)
    page.keyboard.press("Enter")
    expect(page.locator("h1")).to_have_text("Likely duplicates")
    expect(page.locator("section.pair")).to_have_count(2)
    expect(page.get_by_role("button", name="Merge into this one")).to_have_count(4)
    assert_accessible(page)
    shot(page, f"moderation-duplicates-{device}")
