"""Brute-force reference search: score every published listing, to check finder's answers.

It reads the listings from finder's database (their text when a query first reaches them),
analyses their text with finder's own field builder and analyser, and applies the shared
relevance and ranking functions to *every* listing near the origin with an exact geodesic
distance, so it has no index, no prefilter of finder's and no shortcut that could hide a bug
in them. Spelling corrections are not modelled: the bench's
keywords all occur in the generated data, so finder never corrects them.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from finder import geo
from finder.db import database_url, make_engine
from finder.geocode.gazetteer import Gazetteer
from finder.models import Location, Practitioner, Status
from finder.search import ranking
from finder.search.nothing_near import WIDENED_LIMIT, widest_km
from finder.search.query import Concept, parse
from finder.search.ranking import Decay, text_relevance
from finder.settings import BY_NAME

from .queries import Query

EARTH_RADIUS_KM = 6371.009
# Only to skip far listings cheaply: a sphere and the WGS-84 ellipsoid disagree by < 0.6%.
SPHERE_SLACK = 1.02
SPHERE_MARGIN_KM = 1.0
READ_BATCH = 500  # listings read per query while checking


@dataclass(frozen=True)
class Listing:
    id: int
    tokens: dict[str, tuple[str, ...]]
    telehealth: bool
    accepting: bool
    languages: frozenset[str]
    insurance: frozenset[str]
    freshness: float  # 1, or less when stale on the day of the run (finder's default policy)


@dataclass(frozen=True)
class Hit:
    id: int
    distance_km: float
    text: float
    freshness: float = 1.0


@dataclass(frozen=True)
class Expected:
    total: int
    ids: list[int]
    widened: bool


@dataclass(frozen=True)
class Mismatch:
    query: Query
    reason: str
    expected: list[int]
    actual: list[int]

    def as_dict(self) -> dict[str, Any]:
        return {"query": self.query.describe(), "path": self.query.path(),
                "reason": self.reason, "expected": self.expected, "actual": self.actual}


def default_decay() -> Decay:
    """Return the decay finder applies with its default settings (see finder/api.py)."""
    return Decay(offset_km=geo.to_km(BY_NAME["DECAY_OFFSET_MI"].default, "mi"),
                 scale_km=geo.to_km(BY_NAME["DECAY_SCALE_MI"].default, "mi"))


# finder's search internals are being reworked; these two find its own functions in either
# the list-of-candidates form or the array form, so the reference keeps calling finder's code.

@cache
def field_tokens() -> Callable[[Location], dict[str, tuple[str, ...]]]:
    """Return finder's builder of a location's analysed fields (what its index stores)."""
    for module in ("finder.search.documents", "finder.search.whoosh_backend"):
        try:
            builder = getattr(importlib.import_module(module), "field_tokens", None)
        except ImportError:
            continue
        if builder is not None:
            found: Callable[[Location], dict[str, tuple[str, ...]]] = builder
            return found
    raise RuntimeError("finder's field_tokens() was not found")


def finder_order(hits: Sequence[Hit], sort: str, decay: Decay) -> list[int]:
    """Return the hits' ids in the order ``finder.search.ranking.rank`` puts them."""
    rank: Any = ranking.rank  # typed loosely: its signature depends on the tree's version
    if "candidates" in inspect.signature(rank).parameters:
        candidate: Any = getattr(ranking, "Candidate")  # noqa: B009 (not in the array form)
        ranked = rank([candidate(h.id, h.distance_km, h.text) for h in hits], sort, decay)
        return [int(r.candidate.id) for r in ranked]
    ids = np.array([h.id for h in hits], dtype=np.int64)
    arrays = [np.array([h.distance_km for h in hits], dtype=float),
              np.array([h.text for h in hits], dtype=float), sort, decay]
    if "freshness" in inspect.signature(rank).parameters:
        arrays.append(np.array([h.freshness for h in hits], dtype=float))
    result = rank(ids, *arrays)
    return [int(i) for i in ids[result.order]]


