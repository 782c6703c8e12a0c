"""The offline gazetteer: postcode and city centroids from maintained data packages.

US ZIP codes come from ``zipcodes`` (with city, state and timezone); other countries from
``countrystatecity-postal-codes``. Nothing leaves the machine, there is no quota, and a
postcode is only ever looked up in the country it was asked for.
"""

from __future__ import annotations

import csv
import difflib
import multiprocessing
import re
import statistics
from collections import defaultdict
from dataclasses import dataclass
from functools import cache
from typing import Any

import countrystatecity_postal_codes as csc
import zipcodes
from countrystatecity_postal_codes.loaders import DataLoader
from timezonefinder import TimezoneFinder

from ..errors import (
    GeocodingError,
    InvalidPostcode,
    UnknownCity,
    UnknownPostcode,
    UnsupportedCountry,
)
from ..resources import resource_dir
from . import Place

SOURCE = "gazetteer"
# Countries offered when a postcode has another country's shape, in this order.
SUGGESTED_COUNTRIES = ("US", "CA", "GB", "AU", "NZ", "IE")
_SHAPES = {
    "US": re.compile(r"^\d{5}(?:[-\s]?\d{4})?$"),
    "CA": re.compile(r"^[A-Z]\d[A-Z](?:\s*\d[A-Z]\d)?$"),
    "GB": re.compile(r"^[A-Z]{1,2}\d[A-Z\d]?(?:\s*\d[A-Z]{2})?$"),
    "AU": re.compile(r"^\d{4}$"),
    "NZ": re.compile(r"^\d{4}$"),
    "IE": re.compile(r"^[A-Z]\d[\dW](?:\s*[A-Z\d]{4})?$"),
}
CITY_SUGGESTIONS = 3
_US_ZIP = re.compile(r"^(\d{5})(?:[-\s]?\d{4})?$")
_CA_POSTCODE = re.compile(
    r"^([ABCEGHJ-NPRSTVXY]\d[ABCEGHJ-NPRSTV-Z])(?:\s*\d[ABCEGHJ-NPRSTV-Z]\d)?$"
)


@dataclass(frozen=True)
class _Entry:
    code: str
    lat: float
    lon: float
    city: str
    region: str
    timezone: str | None = None


def us_zip_rows() -> list[dict[str, Any]]:
    """Return every row of the ``zipcodes`` package (about 140 MB of dicts)."""
    rows: list[dict[str, Any]] = zipcodes.list_all()  # type: ignore[no-untyped-call]
    return rows


def _build_us_index() -> tuple[dict[str, _Entry], dict[tuple[str, str], list[_Entry]]]:
    entries = {}
    # A ZIP's own city comes before ZIPs that merely accept the name as a mailing city.
    primary: dict[tuple[str, str], list[_Entry]] = defaultdict(list)
    accepted: dict[tuple[str, str], list[_Entry]] = defaultdict(list)
    for row in us_zip_rows():
        if not row["lat"]:
            continue
        entry = entries[row["zip_code"]] = _Entry(
            row["zip_code"], float(row["lat"]), float(row["long"]), row["city"],
            row["state"], row["timezone"] or None,
        )
        if row["zip_code_type"] == "STANDARD":
            primary[(row["city"].upper(), row["state"])].append(entry)
            for city in row["acceptable_cities"]:
                accepted[(city.upper(), row["state"])].append(entry)
    cities = {key: primary.get(key) or accepted[key] for key in primary.keys() | accepted.keys()}
    return entries, cities


@cache
def _us_index() -> tuple[dict[str, _Entry], dict[tuple[str, str], list[_Entry]]]:
    """Return US ZIPs and cities, built in a short-lived child process.

    ``zipcodes`` materialises 42,000 dicts, some 140 MB that a process never gives back; the
    child builds the compact index and exits, so a serving process keeps only the result.
    """
    with multiprocessing.get_context("fork").Pool(1) as pool:
        return pool.apply(_build_us_index)


