"""Place pages for search engines: dry needling by country, region and city, the sitemap and
robots.txt.

A place exists only where published listings are: its pages are computed from the listings'
address columns (grouped in the database, folded into URL slugs here), so there are no empty
pages to crawl. Places are read with plain Core selects of the few columns they need.
"""

from __future__ import annotations

import csv
import math
import re
import unicodedata
from array import array
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache, lru_cache
from typing import Any
from urllib.parse import quote
from xml.sax.saxutils import escape

import numpy as np
import sqlalchemy as sa
from flask import Blueprint, Response, abort, current_app, redirect, render_template, url_for
from flask.blueprints import BlueprintSetupState
from markupsafe import Markup
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response as BaseResponse

from . import geo, jsonld
from .db import get_session
from .listings import PUBLIC_COLUMNS, Listing, public_json
from .models import IndexChange, Location, Organization, Status
from .resources import resource_dir
from .search.query import analyze, default_synonyms

bp = Blueprint("places", __name__)

MAX_SHOWN = 50  # providers listed on a city page; the search has the rest
NEARBY_KM = 50.0  # how far from a city's centre its nearby places may be
NEARBY_COUNT = 6
TOP_INSURANCE = 5
GROUP_CITIES_FROM = 30  # a region with more cities lists them by first letter
MOST_PROVIDERS = 12  # ... after the cities with the most providers
URLS_PER_SITEMAP = 50_000  # the sitemaps.org limit per file
NO_REGION = "other"  # the region slug of listings that name no region
CACHE_SECONDS = 3600  # for robots.txt and the sitemap

_LOCATION, _ORGANIZATION = Location.__table__, Organization.__table__
_PUBLISHED = _LOCATION.c.status == Status.PUBLISHED
_SELECT_LISTINGS = sa.select(
    *(_LOCATION.c[name] for name in PUBLIC_COLUMNS),
    _ORGANIZATION.c.name.label("organization_name"),
).join(_ORGANIZATION, _ORGANIZATION.c.id == _LOCATION.c.organization_id).where(_PUBLISHED)
_SELECT_CITIES = sa.select(
    _LOCATION.c.country, _LOCATION.c.region, _LOCATION.c.city, sa.func.count(),
    sa.func.avg(_LOCATION.c.latitude), sa.func.avg(_LOCATION.c.longitude),
    sa.func.max(_LOCATION.c.updated_at),
).where(_PUBLISHED, _LOCATION.c.city != "").group_by(
    _LOCATION.c.country, _LOCATION.c.region, _LOCATION.c.city)

# Letters that Unicode does not decompose into a base letter and an accent.
_LETTERS = str.maketrans({"ł": "l", "Ł": "L", "ø": "o", "Ø": "O", "đ": "d", "Đ": "D",
                          "ð": "d", "Ð": "D", "þ": "th", "Þ": "Th", "æ": "ae", "Æ": "Ae",
                          "œ": "oe", "Œ": "Oe", "ı": "i"})
_APOSTROPHES = re.compile(r"['’ʼ`´]")
_SEPARATORS = re.compile(r"[\W_]+")
_COUNTRY_SLUG = re.compile(r"^[a-z]{2}$")


def slug(text: str) -> str:
    """Return a place name as a URL slug: "Saint-Jérôme" -> "saint-jerome".

    Accents are folded, case is folded, apostrophes dropped ("St. John's" -> "st-johns") and
    every other run of characters that are not letters or digits becomes one "-".
    """
    decomposed = unicodedata.normalize("NFKD", text.translate(_LETTERS))
    folded = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()
    return _SEPARATORS.sub("-", _APOSTROPHES.sub("", folded)).strip("-")


@cache
def us_state_names() -> dict[str, str]:
    """Map US state codes ("TX") to their names ("Texas")."""
    with open(resource_dir("data") / "us-states.csv", encoding="utf-8") as handle:
        return {row["code"]: row["name"] for row in csv.DictReader(handle)}


@cache
def _us_state_codes() -> dict[str, str]:
    names = us_state_names()
    return {**{name.upper(): code for code, name in names.items()},
            **{code: code for code in names}}


