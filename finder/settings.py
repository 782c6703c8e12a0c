"""Every setting, declared once: its name, default, parser and help.

Settings come from environment variables named ``FINDER_<NAME>``. The README's settings table
is checked against this list by the test suite, so adding a setting here means documenting it.
"""

from __future__ import annotations

import math
import os
import re
import string
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import limits
import limits.storage
import sqlalchemy

from . import rate_limit_storage
from .errors import ConfigError


def _text(value: str) -> str:
    return value.strip()


def _country(value: str) -> str:
    code = value.strip().upper()
    if len(code) != 2 or not code.isalpha():
        raise ValueError("must be a two-letter ISO country code such as US or CA")
    return code


def _choice(*allowed: str) -> Callable[[str], str]:
    def parse(value: str) -> str:
        clean = value.strip().lower()
        if clean not in allowed:
            raise ValueError(f"must be one of {', '.join(allowed)}")
        return clean

    return parse


def _names(value: str) -> list[str]:
    names = [part.strip().lower() for part in value.split(",") if part.strip()]
    if not names:
        raise ValueError("must name at least one item")
    return names


def _positive_float(value: str) -> float:
    number = float(value)
    if not math.isfinite(number) or number <= 0:
        raise ValueError("must be a positive number")
    return number


def _whole_number(value: str) -> int:
    try:
        number = int(value.strip())
    except ValueError:
        raise ValueError("must be a whole number of days, such as 180") from None
    if number < 0:
        raise ValueError("must not be negative")
    return number


def _hops(value: str) -> int:
    if not value.strip().isdigit() or int(value) > 10:
        raise ValueError("must be a number of proxies from 0 to 10, such as 1")
    return int(value)


def _niceness(value: str) -> int:
    if not value.strip().isdigit() or int(value) > 19:
        raise ValueError("must be a whole number from 0 (the server's priority) to 19 (the "
                         "lowest), such as 10")
    return int(value)


def _positive_int(value: str) -> int:
    try:
        number = int(value.strip())
    except ValueError:
        raise ValueError("must be a positive whole number") from None
    if number <= 0:
        raise ValueError("must be a positive whole number")
    return number


def _database_url(value: str) -> str:
    clean = value.strip()
    if clean:
        try:
            sqlalchemy.engine.make_url(clean)
        except sqlalchemy.exc.ArgumentError:
            raise ValueError("must be a database URL like postgresql+psycopg://host/db") from None
    return clean


def _rate_limit(value: str) -> str:
    limits.parse_many(value)  # raises ValueError with the offending text
    return value.strip()


def _base_url(value: str) -> str:
    clean = value.strip().rstrip("/")
    if clean and not clean.startswith(("https://", "http://")):
        raise ValueError("must be an http(s) URL like https://finder.example")
    return clean


def _host_names(value: str) -> list[str] | None:
    names = [part.strip().lower() for part in value.split(",") if part.strip()]
    for name in names:
        if "/" in name or not re.fullmatch(r"\.?[a-z0-9.\-\[\]:]+", name):
            raise ValueError(f"must be host names such as finder.example or .finder.example "
                             f"(a leading dot admits its subdomains), not {name!r}")
    return names or None  # None: Flask answers any host


def _smtp_url(value: str) -> str:
    clean = value.strip()
    if clean:
        parts = urllib.parse.urlsplit(clean)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("must be a URL like smtp://user:password@mail.example:587 or "
                             "smtps://mail.example:465")
    return clean


def _rate_limit_storage(value: str) -> str:
    scheme = value.strip().split("://", 1)[0]
    known = {rate_limit_storage.SCHEME, *getattr(limits.storage, "SCHEMES", {})}
    if "://" not in value or scheme not in known:
        raise ValueError("must be a storage URL such as local://, memory:// or "
                         "redis://host:6379/0")
    return value.strip()


def _tile_url(value: str) -> str:
    clean = value.strip()
    if clean:
        if not clean.startswith(("https://", "http://")) or "/" not in clean.split("://", 1)[1]:
            raise ValueError("must be an http(s) URL like https://tile.example.org/{z}/{x}/{y}.png")
        fields = _placeholders(clean)
        if fields != {"z", "x", "y"}:
            raise ValueError("must hold exactly the placeholders {z}, {x} and {y}")
    return clean


DIRECTIONS_PLACEHOLDERS = frozenset({"lat", "lon", "to", "from_lat", "from_lon", "from"})


