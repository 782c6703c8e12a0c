"""Place pages, sitemap, robots.txt and schema.org JSON-LD: real database, index and browser."""

from __future__ import annotations

import json
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from playwright.sync_api import Browser, ConsoleMessage, Page

from finder import jsonld, places
from finder.db import session_scope
from finder.models import Location, Status
from tests import browser as browsing
from tests.browser import DESKTOP, NARROW, PHONE, PageFactory, assert_accessible, page_factory
from tests.conftest import AUSTIN, Server, load, near, row, serve_directory

browser = browsing.browser  # the module's Chromium

SHOTS = Path("/tmp/finder-shots")
ROOT = "http://finder.test"
SITEMAP_NS = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
EVIL = "Evil </script><script>alert(1)</script> PT"
AUSTIN_CITY = "/dry-needling/us/tx/austin"
ROUND_ROCK = near(AUSTIN, 17.0, 0.0)  # about 27 km north
HOUSTON = (29.7604, -95.3698)  # about 235 km away
SAINT_JEROME = (45.7804, -74.0036)
ST_JOHNS = (47.5615, -52.7126)

# Austin: three published providers (one spelled "AUSTIN, Texas"), one unpublished; Round
# Rock nearby, Houston far; Pflugerville's only listing is unpublished; two Canadian cities.
DIRECTORY = [
    row("needle", "Needle Point PT", near(AUSTIN, 0.5), address_1="100 Congress Ave",
        services="Trigger point dry needling; Manual therapy", insurance="Aetna; Cigna",
        languages="English; Spanish", telehealth="yes", accepting_new_patients="yes",
        phone="512-555-0100", website="https://needlepoint.example",
        hours="Mon-Fri 08:00-18:00; Sat 09:00-13:00",
        description="Dry needling & manual therapy <downtown>."),
    row("congress", "Congress Avenue Physio", near(AUSTIN, 0.9, 200.0),
        services="Functional dry needling; Intramuscular stimulation (IMS)", insurance="Aetna",
        languages="English", telehealth="no", accepting_new_patients="no"),
    row("lamar", "Lamar Sports Rehab", near(AUSTIN, 1.6, 300.0), city="AUSTIN",
        region="Texas", services="Electrical dry needling; Cupping", insurance="aetna; Medicare",
        languages="English", accepting_new_patients="yes"),
    row("gone", "Closed Clinic PT", near(AUSTIN, 1.0, 100.0), services="Dry needling"),
    row("roundrock", "Round Rock Rehab", ROUND_ROCK, city="Round Rock", postcode="78664",
        services="Dry needling"),
    row("houston", "Bayou City PT", HOUSTON, city="Houston", postcode="77002",
        services="Dry needling"),
    row("pflugerville", "Pflugerville Physio", near(AUSTIN, 14.0, 25.0), city="Pflugerville",
        postcode="78660", services="Dry needling"),
    row("jerome", "Physio Saint-Jérôme", SAINT_JEROME, city="Saint-Jérôme", region="QC",
        postcode="J7Z 5T3", country="CA", services="Dry needling; Physiotherapy"),
    row("johns", "Harbour Physiotherapy", ST_JOHNS, city="St. John's", region="NL",
        postcode="A1C 5M2", country="CA", services="Intramuscular stimulation (IMS)"),
]
UNPUBLISHED = ("gone", "pflugerville")


def set_status(app: Flask, external_ids: tuple[str, ...], status: Status) -> None:
    """Change listings' status through the ORM, as moderation does (so the change is logged)."""
    with session_scope(app) as session:
        for location in session.scalars(
                sa.select(Location).where(Location.external_id.in_(external_ids))):
            location.status = status
        session.commit()


def ids(app: Flask) -> dict[str, int]:
    """Return listing ids by external id."""
    with session_scope(app) as session:
        return {str(external_id): id_ for external_id, id_ in session.execute(
            sa.select(Location.external_id, Location.id))}


@pytest.fixture
def directory(app: Flask) -> dict[str, int]:
    """Load the directory above and unpublish two of its listings; return ids by external id."""
    report = load(app, DIRECTORY)
    assert report.rejected == []
    set_status(app, UNPUBLISHED, Status.UNPUBLISHED)
    return ids(app)