def country_name(code: str) -> str:
    """Return a country's English name, or its code when it is not known."""
    from .geocode.gazetteer import country_names

    return country_names().get(code, code)


_WITH_THE = re.compile(r"^(United |Netherlands|Philippines|Bahamas|Gambia|Maldives)"
                       r"|(Republic|Islands|Kingdom|Emirates)$")


def in_country(name: str) -> str:
    """Return a country name as it follows "in": "the United States", "Canada"."""
    return f"the {name}" if _WITH_THE.search(name) else name


@dataclass(slots=True)  # one per city: tens of thousands
class City:
    """A city with published listings, its spellings folded into one slug."""

    country: str
    region_slug: str
    region_code: str
    slug: str
    name: str
    count: int = 0
    lat: float = 0.0
    lon: float = 0.0
    updated_at: datetime | None = None
    ids: array[int] = field(default_factory=lambda: array("q"))  # of its listings

    @property
    def label(self) -> str:
        """The city as people write it: "Austin, TX" (or "Cromer, United Kingdom")."""
        return f"{self.name}, {self.region_code or country_name(self.country)}"

    def path(self) -> str:
        """Return this city's page path."""
        return url_for("places.city", country=self.country.lower(), region=self.region_slug,
                       city=self.slug)


@dataclass
class Region:
    """A region (state, province) of a country, with its cities."""

    country: str
    slug: str
    code: str  # as the listings write it ("TX", "QC"); "" for listings without a region
    name: str  # the human name where known ("Texas"), else the code
    cities: dict[str, City] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return sum(city.count for city in self.cities.values())

    @property
    def label(self) -> str:
        """The region in a heading: "Texas", "QC, Canada", "other areas of United Kingdom"."""
        if self.country == "US":
            return self.name
        if not self.code:
            return f"other areas of {in_country(country_name(self.country))}"
        return f"{self.name}, {country_name(self.country)}"

    @property
    def updated_at(self) -> datetime | None:
        return max((c.updated_at for c in self.cities.values() if c.updated_at), default=None)


@dataclass
class Country:
    """A country with published listings, with its regions."""

    code: str
    regions: dict[str, Region] = field(default_factory=dict)

    @property
    def slug(self) -> str:
        return self.code.lower()

    @property
    def name(self) -> str:
        return country_name(self.code)

    @property
    def count(self) -> int:
        return sum(region.count for region in self.regions.values())

    @property
    def updated_at(self) -> datetime | None:
        return max((r.updated_at for r in self.regions.values() if r.updated_at), default=None)


def _region_of(country: str, region: str) -> tuple[str, str, str]:
    """Return (slug, code, name) of a region as a listing writes it."""
    region = region.strip()
    if country == "US":
        code = _us_state_codes().get(region.upper())
        if code:
            return code.lower(), code, us_state_names()[code]
    if not slug(region):
        return NO_REGION, "", "Other areas"
    return slug(region), region, region


def read_places(session: Session) -> dict[str, Country]:
    """Read every country with published listings, by slug, with its regions and cities."""
    countries: dict[str, Country] = {}
    spelled: dict[tuple[str, str, str], City] = {}  # the address columns as stored
    spellings: dict[int, Counter[str]] = {}  # by id(city): how many listings use each name
    rows: Iterable[Any] = session.execute(_SELECT_CITIES).all()
    for code, region_text, city_text, count, lat, lon, updated in rows:
        city_slug = slug(city_text)
        if not city_slug:
            continue
        region_slug, region_code, region_name = _region_of(code.upper(), region_text)
        place = countries.get(code.lower()) or countries.setdefault(
            code.lower(), Country(code.upper()))
        region = place.regions.get(region_slug) or place.regions.setdefault(
            region_slug, Region(place.code, region_slug, region_code, region_name))
        city = region.cities.get(city_slug)
        if city is None:
            city = region.cities[city_slug] = City(place.code, region.slug, region.code,
                                                   city_slug, city_text.strip())
        spelled[(code, region_text, city_text)] = city
        # Centre: the mean position of the city's listings, over all its spellings.
        city.lat = (city.lat * city.count + lat * count) / (city.count + count)
        city.lon = (city.lon * city.count + lon * count) / (city.count + count)
        city.count += count
        spellings.setdefault(id(city), Counter())[city_text.strip()] += count
        if updated is not None and (city.updated_at is None or updated > city.updated_at):
            city.updated_at = updated
    for city in spelled.values():
        city.name = spellings[id(city)].most_common(1)[0][0]  # the most common spelling
    # The ids of each city's listings, so that its page reads them by primary key.
    ids: Iterable[Any] = session.execute(sa.select(
        _LOCATION.c.id, _LOCATION.c.country, _LOCATION.c.region, _LOCATION.c.city,
    ).where(_PUBLISHED, _LOCATION.c.city != ""))
    for id_, *address in ids:
        found = spelled.get(tuple(address))
        if found is not None:  # else published after the cities were counted
            found.ids.append(id_)
    return countries


