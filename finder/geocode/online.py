"""Online geocoding through geopy (Nominatim), off by default.

Requests are rate limited, answers are cached on disk so an address is asked for once, and
every failure (timeout, quota, refusal) is raised as a finder error instead of being swallowed.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Flask
from geopy.exc import GeopyError
from geopy.extra.rate_limiter import RateLimiter
from geopy.geocoders import Nominatim

from ..errors import GeocoderUnavailable, GeocodingError, UnknownCity, UnknownPostcode
from . import Place
from .gazetteer import timezone_at


class GeocodeCache:
    """A persistent key -> JSON cache in a small SQLite file of the data folder."""

    def __init__(self, path: Path) -> None:
        self._conn = sqlite3.connect(path, check_same_thread=False, timeout=30)
        self._conn.execute("CREATE TABLE IF NOT EXISTS cache (key TEXT PRIMARY KEY, value TEXT)")
        self._lock = threading.Lock()

    def get(self, key: str) -> Any:
        with self._lock:
            row = self._conn.execute("SELECT value FROM cache WHERE key = ?", (key,)).fetchone()
        return None if row is None else json.loads(row[0])

    def put(self, key: str, value: Any) -> None:
        with self._lock, self._conn:
            self._conn.execute(
                "INSERT OR REPLACE INTO cache (key, value) VALUES (?, ?)", (key, json.dumps(value))
            )


class NominatimGeocoder:
    """Geocode with a Nominatim service (OpenStreetMap's or your own)."""

    name = "nominatim"
    locates_addresses = True

    def __init__(self, *, domain: str, scheme: str, user_agent: str, timeout: float,
                 min_delay: float, cache: GeocodeCache) -> None:
        self._service = Nominatim(domain=domain, scheme=scheme, user_agent=user_agent,
                                  timeout=timeout)
        # swallow_exceptions=False: a failure must reach the caller, not become "no result".
        self._geocode: Callable[..., Any] = RateLimiter(
            self._service.geocode, min_delay_seconds=min_delay, max_retries=1,
            error_wait_seconds=min_delay, swallow_exceptions=False,
        )
        self._cache = cache
        self._domain = domain

    @classmethod
    def from_app(cls, app: Flask) -> NominatimGeocoder:
        """Build the geocoder from the app's settings."""
        return cls(
            domain=app.config["NOMINATIM_DOMAIN"], scheme=app.config["NOMINATIM_SCHEME"],
            user_agent=app.config["NOMINATIM_USER_AGENT"],
            timeout=app.config["GEOCODER_TIMEOUT"], min_delay=app.config["GEOCODER_MIN_DELAY"],
            cache=GeocodeCache(Path(app.config["DATA_DIR"]) / "geocode-cache.sqlite3"),
        )

    def _lookup(self, query: str | dict[str, str], country: str, precision: str,
                not_found: type[GeocodingError], what: str) -> Place:
        key = json.dumps([self._domain, country, query], sort_keys=True)
        answer = self._cache.get(key)
        if answer is None:
            try:
                location = self._geocode(query, country_codes=[country.lower()], exactly_one=True)
            except GeopyError as exc:
                raise GeocoderUnavailable(
                    f"The Nominatim geocoder at {self._domain} failed: {exc or type(exc).__name__}"
                ) from exc
            if location is None:
                raise not_found(f"{what} was not found by Nominatim in {country}.")
            answer = {"lat": location.latitude, "lon": location.longitude,
                      "label": location.address}
            self._cache.put(key, answer)
        lat, lon = float(answer["lat"]), float(answer["lon"])
        return Place(lat=lat, lon=lon, label=str(answer["label"]), precision=precision,
                     source=self.name, country=country, timezone=timezone_at(lat, lon))

    def postcode(self, code: str, country: str) -> Place:
        return self._lookup({"postalcode": code.strip()}, country, "postcode", UnknownPostcode,
                            f"Postcode {code.strip()!r}")

    def city(self, name: str, country: str) -> Place:
        return self._lookup({"city": name.strip()}, country, "city", UnknownCity,
                            f"City {name.strip()!r}")

    def address(self, query: str, country: str) -> Place:
        return self._lookup(query.strip(), country, "address", GeocodingError,
                            f"Address {query.strip()!r}")