def get(client: FlaskClient, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    return response.get_data(as_text=True)


def provider_names(html: str) -> list[str]:
    """Return the provider names listed on a place page, in order."""
    return [unescape(name) for name in re.findall(
        r'<h3><a href="/providers/\d+">(.*?)</a></h3>', html)]


def provider_entries(html: str) -> dict[str, str]:
    """Return the HTML of each provider entry of a city page, by provider name."""
    section = html[html.index('<ul class="place-providers">'):]
    section = section[:section.index("</section>")]
    entries = {}
    for part in section.split("<h3>")[1:]:
        name = re.match(r'<a href="/providers/\d+">(.*?)</a>', part)
        assert name is not None
        entries[unescape(name.group(1))] = part
    return entries


def json_ld_blocks(html: str) -> list[Any]:
    """Return every JSON-LD block of a page, parsed."""
    return [json.loads(block) for block in re.findall(
        r'<script type="application/ld\+json">(.*?)</script>', html, flags=re.DOTALL)]


def block_of_type(html: str, kind: str) -> dict[str, Any]:
    found = [block for block in json_ld_blocks(html) if block.get("@type") == kind]
    assert len(found) == 1, f"{len(found)} {kind} blocks"
    block: dict[str, Any] = found[0]
    return block


def place_links(html: str) -> list[tuple[str, str]]:
    """Return (href, text) of the links in the place lists of a page."""
    lists = re.findall(r'<ul class="place-links[^"]*">(.*?)</ul>', html, flags=re.DOTALL)
    return [(href, unescape(text)) for part in lists
            for href, text in re.findall(r'<a href="([^"]+)">(.*?)</a>', part)]


# --- slugs ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "expected"), [
    ("Austin", "austin"),
    ("Saint-Jérôme", "saint-jerome"),
    ("St. John's", "st-johns"),
    ("St. John’s", "st-johns"),
    ("  São Paulo ", "sao-paulo"),
    ("Coeur d'Alene", "coeur-dalene"),
    ("Winston–Salem", "winston-salem"),
    ("Łódź", "lodz"),
    ("Zürich", "zurich"),
    ("Gießen", "giessen"),
    ("Ærøskøbing", "aeroskobing"),
    ("NEW  YORK", "new-york"),
    ("Washington, D.C.", "washington-d-c"),
    ("", ""),
    ("--", ""),
])
def test_slug_folds_accents_case_and_punctuation(name: str, expected: str) -> None:
    assert places.slug(name) == expected


@pytest.mark.parametrize(("service", "technique"), [
    ("Dry needling", True),
    ("Trigger point dry needling", True),
    ("Functional Dry-Needling", True),
    ("Electrical dry needling", True),
    ("Intramuscular stimulation (IMS)", True),
    ("Dry needling for athletes", True),
    ("Manual therapy", False),
    ("Cupping", False),
    ("Acupuncture", False),
])
def test_dry_needling_techniques_are_recognised_from_the_synonyms(service: str,
                                                                   technique: bool) -> None:
    assert places.is_technique(service) is technique


# --- city pages -----------------------------------------------------------------------------


def test_city_page_lists_exactly_its_published_providers(client: FlaskClient,
                                                         directory: dict[str, int]) -> None:
    html = get(client, AUSTIN_CITY)
    # By name; "AUSTIN, Texas" is the same city; unpublished and other cities' listings are not.
    assert provider_names(html) == ["Congress Avenue Physio", "Lamar Sports Rehab",
                                    "Needle Point PT"]
    for external_id in ("congress", "lamar", "needle"):
        assert f'href="/providers/{directory[external_id]}"' in html
    assert f'href="/providers/{directory["gone"]}"' not in html
    assert "Closed Clinic PT" not in html
    assert "<h1>Dry needling in Austin, TX</h1>" in html


def test_city_page_shows_each_providers_contact_and_badges(client: FlaskClient,
                                                           directory: dict[str, int]) -> None:
    entries = provider_entries(get(client, AUSTIN_CITY))
    text = entries["Needle Point PT"]
    assert "100 Congress Ave, Austin, TX 78701" in text
    phone = re.search(r'<a href="tel:([^"]+)">([^<]+)</a>', text)
    assert phone is not None and re.sub(r"\D", "", phone.group(1)).endswith("5125550100")
    assert "<li>Accepting new patients</li>" in text and "<li>Telehealth</li>" in text
    assert "Trigger point dry needling" in text and "Manual therapy" not in text
    congress = entries["Congress Avenue Physio"]
    assert "Not accepting new patients" in congress and "Telehealth" not in congress