class Directory:
    """The places of the directory, read again only after a listing has changed.

    Grouping every listing by city takes a moment at 100k listings, so the result is kept
    per process, keyed on the change log's last number: every change of a location writes a
    change row in its own transaction (the search index catches up from the same log).
    """

    def __init__(self) -> None:
        self._read: tuple[int | None, dict[str, Country], list[City]] | None = None

    def _current(self, session: Session) -> tuple[dict[str, Country], list[City]]:
        version = session.scalar(sa.select(sa.func.max(IndexChange.seq)))
        read = self._read
        if read is None or read[0] != version or version is None:
            countries = read_places(session)
            cities = sorted((city for country in countries.values()
                             for region in country.regions.values()
                             for city in region.cities.values()), key=lambda c: c.lat)
            read = self._read = (version, countries, cities)
        return read[1], read[2]

    def countries(self, session: Session) -> dict[str, Country]:
        """Return every country with published listings, by slug."""
        return self._current(session)[0]

    def cities_between(self, session: Session, south: float, north: float) -> list[City]:
        """Return the cities whose centre lies between two latitudes."""
        cities = self._current(session)[1]
        return cities[bisect_left(cities, south, key=lambda c: c.lat):
                      bisect_right(cities, north, key=lambda c: c.lat)]


def get_directory() -> Directory:
    """Return the current app's place directory."""
    directory: Directory = current_app.extensions["finder.places"]
    return directory


@bp.record_once
def _init_app(state: BlueprintSetupState) -> None:
    state.app.extensions["finder.places"] = Directory()


def _find_country(session: Session, country: str) -> Country:
    if not _COUNTRY_SLUG.match(country.lower()):
        abort(404)
    found = get_directory().countries(session).get(country.lower())
    if found is None:
        abort(404)
    return found


def _find_region(place: Country, asked: str) -> Region:
    found = place.regions.get(slug(asked))
    if found is None and place.code == "US":  # a state by its name: /us/new-york
        code = _us_state_codes().get(slug(asked).replace("-", " ").upper())
        found = place.regions.get(code.lower()) if code else None
    if found is None:
        abort(404)
    return found


def _canonical(endpoint: str, asked: dict[str, Any], **slugs: Any) -> BaseResponse | None:
    """Redirect a place asked for in another spelling (upper case, accents) to its URL."""
    if asked == slugs:
        return None
    return redirect(url_for(endpoint, **slugs), 301)


def _by_name(items: Iterable[Any]) -> list[Any]:
    return sorted(items, key=lambda item: (slug(item.name), item.name))


# Dry needling and each of its synonyms in data/synonyms.txt, as analysed token runs: a
# service naming one of them is a dry-needling technique.
@cache
def _technique_terms() -> tuple[tuple[str, ...], ...]:
    key = analyze("dry needling")
    return (key, *(tokens for tokens, _ in default_synonyms().expansions.get(key, [])))


@lru_cache(maxsize=4096)  # services repeat from listing to listing
def is_technique(service: str) -> bool:
    """Return whether a service names a dry-needling technique ("Functional dry needling")."""
    tokens = analyze(service)
    return any(tokens[i:i + len(term)] == term for term in _technique_terms()
               for i in range(len(tokens) - len(term) + 1))


