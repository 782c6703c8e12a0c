"""Ranking (distance decay, text relevance, the three sorts) and the declared settings."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pytest

from finder import geo
from finder.errors import ConfigError
from finder.search import ranking
from finder.search.query import (
    EXACT,
    FUZZY,
    SYNONYM,
    Alternative,
    Concept,
    all_shingles,
    analyze,
    parse,
    shingles,
)
from finder.search.ranking import FIELD_WEIGHTS, KIND_FACTORS, Decay, text_relevance
from finder.settings import SETTINGS, load


@dataclass(frozen=True)
class Candidate:
    id: int
    distance_km: float
    text: float = 1.0


@dataclass(frozen=True)
class Ranked:
    candidate: Candidate
    score: float
    decay: float


def rank(candidates: Sequence[Candidate], sort: str, decay: Decay) -> list[Ranked]:
    """Call the array ranking with a list of candidates, as a backend's arrays would hold."""
    result = ranking.rank(np.array([c.id for c in candidates], dtype=np.int64),
                          np.array([c.distance_km for c in candidates], dtype=np.float64),
                          np.array([c.text for c in candidates], dtype=np.float64), sort, decay)
    return [Ranked(candidates[i], float(result.score[i]), float(result.decay[i]))
            for i in result.order]


def contains(haystack: tuple[str, ...], needle: tuple[str, ...]) -> bool:
    return all_shingles(haystack, "|").issuperset(shingles(needle))

MILE_KM = 1.609344
# The shipped defaults: no penalty within 2 mi, half the score 10 mi beyond that.
DEFAULT_DECAY = Decay(offset_km=2 * MILE_KM, scale_km=10 * MILE_KM)


def miles(distance: float) -> float:
    return distance * MILE_KM


# -- Decay -----------------------------------------------------------------------------------


@pytest.mark.parametrize("distance_km", [0.0, 0.5, 3.0, 2 * MILE_KM])
def test_decay_is_one_within_the_offset(distance_km: float) -> None:
    assert DEFAULT_DECAY(distance_km) == 1.0


@pytest.mark.parametrize(
    ("offset_km", "scale_km", "decay"),
    [(2 * MILE_KM, 10 * MILE_KM, 0.5), (0.1, 5.0, 0.5), (3.0, 1.0, 0.5), (1.0, 8.0, 0.25)],
)
def test_decay_reaches_its_decay_value_at_offset_plus_scale(
    offset_km: float, scale_km: float, decay: float
) -> None:
    curve = Decay(offset_km=offset_km, scale_km=scale_km, decay=decay)
    assert curve(offset_km + scale_km) == pytest.approx(decay, rel=1e-12)


def test_decay_decreases_monotonically_beyond_the_offset() -> None:
    distances = [2 * MILE_KM + step * 0.5 for step in range(1, 200)]
    values = [DEFAULT_DECAY(d) for d in distances]
    assert all(a > b for a, b in zip(values, values[1:], strict=False))
    assert all(0.0 <= v < 1.0 for v in values)


def test_decay_is_gaussian_so_twice_the_scale_is_the_decay_to_the_fourth() -> None:
    offset, scale = 2 * MILE_KM, 10 * MILE_KM
    assert DEFAULT_DECAY(offset + 2 * scale) == pytest.approx(0.5**4, rel=1e-12)


# -- contains --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("haystack", "needle", "expected"),
    [
        (("low", "back", "pain"), ("back", "pain"), True),
        (("low", "back", "pain"), ("back",), True),
        (("pain", "back"), ("back", "pain"), False),
        (("back", "neck", "pain"), ("back", "pain"), False),
        (("back", "back", "pain"), ("back", "pain"), True),
        (("back",), ("back", "pain"), False),
        ((), ("back",), False),
        (("dry", "needl"), ("dry", "needl"), True),
        (("pain", "|", "sciatica"), ("pain", "sciatica"), False),
        (("a", "b", "c", "d"), ("a", "b", "c", "d"), True),
        (("a", "b", "c", "x", "b", "c", "d"), ("a", "b", "c", "d"), True),  # shingle semantics
        (("a", "b", "c", "x", "c", "d"), ("a", "b", "c", "d"), False),
    ],
)
def test_contains_requires_a_contiguous_run(
    haystack: tuple[str, ...], needle: tuple[str, ...], expected: bool
) -> None:
    assert contains(haystack, needle) is expected