def _freshness(location: Location) -> float:
    """A listing's freshness factor today under finder's default verification policy, or 1
    for a finder that has none."""
    try:
        from finder.trust.verification import Policy, indexed_day, today
    except ImportError:
        return 1.0
    day = indexed_day(location.last_verified, location.created_at, location.flagged_at)
    factor = Policy().freshness(np.array([day]), today())
    return float(factor[0])


class Reference:
    """Every published listing's place in memory, searched exhaustively; the rest of a
    listing (its text, filters and freshness) is read when a query first looks at it, so a
    million listings cost minutes less and gigabytes less than reading them all."""

    def __init__(self, engine: sa.Engine, ids: Sequence[int], lats: Sequence[float],
                 lons: Sequence[float], countries: Sequence[str]) -> None:
        self.engine = engine
        self.ids = list(ids)
        self.countries = list(countries)
        self.lats = np.radians(np.asarray(lats, dtype=float))
        self.lons = np.radians(np.asarray(lons, dtype=float))
        self.degrees = list(zip(lats, lons, strict=True))
        self.decay = default_decay()
        self.gazetteer = Gazetteer()
        self._listings: dict[int, Listing] = {}  # by position, as they are read

    @classmethod
    def from_data_dir(cls, data_dir: Path, url: str = "") -> Reference:
        """Read where every published listing of a finder data folder (SQLite) or database
        is; ``close`` when done."""
        engine = make_engine(database_url({"DATA_DIR": str(data_dir), "DATABASE_URL": url}))
        with engine.connect() as connection:
            rows = connection.execute(
                sa.select(Location.id, Location.latitude, Location.longitude, Location.country)
                .where(Location.status == Status.PUBLISHED).order_by(Location.id)).all()
        columns = list(zip(*rows, strict=True)) or [(), (), (), ()]
        return cls(engine, *columns)

    def close(self) -> None:
        self.engine.dispose()

    def _read(self, positions: Sequence[int]) -> None:
        """Read the listings at these positions that are not read yet."""
        missing = [position for position in positions if position not in self._listings]
        position_of = {self.ids[position]: position for position in missing}
        with Session(self.engine) as session:
            for start in range(0, len(missing), READ_BATCH):
                ids = [self.ids[position] for position in missing[start:start + READ_BATCH]]
                for location in session.scalars(
                        sa.select(Location).where(Location.id.in_(ids))
                        .options(selectinload(Location.organization),
                                 selectinload(Location.practitioners)
                                 .selectinload(Practitioner.certifications))):
                    self._listings[position_of[location.id]] = Listing(
                        location.id, field_tokens()(location), location.telehealth,
                        location.accepting_new_patients,
                        frozenset(x.strip().lower() for x in location.languages),
                        frozenset(x.strip().lower() for x in location.insurance),
                        _freshness(location))
                session.expunge_all()

    def _sphere_km(self, lat: float, lon: float) -> np.ndarray:
        lat1, lon1 = np.radians(lat), np.radians(lon)
        a = (np.sin((self.lats - lat1) / 2) ** 2
             + np.cos(lat1) * np.cos(self.lats) * np.sin((self.lons - lon1) / 2) ** 2)
        result: np.ndarray = 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.minimum(a, 1.0)))
        return result

    def _candidate(self, index: int, origin: tuple[float, float], concepts: list[Concept],
                   query: Query) -> Hit | None:
        listing = self._listings[index]
        if not _passes(listing, query.filters):
            return None
        relevance = text_relevance(concepts, listing.tokens)
        if relevance is None:
            return None
        lat, lon = self.degrees[index]
        return Hit(listing.id, geo.geodesic_km(*origin, lat, lon), relevance[0],
                   listing.freshness)

    def expected(self, query: Query) -> Expected:
        """Return what finder should answer: the total and the ids of the first page."""
        place = self.gazetteer.postcode(query.postcode, query.country)
        origin = (place.lat, place.lon)
        concepts = parse(query.q)
        radius_km = geo.to_km(query.radius, query.unit)
        sphere = self._sphere_km(*origin)
        near = np.nonzero(sphere <= radius_km * SPHERE_SLACK + SPHERE_MARGIN_KM)[0].tolist()
        self._read(near)
        found: list[Hit] = []
        for index in near:
            candidate = self._candidate(index, origin, concepts, query)
            if candidate is not None and candidate.distance_km <= radius_km:
                found.append(candidate)
        if found:
            order = finder_order(found, query.sort or "best", self.decay)
            return Expected(len(order), order[:query.limit], False)
        # Nothing within the radius: finder offers the nearest matches beyond it instead, in
        # the searched country and within the largest radius.
        wanted = min(query.limit, WIDENED_LIMIT)
        nearest = [hit for hit in self._nearest(sphere, origin, concepts, query, wanted,
                                                place.country)
                   if hit.distance_km <= widest_km(query.unit)]
        return Expected(0, finder_order(nearest, "distance", self.decay)[:wanted], True)

    def _nearest(self, sphere: np.ndarray, origin: tuple[float, float],
                 concepts: list[Concept], query: Query, wanted: int,
                 country: str) -> list[Hit]:
        """Return at least the ``wanted`` nearest matches anywhere (and every tie)."""
        found: list[Hit] = []
        bound = float("inf")
        order = [index for index in np.argsort(sphere, kind="stable").tolist()
                 if self.countries[index] == country]
        for start in range(0, len(order), READ_BATCH):
            chunk = order[start:start + READ_BATCH]
            if sphere[chunk[0]] > bound:
                break
            self._read(chunk)
            for index in chunk:
                if sphere[index] > bound:
                    break
                candidate = self._candidate(index, origin, concepts, query)
                if candidate is None:
                    continue
                found.append(candidate)
                if len(found) >= wanted:
                    kth = sorted(c.distance_km for c in found)[wanted - 1]
                    bound = kth * SPHERE_SLACK + SPHERE_MARGIN_KM
        return found