@dataclass
class Summary:
    """What a city's listings offer, counted over all of them."""

    total: int
    accepting: int
    telehealth: int
    techniques: list[tuple[str, int]]
    insurance: list[tuple[str, int]]
    languages: list[tuple[str, int]]


def _tally(lists: Iterable[list[str]]) -> list[tuple[str, int]]:
    """Count values case-insensitively (once per listing), most common first."""
    counts: Counter[str] = Counter()
    spellings: dict[str, Counter[str]] = {}
    for values in lists:
        seen = {value.strip().casefold(): value.strip() for value in values or [] if value.strip()}
        for key, value in seen.items():
            counts[key] += 1
            spellings.setdefault(key, Counter())[value] += 1
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return [(spellings[key].most_common(1)[0][0], count) for key, count in ranked]


def summarize(listings: list[Listing]) -> Summary:
    """Return the summary of a city's listings."""
    return Summary(
        total=len(listings),
        accepting=sum(1 for item in listings if item.accepting_new_patients),
        telehealth=sum(1 for item in listings if item.telehealth),
        techniques=_tally([s for s in item.services or [] if is_technique(s)]
                          for item in listings),
        insurance=_tally(item.insurance for item in listings)[:TOP_INSURANCE],
        languages=_tally(item.languages for item in listings),
    )


def nearby(session: Session, city: City) -> list[tuple[City, float]]:
    """Return other cities with listings within NEARBY_KM of a city's centre, nearest first."""
    # Degrees of latitude and longitude that NEARBY_KM spans at most, with room to spare.
    lat_span = NEARBY_KM / 110.5
    lon_span = NEARBY_KM / (111.0 * max(math.cos(math.radians(abs(city.lat) + lat_span)), 1e-3))
    key = (city.country, city.region_slug, city.slug)
    candidates = [
        other for other in get_directory().cities_between(session, city.lat - lat_span,
                                                          city.lat + lat_span)
        if abs((other.lon - city.lon + 180) % 360 - 180) <= lon_span
        and (other.country, other.region_slug, other.slug) != key]
    if not candidates:
        return []
    km = geo.geodesic_km_many(city.lat, city.lon, np.array([c.lat for c in candidates]),
                              np.array([c.lon for c in candidates]))
    found = [(other, float(d)) for other, d in zip(candidates, km, strict=True)
             if d <= NEARBY_KM]
    found.sort(key=lambda pair: (pair[1], pair[0].name))
    return found[:NEARBY_COUNT]


def search_args(city: City, listings: list[Listing]) -> dict[str, Any]:
    """Return the search parameters for "all providers near this city".

    The city's most common postcode: its listings were located by it, so the search finds it
    (a city name may be spelled in a way the gazetteer does not know).
    """
    postcodes = Counter(row.postcode.strip() for row in listings if row.postcode.strip())
    if postcodes:
        return {"postcode": postcodes.most_common(1)[0][0], "country": city.country}
    region = f", {city.region_code}" if city.region_code else ""
    return {"city": f"{city.name}{region}", "country": city.country}


def city_listings(session: Session, city: City) -> list[Listing]:
    """Return the published listings of a city, by name."""
    rows: list[Listing] = []
    for start in range(0, len(city.ids), 500):
        rows += session.execute(_SELECT_LISTINGS.where(
            _LOCATION.c.id.in_(city.ids[start:start + 500].tolist()))).all()
    return sorted(rows, key=lambda row: (row.name.casefold(), row.id))


def _crumbs(*trail: tuple[str, str]) -> list[tuple[str, str]]:
    """Return breadcrumbs (name, absolute URL) from the home page down to ``trail``."""
    return [("Home", url_for("views.index", _external=True)),
            ("Places", url_for("places.countries", _external=True)), *trail]


bp.add_app_template_global(in_country)
bp.add_app_template_global(jsonld.breadcrumb_list, "breadcrumb_ld")
bp.add_app_template_test(is_technique, "technique")


@bp.app_template_global()
def json_ld(data: dict[str, Any]) -> Markup:
    """Render JSON-LD as a script element that listing text cannot break out of."""
    return jsonld.script(data)


