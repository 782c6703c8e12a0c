"""What a search says when nothing is within its radius, in plain words.

It names the filter or keywords that emptied the page and how many providers each one hid
(``relaxations``, each a search without it); it offers the nearest matches beyond the radius,
but only in the searched country and within the largest radius, because a clinic farther away
helps nobody (``widened``); and when even that finds nothing it says so (``suggestion``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from .. import geo, vocabulary
from ..hours import clock, next_opening, when
from . import Filters, Matches
from .outcome import Ranked, Scoring, Search, SearchOutcome, ranked_page
from .params import MAX_RADIUS_KM, SearchParams
from .query import Concept

WIDENED_LIMIT = 5
# Relaxed searches whose nearest listings are read to say when the first of them opens.
OPENING_LOOKAHEAD = 50
# A relaxed search counts its matches up to this many ("100+ providers are nearby").
RELAXED_COUNT = 100


# Filters whose "false" narrows too.
FLAGS = ("telehealth", "accepting_new_patients", "direct_access", "home_visits")


@dataclass(frozen=True)
class Narrowing:
    """A search parameter that narrows the results, and how messages speak of it:
    "No provider {missing}. {count} providers {others}." and "Show the ... {action}"."""

    name: str  # its query parameter
    field: str  # its ``Filters`` field ("" for the keywords)
    label: str  # in "Try without ..."
    missing: Callable[[SearchParams, str], str]  # (params, "within 25 mi")
    others: Callable[[SearchParams, bool], str]  # (params, more than one)
    action: str


def _verb(plural: bool, many: str, one: str) -> str:
    return many if plural else one


NARROWINGS = (
    Narrowing("q", "", "these keywords",
              lambda p, within: f"{within} matches “{p.q}”",
              lambda p, plural: f"{_verb(plural, 'are', 'is')} nearby",
              "nearby without these keywords"),
    Narrowing("open_now", "open_at", "open now",
              lambda p, within: f"is open now {within}",
              lambda p, plural: f"{_verb(plural, 'are', 'is')} open at other times",
              "open at other times"),
    Narrowing("insurance", "insurance", "this insurance",
              lambda p, within: f"{within} lists “{p.insurance}” insurance",
              lambda p, plural: f"nearby {_verb(plural, 'take', 'takes')} other insurance",
              "without the insurance filter"),
    Narrowing("language", "language", "this language",
              lambda p, within: f"{within} lists {p.language} among their languages",
              lambda p, plural: f"nearby {_verb(plural, 'speak', 'speaks')} other languages",
              "without the language filter"),
    Narrowing("telehealth", "telehealth", "the telehealth filter",
              lambda p, within: f"{within} offers "
                                f"{'telehealth' if p.telehealth else 'in-person visits only'}",
              lambda p, plural: f"nearby {_verb(plural, 'offer', 'offers')} "
                                f"{'in-person visits' if p.telehealth else 'telehealth'}",
              "without the telehealth filter"),
    Narrowing("accepting_new_patients", "accepting_new_patients", "the new-patients filter",
              lambda p, within: f"{within} is "
                                f"{'' if p.accepting_new_patients else 'not '}accepting new "
                                "patients",
              lambda p, plural: f"nearby {_verb(plural, 'are', 'is')} " + (
                  "not taking new patients now" if p.accepting_new_patients
                  else "accepting new patients"),
              "without the new-patients filter"),
    Narrowing("technique", "technique", "this technique",
              lambda p, within: f"{within} lists {_label(vocabulary.techniques(), p.technique)}",
              lambda p, plural: f"nearby {_verb(plural, 'offer', 'offers')} dry needling "
                                "without naming it",
              "without the technique filter"),
    Narrowing("accessibility", "accessibility", "this access need",
              lambda p, within: f"{within} lists "
                                f"“{_label(vocabulary.accessibility(), p.accessibility)}”",
              lambda p, plural: f"nearby {_verb(plural, 'do', 'does')} not list it",
              "without the access filter"),
    Narrowing("age_group", "age_group", "this age group",
              lambda p, within: f"{within} lists {p.age_group} among the people it sees",
              lambda p, plural: f"nearby {_verb(plural, 'do', 'does')} not say so",
              "without the age filter"),
    Narrowing("direct_access", "direct_access", "the referral filter",
              lambda p, within: f"{within} " + ("sees patients without a referral"
                                                if p.direct_access else
                                                "asks for a referral or does not say"),
              lambda p, plural: "nearby " + (
                  _verb(plural, "need a referral or do not say",
                        "needs a referral or does not say") if p.direct_access
                  else f"{_verb(plural, 'see', 'sees')} patients without one"),
              "without the referral filter"),
    Narrowing("home_visits", "home_visits", "the home-visits filter",
              lambda p, within: f"{within} " + ("offers home visits" if p.home_visits
                                                else "sees patients only at the clinic"),
              lambda p, plural: f"nearby {_verb(plural, 'do', 'does')} not say so",
              "without the home-visits filter"),
    Narrowing("max_price", "max_price", "the price limit",
              lambda p, within: f"{within} lists a session price of {p.max_price:g} or less",
              lambda p, plural: f"nearby {_verb(plural, 'charge', 'charges')} more or "
                                f"{_verb(plural, 'list', 'lists')} no price",
              "without the price limit"),
    Narrowing("certified", "certified_on", "the certification filter",
              lambda p, within: f"{within} lists a practitioner with a current dry-needling "
                                "certification",
              lambda p, plural: f"nearby {_verb(plural, 'do', 'does')} not list one",
              "without the certification filter"),
)


def _label(terms: dict[str, vocabulary.Term], key: str) -> str:
    return terms[key].label if key in terms else key


def in_use(params: SearchParams) -> list[Narrowing]:
    """Return the narrowing parameters a search uses (a "false" filter is in use too)."""
    return [n for n in NARROWINGS if getattr(params, n.name) not in (None, "", False)
            or (n.name in FLAGS and getattr(params, n.name) is False)]


def widest_km(unit: str) -> float:
    """Return the largest radius in whole units, in km: a link to it is a valid search."""
    return geo.to_km(math.floor(geo.from_km(MAX_RADIUS_KM, unit) + 1e-9), unit)


def explain(run: Search, outcome: SearchOutcome, scoring: Scoring) -> list[Ranked]:
    """Fill in why nothing is within the radius; return the widened hits to show, if any."""
    params = outcome.params
    outcome.relaxations = _relaxations(run, outcome)
    # Farther away is no help to someone who wants a provider open now.
    page = [] if params.open_now else _widen(run, outcome, scoring)
    if not page:
        outcome.suggestion = _suggestion(outcome)
    return page


def _widen(run: Search, outcome: SearchOutcome, scoring: Scoring) -> list[Ranked]:
    wanted = min(outcome.params.limit, WIDENED_LIMIT)
    nearest = nearest_in_country(run, wanted, scoring, widest_km(outcome.unit))
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
        "search_radius": min(round(geo.from_km(widest_km(unit), unit)),
                             math.ceil(distance * 1.2)),
        "country": outcome.origin.country,
        "message": (f"No providers within {radius:g} {unit}. "
                    f"The nearest is {distance:.1f} {unit} away."),
    }
    return nearest


def nearest_in_country(run: Search, wanted: int, scoring: Scoring,
                       within_km: float) -> list[Ranked]:
    """Return the ``wanted`` nearest matches within ``within_km`` in the origin's country
    (from a device position, the nearest listing's country)."""
    country = run.origin.country if run.origin.precision != "point" else ""
    if not country:
        nearest = ranked_page(run.match(within_km, nearest=1), "distance", scoring, 0, 1)
        listed = run.backend.listings([r.id for r in nearest])
        if not listed:
            return []
        country = next(iter(listed.values()))["address"]["country"]
    in_country = replace(run.filters, country=country)
    return ranked_page(run.match(within_km, filters=in_country, nearest=wanted), "distance",
                       scoring, 0, wanted)


def _relaxations(run: Search, outcome: SearchOutcome) -> list[dict[str, Any]]:
    """Say which filter or keywords emptied the page and how many each one hid."""
    used = in_use(outcome.params)
    offers = []
    for narrowing in used:
        if narrowing.name == "q":
            found = _within(run, concepts=[], filters=run.filters)
        else:
            found = _within(run, concepts=None,
                            filters=replace(run.filters, **{narrowing.field: None}))
        if found.count:
            offers.append(_offer(run, outcome, [narrowing], found))
    if not offers and len(used) > 1:
        found = _within(run, concepts=[], filters=Filters())
        if found.count:
            offers.append(_offer(run, outcome, used, found))
    return offers


@dataclass
class _Found:
    matches: Matches  # the nearest of them at least
    count: int
    at_least: bool  # there may be more than ``count``


def _within(run: Search, concepts: list[Concept] | None, filters: Filters) -> _Found:
    """Count a relaxed search's matches within the radius, up to RELAXED_COUNT: the nearest
    that many are found without scoring every listing of a large radius."""
    matches = run.match(run.radius_km, concepts=concepts, filters=filters,
                        nearest=RELAXED_COUNT)
    count = len(matches.ids)
    return _Found(matches, min(count, RELAXED_COUNT), count >= RELAXED_COUNT)


def _offer(run: Search, outcome: SearchOutcome, drop: list[Narrowing],
           found: _Found) -> dict[str, Any]:
    params = replace(outcome.params, q=outcome.did_you_mean or outcome.params.q)
    count = found.count
    within = f"within {outcome.radius:g} {outcome.unit}"
    some = f"{count}{'+' if found.at_least else ''} provider{'s' if count != 1 else ''}"
    offer: dict[str, Any] = {"drop": [n.name for n in drop], "count": count,
                             "at_least": found.at_least, "next_opening": None}
    if len(drop) == 1:
        narrowing = drop[0]
        message = (f"No provider {narrowing.missing(params, within)}. "
                   f"{some} {narrowing.others(params, count != 1)}")
        offer["action"] = f"Show the {some} {narrowing.action}"
    else:
        message = (f"No provider {within} matches all of these. "
                   f"{some} {'are' if count != 1 else 'is'} nearby without them")
        offer["action"] = f"Show all {some} nearby"
    if drop[0].name == "open_now":
        opening = _first_opening(run, found.matches)
        if opening is not None:
            offer["next_opening"] = opening.isoformat()
            message += (f"; the first opens {when(opening, datetime.now(UTC))} at "
                        f"{clock(opening.strftime('%H:%M'), outcome.origin.country)}")
    offer["message"] = message + "."
    return offer


def _first_opening(run: Search, matches: Matches) -> datetime | None:
    """Return the earliest next opening among the nearest of these matches."""
    nearest = matches.ids[matches.distance_km.argsort()[:OPENING_LOOKAHEAD]]
    now = datetime.now(UTC)
    openings = [next_opening(listing["hours"], listing["timezone"], now,
                             listing.get("holiday_hours", ()))
                for listing in run.backend.listings([int(i) for i in nearest]).values()
                if listing["hours"]]
    return min((opening for opening in openings if opening is not None), default=None)


def _suggestion(outcome: SearchOutcome) -> dict[str, Any]:
    """Say that nothing near enough matches, and what might."""
    params, unit = outcome.params, outcome.unit
    where = (f"within {outcome.radius:g} {unit}" if params.open_now
             else f"within {geo.from_km(widest_km(unit), unit):.0f} {unit}")
    narrowing = [n for n in in_use(params) if n.name != "q"]
    if outcome.relaxations:
        message = f"No provider {where} matches all of this."
    elif narrowing:
        message = (f"No provider {where} matches all of this. "
                   f"Try without {', '.join(n.label for n in narrowing)}.")
    elif params.q:
        message = (f"No provider {where} matches all of these keywords. "
                   "Try fewer or broader words.")
    else:
        message = f"There are no providers {where} yet."
    return {"message": message, "remove_filters": [n.name for n in narrowing],
            "did_you_mean": outcome.did_you_mean}
