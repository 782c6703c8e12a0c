"""Page links, filter chips and suggested places of a results page, as pure functions."""

from __future__ import annotations

import pytest

from finder.result_page import (
    filter_chips,
    last_page_offset,
    page_links,
    suggestion_args,
    without,
)
from finder.search.params import SearchParams


def numbers(offset: int, total: int, limit: int = 10) -> list[str]:
    links = page_links(SearchParams(offset=offset, limit=limit), total)
    return [("…" if not link.number else f"[{link.number}]" if link.current else
             str(link.number)) for link in links]


@pytest.mark.parametrize(("offset", "total", "expected"), [
    (0, 10, []),
    (0, 39, ["[1]", "2", "3", "4"]),
    (10, 39, ["1", "[2]", "3", "4"]),
    (0, 200, ["[1]", "2", "3", "…", "20"]),
    (100, 200, ["1", "…", "9", "10", "[11]", "12", "13", "…", "20"]),
    (190, 200, ["1", "…", "18", "19", "[20]"]),
])
def test_page_links_keep_the_first_the_last_and_the_near(offset: int, total: int,
                                                         expected: list[str]) -> None:
    assert numbers(offset, total) == expected


def test_page_links_carry_their_offsets() -> None:
    links = page_links(SearchParams(offset=0, limit=20), 45)
    assert [(link.number, link.offset) for link in links] == [(1, 0), (2, 20), (3, 40)]


@pytest.mark.parametrize(("total", "limit", "offset"), [(39, 10, 30), (40, 10, 30),
                                                         (1, 10, 0), (51, 25, 50)])
def test_last_page_offset(total: int, limit: int, offset: int) -> None:
    assert last_page_offset(SearchParams(limit=limit), total) == offset


def test_every_filter_in_use_is_a_chip_and_defaults_are_not() -> None:
    assert filter_chips(SearchParams(q="x", postcode="78701", country="US"), "US") == []
    params = SearchParams(postcode="M5V", country="CA", radius=10, unit="km", sort="distance",
                          open_now=True, accepting_new_patients=True, telehealth=False,
                          insurance="bcbs", language="Español")
    assert filter_chips(params, "US") == [
        ("Country: CA", "country"), ("Within 10 km", "radius"), ("Nearest first", "sort"),
        ("Open now", "open_now"), ("Accepting new patients", "accepting_new_patients"),
        ("In person only", "telehealth"), ("Insurance: bcbs", "insurance"),
        ("Language: Español", "language")]


def test_removing_a_chip_keeps_the_rest_from_the_first_page() -> None:
    params = SearchParams(q="sciatica", postcode="78701", insurance="Aetna", telehealth=True,
                          offset=20)
    assert without(params, "insurance") == {"q": "sciatica", "postcode": "78701",
                                            "telehealth": "true"}


@pytest.mark.parametrize(("args", "suggestion", "expected"), [
    ({"postcode": "M5V 2T6", "q": "dry needling"},
     {"postcode": "M5V 2T6", "country": "CA", "label": "M5V 2T6 in Canada"},
     {"postcode": "M5V 2T6", "country": "CA", "q": "dry needling"}),
    ({"postcode": "Austn, TX", "country": "US"},
     {"city": "Austin, TX", "country": "US", "label": "Austin, TX"},
     {"postcode": "Austin, TX", "country": "US"}),
    ({"city": "Austn, TX", "radius": ""},
     {"city": "Austin, TX", "country": "US", "label": "Austin, TX"},
     {"city": "Austin, TX", "country": "US"}),
])
def test_a_suggested_place_replaces_the_typed_one(args: dict[str, str],
                                                  suggestion: dict[str, str],
                                                  expected: dict[str, str]) -> None:
    assert suggestion_args(args, suggestion) == expected