@bp.app_template_global()
def provider_ld(location: Listing) -> dict[str, Any]:
    """Return the JSON-LD of a listing row for its profile page."""
    return jsonld.provider(public_json(location), url_for("views.provider",
                                                          location_id=location.id,
                                                          _external=True))


@bp.get("/dry-needling/")
def countries() -> str:
    """List the countries that have published listings."""
    found = get_directory().countries(get_session())
    if not found:
        abort(404)
    return render_template("places/countries.html",
                           countries=sorted(found.values(), key=lambda c: c.name),
                           crumbs=_crumbs())


@bp.get("/dry-needling/<country>")
def country(country: str) -> str | BaseResponse:
    """List the regions of a country that have published listings, with counts."""
    found = _find_country(get_session(), country)
    moved = _canonical(".country", {"country": country}, country=found.slug)
    if moved:
        return moved
    return render_template(
        "places/country.html", country=found, regions=_by_name(found.regions.values()),
        crumbs=_crumbs((found.name, url_for(".country", country=found.slug, _external=True))))


@bp.get("/dry-needling/<country>/<region>")
def region(country: str, region: str) -> str | BaseResponse:
    """List the cities of a region that have published listings, with counts."""
    place = _find_country(get_session(), country)
    found = _find_region(place, region)
    moved = _canonical(".region", {"country": country, "region": region},
                       country=place.slug, region=found.slug)
    if moved:
        return moved
    cities = _by_name(found.cities.values())
    most = sorted(cities, key=lambda c: -c.count)[:MOST_PROVIDERS]
    letters: dict[str, list[City]] = {}
    for city in cities:
        letters.setdefault(city.slug[0].upper(), []).append(city)
    return render_template(
        "places/region.html", country=place, region=found, cities=cities,
        # A long list of cities gets its busiest first, then an A to Z with an index.
        most=most if len(cities) > GROUP_CITIES_FROM else [], letters=letters,
        crumbs=_crumbs((place.name, url_for(".country", country=place.slug, _external=True)),
                       (found.name, url_for(".region", country=place.slug, region=found.slug,
                                            _external=True))))


@bp.get("/dry-needling/<country>/<region>/<city>")
def city(country: str, region: str, city: str) -> str | BaseResponse:
    """Show the published providers of a city, what they offer and the places nearby."""
    session = get_session()
    place = _find_country(session, country)
    area = _find_region(place, region)
    found = area.cities.get(slug(city))
    if found is None:
        abort(404)
    moved = _canonical(".city", {"country": country, "region": region, "city": city},
                       country=place.slug, region=area.slug, city=found.slug)
    if moved:
        return moved
    listings = city_listings(session, found)
    if not listings:  # unpublished since the places were read
        abort(404)
    shown = listings[:MAX_SHOWN]
    urls = {row.id: url_for("views.provider", location_id=row.id, _external=True)
            for row in shown}
    return render_template(
        "places/city.html", country=place, region=area, city=found, listings=shown,
        summary=summarize(listings), nearby=nearby(session, found),
        unit=geo.default_unit(found.country),
        search_url=url_for("views.search", **search_args(found, listings)),
        item_list=jsonld.item_list([(public_json(row), urls[row.id]) for row in shown],
                                   f"Dry needling in {found.label}"),
        crumbs=_crumbs((place.name, url_for(".country", country=place.slug, _external=True)),
                       (area.name, url_for(".region", country=place.slug, region=area.slug,
                                           _external=True)),
                       (found.name, url_for(".city", country=place.slug, region=area.slug,
                                            city=found.slug, _external=True))))


@bp.get("/robots.txt")
def robots() -> Response:
    """Let crawlers read everything but the API, search results and partners' embeds; name
    the sitemap."""
    text = "\n".join([
        "User-agent: *",
        "Disallow: /api/",
        "Disallow: /search",
        "Disallow: /embed",
        "",
        f"Sitemap: {url_for('.sitemap', _external=True)}",
        "",
    ])
    response = Response(text, mimetype="text/plain")
    response.cache_control.public = True
    response.cache_control.max_age = CACHE_SECONDS
    return response


Entry = tuple[str, str | None]  # a URL, escaped for XML, and its last change (YYYY-MM-DD)