def test_city_summary_is_counted_from_the_listings(client: FlaskClient,
                                                   directory: dict[str, int]) -> None:
    html = get(client, AUSTIN_CITY)
    lede = re.sub(r"\s+", " ", html[html.index('<p class="lede">'):])
    lede = lede[:lede.index("</p>")]
    assert "3 providers in Austin offer dry needling." in lede
    assert "2 are accepting new patients and 1 offers telehealth." in lede
    summary = html[html.index('<section class="place-summary"'):]
    summary = unescape(re.sub(r"<[^>]+>", " ", summary[:summary.index("</section>")]))
    summary = re.sub(r"\s+", " ", summary)
    assert ("Dry needling techniques Electrical dry needling (1) Functional dry needling (1) "
            "Intramuscular stimulation (IMS) (1) Trigger point dry needling (1)") in summary
    assert "Insurance most often accepted Aetna (3) Cigna (1) Medicare (1)" in summary
    assert "Languages spoken English (3) Spanish (1)" in summary
    for absent in ("Manual therapy", "Cupping", "price", "Price"):
        assert absent not in summary


def test_summary_counts_each_value_once_per_listing_case_insensitively(
        app: Flask, directory: dict[str, int]) -> None:
    with app.test_request_context(), session_scope(app) as session:
        city = places.get_directory().countries(session)["us"].regions["tx"].cities["austin"]
        summary = places.summarize(places.city_listings(session, city))
    assert (summary.total, summary.accepting, summary.telehealth) == (3, 2, 1)
    assert summary.insurance[0] == ("Aetna", 3)
    assert dict(summary.languages) == {"English": 3, "Spanish": 1}


def test_city_page_links_nearby_places_the_region_and_the_search(
        client: FlaskClient, directory: dict[str, int]) -> None:
    html = get(client, AUSTIN_CITY)
    nearby = html[html.index('id="nearby"'):]
    nearby = nearby[:nearby.index("</section>")]
    links = re.findall(r'<a href="([^"]+)">([^<]+)</a>', nearby)
    # Round Rock is 17 mi away; Houston is beyond 50 km; Pflugerville has nothing published.
    assert links == [("/dry-needling/us/tx/round-rock", "Round Rock, TX")]
    assert "1 provider · 17 mi" in nearby
    assert '<a href="/dry-needling/us/tx">All places in Texas</a>' in html
    search = re.search(r'<a href="(/search\?[^"]+)">Search near Austin</a>', html)
    assert search is not None
    query = parse_qs(urlsplit(unescape(search.group(1))).query)
    assert query == {"postcode": ["78701"], "country": ["US"]}
    # The search it links to runs and finds the city's providers.
    results = get(client, unescape(search.group(1)))
    for name in ("Needle Point PT", "Congress Avenue Physio", "Lamar Sports Rehab"):
        assert name in results


def test_nearby_places_are_nearest_first_and_a_handful(app: Flask,
                                                       client: FlaskClient) -> None:
    towns = [row(f"town-{i}", f"Clinic {i}", near(AUSTIN, 2.0 + 3 * i, 45.0 * i),
                 city=f"Town {chr(65 + i)}") for i in range(8)]
    load(app, [row("centre", "Central PT", AUSTIN), *towns])
    html = get(client, AUSTIN_CITY)
    nearby = html[html.index('id="nearby"'):html.index("All places in Texas")]
    names = re.findall(r'<a href="[^"]+">([^<]+)</a>', nearby)
    assert names == [f"Town {chr(65 + i)}, TX" for i in range(places.NEARBY_COUNT)]


