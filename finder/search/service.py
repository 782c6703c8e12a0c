"""The search operation shared by the JSON API and the HTML pages."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from .. import geo
from ..errors import InvalidPostcode, UnknownCity
from ..geocode import GeocoderChain, Place
from ..hours import clock, next_opening, when
from . import Filters, Matches, MatchQuery, SearchBackend
from .keywords import Value, display, resolve
from .params import DEFAULT_RADIUS, MAX_RADIUS_KM, SearchParams, check_radius
from .query import Concept, parse
from .ranking import Decay, rank

WIDENED_LIMIT = 5
# Relaxed searches whose listings are read to say when the first of them opens.
OPENING_LOOKAHEAD = 50
# Text that looks like markup or code is searched as typed, never "corrected" into words.
_CODE = re.compile(r"[<>{}\[\]=;|\\$`]|://|\(\s*\)")

# The filters a search can drop, in the order they are offered, and how a message names them.
NARROWING = ("q", "open_now", "insurance", "language", "telehealth", "accepting_new_patients")
_LABELS = {"open_now": "open now", "insurance": "this insurance", "language": "this language",
           "telehealth": "telehealth", "accepting_new_patients": "accepting new patients"}
_FILTER_FIELDS = {"open_now": "open_at"}  # a parameter's name in ``Filters``, where it differs

# Directory values of a filter field: folded name -> name and count (see ``keywords``).
DirectoryValues = Callable[[str], Mapping[str, Value]]


@dataclass(frozen=True)
class Ranked:
    """One ranked hit, with the parts of its score."""

    id: int
    distance_km: float
    text: float
    decay: float
    score: float
    matched_terms: list[str]
    # What each keyword matched: (typed, as found, exact|synonym|fuzzy).
    matched: list[tuple[str, str, str]] = field(default_factory=list)


@dataclass
class Hit:
    listing: dict[str, Any]  # its public JSON, without its URL
    ranked: Ranked


def ranked_page(matches: Matches, sort: str, decay: Decay, offset: int,
                limit: int) -> list[Ranked]:
    """Rank all matches with the shared ranking function and return one page."""
    ranking = rank(matches.ids, matches.distance_km, matches.text, sort, decay)
    return [Ranked(int(matches.ids[i]), float(matches.distance_km[i]), float(matches.text[i]),
                   float(ranking.decay[i]), float(ranking.score[i]), matches.matched_terms(i),
                   matches.matched(i))
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
    # When nothing is within the radius: the filters or keywords that emptied it.
    relaxations: list[dict[str, Any]] = field(default_factory=list)
    # The directory's names that the insurance and language filters matched.
    filters: dict[str, list[str]] = field(default_factory=dict)


def locate(params: SearchParams, geocoder: GeocoderChain, default_country: str) -> Place:
    """Resolve the origin: a point, a postcode (or a city typed in the postcode box), a city."""
    country = params.country or default_country
    if params.lat is not None and params.lon is not None:
        return Place(lat=params.lat, lon=params.lon, label="your location",
                     precision="point", source="request", country=country)
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
                    suggestions=exc.suggestions + city_exc.suggestions,
                ) from exc
    return geocoder.city(params.city, country)


@dataclass
class _Search:
    """One search's fixed parts, so its variants (relaxed, widened) are one call each."""

    backend: SearchBackend
    origin: Place
    radius_km: float
    concepts: list[Concept]
    filters: Filters

    def match(self, radius_km: float | None = None, *, concepts: list[Concept] | None = None,
              filters: Filters | None = None, nearest: int | None = None,
              correct: bool = False) -> Matches:
        return self.backend.match(MatchQuery(
            self.origin.lat, self.origin.lon, radius_km,
            self.concepts if concepts is None else concepts,
            self.filters if filters is None else filters, nearest=nearest, correct=correct))


