"""Search backends: find the listings that match a query within a radius.

A backend satisfies the small ``SearchBackend`` protocol and is chosen by the
``FINDER_SEARCH_BACKEND`` setting through ``REGISTRY``. Backends only *match* (radius, keywords,
filters), measure distances and hand back the public JSON of the listings they matched;
ordering is the shared pure function in ``ranking``, so every backend returns the same results
in the same order for the same data.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Protocol

import numpy as np
import sqlalchemy as sa
from flask import Flask, current_app
from sqlalchemy.orm import Session

from .query import Concept

# What a search can count per value ("facets"), and the filter each one answers.
FACETS = {"technique": "technique", "accessibility": "accessibility",
          "age_group": "age_group", "insurance": "insurance", "language": "language"}


@dataclass(frozen=True)
class Filters:
    telehealth: bool | None = None
    accepting_new_patients: bool | None = None
    # Folded names (see ``keywords``): a listing holding any of them passes; () passes none.
    insurance: tuple[str, ...] | None = None
    language: tuple[str, ...] | None = None
    open_at: datetime | None = None  # "open now" as an aware datetime
    # Vocabulary ids (see ``finder.vocabulary``).
    technique: str | None = None
    accessibility: str | None = None
    age_group: str | None = None
    direct_access: bool | None = None
    home_visits: bool | None = None
    max_price: float | None = None  # the listing's lowest self-pay price is at most this
    certified_on: date | None = None  # a practitioner's certification is current that day
    country: str | None = None  # the listing is in this country (an ISO code)


@dataclass(frozen=True)
class MatchQuery:
    lat: float
    lon: float
    radius_km: float | None  # None: no radius
    concepts: list[Concept] = field(default_factory=list)
    filters: Filters = Filters()
    nearest: int | None = None  # only the nearest this many matter (within the radius)
    correct: bool = True  # add spelling corrections to words no listing holds


@dataclass
class Matches:
    """Every listing matching a query, as parallel arrays."""

    ids: np.ndarray  # listing ids
    distance_km: np.ndarray
    text: np.ndarray  # text relevance, as ranking.text_relevance computes it
    best: np.ndarray  # (concepts, candidates): position of each concept's best alternative
    # The day (an ordinal) each was last verified, as ``trust.verification.indexed_day``.
    verified_on: np.ndarray
    concepts: list[Concept] = field(default_factory=list)  # after spelling corrections
    # Typed word -> the indexed word it was corrected to ("did you mean").
    corrections: dict[str, str] = field(default_factory=dict)

    @classmethod
    def empty(cls, concepts: list[Concept]) -> Matches:
        return cls(np.zeros(0, dtype=np.int64), np.zeros(0), np.zeros(0),
                   np.zeros((len(concepts), 0), dtype=np.int16), np.zeros(0, dtype=np.int32),
                   concepts)

    def matched_terms(self, position: int) -> list[str]:
        """Return the readable terms that matched for one candidate."""
        terms = [concept.alternatives[int(self.best[i, position])].text
                 for i, concept in enumerate(self.concepts)]
        return list(dict.fromkeys(terms))

    def matched(self, position: int) -> list[tuple[str, str, str]]:
        """Return (keyword as typed, term found, exact|synonym|fuzzy) for one candidate."""
        found = []
        for i, concept in enumerate(self.concepts):
            alternative = concept.alternatives[int(self.best[i, position])]
            found.append((concept.text, alternative.text, alternative.kind))
        return found


@dataclass
class Applied:
    """How many changes a background indexer applied; known once its block has ended."""

    count: int = 0

    def wait_for(self, seq: int) -> None:
        """Wait until the search index holds the changes up to ``seq``, where they are
        indexed alongside, so that an import goes no faster than its listings become
        searchable (elsewhere, at once)."""


class SearchBackend(Protocol):
    name: str
    # Whether searches apply pending changes themselves (a bounded batch at most once a
    # second); False while a background ``applier.Applier`` does it.
    applies_in_requests: bool

    def match(self, query: MatchQuery) -> Matches:
        """Return every published listing matching the query, with its distance."""
        ...

    def listings(self, ids: list[int]) -> dict[int, dict[str, Any]]:
        """Return the public JSON (without its URL) of these listings, if searchable."""
        ...

    def reading(self) -> AbstractContextManager[None]:
        """Keep what searches read (a database connection) for the calls made in the
        block, the calls of one search, rather than taking it for each."""
        ...

    def facets(self, query: MatchQuery, names: Sequence[str]) -> dict[str, dict[str, int]]:
        """Count the listings matching the query per value of each facet in ``names``,
        each without its own filter (what that filter's choices would find)."""
        ...

    def warm_up(self, queries: Iterable[str]) -> None:
        """Prepare for the first searches of these keyword queries."""
        ...

    def catch_up(self, limit: int | None = None, yield_to_imports: bool = False) -> int:
        """Apply recorded listing changes not yet searchable (at most ``limit``); with
        ``yield_to_imports``, none while an import's own indexing applies them."""
        ...

    def applied_seq(self) -> int:
        """Return the ``seq`` of the newest listing change that searches see."""
        ...

    def refresh(self) -> None:
        """Open what another process committed now, so that a search need not."""
        ...

    def indexing_alongside(self, commit_every: float | None = None
                           ) -> AbstractContextManager[Applied]:
        """Apply changes as they are committed while the block runs (an import), making
        them searchable about every ``commit_every`` seconds (a bulk load), or as soon as
        they are applied, where that overlaps the work; ``catch_up`` afterwards applies the
        rest."""
        ...

    def rebuild(self, progress: Callable[[int], None] | None = None) -> int:
        """Rebuild the search structures from the database; return the listing count."""
        ...

    def close(self) -> None:
        """Release files and connections."""
        ...


def _whoosh(app: Flask) -> SearchBackend:
    from .whoosh_backend import WhooshBackend

    return WhooshBackend.from_app(app)


def _postgis(app: Flask) -> SearchBackend:
    from .postgis_backend import PostgisBackend

    return PostgisBackend.from_app(app)


REGISTRY: dict[str, Callable[[Flask], SearchBackend]] = {"whoosh": _whoosh, "postgis": _postgis}


def init_app(app: Flask) -> None:
    """Create the configured backend."""
    name = app.config["SEARCH_BACKEND"]
    if name not in REGISTRY:
        from ..errors import ConfigError

        raise ConfigError(
            f"FINDER_SEARCH_BACKEND={name!r} is not available; choose from {', '.join(REGISTRY)}"
        )
    app.extensions["finder.search"] = REGISTRY[name](app)


def get_backend(app: Flask | None = None) -> SearchBackend:
    """Return the app's search backend."""
    backend: SearchBackend = (app or current_app).extensions["finder.search"]
    return backend


def backlog(session: Session, backend: SearchBackend) -> tuple[int, float]:
    """How many recorded listing changes the backend has not applied, and the age in seconds
    of the oldest of them (0 when none waits): what /healthz and /metrics report."""
    from ..models import IndexChange

    waiting, oldest = session.execute(
        sa.select(sa.func.count(), sa.func.min(IndexChange.created_at))
        .where(IndexChange.seq > backend.applied_seq())).one()
    if oldest is None:
        return 0, 0.0
    oldest = oldest if oldest.tzinfo else oldest.replace(tzinfo=UTC)
    return int(waiting), max(0.0, (datetime.now(UTC) - oldest).total_seconds())