def _passes(listing: Listing, filters: dict[str, str]) -> bool:
    for name, value in filters.items():
        wanted = value.strip().lower()
        if name == "telehealth" and listing.telehealth != (wanted == "true"):
            return False
        if name == "accepting_new_patients" and listing.accepting != (wanted == "true"):
            return False
        if name == "language" and wanted not in listing.languages:
            return False
        if name == "insurance" and wanted not in listing.insurance:
            return False
    return True


def check(reference: Reference, queries: Sequence[Query],
          fetch: Callable[[Query], tuple[int, dict[str, Any]]]) -> tuple[int, list[Mismatch]]:
    """Compare the API's first page with the reference for each query, by best and distance.

    ``fetch`` returns the HTTP status and the JSON body. Returns how many comparisons were
    made and the mismatches (an error answer is one).
    """
    mismatches: list[Mismatch] = []
    compared = 0
    for base in queries:
        for sort in ("best", "distance"):
            query = base.sorted_by(sort)
            status, body = fetch(query)
            expected = reference.expected(query)
            actual = [int(hit["id"]) for hit in body.get("results", [])]
            compared += 1
            reason = ""
            if status != 200:
                reason = f"HTTP {status}: {body.get('error', body)}"
            elif body.get("did_you_mean"):
                reason = f"finder corrected the keywords to {body['did_you_mean']!r}"
            elif actual != expected.ids:
                reason = "different results" + (" (widened)" if expected.widened else "")
            elif body.get("total") != expected.total:
                reason = f"total {body.get('total')} != {expected.total}"
            if reason:
                mismatches.append(Mismatch(query, reason, expected.ids, actual))
    return compared, mismatches
