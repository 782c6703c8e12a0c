"""Partners and their keys: creation, changes, and the checks on what an operator gives.

A key is public (it is pasted into the partner's pages); what makes it the partner's is the
list of origins it works from, which browsers state in every cross-origin request. Only the
key's SHA-256 digest is stored: keys are long random strings, so a digest cannot be reversed
and a copy of the database alone cannot use them.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
import secrets
from typing import Any
from urllib.parse import urlsplit

import limits
import sqlalchemy as sa
from sqlalchemy.orm import Session

from ..errors import InvalidInput
from ..geocode import GeocoderChain
from ..search.params import check_radius, parse_params
from .models import Partner

KEY_PREFIX = "fk_"
HINT_LENGTH = 9  # the prefix and six characters: enough to tell keys apart in a listing
# Search parameters a partner may preset; the location and keywords prefill the widget's
# fields, the others are sent with every search from the partner's pages.
DEFAULT_NAMES = ("postcode", "city", "country", "radius", "unit", "q", "sort", "telehealth",
                 "accepting_new_patients", "insurance", "language", "open_now", "technique",
                 "accessibility", "age_group", "direct_access", "home_visits", "max_price",
                 "certified")
SCHEMES = ("auto", "light", "dark")
_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_HOST = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
_COLOUR = re.compile(r"#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})")
_FONT = re.compile(r"[\w ,'\"-]{1,100}")
MAX_CORNER_RADIUS = 24
MAX_RATE_LIMIT = 100  # characters: the column's size


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(24)


def digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def by_key(session: Session, key: str) -> Partner | None:
    """Return the partner holding this key (enabled or not), or None."""
    return session.scalar(sa.select(Partner).where(Partner.key_digest == digest(key.strip())))


def origin(text: str) -> str:
    """Return an origin as browsers send it (``https://site.example[:port]``), or raise."""
    value = text.strip().rstrip("/")
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        raise InvalidInput(f"{text!r} is not an origin: give the scheme and host, like "
                           "https://site.example") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput(f"{text!r} is not an origin: give the scheme and host, like "
                           "https://site.example")
    if parts.path or parts.query or parts.fragment or parts.username or parts.password:
        raise InvalidInput(f"{text!r} is not an origin: give only the scheme, host and port, "
                           "like https://site.example (no path)")
    if "*" in value:
        raise InvalidInput(f"{text!r}: wildcards are not allowed; list each origin")
    if port == 0:
        raise InvalidInput(f"{text!r} has an invalid port")
    host = _host(parts.hostname, text)
    default_port = {"http": 80, "https": 443}[parts.scheme]
    netloc = host if port in (None, default_port) else f"{host}:{port}"
    return f"{parts.scheme}://{netloc}"


def _host(name: str, text: str) -> str:
    """Return a host as a browser writes it in ``Origin``: IPv6 in brackets, names in
    lower-case ASCII (internationalised names as punycode)."""
    try:
        return f"[{ipaddress.IPv6Address(name).compressed}]"
    except ValueError:
        pass
    try:
        ascii_name = name.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise InvalidInput(f"{text!r} does not have a valid host name") from None
    if not _HOST.fullmatch(ascii_name):
        raise InvalidInput(f"{text!r} does not have a valid host name")
    return ascii_name


def origins(texts: list[str] | tuple[str, ...]) -> list[str]:
    found = list(dict.fromkeys(origin(text) for text in texts))
    if not found:
        raise InvalidInput("give at least one --origin, like https://site.example")
    return found


def rate_limit(text: str) -> str:
    value = text.strip()
    if value:
        try:
            items = limits.parse_many(value)
        except ValueError:
            items = []
        if not items or len(value) > MAX_RATE_LIMIT or any(item.amount < 1 for item in items):
            raise InvalidInput(f"{text!r} is not a rate limit: write it like 600/minute or "
                               "100/minute;2000/hour") from None
    return value


def defaults(values: dict[str, str], geocoder: GeocoderChain | None = None,
             default_country: str = "US") -> dict[str, str]:
    """Check preset search parameters as a search would (locating a preset place with
    ``geocoder``), and return the ones given."""
    given = {name: str(value).strip() for name, value in values.items()
             if value is not None and str(value).strip()}
    unknown = sorted(set(given) - set(DEFAULT_NAMES))
    if unknown:
        raise InvalidInput(f"cannot preset {', '.join(unknown)}; presets can be "
                           f"{', '.join(DEFAULT_NAMES)}")
    located = given if {"postcode", "city"} & set(given) else {**given, "lat": "0", "lon": "0"}
    params = parse_params(located)  # raises InvalidInput naming the parameter
    if params.radius is not None:  # the widget sends miles unless a unit is preset
        check_radius(params.radius, params.unit or "mi")
    if geocoder is not None:  # a preset place must be one the directory can find
        country = params.country or default_country
        if params.postcode:
            geocoder.postcode(params.postcode, country)
        elif params.city:
            geocoder.city(params.city, country)
    return given


def theme(values: dict[str, Any], allowed_origins: list[str]) -> dict[str, Any]:
    """Check a theme (colours, font, corner radius, scheme, logo) and return what was given."""
    checked: dict[str, Any] = {}
    for name in ("accent", "text"):
        value = values.get(name)
        if value:
            if not _COLOUR.fullmatch(value.strip()):
                raise InvalidInput(f"the {name} colour must be a hex colour like #0b6e4f, "
                                   f"not {value!r}")
            checked[name] = value.strip().lower()
    font = values.get("font")
    if font:
        if not _FONT.fullmatch(font.strip()):
            raise InvalidInput(f"the font must be font family names like \"Inter, sans-serif\", "
                               f"not {font!r}")
        checked["font"] = font.strip()
    corner = values.get("radius")
    if corner is not None:
        if not 0 <= int(corner) <= MAX_CORNER_RADIUS:
            raise InvalidInput(f"the corner radius must be 0 to {MAX_CORNER_RADIUS} pixels")
        checked["radius"] = int(corner)
    scheme = values.get("scheme")
    if scheme:
        if scheme not in SCHEMES:
            raise InvalidInput(f"the colour scheme must be one of {', '.join(SCHEMES)}")
        checked["scheme"] = scheme
    logo = values.get("logo")
    if logo:
        try:
            parts = urlsplit(logo.strip())
        except ValueError:
            raise InvalidInput(f"the logo must be an http(s) URL, not {logo!r}") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidInput(f"the logo must be an http(s) URL, not {logo!r}")
        if origin(f"{parts.scheme}://{parts.netloc}") not in allowed_origins:
            raise InvalidInput("the logo must be on one of the partner's own origins "
                               f"({', '.join(allowed_origins)}), so the widget asks no other "
                               "site for anything")
        checked["logo"] = logo.strip()
    return checked


def create(session: Session, name: str, allowed: list[str], *, preset: dict[str, str],
           look: dict[str, Any], limit: str = "", geocoder: GeocoderChain | None = None,
           default_country: str = "US") -> tuple[Partner, str]:
    """Add a partner; return it with its key (shown once: only its digest is kept)."""
    if not name.strip():
        raise InvalidInput("give the partner a name")
    checked_origins = origins(allowed)
    key = new_key()
    partner = Partner(name=name.strip()[:200], key_digest=digest(key),
                      key_hint=key[:HINT_LENGTH], origins=checked_origins,
                      defaults=defaults(preset, geocoder, default_country),
                      theme=theme(look, checked_origins),
                      rate_limit=rate_limit(limit), enabled=True)
    session.add(partner)
    session.flush()
    return partner, key


def rotate(session: Session, partner: Partner) -> str:
    """Give the partner a new key; the old one stops working at once."""
    key = new_key()
    partner.key_digest, partner.key_hint = digest(key), key[:HINT_LENGTH]
    session.flush()
    return key


def snippets(base_url: str, key: str) -> dict[str, str]:
    """The two lines a partner pastes: the script and the iframe (with its resizer)."""
    base = base_url.rstrip("/")
    return {
        "script": f'<script src="{base}/widget.js" data-finder-key="{key}" async></script>',
        "iframe": (f'<iframe src="{base}/embed?key={key}" title="Find a dry needling provider" '
                   f'width="100%" height="640" style="border:0" allow="geolocation"></iframe>'
                   f'<script src="{base}/embed.js" async></script>'),
    }