# -- text_relevance --------------------------------------------------------------------------


def fields(**texts: str) -> dict[str, tuple[str, ...]]:
    return {name: analyze(text) for name, text in texts.items()}


def scored(result: tuple[float, list[str]] | None) -> tuple[float, list[str]]:
    assert result is not None, "expected a match"
    return result


def concept(text: str, *synonyms: str) -> Concept:
    alternatives = [Alternative(analyze(text), text, EXACT)]
    alternatives += [Alternative(analyze(s), s, SYNONYM) for s in synonyms]
    return Concept(text, tuple(alternatives))


def test_field_weights_favour_what_the_listing_offers() -> None:
    assert FIELD_WEIGHTS["services"] == FIELD_WEIGHTS["name"] == 1.0
    assert FIELD_WEIGHTS["services"] > FIELD_WEIGHTS["conditions"] > FIELD_WEIGHTS["description"]
    assert FIELD_WEIGHTS["description"] > FIELD_WEIGHTS["place"]
    assert KIND_FACTORS[EXACT] > KIND_FACTORS[SYNONYM] > KIND_FACTORS[FUZZY]


@pytest.mark.parametrize("field", sorted(FIELD_WEIGHTS))
def test_exact_match_scores_its_field_weight(field: str) -> None:
    listing = fields(**{field: "Dry needling for athletes"})
    score, matched = scored(text_relevance([concept("dry needling")], listing))
    assert score == pytest.approx(FIELD_WEIGHTS[field])
    assert matched == ["dry needling"]


@pytest.mark.parametrize("field", sorted(FIELD_WEIGHTS))
def test_synonym_match_scores_less_than_an_exact_one(field: str) -> None:
    listing = fields(**{field: "Intramuscular stimulation"})
    score, matched = scored(
        text_relevance([concept("dry needling", "intramuscular stimulation")], listing)
    )
    assert score == pytest.approx(FIELD_WEIGHTS[field] * KIND_FACTORS[SYNONYM])
    assert matched == ["intramuscular stimulation"]


def test_best_field_and_kind_wins_for_a_concept() -> None:
    listing = fields(description="We offer dry needling", services="Intramuscular stimulation")
    score, matched = scored(
        text_relevance([concept("dry needling", "intramuscular stimulation")], listing)
    )
    # synonym in services (1.0 x 0.9) beats exact in the description (0.6 x 1.0)
    assert score == pytest.approx(0.9)
    assert matched == ["intramuscular stimulation"]


def test_exact_match_is_preferred_to_a_synonym_in_the_same_field() -> None:
    listing = fields(services="Dry needling; intramuscular stimulation")
    score, matched = scored(
        text_relevance([concept("dry needling", "intramuscular stimulation")], listing)
    )
    assert score == 1.0
    assert matched == ["dry needling"]


def test_relevance_is_the_mean_over_concepts() -> None:
    listing = fields(services="Dry needling", description="Relief from sciatica")
    score, matched = scored(
        text_relevance([concept("dry needling"), concept("sciatica")], listing)
    )
    assert score == pytest.approx((1.0 + 0.6) / 2)
    assert matched == ["dry needling", "sciatica"]


def test_missing_concept_means_no_match() -> None:
    listing = fields(services="Dry needling", name="Needle Point PT")
    assert text_relevance([concept("dry needling"), concept("sciatica")], listing) is None


def test_no_concepts_is_a_full_match() -> None:
    assert text_relevance([], fields(services="Anything")) == (1.0, [])


def test_matched_terms_are_listed_once() -> None:
    listing = fields(services="Dry needling")
    _, matched = scored(text_relevance([concept("needling"), concept("needling")], listing))
    assert matched == ["needling"]


@pytest.mark.parametrize(
    ("query", "text", "matches"),
    [
        ('"back pain"', "Low back pain", True),
        ('"back pain"', "Pain in the back", False),
        ('"pain back"', "Low back pain", False),
        ("back pain", "Pain in the back", True),  # unquoted words need not be adjacent
        ("low back pain", "Back pain", True),  # the lay term finds the broader one
        ("back pain", "Low back pain", True),
    ],
)
def test_phrases_must_be_contiguous_in_a_field(query: str, text: str, matches: bool) -> None:
    result = text_relevance(parse(query), fields(conditions=text))
    assert (result is not None) is matches


