"""Search parameters: parsed and checked once for the API and the HTML pages alike."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .. import geo, vocabulary
from ..errors import InvalidInput
from . import FACETS
from .query import MAX_QUERY_LENGTH
from .ranking import SORTS

DEFAULT_RADIUS = {"mi": 25.0, "km": 40.0}
MAX_RADIUS_KM = geo.to_km(250.0, "mi")
MAX_LIMIT = 50
DEFAULT_LIMIT = 10
MAX_OFFSET = 10_000
_TRUE = {"true", "yes", "1", "on"}
_FALSE = {"false", "no", "0", "off"}


@dataclass(frozen=True)
class SearchParams:
    q: str = ""
    postcode: str = ""
    city: str = ""
    country: str = ""
    lat: float | None = None
    lon: float | None = None
    radius: float | None = None  # in ``unit``; None means the default for the unit
    unit: str | None = None  # None means the origin country's unit
    sort: str = "best"
    limit: int = DEFAULT_LIMIT
    offset: int = 0
    telehealth: bool | None = None
    accepting_new_patients: bool | None = None
    insurance: str = ""
    language: str = ""
    open_now: bool = False
    technique: str = ""
    accessibility: str = ""
    age_group: str = ""
    direct_access: bool | None = None
    home_visits: bool | None = None
    max_price: float | None = None
    certified: bool = False
    facets: tuple[str, ...] = ()

    def query_args(self, **changes: object) -> dict[str, Any]:
        """Return the non-default parameters as query-string arguments (for links)."""
        values = {**self.__dict__, **changes}
        args = {}
        for name, default in SearchParams().__dict__.items():
            value = values[name]
            if value is None or value == default or value == "":
                continue
            if isinstance(value, tuple):
                args[name] = ",".join(value)
            elif isinstance(value, bool):
                args[name] = "true" if value else "false"
            else:
                args[name] = str(value)
        return args


def _text(args: Mapping[str, str], name: str, max_length: int = 100) -> str:
    value = (args.get(name) or "").strip()
    if len(value) > max_length:
        raise InvalidInput(f"'{name}' is longer than {max_length} characters.",
                           code=f"invalid_{name}")
    return value


def _boolean(args: Mapping[str, str], name: str) -> bool | None:
    raw = (args.get(name) or "").strip().lower()
    if raw == "" or raw == "any":
        return None
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise InvalidInput(f"'{name}' must be true or false, not {raw[:20]!r}.", code="invalid_filter")


def _number(args: Mapping[str, str], name: str, code: str) -> float | None:
    raw = (args.get(name) or "").strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise InvalidInput(f"'{name}' must be a number, not {raw[:20]!r}.", code=code) from None
    if not math.isfinite(value):
        raise InvalidInput(f"'{name}' must be a finite number.", code=code)
    return value


def _facets(args: Mapping[str, str]) -> tuple[str, ...]:
    asked = [name.strip().lower() for name in _text(args, "facets").split(",") if name.strip()]
    unknown = [name for name in asked if name not in FACETS]
    if unknown:
        raise InvalidInput(f"'facets' can name {', '.join(FACETS)}, not {unknown[0][:30]!r}.",
                           code="invalid_facets")
    return tuple(dict.fromkeys(asked))


def _price(args: Mapping[str, str]) -> float | None:
    price = _number(args, "max_price", "invalid_filter")
    if price is not None and price < 0:
        raise InvalidInput("'max_price' must be zero or more.", code="invalid_filter")
    return price


def _integer(args: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = (args.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidInput(f"'{name}' must be a whole number, not {raw[:20]!r}.",
                           code=f"invalid_{name}") from None
    if not low <= value <= high:
        raise InvalidInput(f"'{name}' must be between {low} and {high}.", code=f"invalid_{name}")
    return value


def _term(args: Mapping[str, str], name: str, allowed: Mapping[str, object]) -> str:
    """Return a vocabulary id; anything else is a 400 naming the allowed ids."""
    value = _text(args, name).lower()
    if value and value not in allowed:
        raise InvalidInput(f"'{name}' must be one of {', '.join(allowed)}, not {value[:30]!r}.",
                           code="invalid_filter")
    return value


def check_radius(radius: float, unit: str) -> None:
    """Refuse a radius beyond the maximum, in the unit the search uses."""
    if geo.to_km(radius, unit) > MAX_RADIUS_KM + 1e-6:
        raise InvalidInput("'radius' can be at most 250 mi (402 km).", code="invalid_radius")


def parse_params(args: Mapping[str, str]) -> SearchParams:
    """Check raw query-string arguments; raise InvalidInput with a specific code."""
    lat = _number(args, "lat", "invalid_coordinates")
    lon = _number(args, "lon", "invalid_coordinates")
    if (lat is None) != (lon is None):
        raise InvalidInput("Give both 'lat' and 'lon', or neither.", code="invalid_coordinates")
    if lat is not None and lon is not None and not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise InvalidInput("'lat' must be within -90..90 and 'lon' within -180..180.",
                           code="invalid_coordinates")
    country = _text(args, "country", 2).upper()
    if country and (len(country) != 2 or not country.isalpha()):
        raise InvalidInput(f"'country' must be a two-letter code such as US, not {country!r}.",
                           code="invalid_country")
    unit = _text(args, "unit", 10).lower() or None
    if unit is not None and unit not in geo.UNITS:
        raise InvalidInput("'unit' must be 'mi' or 'km'.", code="invalid_unit")
    radius = _number(args, "radius", "invalid_radius")
    if radius is not None and radius <= 0:
        raise InvalidInput("'radius' must be greater than zero.", code="invalid_radius")
    if radius is not None and unit is not None:
        check_radius(radius, unit)
    sort = _text(args, "sort", 20).lower() or "best"
    if sort not in SORTS:
        raise InvalidInput(f"'sort' must be one of {', '.join(SORTS)}.", code="invalid_sort")
    params = SearchParams(
        q=_text(args, "q", MAX_QUERY_LENGTH),
        postcode=_text(args, "postcode", 100),
        city=_text(args, "city", 100),
        country=country,
        lat=lat,
        lon=lon,
        radius=radius,
        unit=unit,
        sort=sort,
        limit=_integer(args, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT),
        offset=_integer(args, "offset", 0, 0, MAX_OFFSET),
        telehealth=_boolean(args, "telehealth"),
        accepting_new_patients=_boolean(args, "accepting_new_patients"),
        insurance=_text(args, "insurance"),
        language=_text(args, "language"),
        open_now=bool(_boolean(args, "open_now")),
        technique=_term(args, "technique", vocabulary.techniques()),
        accessibility=_term(args, "accessibility", vocabulary.accessibility()),
        age_group=_term(args, "age_group", vocabulary.AGE_GROUPS),
        direct_access=_boolean(args, "direct_access"),
        home_visits=_boolean(args, "home_visits"),
        max_price=_price(args),
        certified=bool(_boolean(args, "certified")),
        facets=_facets(args),
    )
    if lat is None and not params.postcode and not params.city:
        raise InvalidInput("Say where to search from: a postcode, a city, or lat and lon.",
                           code="missing_location")
    return params