def search(
    backend: SearchBackend,
    geocoder: GeocoderChain,
    params: SearchParams,
    *,
    default_country: str,
    decay: Decay,
    values: DirectoryValues | None = None,
) -> SearchOutcome:
    """Locate the origin, match, rank and page; explain and widen when nothing is near."""
    origin = locate(params, geocoder, default_country)
    unit = params.unit or geo.default_unit(origin.country)
    radius = params.radius if params.radius is not None else DEFAULT_RADIUS[unit]
    check_radius(radius, unit)
    outcome = SearchOutcome(params, origin, unit, radius, 0, [])
    filters = Filters(
        telehealth=params.telehealth,
        accepting_new_patients=params.accepting_new_patients,
        insurance=_resolved(outcome, "insurance", values),
        language=_resolved(outcome, "language", values),
        open_at=datetime.now(UTC) if params.open_now else None,
    )
    run = _Search(backend, origin, geo.to_km(radius, unit), parse(params.q), filters)
    matches = run.match(run.radius_km, correct=not _CODE.search(params.q))
    if matches.corrections:
        # The corrected words are the query, with their synonyms and phrases; a correction
        # that finds nothing near enough is not offered ("lorem" is not a typo of "lore").
        corrected = _corrected(params.q, matches.corrections)
        trial = replace(run, concepts=parse(corrected))
        matches = trial.match(run.radius_km)
        if len(matches.ids) or _nearest_in_country(trial, 1, decay):
            outcome.did_you_mean, run = corrected, trial
        else:
            matches = run.match(run.radius_km)
    outcome.total = len(matches.ids)
    page = ranked_page(matches, params.sort, decay, params.offset, params.limit)
    if not outcome.total:
        outcome.relaxations = _relaxations(run, params, outcome)
        # Farther away is no help to someone who wants a provider open now.
        page = [] if params.open_now else _widen(run, outcome, decay, params)
        if not page:
            outcome.suggestion = _suggestion(params, outcome)
    outcome.hits = _load(backend, page)
    return outcome


def _resolved(outcome: SearchOutcome, name: str,
              values: DirectoryValues | None) -> tuple[str, ...] | None:
    typed = getattr(outcome.params, name)
    if not typed:
        return None
    if values is None:
        return resolve(typed, [])
    known = values(name)
    names = resolve(typed, known)
    outcome.filters[name] = display(known, names)
    return names


def _widen(run: _Search, outcome: SearchOutcome, decay: Decay,
           params: SearchParams) -> list[Ranked]:
    """Return the nearest matches beyond the radius, in the searched country and within the
    largest radius (farther is no help to a patient), and say so."""
    wanted = min(params.limit, WIDENED_LIMIT)
    nearest = _nearest_in_country(run, wanted, decay)
    if not nearest:
        return []
    unit, radius = outcome.unit, outcome.radius
    distance = geo.from_km(nearest[0].distance_km, unit)
    outcome.widened = {
        "radius": radius,
        "unit": unit,
        "nearest_distance": round(distance, 2),
        "count": len(nearest),
        # A radius that holds the nearest, so a search within it finds it again.
        "search_radius": min(math.floor(geo.from_km(MAX_RADIUS_KM, unit)),
                             math.ceil(distance * 1.2)),
        "country": outcome.origin.country,
        "message": (f"No providers within {radius:g} {unit}. "
                    f"The nearest is {distance:.1f} {unit} away."),
    }
    return nearest


def _suggestion(params: SearchParams, outcome: SearchOutcome) -> dict[str, Any]:
    """Say that nothing near enough matches, and what might."""
    unit = outcome.unit
    where = (f"within {outcome.radius:g} {unit}" if params.open_now
             else f"within {geo.from_km(MAX_RADIUS_KM, unit):.0f} {unit}")
    narrowing = [name for name in NARROWING[1:] if getattr(params, name) not in (None, "", False)]
    if outcome.relaxations:
        message = f"No provider {where} matches all of this."
    elif narrowing:
        message = (f"No provider {where} matches all of this. "
                   f"Try without: {', '.join(_LABELS[n] for n in narrowing)}.")
    elif params.q:
        message = (f"No provider {where} matches all of these keywords. "
                   "Try fewer or broader words.")
    else:
        message = f"There are no providers {where} yet."
    return {"message": message, "remove_filters": narrowing,
            "did_you_mean": outcome.did_you_mean}


def _nearest_in_country(run: _Search, wanted: int, decay: Decay) -> list[Ranked]:
    """Return the ``wanted`` nearest matches within MAX_RADIUS_KM in the origin's country."""
    country = run.origin.country if run.origin.precision != "point" else ""
    looked = wanted * 4
    while True:
        found = ranked_page(run.match(None, nearest=looked), "distance", decay, 0, looked)
        inside = [r for r in found if r.distance_km <= MAX_RADIUS_KM]
        listed = run.backend.listings([r.id for r in inside])
        countries = {r.id: listed[r.id]["address"]["country"] for r in inside if r.id in listed}
        # From a device position, the searched country is the nearest listing's.
        country = country or next(iter(countries.values()), "")
        kept = [r for r in inside if countries.get(r.id) == country]
        if len(kept) >= wanted or len(inside) < len(found) or len(found) < looked:
            return kept[:wanted]
        looked *= 8