def test_phrase_does_not_match_across_fields() -> None:
    listing = fields(name="Back Bay Clinic", conditions="Pain management")
    assert text_relevance(parse('"back pain"'), listing) is None
    assert text_relevance(parse("back pain"), listing) is not None


# -- rank ------------------------------------------------------------------------------------


def ids(ranked: Sequence[Ranked]) -> list[int]:
    return [r.candidate.id for r in ranked]


def candidates() -> list[Candidate]:
    return [
        Candidate(1, miles(0.4), text=0.6),  # nearest, a weak match (description)
        Candidate(2, miles(0.5), text=1.0),  # a little farther, an exact service match
        Candidate(3, miles(1.5), text=0.9),
        Candidate(4, miles(30.0), text=1.0),  # far away, a perfect match
    ]


def test_sort_distance_is_nearest_first_whatever_the_text() -> None:
    assert ids(rank(candidates(), "distance", DEFAULT_DECAY)) == [1, 2, 3, 4]


def test_sort_relevance_is_text_first_then_distance() -> None:
    assert ids(rank(candidates(), "relevance", DEFAULT_DECAY)) == [2, 4, 3, 1]


def test_sort_best_is_text_times_decay() -> None:
    ranked = rank(candidates(), "best", DEFAULT_DECAY)
    assert ids(ranked) == [2, 3, 1, 4]
    for r in ranked:
        assert r.decay == DEFAULT_DECAY(r.candidate.distance_km)
        assert r.score == round(r.candidate.text * r.decay, 6)
    far = ranked[-1]
    assert far.decay < 0.01


@pytest.mark.parametrize(
    "decay",
    [DEFAULT_DECAY, Decay(offset_km=0.001, scale_km=10 * MILE_KM),
     Decay(offset_km=0.001, scale_km=1.0), Decay(offset_km=miles(0.45), scale_km=0.5)],
    ids=["default", "tiny-offset", "steep", "offset-between"],
)
def test_best_a_tenth_of_a_mile_never_beats_a_much_better_match(decay: Decay) -> None:
    near_weak = Candidate(1, miles(0.4), text=0.6)
    farther_strong = Candidate(2, miles(0.5), text=1.0)
    assert ids(rank([near_weak, farther_strong], "best", decay)) == [2, 1]


def test_best_without_keywords_is_distance_order() -> None:
    plain = [Candidate(i, miles(d)) for i, d in [(1, 1.5), (2, 0.2), (3, 25.0), (4, 1.0)]]
    assert ids(rank(plain, "best", DEFAULT_DECAY)) == [2, 4, 1, 3]


@pytest.mark.parametrize("sort", ["best", "relevance"])
def test_equal_scores_fall_back_to_distance(sort: str) -> None:
    tied = [Candidate(1, miles(1.0), text=0.9), Candidate(2, miles(0.5), text=0.9)]
    assert ids(rank(tied, sort, DEFAULT_DECAY)) == [2, 1]


@pytest.mark.parametrize("sort", ["best", "relevance", "distance"])
def test_equal_scores_and_distances_fall_back_to_id(sort: str) -> None:
    tied = [Candidate(i, miles(1.0), text=0.9) for i in (7, 3, 5)]
    assert ids(rank(tied, sort, DEFAULT_DECAY)) == [3, 5, 7]


def test_rank_keeps_every_candidate() -> None:
    assert sorted(ids(rank(candidates(), "best", DEFAULT_DECAY))) == [1, 2, 3, 4]
    assert rank([], "best", DEFAULT_DECAY) == []


def test_geo_to_km_matches_the_mile() -> None:
    assert geo.to_km(1.0, "mi") == pytest.approx(MILE_KM)


# -- settings --------------------------------------------------------------------------------


def test_settings_defaults_from_an_empty_environment() -> None:
    values = load({})
    assert set(values) == {setting.name for setting in SETTINGS}
    assert values["DATA_DIR"] == "./instance"
    assert values["DATABASE_URL"] == ""
    assert values["SEARCH_BACKEND"] == "whoosh"
    assert values["DEFAULT_COUNTRY"] == "US"
    assert values["GEOCODERS"] == ["gazetteer"]
    assert values["NOMINATIM_SCHEME"] == "https"
    assert values["GEOCODER_TIMEOUT"] == 5.0
    assert values["DECAY_OFFSET_MI"] == 2.0
    assert values["DECAY_SCALE_MI"] == 10.0