def _directions_url(value: str) -> str:
    clean = value.strip()
    if not clean.startswith(("https://", "http://")):
        raise ValueError("must be an http(s) URL")
    unknown = _placeholders(clean) - DIRECTIONS_PLACEHOLDERS
    if unknown:
        raise ValueError(f"has unknown placeholders: {', '.join(sorted(unknown))}; allowed are "
                         f"{', '.join(sorted(DIRECTIONS_PLACEHOLDERS))}")
    return clean


def _placeholders(template: str) -> set[str]:
    try:
        return {field for _, field, _, _ in string.Formatter().parse(template)
                if field is not None}
    except ValueError as exc:
        raise ValueError(f"is not a valid URL template ({exc})") from None


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    help: str
    parse: Callable[[str], Any] = _text

    @property
    def env_var(self) -> str:
        return f"FINDER_{self.name}"


SETTINGS: tuple[Setting, ...] = (
    Setting("DATA_DIR", "./instance",
            "Instance folder holding the SQLite database, the search index and caches."),
    Setting("DATABASE_URL", "",
            "SQLAlchemy database URL; empty means SQLite at DATA_DIR/finder.sqlite3.",
            _database_url),
    Setting("DATABASE_READ_URL", "",
            "Optional URL of a read replica of FINDER_DATABASE_URL; the `postgis` backend "
            "sends searches there.", _database_url),
    Setting("SEARCH_BACKEND", "whoosh",
            "Search engine: `whoosh` (an index in DATA_DIR) or `postgis` (in the PostgreSQL "
            "database, shared by every server).", _choice("whoosh", "postgis")),
    Setting("DEFAULT_COUNTRY", "US",
            "Country used for postcodes and cities when a request names none.", _country),
    Setting("SECRET_KEY", "",
            "Key that signs logins, owner links and form tokens. Empty: one is made once and "
            "kept in DATA_DIR/secret_key; set it when several servers share a database."),
    Setting("GEOCODERS", "gazetteer",
            "Comma-separated geocoders tried in order: `gazetteer` (offline), `nominatim`.",
            _names),
    Setting("NOMINATIM_DOMAIN", "nominatim.openstreetmap.org",
            "Host (and optional port) of the Nominatim service when it is enabled."),
    Setting("NOMINATIM_SCHEME", "https", "`https` or `http` for the Nominatim service.",
            _choice("https", "http")),
    Setting("NOMINATIM_USER_AGENT", "finder",
            "User agent sent to Nominatim; its usage policy asks for one naming your site."),
    Setting("GEOCODER_TIMEOUT", 5.0, "Seconds before an online geocoder request fails.",
            _positive_float),
    Setting("GEOCODER_MIN_DELAY", 1.0,
            "Minimum seconds between online geocoder requests (Nominatim allows one a second).",
            _positive_float),
    Setting("RATE_LIMIT", "120/minute",
            "Requests per client address allowed per period on public endpoints.", _rate_limit),
    Setting("RATE_LIMIT_STORAGE", "local://",
            "Where rate-limit counters live: `local://` (shared by this machine's workers, in "
            "`rate-limits.sqlite3` in FINDER_DATA_DIR; `local:///path/file.sqlite3` names "
            "another file), `memory://` (each worker counts apart, so the limit is multiplied "
            "by the workers) or `redis://host:6379/0` (shared by every process and server; "
            "needs the `redis` extra).", _rate_limit_storage),
    Setting("PARTNER_RATE_LIMIT", "600/minute",
            "Requests allowed per period through one partner's key, over all its visitors, "
            "unless the partner has its own (`finder partners update KEY --rate-limit`).",
            _rate_limit),
    Setting("METRICS_TOKEN", "",
            "Token a Prometheus scrape of `/metrics` must send as `Authorization: Bearer "
            "<token>`; empty: `/metrics` answers only requests from this machine (loopback "
            "addresses)."),
    Setting("LOG_FORMAT", "text",
            "`text`: gunicorn's access log, without query strings or owner links; `json`: "
            "one JSON line per request on standard error (time, request id, method, "
            "endpoint, path without its query string, status, duration, client address).",
            _choice("text", "json")),
    Setting("BASE_URL", "",
            "The directory's public URL (e.g. `https://finder.example`). When set, every "
            "absolute URL is built on it, whatever `Host` a request names (results, links, "
            "sitemaps, owners' e-mails, partner snippets). Empty: URLs follow the request's "
            "host, and commands use `http://127.0.0.1:5000`.", _base_url),
    Setting("TRUSTED_HOSTS", "",
            "Comma-separated host names the server answers to (e.g. `finder.example`; "
            "`.finder.example` admits its subdomains; ports are ignored); a request for "
            "another host is refused with a 400. Empty: any host.", _host_names),
    Setting("PROXY_HOPS", 0,
            "Number of reverse proxies in front of the server whose `X-Forwarded-For`, "
            "`-Proto` and `-Host` headers are believed (1 behind one nginx or Caddy); 0: "
            "those headers are ignored, so a client cannot claim another address.",
            _hops),
    Setting("BULK_NICENESS", 10,
            "How much lower the CPU priority of bulk commands (`finder import`, `reindex`, "
            "`nppes import`, with their indexing) is than the server's, from 0 (the same) to "
            "19, so that searches stay fast while they run.", _niceness),
    Setting("SUBMIT_RATE_LIMIT", "10/hour;30/day",
            "Listings one client address may submit per period (form or API).", _rate_limit),
    Setting("REPORT_RATE_LIMIT", "5/hour;20/day",
            "Reports of wrong information one client address may send per period (form or "
            "API).", _rate_limit),
    Setting("OWNER_LINK_DAYS", 7,
            "Days an owner's private editing link works (each link works once).",
            _positive_int),
    Setting("SMTP_URL", "",
            "Mail server for the outbox: `smtp://user:password@host:587` (STARTTLS when the "
            "server offers it) or `smtps://...:465`; empty: messages wait in the outbox.",
            _smtp_url),
    Setting("MAIL_FROM", "finder@localhost",
            "Sender address of the directory's e-mails."),
    Setting("DECAY_OFFSET_MI", 2.0,
            "Distance in miles within which `sort=best` applies no distance penalty.",
            _positive_float),
    Setting("DECAY_SCALE_MI", 10.0,
            "Distance in miles beyond the offset at which `sort=best` halves a score.",
            _positive_float),
    Setting("VERIFY_EVERY_DAYS", 90,
            "Days a listing's verification lasts. Past them it is stale: patients see a "
            "notice to check by phone, and it ranks lower.", _positive_int),
    Setting("VERIFY_REMINDER_DAYS", 14,
            "Days before a listing goes stale that `finder verify run` asks its owner to "
            "confirm it.", _positive_int),
    Setting("UNPUBLISH_AFTER_DAYS", 180,
            "Days after its last verification that an unconfirmed listing is unpublished "
            "(kept, and restored when its owner confirms it); 0: never.", _whole_number),
    Setting("MAP_TILE_URL", "",
            "Optional map tile URL template with `{z}`, `{x}` and `{y}` (Web Mercator, 256 px), "
            "e.g. `https://tile.example.org/{z}/{x}/{y}.png`; when set, maps draw these tiles "
            "behind the pins and the Content-Security-Policy allows that host for images. "
            "Empty (the default): maps are drawn without a basemap and request nothing from "
            "another host.", _tile_url),
    Setting("MAP_TILE_ATTRIBUTION", "",
            "Credit shown under maps drawn with FINDER_MAP_TILE_URL, as the tile provider "
            "requires (e.g. `© OpenStreetMap contributors`).", _text),
    Setting("DIRECTIONS_URL",
            "https://www.openstreetmap.org/directions?route={from}%3B{lat}%2C{lon}",
            "URL template of the \"Directions\" link on results and profiles. Placeholders: "
            "`{lat}`, `{lon}` (the provider), `{to}` (`lat,lon` of the provider), "
            "`{from_lat}`, `{from_lon}`, `{from}` (`lat,lon` of the search origin; empty when "
            "there is none, as on a profile opened directly). Commas in `{to}` and `{from}` "
            "are written `%2C`.", _directions_url),
)

BY_NAME: dict[str, Setting] = {setting.name: setting for setting in SETTINGS}


def load(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Return the defaults overridden by ``FINDER_*`` environment variables."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for setting in SETTINGS:
        raw = environ.get(setting.env_var) or str(setting.default)
        try:
            values[setting.name] = setting.parse(raw)
        except ValueError as exc:
            raise ConfigError(f"{setting.env_var}={raw!r} is invalid: {exc}") from exc
    return values
