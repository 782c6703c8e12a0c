"""Ranking: the one pure function that orders hits, shared by every backend.

Text relevance is computed here from which concept matched in which field, not from an
engine's internal score, so every backend ranks the same data the same way and every hit can
explain itself through its ``score_components``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from .query import EXACT, FUZZY, SYNONYM, Concept

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
SORTS = ("best", "distance", "relevance")


@dataclass(frozen=True)
class Decay:
    """Gauss distance decay with a no-penalty offset (as Elasticsearch's function_score).

    Within ``offset_km`` the factor is 1; at ``offset_km + scale_km`` it is ``decay``.
    """

    offset_km: float
    scale_km: float
    decay: float = 0.5

    def __call__(self, distance_km: float) -> float:
        beyond = max(0.0, distance_km - self.offset_km)
        sigma_squared = -(self.scale_km**2) / (2.0 * math.log(self.decay))
        return math.exp(-(beyond**2) / (2.0 * sigma_squared))


@dataclass
class Candidate:
    """A listing that matched every concept within the radius and passed the filters."""

    id: int
    distance_km: float
    text: float = 1.0
    matched_terms: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Ranked:
    candidate: Candidate
    score: float
    decay: float


def contains(haystack: Sequence[str], needle: Sequence[str]) -> bool:
    """Return whether ``needle`` occurs as a contiguous run in ``haystack``."""
    size = len(needle)
    if size == 1:
        return needle[0] in haystack
    first = needle[0]
    return any(
        haystack[i] == first and tuple(haystack[i:i + size]) == tuple(needle)
        for i in range(len(haystack) - size + 1)
    )


def text_relevance(
    concepts: Sequence[Concept], fields: Mapping[str, Sequence[str]]
) -> tuple[float, list[str]] | None:
    """Score analysed listing fields against the concepts; None if a concept is missing.

    Each concept scores its best (field weight x kind factor); relevance is their mean, in
    (0, 1]. Also returns the readable terms that matched.
    """
    if not concepts:
        return 1.0, []
    total = 0.0
    matched: list[str] = []
    for concept in concepts:
        best, best_text = 0.0, ""
        for alternative in concept.alternatives:
            factor = KIND_FACTORS[alternative.kind]
            if factor <= best:
                continue
            for name, tokens in fields.items():
                weight = FIELD_WEIGHTS[name] * factor
                if weight > best and contains(tokens, alternative.tokens):
                    best, best_text = weight, alternative.text
        if best == 0.0:
            return None
        total += best
        matched.append(best_text)
    return total / len(concepts), list(dict.fromkeys(matched))


def rank(candidates: Iterable[Candidate], sort: str, decay: Decay) -> list[Ranked]:
    """Order candidates: ``best`` by text x decay, ``relevance`` by text, ``distance`` by distance.

    Ties always fall back to distance, then id, so the order is total and reproducible.
    """
    ranked = []
    for c in candidates:
        factor = decay(c.distance_km)
        ranked.append(Ranked(c, round(c.text * factor, 6), factor))
    if sort == "distance":
        ranked.sort(key=lambda r: (r.candidate.distance_km, r.candidate.id))
    elif sort == "relevance":
        ranked.sort(key=lambda r: (-r.candidate.text, r.candidate.distance_km, r.candidate.id))
    else:
        ranked.sort(key=lambda r: (-r.score, r.candidate.distance_km, r.candidate.id))
    return ranked