def test_a_big_city_shows_a_bounded_list_and_links_to_the_search(
        client: FlaskClient, directory: dict[str, int], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(places, "MAX_SHOWN", 2)
    html = get(client, AUSTIN_CITY)
    assert provider_names(html) == ["Congress Avenue Physio", "Lamar Sports Rehab"]
    assert re.search(r"Showing 2 of 3, by name\. <a href=\"/search\?[^\"]+\">Search near Austin"
                     r"</a> to see them all\.", html)
    assert "3 providers in Austin" in html  # the summary still counts all of them
    assert len(block_of_type(html, "ItemList")["itemListElement"]) == 2


@pytest.mark.parametrize("path", [
    "/dry-needling/us/tx/dallas",  # no listings at all
    "/dry-needling/us/tx/pflugerville",  # its only listing is unpublished
    "/dry-needling/us/tx/made-up-slug-123",
    "/dry-needling/us/ca/austin",  # a city of another region
    "/dry-needling/us/ak",  # a region without listings
    "/dry-needling/us/nowhere",
    "/dry-needling/fr",  # a country without listings
    "/dry-needling/usa",
    "/dry-needling/us/tx/austin/more",
])
def test_places_without_published_listings_are_404(client: FlaskClient,
                                                   directory: dict[str, int], path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert "<h1>Not found</h1>" in response.get_data(as_text=True)


def test_an_empty_directory_has_no_place_pages(client: FlaskClient) -> None:
    for path in ("/dry-needling/", "/dry-needling/us", AUSTIN_CITY):
        assert client.get(path).status_code == 404


@pytest.mark.parametrize(("asked", "canonical"), [
    ("/dry-needling/US/TX/Austin", AUSTIN_CITY),
    ("/dry-needling/us/texas/austin", AUSTIN_CITY),
    ("/dry-needling/us/tx/AUSTIN", AUSTIN_CITY),
    ("/dry-needling/ca/qc/saint-jérôme", "/dry-needling/ca/qc/saint-jerome"),
    ("/dry-needling/US", "/dry-needling/us"),
    ("/dry-needling/us/Texas", "/dry-needling/us/tx"),
])
def test_other_spellings_of_a_place_redirect_to_its_url(client: FlaskClient,
                                                        directory: dict[str, int], asked: str,
                                                        canonical: str) -> None:
    response = client.get(asked)
    assert response.status_code == 301
    assert urlsplit(response.headers["Location"]).path == canonical


@pytest.mark.parametrize(("path", "heading", "names"), [
    ("/dry-needling/ca/qc/saint-jerome", "Dry needling in Saint-Jérôme, QC",
     ["Physio Saint-Jérôme"]),
    ("/dry-needling/ca/nl/st-johns", "Dry needling in St. John's, NL",
     ["Harbour Physiotherapy"]),
])
def test_accented_and_punctuated_cities_have_folded_urls(client: FlaskClient,
                                                         directory: dict[str, int], path: str,
                                                         heading: str, names: list[str]) -> None:
    html = get(client, path)
    assert f"<h1>{heading}</h1>" in unescape(html)
    assert provider_names(html) == names


# --- region, country and the list of countries ----------------------------------------------


def test_region_page_lists_its_cities_with_counts(client: FlaskClient,
                                                  directory: dict[str, int]) -> None:
    html = get(client, "/dry-needling/us/tx")
    assert "<h1>Dry needling in Texas</h1>" in html
    assert place_links(html) == [("/dry-needling/us/tx/austin", "Austin"),
                                 ("/dry-needling/us/tx/houston", "Houston"),
                                 ("/dry-needling/us/tx/round-rock", "Round Rock")]
    counts = re.findall(r'<span class="count">([^<]+)</span>', html)
    assert counts == ["3 providers", "1 provider", "1 provider"]
    assert "5 physical therapy providers offering dry needling in 3 cities" in html


def test_a_region_with_many_cities_lists_the_busiest_then_a_to_z(
        client: FlaskClient, directory: dict[str, int], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(places, "GROUP_CITIES_FROM", 2)
    monkeypatch.setattr(places, "MOST_PROVIDERS", 1)
    html = get(client, "/dry-needling/us/tx")
    most = html[html.index('id="most"'):html.index('id="all"')]
    assert place_links(most) == [("/dry-needling/us/tx/austin", "Austin")]
    everything = html[html.index('id="all"'):]
    letters = re.search(r'<nav class="letters" aria-label="Cities by first letter">(.*?)</nav>',
                        everything, flags=re.DOTALL)
    assert letters is not None
    assert re.findall(r'<a href="#letter-(\w)">', letters.group(1)) == ["A", "H", "R"]
    for letter in "AHR":
        assert f'<h3 id="letter-{letter}">{letter}</h3>' in everything
    assert [name for _, name in place_links(everything)] == ["Austin", "Houston", "Round Rock"]


def test_country_page_lists_its_regions_with_counts(client: FlaskClient,
                                                    directory: dict[str, int]) -> None:
    html = get(client, "/dry-needling/us")
    assert "<h1>Dry needling in the United States</h1>" in html
    assert place_links(html) == [("/dry-needling/us/tx", "Texas")]
    assert re.findall(r'<span class="count">([^<]+)</span>', html) == ["5 providers"]
    canada = get(client, "/dry-needling/ca")
    assert "<h1>Dry needling in Canada</h1>" in canada
    # Outside the US, regions are named by the code the listings use.
    assert place_links(canada) == [("/dry-needling/ca/nl", "NL"), ("/dry-needling/ca/qc", "QC")]


def test_places_page_lists_the_countries(client: FlaskClient,
                                         directory: dict[str, int]) -> None:
    html = get(client, "/dry-needling/")
    assert place_links(html) == [("/dry-needling/ca", "Canada"),
                                 ("/dry-needling/us", "United States")]


def test_listings_without_a_region_are_placed_in_other_areas(app: Flask,
                                                             client: FlaskClient) -> None:
    load(app, [row("cromer", "Cromer Physio", (52.931, 1.302), city="Cromer", region="",
                   postcode="NR27 9HE", country="GB", services="Dry needling")])
    html = get(client, "/dry-needling/gb")
    assert place_links(html) == [("/dry-needling/gb/other", "Other areas")]
    assert "<h1>Dry needling in other areas of the United Kingdom</h1>" in get(
        client, "/dry-needling/gb/other")
    city = get(client, "/dry-needling/gb/other/cromer")
    assert "<h1>Dry needling in Cromer, United Kingdom</h1>" in city


@pytest.mark.parametrize(("path", "title", "crumbs"), [
    ("/dry-needling/", "Dry needling by place", ["Home", "Places"]),
    ("/dry-needling/us", "Dry needling in the United States", ["Home", "Places",
                                                                "United States"]),
    ("/dry-needling/us/tx", "Dry needling in Texas", ["Home", "Places", "United States",
                                                      "Texas"]),
    (AUSTIN_CITY, "Dry needling in Austin, TX · 3 providers",
     ["Home", "Places", "United States", "Texas", "Austin"]),
])
def test_place_pages_have_title_description_canonical_and_breadcrumbs(
        client: FlaskClient, directory: dict[str, int], path: str, title: str,
        crumbs: list[str]) -> None:
    html = get(client, path)
    assert f"<title>{title} · finder</title>" in html
    description = re.search(r'<meta name="description" content="([^"]+)">', html)
    assert description is not None and 60 < len(unescape(description.group(1))) < 300
    canonical = re.findall(r'<link rel="canonical" href="([^"]+)">', html)
    assert canonical == [ROOT + path]
    nav = re.search(r'<nav aria-label="Breadcrumb" class="crumbs">(.*?)</nav>', html,
                    flags=re.DOTALL)
    assert nav is not None
    names = re.findall(r"<li>(?:<a [^>]+>|<span [^>]+>)([^<]+)<", nav.group(1))
    assert names == crumbs
    assert re.search(r'<span aria-current="page">[^<]+</span>', nav.group(1))
    ld = block_of_type(html, "BreadcrumbList")
    assert [item["name"] for item in ld["itemListElement"]] == crumbs
    assert [item["position"] for item in ld["itemListElement"]] == list(
        range(1, len(crumbs) + 1))
    assert ld["itemListElement"][-1]["item"] == ROOT + path


def test_city_description_names_what_is_there(client: FlaskClient,
                                              directory: dict[str, int]) -> None:
    html = get(client, AUSTIN_CITY)
    description = re.search(r'<meta name="description" content="([^"]+)">', html)
    assert description is not None
    assert unescape(description.group(1)) == (
        "3 providers offering dry needling in Austin, TX: addresses, phone numbers, hours, "
        "insurance (Aetna, Cigna, Medicare) and languages. 2 accepting new patients.")


def test_place_pages_follow_publishing_at_once(app: Flask, client: FlaskClient,
                                               directory: dict[str, int]) -> None:
    get(client, AUSTIN_CITY)  # read and keep the places
    set_status(app, ("needle",), Status.UNPUBLISHED)
    set_status(app, ("pflugerville",), Status.PUBLISHED)
    assert provider_names(get(client, AUSTIN_CITY)) == ["Congress Avenue Physio",
                                                        "Lamar Sports Rehab"]
    assert provider_names(get(client, "/dry-needling/us/tx/pflugerville")) == [
        "Pflugerville Physio"]
    set_status(app, ("houston",), Status.UNPUBLISHED)
    assert client.get("/dry-needling/us/tx/houston").status_code == 404


# --- JSON-LD --------------------------------------------------------------------------------


def assert_provider_ld(item: dict[str, Any], name: str, url: str) -> None:
    assert item["@type"] == ["MedicalBusiness", "Physiotherapy"]
    assert item["name"] == name
    assert item["url"] == url
    assert item["address"]["@type"] == "PostalAddress"
    assert item["address"]["addressLocality"].casefold() == "austin"
    assert item["address"]["addressCountry"] == "US"
    assert item["geo"]["@type"] == "GeoCoordinates"
    assert isinstance(item["geo"]["latitude"], float)
    assert isinstance(item["geo"]["longitude"], float)


def test_city_page_carries_an_item_list_of_its_providers(client: FlaskClient,
                                                         directory: dict[str, int]) -> None:
    html = get(client, AUSTIN_CITY)
    ld = block_of_type(html, "ItemList")
    assert ld["@context"] == "https://schema.org"
    assert ld["name"] == "Dry needling in Austin, TX"
    assert ld["numberOfItems"] == 3
    elements = ld["itemListElement"]
    assert [e["@type"] for e in elements] == ["ListItem"] * 3
    assert [e["position"] for e in elements] == [1, 2, 3]
    names = ["Congress Avenue Physio", "Lamar Sports Rehab", "Needle Point PT"]
    for element, name, key in zip(elements, names, ("congress", "lamar", "needle"), strict=True):
        assert_provider_ld(element["item"], name, f"{ROOT}/providers/{directory[key]}")
        assert "@context" not in element["item"]
    needle = elements[2]["item"]
    assert needle["telephone"]
    assert needle["address"]["streetAddress"] == "100 Congress Ave"
    assert needle["address"]["postalCode"] == "78701"
    assert needle["sameAs"] == "https://needlepoint.example"
    assert "telephone" not in elements[0]["item"]  # empty values are left out


def test_profile_carries_its_provider_json_ld(client: FlaskClient,
                                              directory: dict[str, int]) -> None:
    html = get(client, f"/providers/{directory['needle']}")
    [ld] = [block for block in json_ld_blocks(html) if "Physiotherapy" in block["@type"]]
    assert ld["@context"] == "https://schema.org"
    assert_provider_ld(ld, "Needle Point PT", f"{ROOT}/providers/{directory['needle']}")
    assert re.sub(r"\D", "", ld["telephone"]).endswith("5125550100")
    assert ld["description"] == "Dry needling & manual therapy <downtown>."
    assert ld["knowsLanguage"] == ["English", "Spanish"]
    hours = ld["openingHoursSpecification"]
    assert len(hours) == 6
    assert {h["@type"] for h in hours} == {"OpeningHoursSpecification"}
    assert hours[0] == {"@type": "OpeningHoursSpecification",
                        "dayOfWeek": "https://schema.org/Monday", "opens": "08:00",
                        "closes": "18:00"}
    assert hours[-1] == {"@type": "OpeningHoursSpecification",
                         "dayOfWeek": "https://schema.org/Saturday", "opens": "09:00",
                         "closes": "13:00"}


@pytest.mark.parametrize("page", ["city", "profile"])
def test_listing_text_cannot_break_out_of_json_ld(app: Flask, client: FlaskClient,
                                                  page: str) -> None:
    load(app, [row("evil", EVIL, AUSTIN, description="<!-- x --> & </SCRIPT > \u2028 done")])
    html = get(client, AUSTIN_CITY if page == "city" else f"/providers/{ids(app)['evil']}")
    blocks = re.findall(r'<script type="application/ld\+json">(.*?)</script>', html,
                        flags=re.DOTALL)
    assert blocks
    for block in blocks:
        assert "<" not in block and ">" not in block and "&" not in block
    names = [json.dumps(json.loads(block)) for block in blocks]
    assert any(json.dumps(EVIL)[1:-1] in name for name in names)
    # The only script elements are the JSON-LD blocks and the site's own scripts.
    scripts = re.findall(r"<script\b[^>]*>", html, flags=re.IGNORECASE)
    assert all('type="application/ld+json"' in s or 'src="/static/' in s for s in scripts)
    assert "<script>alert(1)" not in html


def test_provider_json_ld_leaves_out_what_a_listing_lacks() -> None:
    listing = {"id": 7, "name": "Bare PT", "description": "", "lat": 30.0, "lon": -97.0,
               "address": {"address_1": "", "address_2": "", "city": "Austin", "region": "TX",
                           "postcode": "", "country": "US", "lines": ["Austin, TX"]},
               "phone": "", "website": "", "hours": {"mon": [["07:00", "12:00"],
                                                             ["13:00", "24:00"]], "sun": []},
               "languages": []}
    ld = jsonld.provider(listing, "https://x.example/providers/7")
    assert ld == {
        "@context": "https://schema.org", "@type": ["MedicalBusiness", "Physiotherapy"],
        "@id": "https://x.example/providers/7", "name": "Bare PT",
        "url": "https://x.example/providers/7",
        "address": {"@type": "PostalAddress", "addressLocality": "Austin",
                    "addressRegion": "TX", "addressCountry": "US"},
        "geo": {"@type": "GeoCoordinates", "latitude": 30.0, "longitude": -97.0},
        "openingHoursSpecification": [
            {"@type": "OpeningHoursSpecification", "dayOfWeek": "https://schema.org/Monday",
             "opens": "07:00", "closes": "12:00"},
            {"@type": "OpeningHoursSpecification", "dayOfWeek": "https://schema.org/Monday",
             "opens": "13:00", "closes": "23:59"}],
    }


def test_item_list_numbers_its_providers() -> None:
    listing = {"name": "A", "address": {}, "hours": {}}
    ld = jsonld.item_list([(listing, "https://x.example/1"), (listing, "https://x.example/2")],
                          "Dry needling in A")
    assert ld["@type"] == "ItemList" and ld["numberOfItems"] == 2
    assert [(e["position"], e["item"]["url"]) for e in ld["itemListElement"]] == [
        (1, "https://x.example/1"), (2, "https://x.example/2")]


def test_json_ld_script_escapes_markup_and_parses_back() -> None:
    data = {"name": "</script><script>alert(1)</script> & <!-- \u2028 é"}
    markup = str(jsonld.script(data))
    assert markup.startswith('<script type="application/ld+json">')
    assert markup.endswith("</script>")
    body = markup[len('<script type="application/ld+json">'):-len("</script>")]
    assert not set("<>&\u2028") & set(body)
    assert "é" in body
    assert json.loads(body) == data


# --- robots.txt and the sitemap -------------------------------------------------------------


def test_robots_txt_keeps_crawlers_out_of_the_api_and_searches(client: FlaskClient) -> None:
    response = client.get("/robots.txt")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    assert response.get_data(as_text=True).splitlines() == [
        "User-agent: *", "Disallow: /api/", "Disallow: /search", "Disallow: /embed", "",
        f"Sitemap: {ROOT}/sitemap.xml"]


def sitemap_urls(client: FlaskClient, path: str) -> dict[str, str | None]:
    """Return {URL: lastmod} of one sitemap file, checking it is valid sitemap XML."""
    response = client.get(path)
    assert response.status_code == 200
    assert response.mimetype == "application/xml"
    root = ET.fromstring(response.data)
    assert root.tag == f"{SITEMAP_NS}urlset"
    found = {}
    for url in root:
        assert url.tag == f"{SITEMAP_NS}url"
        loc = url.find(f"{SITEMAP_NS}loc")
        assert loc is not None and loc.text
        lastmod = url.find(f"{SITEMAP_NS}lastmod")
        found[loc.text] = lastmod.text if lastmod is not None else None
    assert len(found) == len(root)  # no URL twice
    return found


def expected_urls(directory: dict[str, int]) -> set[str]:
    paths = ["/", "/dry-needling/us", "/dry-needling/us/tx", AUSTIN_CITY,
             "/dry-needling/us/tx/round-rock", "/dry-needling/us/tx/houston",
             "/dry-needling/ca", "/dry-needling/ca/qc", "/dry-needling/ca/qc/saint-jerome",
             "/dry-needling/ca/nl", "/dry-needling/ca/nl/st-johns",
             *(f"/providers/{id_}" for key, id_ in directory.items() if key not in UNPUBLISHED)]
    return {ROOT + path for path in paths}


def test_sitemap_lists_home_places_and_published_profiles(client: FlaskClient,
                                                          directory: dict[str, int]) -> None:
    urls = sitemap_urls(client, "/sitemap.xml")
    assert set(urls) == expected_urls(directory)
    assert urls[ROOT + "/"] is None
    for url, lastmod in urls.items():
        if url != ROOT + "/":
            assert lastmod is not None and re.fullmatch(r"\d{4}-\d\d-\d\d", lastmod), url
    # Every URL it lists answers.
    for url in urls:
        assert client.get(urlsplit(url).path).status_code == 200, url


def test_sitemap_lastmod_is_the_listings_last_change(app: Flask, client: FlaskClient,
                                                     directory: dict[str, int]) -> None:
    with session_scope(app) as session:
        updated = session.scalar(sa.select(Location.updated_at).where(
            Location.external_id == "needle"))
    assert updated is not None
    urls = sitemap_urls(client, "/sitemap.xml")
    assert urls[f"{ROOT}/providers/{directory['needle']}"] == updated.date().isoformat()


def test_sitemap_splits_into_an_index_past_the_limit(client: FlaskClient,
                                                     directory: dict[str, int],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(places, "URLS_PER_SITEMAP", 4)
    expected = expected_urls(directory)
    parts = math.ceil(len(expected) / 4)
    response = client.get("/sitemap.xml")
    assert response.status_code == 200 and response.mimetype == "application/xml"
    index = ET.fromstring(response.data)
    assert index.tag == f"{SITEMAP_NS}sitemapindex"
    files = [el.findtext(f"{SITEMAP_NS}loc") for el in index]
    assert files == [f"{ROOT}/sitemaps/{n}.xml" for n in range(1, parts + 1)]
    seen: list[str] = []
    for url in files:
        assert url is not None
        part = sitemap_urls(client, urlsplit(url).path)
        assert 0 < len(part) <= 4
        seen += part
    assert len(seen) == len(expected) and set(seen) == expected
    for path in (f"/sitemaps/{parts + 1}.xml", "/sitemaps/0.xml"):
        assert client.get(path).status_code == 404


def test_sitemap_of_an_empty_directory_lists_the_home_page(client: FlaskClient) -> None:
    assert sitemap_urls(client, "/sitemap.xml") == {ROOT + "/": None}


# --- in a real browser against `finder serve` -----------------------------------------------


def _fill(app: Flask) -> None:
    """The directory above, with one long name."""
    report = load(app, [*DIRECTORY, row(
        "long", "The Extraordinarily Long-Named Capitol Dry Needling & Sports Rehabilitation "
        "Centre", near(AUSTIN, 2.0, 10.0), services="Dry needling; Sports rehabilitation",
        insurance="Blue Cross Blue Shield; UnitedHealthcare", languages="English; Vietnamese",
        phone="512-555-0199", telehealth="yes")])
    assert report.rejected == []
    set_status(app, UNPUBLISHED, Status.UNPUBLISHED)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, migrated_database: Path) -> Iterator[Server]:
    """Serve that directory from a real server, one for the module: its browser tests only
    read."""
    yield from serve_directory(tmp_path_factory, migrated_database, "places", _fill)


@pytest.fixture
def open_page(browser: Browser, site: Server) -> Iterator[PageFactory]:
    yield from page_factory(browser, site.url)


PAGES = {"city": AUSTIN_CITY, "region": "/dry-needling/us/tx", "country": "/dry-needling/us"}


def watch_console(page: Page) -> list[str]:
    """Collect the page's console errors (a CSP violation is one) and uncaught exceptions."""
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return errors


@pytest.mark.parametrize("name", list(PAGES))
def test_place_pages_are_accessible_and_fit_every_screen(open_page: PageFactory,
                                                         name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    for size, options in (("phone", PHONE), ("desktop", DESKTOP), ("narrow", NARROW)):
        page = open_page(**options)
        errors = watch_console(page)
        response = page.goto(PAGES[name])
        assert response is not None and response.status == 200
        assert page.locator("h1").count() == 1
        assert page.get_by_role("navigation", name="Breadcrumb").is_visible()
        if size == "narrow":  # 320 px: nothing may scroll sideways
            scroll_width, inner_width = page.evaluate(
                "() => [document.documentElement.scrollWidth, innerWidth]")
            assert scroll_width <= inner_width
        else:
            assert_accessible(page)
        page.screenshot(path=str(SHOTS / f"places-{name}-{size}.png"), full_page=True)
        assert errors == [], size


def test_json_ld_runs_under_the_content_security_policy(open_page: PageFactory) -> None:
    page = open_page(**DESKTOP)
    errors = watch_console(page)
    page.goto(AUSTIN_CITY)
    blocks = page.eval_on_selector_all(
        'script[type="application/ld+json"]', "els => els.map(e => JSON.parse(e.textContent))")
    assert {block["@type"] for block in blocks} == {"BreadcrumbList", "ItemList"}
    page.get_by_role("link", name="Needle Point PT").click()
    page.wait_for_load_state("load")
    profile = page.eval_on_selector_all(
        'script[type="application/ld+json"]', "els => els.map(e => JSON.parse(e.textContent))")
    assert [block["name"] for block in profile] == ["Needle Point PT"]
    assert errors == []


# --- every database engine and search backend -----------------------------------------------


def test_place_pages_and_sitemap_on_every_deployment(any_database_app: Flask) -> None:
    app = any_database_app
    report = load(app, DIRECTORY)
    assert report.rejected == []
    set_status(app, UNPUBLISHED, Status.UNPUBLISHED)
    directory = ids(app)
    client = app.test_client()
    html = get(client, AUSTIN_CITY)
    assert provider_names(html) == ["Congress Avenue Physio", "Lamar Sports Rehab",
                                    "Needle Point PT"]
    assert "1 provider · 17 mi" in html
    assert len(block_of_type(html, "ItemList")["itemListElement"]) == 3
    assert [name for _, name in place_links(get(client, "/dry-needling/us"))] == ["Texas"]
    urls = sitemap_urls(client, "/sitemap.xml")
    assert set(urls) == expected_urls(directory)
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\d", day or "") for url, day in urls.items()
               if url != ROOT + "/")
    set_status(app, ("houston",), Status.UNPUBLISHED)
    assert client.get("/dry-needling/us/tx/houston").status_code == 404