def test_settings_ignore_other_variables() -> None:
    assert load({"DATA_DIR": "/elsewhere", "FINDER_NOT_A_SETTING": "x"}) == load({})


@pytest.mark.parametrize(
    ("variable", "raw", "name", "value"),
    [
        ("FINDER_DATA_DIR", " /srv/finder ", "DATA_DIR", "/srv/finder"),
        ("FINDER_DATABASE_URL", "postgresql://db/finder", "DATABASE_URL",
         "postgresql://db/finder"),
        ("FINDER_DEFAULT_COUNTRY", " ca ", "DEFAULT_COUNTRY", "CA"),
        ("FINDER_SEARCH_BACKEND", "PostGIS", "SEARCH_BACKEND", "postgis"),
        ("FINDER_GEOCODERS", "Gazetteer, nominatim,", "GEOCODERS", ["gazetteer", "nominatim"]),
        ("FINDER_NOMINATIM_SCHEME", "HTTP", "NOMINATIM_SCHEME", "http"),
        ("FINDER_GEOCODER_TIMEOUT", "2.5", "GEOCODER_TIMEOUT", 2.5),
        ("FINDER_DECAY_SCALE_MI", "1e1", "DECAY_SCALE_MI", 10.0),
        ("FINDER_SEARCH_BACKEND", "", "SEARCH_BACKEND", "whoosh"),  # empty means default
    ],
)
def test_settings_are_overridden_by_the_environment(
    variable: str, raw: str, name: str, value: object
) -> None:
    assert load({variable: raw})[name] == value


@pytest.mark.parametrize(
    ("variable", "raw"),
    [
        ("FINDER_DEFAULT_COUNTRY", "USA"),
        ("FINDER_DEFAULT_COUNTRY", "U1"),
        ("FINDER_SEARCH_BACKEND", "elastic"),
        ("FINDER_GEOCODER_TIMEOUT", "-1"),
        ("FINDER_GEOCODER_TIMEOUT", "0"),
        ("FINDER_GEOCODER_TIMEOUT", "soon"),
        ("FINDER_GEOCODER_MIN_DELAY", "-0.5"),
        ("FINDER_DECAY_OFFSET_MI", "-2"),
        ("FINDER_GEOCODERS", " , "),
        ("FINDER_NOMINATIM_SCHEME", "ftp"),
    ],
)
def test_bad_setting_raises_config_error_naming_the_variable(variable: str, raw: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load({variable: raw})
    message = str(raised.value)
    assert message.startswith(f"{variable}={raw!r} is invalid: ")
    assert raised.value.code == "invalid_setting"
    assert isinstance(raised.value.__cause__, ValueError)


@pytest.mark.parametrize(
    ("variable", "raw", "hint"),
    [
        ("FINDER_DEFAULT_COUNTRY", "USA", "two-letter"),
        ("FINDER_SEARCH_BACKEND", "elastic", "whoosh, postgis"),
        ("FINDER_GEOCODER_TIMEOUT", "-1", "positive"),
    ],
)
def test_bad_setting_message_says_what_is_allowed(variable: str, raw: str, hint: str) -> None:
    with pytest.raises(ConfigError, match=hint):
        load({variable: raw})


@pytest.mark.parametrize(
    ("variable", "raw"),
    [("FINDER_GEOCODER_TIMEOUT", "nan"), ("FINDER_GEOCODER_TIMEOUT", "inf"),
     ("FINDER_DECAY_SCALE_MI", "nan")],
)
def test_non_finite_number_is_a_bad_setting(variable: str, raw: str) -> None:
    with pytest.raises(ConfigError):
        load({variable: raw})



def test_fields_of_one_weight_match_as_one_class() -> None:
    # Name and services weigh the same: a long phrase's runs may come from either, as they
    # may from two items of one list; conditions weigh less, so they never complete it.
    phrase = concept("sports dry needling clinic")
    assert scored(text_relevance([phrase], fields(name="Sports Dry Needling",
                                                  services="Dry needling clinic")))[0] == 1.0
    assert text_relevance([phrase], fields(name="Sports Dry Needling",
                                           conditions="Dry needling clinic")) is None
