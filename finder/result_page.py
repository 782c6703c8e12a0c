"""What a results page adds to a search's outcome: page links, filter chips and the links of
suggestions. Pure functions of the search parameters; the view turns them into URLs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from . import vocabulary
from .search.params import SearchParams

WINDOW = 2  # page links shown either side of the current one


@dataclass(frozen=True)
class PageLink:
    number: int  # 1-based; 0 marks a gap ("…")
    offset: int
    current: bool = False


def page_links(params: SearchParams, total: int) -> list[PageLink]:
    """Return the numbered page links: the first, the last and those near the current one."""
    pages = -(-total // params.limit)
    if pages <= 1:
        return []
    current = params.offset // params.limit + 1
    shown = sorted({1, pages, *range(max(1, current - WINDOW), min(pages, current + WINDOW) + 1)})
    links: list[PageLink] = []
    for number in shown:
        if links and number > links[-1].number + 1:
            links.append(PageLink(0, 0))
        links.append(PageLink(number, (number - 1) * params.limit, number == current))
    return links


def last_page_offset(params: SearchParams, total: int) -> int:
    """Return the offset of the last page of ``total`` results."""
    return max(0, (total - 1) // params.limit * params.limit)


# Each narrowing parameter, and how its chip reads.
def filter_chips(params: SearchParams, default_country: str) -> list[tuple[str, str]]:
    """Return (label, parameter) for each filter in use, so each can be removed in one click."""
    chips = []
    if params.country and params.country != default_country:
        chips.append((f"Country: {params.country}", "country"))
    if params.radius is not None:
        chips.append((f"Within {params.radius:g} {params.unit or ''}".rstrip(), "radius"))
    elif params.unit:
        chips.append((f"Unit: {params.unit}", "unit"))
    if params.sort != "best":
        chips.append(({"distance": "Nearest first", "relevance": "Most relevant"}[params.sort],
                      "sort"))
    if params.open_now:
        chips.append(("Open now", "open_now"))
    if params.accepting_new_patients is not None:
        chips.append(("Accepting new patients" if params.accepting_new_patients
                      else "Not accepting new patients", "accepting_new_patients"))
    if params.telehealth is not None:
        chips.append(("Telehealth" if params.telehealth else "In person only", "telehealth"))
    if params.insurance:
        chips.append((f"Insurance: {params.insurance}", "insurance"))
    if params.language:
        chips.append((f"Language: {params.language}", "language"))
    for name, terms in (("technique", vocabulary.techniques()),
                        ("accessibility", vocabulary.accessibility())):
        if getattr(params, name):
            key = getattr(params, name)
            chips.append((terms[key].label if key in terms else key, name))
    if params.age_group:
        chips.append((f"Sees {params.age_group}", "age_group"))
    if params.direct_access is not None:
        chips.append(("No referral needed" if params.direct_access else "Referral needed",
                      "direct_access"))
    if params.home_visits is not None:
        chips.append(("Home visits" if params.home_visits else "No home visits", "home_visits"))
    if params.max_price is not None:
        chips.append((f"Session at most {params.max_price:g}", "max_price"))
    if params.certified:
        chips.append(("Certified in dry needling", "certified"))
    return chips


# The facets a results page offers as links, with how they are titled.
PAGE_FACETS = {"technique": "Technique", "accessibility": "Access", "age_group": "Ages seen"}


@dataclass(frozen=True)
class Refinement:
    label: str
    count: int
    value: str
    current: bool


def refinements(params: SearchParams, facets: Mapping[str, Mapping[str, int]]
                ) -> list[tuple[str, str, list[Refinement]]]:
    """Return (title, parameter, choices) for each facet that has choices: each value with
    the listings it would find, in the vocabulary's order."""
    found = []
    for name, title in PAGE_FACETS.items():
        counts = facets.get(name, {})
        choices = [Refinement(label, counts[key], key, getattr(params, name) == key)
                   for key, label in (vocabulary.labels(name) or {}).items()
                   if counts.get(key)]
        if choices:
            found.append((title, name, choices))
    return found


def without(params: SearchParams, *names: str) -> dict[str, Any]:
    """Return the search's arguments without these parameters, from its first page."""
    defaults = SearchParams().__dict__
    return params.query_args(offset=0, **{name: defaults[name] for name in names})


def suggestion_args(args: Mapping[str, str], suggestion: Mapping[str, str]) -> dict[str, Any]:
    """Return the arguments of a failed search with a suggested place instead of the typed one."""
    changed: dict[str, Any] = {key: value for key, value in args.items() if value}
    changed["country"] = suggestion["country"]
    if "postcode" in suggestion:
        changed["postcode"] = suggestion["postcode"]
        changed.pop("city", None)
    elif "postcode" in changed:  # a city typed in the postcode box: keep it there
        changed["postcode"] = suggestion["city"]
    else:
        changed["city"] = suggestion["city"]
    return changed