def _relaxations(run: _Search, params: SearchParams,
                 outcome: SearchOutcome) -> list[dict[str, Any]]:
    """Say which filter or keywords emptied the page and how many each one hid."""
    active = [name for name in NARROWING if getattr(params, name) not in (None, "", False)]
    offers: list[dict[str, Any]] = []
    for name in active:
        if name == "q":
            matches = run.match(run.radius_km, concepts=[])
        else:
            matches = run.match(run.radius_km, filters=replace(
                run.filters, **{_FILTER_FIELDS.get(name, name): None}))
        if len(matches.ids):
            offers.append(_offer(run, params, outcome, [name], matches))
    if not offers and len(active) > 1:
        matches = run.match(run.radius_km, concepts=[] if params.q else None, filters=Filters())
        if len(matches.ids):
            offers.append(_offer(run, params, outcome, active, matches))
    return offers


def _offer(run: _Search, params: SearchParams, outcome: SearchOutcome, drop: list[str],
           matches: Matches) -> dict[str, Any]:
    count = len(matches.ids)
    within = f"within {outcome.radius:g} {outcome.unit}"
    some = f"{count} provider{'s' if count != 1 else ''}"
    offer: dict[str, Any] = {"drop": drop, "count": count, "next_opening": None}
    if drop == ["open_now"]:
        opening = _first_opening(run, matches)
        message = f"No provider is open now {within}. {some} {_are(count)} open at other times"
        if opening is not None:
            offer["next_opening"] = opening.isoformat()
            message += (f"; the first opens {when(opening, datetime.now(UTC))} at "
                        f"{clock(opening.strftime('%H:%M'), outcome.origin.country)}")
        offer["action"] = f"Show the {some} open at other times"
    elif drop == ["q"]:
        asked = outcome.did_you_mean or params.q
        message = f"No provider {within} matches “{asked}”. {some} {_are(count)} nearby"
        offer["action"] = f"Show all {some} nearby"
    elif drop == ["insurance"]:
        message = f"No provider {within} lists “{params.insurance}” insurance. " \
                  f"{some} nearby {'take' if count != 1 else 'takes'} other insurance"
        offer["action"] = f"Show the {some} without the insurance filter"
    elif drop == ["language"]:
        message = f"No provider {within} lists {params.language} among their languages. " \
                  f"{some} nearby {'speak' if count != 1 else 'speaks'} other languages"
        offer["action"] = f"Show the {some} without the language filter"
    elif drop == ["telehealth"]:
        offered = "offers telehealth" if params.telehealth else "offers in-person visits only"
        message = f"No provider {within} {offered}. {some} nearby {_are(count)} listed"
        offer["action"] = f"Show the {some} without the telehealth filter"
    elif drop == ["accepting_new_patients"]:
        taking = "is accepting" if params.accepting_new_patients else "is not accepting"
        message = f"No provider {within} {taking} new patients. {some} nearby {_are(count)} listed"
        offer["action"] = f"Show the {some} without that filter"
    else:
        message = f"No provider {within} matches all of these. {some} {_are(count)} nearby"
        offer["action"] = f"Show all {some} nearby"
    offer["message"] = message + "."
    return offer


def _are(count: int) -> str:
    return "are" if count != 1 else "is"


def _first_opening(run: _Search, matches: Matches) -> datetime | None:
    """Return the earliest next opening among the nearest of these matches."""
    nearest = matches.ids[matches.distance_km.argsort()[:OPENING_LOOKAHEAD]]
    now = datetime.now(UTC)
    openings = [next_opening(listing["hours"], listing["timezone"], now)
                for listing in run.backend.listings([int(i) for i in nearest]).values()
                if listing["hours"]]
    known = [opening for opening in openings if opening is not None]
    return min(known, default=None)


def _corrected(q: str, corrections: dict[str, str]) -> str:
    text = q
    for typed, fixed in corrections.items():
        text = re.sub(rf"\b{re.escape(typed)}\b", fixed, text, flags=re.IGNORECASE)
    return text


def _load(backend: SearchBackend, page: list[Ranked]) -> list[Hit]:
    by_id = backend.listings([r.id for r in page])
    return [Hit(by_id[r.id], r) for r in page if r.id in by_id]