def _day(moment: datetime | None) -> str | None:
    return moment.date().isoformat() if moment else None


def _place_entries(root: str, found: dict[str, Country]) -> Iterator[Entry]:
    # Paths are built here rather than by url_for, which costs too much for every line.
    for country in sorted(found.values(), key=lambda c: c.slug):
        country_url = f"{root}dry-needling/{country.slug}"
        yield country_url, _day(country.updated_at)
        for region in sorted(country.regions.values(), key=lambda r: r.slug):
            region_url = f"{country_url}/{quote(region.slug)}"
            yield region_url, _day(region.updated_at)
            for city in sorted(region.cities.values(), key=lambda c: c.slug):
                yield f"{region_url}/{quote(city.slug)}", _day(city.updated_at)


def _provider_entries(session: Session, root: str, offset: int, limit: int) -> list[Entry]:
    # The raw column: its first ten characters are the UTC date on SQLite (which stores
    # "YYYY-MM-DD HH:MM:SS") and on PostgreSQL, and converting 50,000 datetimes costs more
    # than the query.
    updated = sa.type_coerce(_LOCATION.c.updated_at, sa.String)
    rows: Iterable[Any] = session.execute(
        sa.select(_LOCATION.c.id, updated).where(_PUBLISHED)
        .order_by(_LOCATION.c.id).offset(offset).limit(limit)).all()
    return [(f"{root}providers/{id_}", str(day)[:10] if day else None) for id_, day in rows]


def _xml(lines: Iterable[str]) -> Response:
    response = Response("".join(lines), mimetype="application/xml")
    response.cache_control.public = True
    response.cache_control.max_age = CACHE_SECONDS
    return response


def _urlset(entries: Iterable[Entry]) -> Iterator[str]:
    yield '<?xml version="1.0" encoding="UTF-8"?>\n'
    yield '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n'
    for url, day in entries:
        lastmod = f"<lastmod>{day}</lastmod>" if day else ""
        yield f"<url><loc>{url}</loc>{lastmod}</url>\n"
    yield "</urlset>\n"


def _sitemap_entries(part: int | None) -> tuple[int, list[Entry]]:
    """Return the number of sitemap files and the entries of file ``part`` (0-based; None
    for every entry, when one file holds them all)."""
    session = get_session()
    root = escape(url_for("views.index", _external=True))
    countries = get_directory().countries(session)
    place_entries: list[Entry] = [(root, None), *_place_entries(root, countries)]
    providers = session.scalar(sa.select(sa.func.count()).where(_PUBLISHED)) or 0
    parts = max(1, math.ceil((len(place_entries) + providers) / URLS_PER_SITEMAP))
    if part is None:
        if parts > 1:
            return parts, []
        return parts, place_entries + _provider_entries(session, root, 0, providers)
    start, stop = part * URLS_PER_SITEMAP, (part + 1) * URLS_PER_SITEMAP
    entries = place_entries[start:stop]
    if len(entries) < URLS_PER_SITEMAP:
        first = max(0, start - len(place_entries))
        entries += _provider_entries(session, root, first, URLS_PER_SITEMAP - len(entries))
    return parts, entries


@bp.get("/sitemap.xml")
def sitemap() -> Response:
    """List every page worth crawling, or the sitemap files when there are too many for one."""
    parts, entries = _sitemap_entries(None)
    if parts == 1:
        return _xml(_urlset(entries))
    lines = ['<?xml version="1.0" encoding="UTF-8"?>\n',
             '<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n']
    lines += [f"<sitemap><loc>{escape(url_for('.sitemap_part', part=n, _external=True))}</loc>"
              "</sitemap>\n" for n in range(1, parts + 1)]
    lines.append("</sitemapindex>\n")
    return _xml(lines)


@bp.get("/sitemaps/<int:part>.xml")
def sitemap_part(part: int) -> Response:
    """Serve one file of a sitemap split for size (numbered from 1)."""
    if part < 1:
        abort(404)
    parts, entries = _sitemap_entries(part - 1)
    if part > parts:
        abort(404)
    return _xml(_urlset(entries))
