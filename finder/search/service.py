"""The search operation shared by the JSON API and the HTML pages."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime

from .. import geo
from ..errors import InvalidPostcode, UnknownCity
from ..geocode import GeocoderChain, Place
from ..listings import as_of
from . import Filters, MatchQuery, SearchBackend
from .filter_values import Value, display, resolve
from .nothing_near import explain, nearest_in_country, widest_km
from .outcome import Hit, Ranked, Scoring, Search, SearchOutcome, ranked_page
from .params import DEFAULT_RADIUS, SearchParams, check_radius
from .query import parse

# Text that looks like markup or code is searched as typed, never "corrected" into words.
_CODE = re.compile(r"[<>{}\[\]=;|\\$`]|://|\(\s*\)")

# The names the directory holds for a filter: folded name -> name and count.
NamesOf = Callable[[str], Mapping[str, Value]]


def locate(params: SearchParams, geocoder: GeocoderChain, default_country: str) -> Place:
    """Resolve the origin: a postcode (or a city typed in the postcode box), a city, or a
    point; a place typed wins over a device position sent with it."""
    country = params.country or default_country
    if params.postcode:
        try:
            return geocoder.postcode(params.postcode, country)
        except InvalidPostcode as exc:
            # People type towns into the postcode box; accept them rather than scold. A
            # postcode of another country's shape is not a town.
            if exc.suggestions or len(re.findall(r"[^\W\d_]", params.postcode)) < 3:
                raise
            try:
                return geocoder.city(params.postcode, country)
            except UnknownCity as city_exc:
                raise InvalidPostcode(
                    f"{exc.message} No city of that name was found either.",
                    suggestions=city_exc.suggestions,
                ) from exc
    if params.city or params.lat is None or params.lon is None:
        return geocoder.city(params.city, country)
    return Place(lat=params.lat, lon=params.lon, label="your location", precision="point",
                 source="request", country=country)


def search(
    backend: SearchBackend,
    geocoder: GeocoderChain,
    params: SearchParams,
    *,
    default_country: str,
    scoring: Scoring,
    names: NamesOf,
) -> SearchOutcome:
    """Locate the origin, match, rank and page; explain and widen when nothing is near."""
    origin = locate(params, geocoder, default_country)
    with backend.reading():  # one connection for the search's several reads
        return _search(backend, origin, params, scoring, names)


def _search(backend: SearchBackend, origin: Place, params: SearchParams, scoring: Scoring,
            names: NamesOf) -> SearchOutcome:
    unit = params.unit or geo.default_unit(origin.country)
    radius = params.radius if params.radius is not None else DEFAULT_RADIUS[unit]
    check_radius(radius, unit)
    outcome = SearchOutcome(params, origin, unit, radius, 0, [], today=scoring.today)
    filters = Filters(
        telehealth=params.telehealth,
        accepting_new_patients=params.accepting_new_patients,
        insurance=_resolved(outcome, "insurance", names),
        language=_resolved(outcome, "language", names),
        open_at=datetime.now(UTC) if params.open_now else None,
        technique=params.technique or None,
        accessibility=params.accessibility or None,
        age_group=params.age_group or None,
        direct_access=params.direct_access,
        home_visits=params.home_visits,
        max_price=params.max_price,
        certified_on=outcome.today if params.certified else None,
    )
    run = Search(backend, origin, geo.to_km(radius, unit), parse(params.q), filters)
    matches = run.match(run.radius_km, correct=not _CODE.search(params.q))
    if matches.corrections:
        # The corrected words are the query, with their synonyms and phrases; a correction
        # that finds nothing near enough is not offered ("lorem" is not a typo of "lore").
        corrected = _corrected(params.q, matches.corrections)
        trial = replace(run, concepts=parse(corrected))
        matches = trial.match(run.radius_km)
        if len(matches.ids) or nearest_in_country(trial, 1, scoring, widest_km(unit)):
            outcome.did_you_mean, run = corrected, trial
        else:
            matches = run.match(run.radius_km)
    outcome.total = len(matches.ids)
    outcome.query = MatchQuery(origin.lat, origin.lon, run.radius_km, matches.concepts,
                               run.filters, correct=False)
    if params.facets:
        outcome.facets = backend.facets(outcome.query, params.facets)
    page = ranked_page(matches, params.sort, scoring, params.offset, params.limit)
    if not outcome.total:
        page = explain(run, outcome, scoring)
    outcome.hits = _load(backend, page, scoring)
    return outcome


def _resolved(outcome: SearchOutcome, name: str, names: NamesOf) -> tuple[str, ...] | None:
    """Return the folded names a typed filter means, and note the directory's ones."""
    typed = getattr(outcome.params, name)
    if not typed:
        return None
    known = names(name)
    folded = resolve(typed, known)
    outcome.filters[name] = display(known, folded)
    return folded


def _corrected(q: str, corrections: dict[str, str]) -> str:
    text = q
    for typed, fixed in corrections.items():
        text = re.sub(rf"\b{re.escape(typed)}\b", fixed, text, flags=re.IGNORECASE)
    return text


def _load(backend: SearchBackend, page: list[Ranked], scoring: Scoring) -> list[Hit]:
    """Read the page's listings as of the search's day (see ``listings.as_of``)."""
    by_id = backend.listings([r.id for r in page])
    return [Hit(as_of(by_id[r.id], scoring.today, scoring.policy), r)
            for r in page if r.id in by_id]
