"""The search operation shared by the JSON API and the HTML pages."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .. import geo
from ..errors import InvalidPostcode, UnknownCity
from ..geocode import GeocoderChain, Place
from . import Filters, Matches, MatchQuery, SearchBackend
from .params import DEFAULT_RADIUS, SearchParams, check_radius
from .query import parse
from .ranking import Decay, rank

WIDENED_LIMIT = 5


@dataclass(frozen=True)
class Ranked:
    """One ranked hit, with the parts of its score."""

    id: int
    distance_km: float
    text: float
    decay: float
    score: float
    matched_terms: list[str]


@dataclass
class Hit:
    listing: dict[str, Any]  # its public JSON, without its URL
    ranked: Ranked


def ranked_page(matches: Matches, sort: str, decay: Decay, offset: int,
                limit: int) -> list[Ranked]:
    """Rank all matches with the shared ranking function and return one page."""
    ranking = rank(matches.ids, matches.distance_km, matches.text, sort, decay)
    return [Ranked(int(matches.ids[i]), float(matches.distance_km[i]), float(matches.text[i]),
                   float(ranking.decay[i]), float(ranking.score[i]), matches.matched_terms(i))
            for i in ranking.order[offset:offset + limit]]


@dataclass
class SearchOutcome:
    params: SearchParams
    origin: Place
    unit: str
    radius: float
    total: int
    hits: list[Hit]
    did_you_mean: str = ""
    widened: dict[str, Any] | None = None
    suggestion: dict[str, Any] | None = None


def locate(params: SearchParams, geocoder: GeocoderChain, default_country: str) -> Place:
    """Resolve the origin: a point, a postcode (or a city typed in the postcode box), a city."""
    country = params.country or default_country
    if params.lat is not None and params.lon is not None:
        return Place(lat=params.lat, lon=params.lon, label=f"{params.lat:.5f}, {params.lon:.5f}",
                     precision="point", source="request", country=country)
    if params.postcode:
        try:
            return geocoder.postcode(params.postcode, country)
        except InvalidPostcode as exc:
            # People type towns into the postcode box; accept them rather than scold.
            if len(re.findall(r"[^\W\d_]", params.postcode)) < 3:
                raise
            try:
                return geocoder.city(params.postcode, country)
            except UnknownCity:
                raise InvalidPostcode(
                    f"{exc.message} No city of that name was found either."
                ) from exc
    return geocoder.city(params.city, country)


def search(
    backend: SearchBackend,
    geocoder: GeocoderChain,
    params: SearchParams,
    *,
    default_country: str,
    decay: Decay,
) -> SearchOutcome:
    """Locate the origin, match, rank and page; widen when nothing is within the radius."""
    origin = locate(params, geocoder, default_country)
    unit = params.unit or geo.default_unit(origin.country)
    radius = params.radius if params.radius is not None else DEFAULT_RADIUS[unit]
    check_radius(radius, unit)
    concepts = parse(params.q)
    filters = Filters(
        telehealth=params.telehealth,
        accepting_new_patients=params.accepting_new_patients,
        insurance=params.insurance or None,
        language=params.language or None,
        open_at=datetime.now(UTC) if params.open_now else None,
    )
    matches = backend.match(MatchQuery(origin.lat, origin.lon, geo.to_km(radius, unit),
                                       concepts, filters))
    page = ranked_page(matches, params.sort, decay, params.offset, params.limit)
    outcome = SearchOutcome(params, origin, unit, radius, len(matches.ids), [])
    if matches.corrections:
        outcome.did_you_mean = _corrected(params.q, matches.corrections)

    if not outcome.total:
        wanted = min(params.limit, WIDENED_LIMIT)
        beyond = backend.match(MatchQuery(origin.lat, origin.lon, None, concepts, filters,
                                          nearest=wanted))
        nearest = ranked_page(beyond, "distance", decay, 0, wanted)
        if nearest:
            distance = geo.from_km(nearest[0].distance_km, unit)
            outcome.widened = {
                "radius": radius,
                "unit": unit,
                "nearest_distance": round(distance, 2),
                "count": len(nearest),
                "message": (f"No providers within {radius:g} {unit}. "
                            f"The nearest is {distance:.1f} {unit} away."),
            }
            page = nearest
        else:
            outcome.suggestion = _suggestion(params, outcome.did_you_mean)
    outcome.hits = _load(backend, page)
    return outcome


def _corrected(q: str, corrections: dict[str, str]) -> str:
    text = q
    for typed, fixed in corrections.items():
        text = re.sub(rf"\b{re.escape(typed)}\b", fixed, text, flags=re.IGNORECASE)
    return text


def _suggestion(params: SearchParams, did_you_mean: str) -> dict[str, Any]:
    narrowing = [name for name in ("telehealth", "accepting_new_patients", "insurance",
                                   "language", "open_now") if getattr(params, name)]
    if narrowing:
        message = f"Nothing matches anywhere. Try without the filter(s): {', '.join(narrowing)}."
    elif params.q:
        message = "No provider matches all of these keywords. Try fewer or broader words."
    else:
        message = "There are no providers in the directory yet."
    return {"message": message, "remove_filters": narrowing, "did_you_mean": did_you_mean}


def _load(backend: SearchBackend, page: list[Ranked]) -> list[Hit]:
    by_id = backend.listings([r.id for r in page])
    return [Hit(by_id[r.id], r) for r in page if r.id in by_id]
