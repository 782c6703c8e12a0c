"""What a search answers: its ranked hits and what it says about them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import numpy as np

from ..geocode import Place
from ..trust.verification import Policy
from . import Filters, Matches, MatchQuery, SearchBackend
from .params import SearchParams
from .query import Concept
from .ranking import Decay, rank


def _today() -> date:
    return datetime.now(UTC).date()


@dataclass(frozen=True)
class Scoring:
    """What a score holds besides the keywords: the distance decay of ``sort=best``, and the
    freshness of each listing on ``today`` under the verification policy."""

    decay: Decay
    policy: Policy = Policy()
    today: date = field(default_factory=_today)

    def freshness(self, verified_on: np.ndarray) -> np.ndarray:
        return self.policy.freshness(verified_on, self.today)


@dataclass(frozen=True)
class Ranked:
    """One ranked hit, with the parts of its score."""

    id: int
    distance_km: float
    text: float
    decay: float
    freshness: float  # 1, or less for a stale listing
    score: float
    matched_terms: list[str]
    # What each keyword matched: (typed, as found, exact|synonym|fuzzy).
    matched: list[tuple[str, str, str]] = field(default_factory=list)


@dataclass
class Hit:
    listing: dict[str, Any]  # its public JSON, without its URL
    ranked: Ranked


def ranked_page(matches: Matches, sort: str, scoring: Scoring, offset: int,
                limit: int) -> list[Ranked]:
    """Rank all matches with the shared ranking function and return one page."""
    freshness = scoring.freshness(matches.verified_on)
    ranking = rank(matches.ids, matches.distance_km, matches.text, sort, scoring.decay,
                   freshness)
    return [Ranked(int(matches.ids[i]), float(matches.distance_km[i]), float(matches.text[i]),
                   float(ranking.decay[i]), float(freshness[i]), float(ranking.score[i]),
                   matches.matched_terms(i), matches.matched(i))
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
    # The match as searched (keywords corrected), for facets counted afterwards.
    query: MatchQuery | None = None
    # Facet -> value -> listings, when asked for (see ``SearchBackend.facets``).
    facets: dict[str, dict[str, int]] = field(default_factory=dict)
    # The day of the search: certifications are current or expired as of this day.
    today: date = field(default_factory=_today)


@dataclass
class Search:
    """One search's fixed parts, so that its variants (relaxed, widened) are one call each."""

    backend: SearchBackend
    origin: Place
    radius_km: float
    concepts: list[Concept]
    filters: Filters

    def match(self, radius_km: float | None = None, *, concepts: list[Concept] | None = None,
              filters: Filters | None = None, nearest: int | None = None,
              correct: bool = False) -> Matches:
        """Match this search, or a variant of it, within ``radius_km`` (None: anywhere)."""
        return self.backend.match(MatchQuery(
            self.origin.lat, self.origin.lon, radius_km,
            self.concepts if concepts is None else concepts,
            self.filters if filters is None else filters, nearest=nearest, correct=correct))