@cache
def us_state_codes() -> dict[str, str]:
    """Map upper-cased US state names and codes to their two-letter codes."""
    with open(resource_dir("data") / "us-states.csv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return {**{r["name"].upper(): r["code"] for r in rows}, **{r["code"]: r["code"] for r in rows}}


@cache
def _timezones() -> TimezoneFinder:
    return TimezoneFinder()


def timezone_at(lat: float, lon: float) -> str:
    """Return the IANA timezone at a point (UTC at sea)."""
    return _timezones().timezone_at(lat=lat, lng=lon) or "UTC"


@cache
def country_names() -> dict[str, str]:
    """Map ISO codes to country names for every country the registry knows."""
    return {c.countryCode: c.countryName for c in csc.get_countries_with_postal_data()}


class Gazetteer:
    """Resolve postcodes and cities offline."""

    name = SOURCE
    locates_addresses = False

    @property
    def _us(self) -> dict[str, _Entry]:
        return _us_index()[0]

    @property
    def _us_cities(self) -> dict[tuple[str, str], list[_Entry]]:
        return _us_index()[1]

    def _country(self, country: str) -> dict[str, _Entry]:
        if country == "US":
            return self._us
        return _country_entries(country)

    # -- postcodes ---------------------------------------------------------------------------

    def postcode(self, code: str, country: str) -> Place:
        country = _check_country(country)
        raw = code.strip().upper()
        if not raw:
            raise InvalidPostcode("Enter a postcode.")
        entries = self._country(country)
        entry = None
        try:
            keys = _candidate_keys(raw, country, typed=code.strip())
        except InvalidPostcode as exc:
            exc.suggestions = self.other_countries(code, country)
            raise
        for key in keys:
            entry = entries.get(key)
            if entry is not None:
                break
        if entry is None:
            raise UnknownPostcode(
                f"Postcode {code.strip()!r} was not found in {country_names()[country]}."
            )
        label = f"{entry.code}, {entry.city}" if entry.city else entry.code
        if entry.region and country in ("US", "CA", "AU"):
            label = f"{label}, {entry.region}"
        return Place(
            lat=entry.lat, lon=entry.lon, label=label, precision="postcode", source=SOURCE,
            country=country, postcode=entry.code, city=entry.city, region=entry.region,
            timezone=entry.timezone or timezone_at(entry.lat, entry.lon),
        )

    def other_countries(self, code: str, country: str) -> list[dict[str, str]]:
        """Return the other countries where a postcode of this shape exists, as suggestions."""
        raw = code.strip().upper()
        found = []
        for other in SUGGESTED_COUNTRIES:
            if other == country or not _SHAPES[other].match(raw):
                continue
            try:
                place = self.postcode(raw, other)
            except GeocodingError:
                continue
            found.append({"postcode": code.strip(), "country": other,
                          "label": f"{code.strip()} in {country_names()[other]}",
                          "place": place.label})
        return found

    # -- cities ------------------------------------------------------------------------------

    def city(self, name: str, country: str) -> Place:
        country = _check_country(country)
        city, _, region = (part.strip() for part in name.partition(","))
        if not city:
            raise UnknownCity("Enter a city name.")
        if country == "US":
            state = us_state_codes().get(region.upper(), region.upper())
            matches = self._us_city(city.upper(), state)
        else:
            matches = _locality_matches(self._country(country), city, region)
        if not matches:
            where = f"{city}, {region}" if region else city
            raise UnknownCity(f"City {where!r} was not found in {country_names()[country]}.",
                              suggestions=self._similar_cities(city, region, country))
        lat = statistics.fmean(e.lat for e in matches)
        lon = statistics.fmean(e.lon for e in matches)
        first = matches[0]
        label_city = first.city if first.city.casefold() == city.casefold() else city.title()
        label = f"{label_city}, {first.region}" if first.region else label_city
        return Place(
            lat=lat, lon=lon, label=label, precision="city", source=SOURCE, country=country,
            city=label_city, region=first.region,
            timezone=first.timezone or timezone_at(lat, lon),
        )

    def _similar_cities(self, city: str, region: str, country: str) -> list[dict[str, str]]:
        """Return the known cities spelt most like ``city`` (in its region when one is given),
        the closest spellings first and, among equals, the places with most postcodes."""
        wanted = city.casefold()
        weights: dict[tuple[str, str], int] = defaultdict(int)
        if country == "US":
            state = us_state_codes().get(region.upper(), region.upper())
            for (name, code), zips in self._us_cities.items():
                if not state or code == state:
                    weights[(name.title(), code)] += len(zips)
        else:
            for entry in self._country(country).values():
                if entry.city and (not region or entry.region.casefold() == region.casefold()):
                    weights[(entry.city, entry.region)] += 1
        scored = []
        for (name, code), weight in weights.items():
            # Same first letter: typos rarely change it, and it keeps the comparison small.
            if name[:1].casefold() == wanted[:1]:
                ratio = difflib.SequenceMatcher(None, wanted, name.casefold()).ratio()
                if ratio >= 0.8:
                    scored.append((-round(ratio, 2), -weight, f"{name}, {code}" if code else name))
        return [{"city": label, "country": country, "label": label}
                for *_, label in sorted(scored)[:CITY_SUGGESTIONS]]

    def _us_city(self, city: str, state: str) -> list[_Entry]:
        if state:
            return self._us_cities.get((city, state), [])
        # No state given: the state where the city has the most ZIPs (Austin -> TX).
        candidates = [zips for (name, _), zips in self._us_cities.items() if name == city]
        return max(candidates, key=len, default=[])

    def address(self, query: str, country: str) -> Place:
        raise GeocodingError(
            "The offline gazetteer locates postcodes and cities, not street addresses."
        )


def _check_country(country: str) -> str:
    country = country.strip().upper()
    if country not in country_names():
        raise UnsupportedCountry(f"{country!r} is not a country code finder knows.")
    if country != "US" and not _country_entries(country):
        raise UnsupportedCountry(
            f"There is no offline postcode data for {country_names()[country]}."
        )
    return country


def _candidate_keys(raw: str, country: str, typed: str) -> list[str]:
    """Return the normalised spellings of a postcode to try, most precise first; a postcode
    of the wrong shape is refused in the words it was ``typed``."""
    if country == "US":
        match = _US_ZIP.match(raw)
        if not match:
            raise InvalidPostcode(
                f"{typed!r} is not a US ZIP code (expected 12345 or 12345-6789).")
        return [match.group(1)]
    if country == "CA":
        match = _CA_POSTCODE.match(raw)
        if not match:
            raise InvalidPostcode(
                f"{typed!r} is not a Canadian postal code (expected A1A 1A1).")
        return [match.group(1)]  # the data holds forward sortation areas (first three)
    compact = re.sub(r"[\s-]", "", raw)
    keys = [raw, compact, raw.replace(" ", "-")]
    if country == "GB":
        outward = raw.split()[0] if " " in raw else compact[:-3] if len(compact) > 4 else compact
        keys += [outward, re.sub(r"\d.*$", "", outward)]  # district, then area letters
    elif " " in raw:
        keys.append(raw.split()[0])  # e.g. Dutch "1012 AB" -> "1012"
    keys.append(f"{country}{compact}")  # registries that prefix the country, e.g. AD100
    return list(dict.fromkeys(k for k in keys if k))


@cache
def _country_entries(country: str) -> dict[str, _Entry]:
    entries: dict[str, _Entry] = {}
    for row in DataLoader.load_postcodes(country):
        if row.get("latitude") is None or row.get("longitude") is None:
            continue
        code = str(row["code"]).upper()
        locality = str(row.get("localityName") or "")
        entries.setdefault(code, _Entry(
            code, float(row["latitude"]), float(row["longitude"]),
            locality.title() if locality.isupper() else locality, str(row.get("stateCode") or ""),
        ))
    return entries


def _locality_matches(entries: dict[str, _Entry], city: str, region: str) -> list[_Entry]:
    wanted = city.casefold()
    region = region.casefold()
    in_region = [e for e in entries.values() if not region or e.region.casefold() == region]
    exact = [e for e in in_region if e.city.casefold() == wanted]
    if exact:
        return exact
    word = re.compile(rf"\b{re.escape(wanted)}\b")
    return [e for e in in_region if word.search(e.city.casefold())]
