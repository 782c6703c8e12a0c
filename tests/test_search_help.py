"""What a search says when nothing is near, a filter is typed loosely or a word is mistyped,
on every backend."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from flask.testing import FlaskClient

from finder.hours import DAY_NAMES, DAYS
from tests.conftest import AUSTIN, load, near, row, search

DALLAS = (32.7767, -96.7970)  # about 180 mi from Austin
DETROIT_ZIP = "48226"
WINDSOR = (42.3149, -83.0364)  # Ontario, across the river: about 1.2 mi from 48226
SEATTLE = (47.6062, -122.3321)  # about 1,800 mi from Austin


@pytest.fixture
def app(any_database_app: Flask) -> Flask:
    return any_database_app


def tomorrow_in_austin() -> str:
    """Return tomorrow's day name in Austin's timezone ("Tue")."""
    local = datetime.now(UTC).astimezone(ZoneInfo("America/Chicago")) + timedelta(days=1)
    return DAY_NAMES[DAYS[local.weekday()]]


@pytest.fixture
def directory(app: Flask) -> Flask:
    report = load(app, [
        row("dn", "Needle Point PT", near(AUSTIN, 0.5), services="Dry needling",
            insurance="Blue Cross Blue Shield; Aetna", languages="English; Spanish",
            hours=f"{tomorrow_in_austin()} 08:00-17:00"),
        row("ims", "Lakeside Rehab", near(AUSTIN, 2.0, 180),
            services="Intramuscular stimulation", conditions="Sciatica",
            insurance="UnitedHealthcare",
            hours=f"{tomorrow_in_austin()} 09:30-12:00"),
        row("dallas", "Dallas Shockwave", DALLAS, city="Dallas", postcode="75201",
            services="Shockwave therapy"),
        row("toronto", "Toronto Cupping", None, postcode="M5V 1A1", country="CA",
            city="Toronto", region="ON", services="Cupping; Shockwave therapy"),
        row("seattle", "Seattle Vestibular", SEATTLE, city="Seattle", region="WA",
            postcode="98101", services="Vestibular therapy"),
        row("windsor", "Windsor Cupping", WINDSOR, country="CA", city="Windsor", region="ON",
            postcode="N9A 1A1", services="Cupping"),
    ])
    assert report.rejected == []
    return app


def names(body: dict[str, Any]) -> list[str]:
    return [hit["name"] for hit in body["results"]]


def test_widening_offers_a_radius_that_finds_the_nearest(directory: Flask,
                                                         client: FlaskClient) -> None:
    body = search(client, postcode="78701", q="shockwave", radius="25")
    assert body["total"] == 0 and names(body) == ["Dallas Shockwave"]
    widened = body["widened"]
    assert widened["country"] == "US"
    assert widened["search_radius"] >= widened["nearest_distance"]
    again = search(client, postcode="78701", q="shockwave", radius=widened["search_radius"])
    assert again["total"] >= 1 and "widened" not in again


def test_widening_never_leaves_the_searched_country(directory: Flask,
                                                    client: FlaskClient) -> None:
    # Within 5 mi of downtown Detroit, the clinic across the river is found ...
    assert names(search(client, postcode=DETROIT_ZIP, q="cupping", radius="5")) == [
        "Windsor Cupping"]
    # ... but nothing within 1 mi is never widened into another country.
    body = search(client, postcode=DETROIT_ZIP, q="cupping", radius="1")
    assert body["results"] == [] and "widened" not in body
    assert body["suggestion"]["message"].startswith("No provider within 250 mi")


def test_widening_passes_over_the_nearer_clinics_across_the_border(directory: Flask,
                                                                  client: FlaskClient) -> None:
    load(directory, [
        *(row(f"on-{i}", f"Ontario Cupping {i}", near(WINDSOR, 1.0 + i, 120), country="CA",
              city="Windsor", region="ON", postcode="N9A 1A1", services="Cupping")
          for i in range(12)),
        row("ann-arbor", "Ann Arbor Cupping", near(WINDSOR, 38, 270), city="Ann Arbor",
            region="MI", postcode="48104", services="Cupping")])
    body = search(client, postcode=DETROIT_ZIP, q="cupping", radius="1")
    assert names(body) == ["Ann Arbor Cupping"]
    assert body["widened"]["country"] == "US" and body["widened"]["count"] == 1


def test_widening_never_lists_clinics_beyond_the_largest_radius(directory: Flask,
                                                               client: FlaskClient) -> None:
    body = search(client, postcode="78701", q="vestibular")
    assert body["results"] == [] and "widened" not in body
    assert "250 mi" in body["suggestion"]["message"]


def test_open_now_says_when_the_first_opens_and_offers_to_drop_it(
        directory: Flask, client: FlaskClient) -> None:
    body = search(client, postcode="78701", q="dry needling", open_now="true")
    assert body["total"] == 0 and body["results"] == [] and "widened" not in body
    [offer] = body["relaxations"]
    assert offer["drop"] == ["open_now"] and offer["count"] == 2
    # "today" once midnight has passed in Austin since the directory was loaded
    assert re.fullmatch(r"No provider is open now within 25 mi\. 2 providers are open at other "
                        r"times; the first opens (tomorrow|today) at 8 AM\.", offer["message"])
    opening = datetime.fromisoformat(offer["next_opening"])
    assert (opening.hour, opening.minute) == (8, 0)
    followed = client.get(offer["url"]).get_json()
    assert followed["total"] == 2


@pytest.mark.parametrize(("params", "drop", "message"), [
    ({"insurance": "Cigna"}, "insurance",
     "No provider within 25 mi lists “Cigna” insurance. 2 providers nearby take other "
     "insurance."),
    ({"language": "Korean"}, "language",
     "No provider within 25 mi lists Korean among their languages. 2 providers nearby speak "
     "other languages."),
    ({"q": "vestibular"}, "q", "No provider within 25 mi matches “vestibular”. 2 providers "
     "are nearby."),
    ({"accepting_new_patients": "false"}, "accepting_new_patients",
     "No provider within 25 mi is not accepting new patients. 2 providers nearby are "
     "accepting new patients."),
])
def test_the_filter_that_emptied_the_page_is_named(directory: Flask, client: FlaskClient,
                                                   params: dict[str, str], drop: str,
                                                   message: str) -> None:
    body = search(client, postcode="78701", **params)
    assert body["total"] == 0
    assert [(o["drop"], o["message"]) for o in body["relaxations"]] == [([drop], message)]


@pytest.mark.parametrize(("asked", "found"), [
    ("BCBS", ["Needle Point PT"]),
    ("Blue Cross", ["Needle Point PT"]),
    ("blue cross blue shield", ["Needle Point PT"]),
    ("aetn", ["Needle Point PT"]),
    ("Aetna PPO", ["Needle Point PT"]),
    ("UHC", ["Lakeside Rehab"]),
    ("united", ["Lakeside Rehab"]),
])
def test_insurance_matches_the_way_people_type_it(directory: Flask, client: FlaskClient,
                                                  asked: str, found: list[str]) -> None:
    body = search(client, postcode="78701", insurance=asked)
    assert names(body) == found


@pytest.mark.parametrize("asked", ["Español", "espanol", "SPANISH", "span"])
def test_language_matches_the_way_people_type_it(directory: Flask, client: FlaskClient,
                                                 asked: str) -> None:
    body = search(client, postcode="78701", language=asked)
    assert names(body) == ["Needle Point PT"]
    assert body["filters"] == {"language": ["Spanish"]}


def test_a_single_letter_is_not_a_filter_for_everything(directory: Flask,
                                                        client: FlaskClient) -> None:
    assert search(client, postcode="78701", insurance="a")["total"] == 0


def test_a_corrected_query_keeps_its_synonyms(directory: Flask, client: FlaskClient) -> None:
    right = search(client, postcode="78701", q="dry needling")
    typo = search(client, postcode="78701", q="dry neeedling")
    assert typo["did_you_mean"] == "dry needling"
    assert names(typo) == names(right) == ["Needle Point PT", "Lakeside Rehab"]
    assert typo["total"] == right["total"]


def test_markup_is_never_corrected_into_words(directory: Flask, client: FlaskClient) -> None:
    assert search(client, postcode="78701", q="sciatcia")["did_you_mean"] == "sciatica"
    # Inside markup the same word is text, searched as typed.
    body = search(client, postcode="78701", q="<script>sciatcia</script>")
    assert "did_you_mean" not in body and body["total"] == 0


def test_matched_says_what_was_asked_and_how_it_was_found(directory: Flask,
                                                          client: FlaskClient) -> None:
    body = search(client, postcode="78701", q="dry needling")
    by_name = {hit["name"]: hit["matched"] for hit in body["results"]}
    assert by_name["Needle Point PT"] == [
        {"term": "dry needling", "as": "dry needling", "kind": "exact"}]
    assert by_name["Lakeside Rehab"] == [
        {"term": "dry needling", "as": "intramuscular stimulation", "kind": "synonym"}]


def test_a_correction_that_finds_nothing_near_is_not_offered(directory: Flask,
                                                             client: FlaskClient) -> None:
    # The corrected word exists, but only 1,800 mi away: nothing to show for it here.
    assert "did_you_mean" not in search(client, postcode="78701", q="vestibulr")
    near_seattle = search(client, postcode="98101", q="vestibulr")
    assert near_seattle["did_you_mean"] == "vestibular"
    assert names(near_seattle) == ["Seattle Vestibular"]


def test_a_new_insurance_name_is_found_at_once_by_its_full_name(directory: Flask,
                                                                client: FlaskClient) -> None:
    assert search(client, postcode="78701", insurance="Aetna")["total"] == 1  # names counted
    load(directory, [row("new", "Brand New PT", near(AUSTIN, 1.0), services="Dry needling",
                         insurance="Oscar Health")])
    assert names(search(client, postcode="78701", insurance="oscar health")) == ["Brand New PT"]


def test_a_relaxed_search_counts_up_to_a_hundred(directory: Flask, client: FlaskClient) -> None:
    load(directory, [row(f"more-{i}", f"Clinic {i:03d}", near(AUSTIN, 3.0 + i / 50, 3.6 * i))
                     for i in range(100)])
    [offer] = search(client, postcode="78701", q="vestibular")["relaxations"]
    assert (offer["count"], offer["at_least"]) == (100, True)
    assert offer["message"] == ("No provider within 25 mi matches “vestibular”. 100+ providers "
                                "are nearby.")
    assert client.get(offer["url"]).get_json()["total"] == 102
