"""Ranking: the pure functions that score and order hits, shared by every backend.

Text relevance is computed here from which concept matched in which field, not from an
engine's internal score, so every backend ranks the same data the same way and every hit can
explain itself through its ``score_components``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from .query import EXACT, FUZZY, SYNONYM, Concept, all_shingles

# How much a match in each field says about the listing (services and the clinic's name are
# what it offers; the description is prose; the place only says where it is).
FIELD_WEIGHTS: dict[str, float] = {
    "services": 1.0,
    "name": 1.0,
    "conditions": 0.9,
    "description": 0.6,
    "place": 0.5,
}
KIND_FACTORS: dict[str, float] = {EXACT: 1.0, SYNONYM: 0.9, FUZZY: 0.7}


def _classes(weights: Mapping[str, float]) -> tuple[tuple[float, tuple[str, ...]], ...]:
    by_weight: dict[float, list[str]] = {}
    for name, weight in weights.items():
        by_weight.setdefault(weight, []).append(name)
    return tuple((weight, tuple(names)) for weight, names in sorted(by_weight.items(),
                                                                    reverse=True))


# The fields grouped by weight, heaviest first. Fields of one weight are matched as one: a
# long phrase's runs may come from any of them, as they may from different items of one list
# field. (This is also what lets PostgreSQL's four weight labels express every field.)
FIELD_CLASSES = _classes(FIELD_WEIGHTS)
SORTS = ("best", "distance", "relevance")
ITEM_BREAK = "|"  # a token the analyser never makes, placed between list items


@dataclass(frozen=True)
class Decay:
    """Gauss distance decay with a no-penalty offset (as Elasticsearch's function_score).

    Within ``offset_km`` the factor is 1; at ``offset_km + scale_km`` it is ``decay``.
    """

    offset_km: float
    scale_km: float
    decay: float = 0.5

    def __call__(self, distance_km: np.ndarray | float) -> np.ndarray:
        beyond = np.maximum(0.0, distance_km - self.offset_km)
        sigma_squared = -(self.scale_km**2) / (2.0 * math.log(self.decay))
        result: np.ndarray = np.exp(-(beyond**2) / (2.0 * sigma_squared))
        return result


def text_relevance(
    concepts: Sequence[Concept], fields: Mapping[str, Sequence[str]]
) -> tuple[float, list[str]] | None:
    """Score one listing's analysed fields against the concepts; None if a concept is missing.

    Each concept scores its best (field weight x kind factor) over its alternatives, the first
    one found winning a tie; relevance is their mean, in (0, 1]. Also returns the readable
    terms that matched. A phrase matches a class of fields (``FIELD_CLASSES``) when all its
    shingles occur in them.
    """
    if not concepts:
        return 1.0, []
    keys = [(weight, set().union(*(all_shingles(tuple(fields[name]), ITEM_BREAK)
                                   for name in names if name in fields)))
            for weight, names in FIELD_CLASSES]
    total = 0.0
    matched: list[str] = []
    for concept in concepts:
        best, best_text = 0.0, ""
        for alternative in concept.alternatives:
            factor = KIND_FACTORS[alternative.kind]
            for weight, held in keys:
                value = weight * factor
                if value > best and held.issuperset(alternative.keys):
                    best, best_text = value, alternative.text
        if best == 0.0:
            return None
        total += best
        matched.append(best_text)
    return total / len(concepts), list(dict.fromkeys(matched))


@dataclass(frozen=True)
class Ranking:
    """The order of a set of candidates, with each one's score and distance factor."""

    order: np.ndarray  # candidate positions, best first
    score: np.ndarray  # per candidate: text x distance decay x freshness
    decay: np.ndarray  # per candidate


def rank(ids: np.ndarray, distance_km: np.ndarray, text: np.ndarray, sort: str,
         decay: Decay, freshness: np.ndarray | None = None) -> Ranking:
    """Order candidates: ``best`` by text x decay x freshness, ``relevance`` by text x
    freshness, ``distance`` by distance alone (asked for, nearest is nearest).

    ``freshness`` is 1 for a listing verified recently enough and less for a stale one (see
    ``trust.verification``); None: every listing is fresh. Ties always fall back to distance,
    then id, so the order is total and reproducible. Scores are rounded to 6 places before
    ordering, as they are reported.
    """
    factor = decay(distance_km)
    fresh = np.ones(len(ids)) if freshness is None else freshness
    score = np.round(text * factor * fresh, 6)
    if sort == "distance":
        order = np.lexsort((ids, distance_km))
    elif sort == "relevance":
        order = np.lexsort((ids, distance_km, -np.round(text * fresh, 6)))
    else:
        order = np.lexsort((ids, distance_km, -score))
    return Ranking(order, score, factor)
