"""Per-segment search structures, read once from a Whoosh segment and reused.

A Whoosh index is a set of immutable segments; a commit adds a small one (and marks
deletions). So the arrays of a segment (listing ids, coordinates and a KD-tree over them,
flags) and the bitmaps of the terms searched in it are built once per process and kept while
the segment lives; a new index generation only costs its new segments and deletion marks.
Matching then works on the few listings near the origin, with numpy, never on the whole index.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from geopy.distance import EARTH_RADIUS
from scipy.spatial import cKDTree
from whoosh import columns
from whoosh.codec.whoosh3 import W3LeafMatcher
from whoosh.reading import IndexReader

from .. import geo
from ..hours import Holidays, is_open
from . import FACETS, Filters, MatchQuery
from .documents import ACCEPTING, DIRECT_ACCESS, HOME_VISITS, ID_FIELDS, META_ID, TELEHEALTH
from .query import Concept
from .ranking import FIELD_CLASSES, KIND_FACTORS

MASK_CACHE = 2048  # term bitmaps kept per segment (12.5 kB each at 100k listings)
# Concepts whose score for every row is kept per segment (10 bytes a row: 1 MB each at 100k
# listings). A concept gets one on its second search; the first scores only its candidates.
SCORE_CACHE = 32


def unit_vectors(lats: np.ndarray, lons: np.ndarray) -> np.ndarray:
    lat, lon = np.radians(lats), np.radians(lons)
    return np.column_stack((np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)))


def unit_vector(lat: float, lon: float) -> tuple[float, float, float]:
    """Return one point's unit vector (as ``unit_vectors``, without numpy's per-call cost)."""
    lat, lon = math.radians(lat), math.radians(lon)
    return (math.cos(lat) * math.cos(lon), math.cos(lat) * math.sin(lon), math.sin(lat))


def chord(radius_km: float) -> float:
    """Return the straight-line distance through a sphere for a great-circle distance."""
    return 2.0 * math.sin(min(radius_km / EARTH_RADIUS, math.pi) / 2.0)


def numeric_column(reader: IndexReader, field: str, dtype: type[np.generic]) -> np.ndarray:
    """Read a segment's numeric column whole into an array.

    Whoosh stores one fixed-width big-endian value per document, up to the last that is not
    the default; its reader unpacks them one call at a time (a second for 40,000 listings'
    columns, which a server pays for each new generation). Here one read does it.
    """
    column = reader.column_reader(field, translate=False)
    if not isinstance(column, columns.NumericColumn.Reader):
        return np.array(list(column), dtype=dtype)  # a column no document has: defaults
    stored = column._count * column._fixedlen
    values = np.frombuffer(column._dbfile.get(column._basepos, stored) if stored else b"",
                           dtype=">" + column._typecode)
    whole = np.full(column._doccount, column._default, dtype=dtype)
    whole[:len(values)] = values
    return whole


class SegmentData:
    """The arrays of one segment, independent of which generation's reader reads it."""

    def __init__(self, reader: IndexReader) -> None:
        self.size = reader.doc_count_all()
        self.ids = numeric_column(reader, "listing", np.int64)
        self.lats = numeric_column(reader, "lat", np.float64)
        self.lons = numeric_column(reader, "lon", np.float64)
        self.flags = numeric_column(reader, "flags", np.uint8)
        self.price_min = numeric_column(reader, "price_min", np.float64)
        self.certified_until = numeric_column(reader, "certified_until", np.int32)
        self.verified_on = numeric_column(reader, "verified_on", np.int32)
        self.tree = cKDTree(unit_vectors(self.lats, self.lons)) if self.size else None
        self.meta_rows = np.array(_postings(reader, "id", META_ID), dtype=np.int64)
        self._masks: OrderedDict[tuple[str, str], np.ndarray | None] = OrderedDict()
        self._scores: OrderedDict[ConceptKey, tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._seen: OrderedDict[ConceptKey, None] = OrderedDict()
        self._hours: dict[int, tuple[dict[str, Any], str, Holidays]] = {}
        self._terms: dict[str, list[str]] = {}
        self._value_tables: dict[str, tuple[list[str], np.ndarray]] = {}
        self._by_id: tuple[np.ndarray, np.ndarray] | None = None  # sorted ids, their rows
        self._lock = threading.Lock()

    def live(self, reader: IndexReader) -> np.ndarray:
        """Return which rows are searchable in this generation (not deleted, not the meta)."""
        alive = np.ones(self.size, dtype=bool)
        if reader.has_deletions():
            alive[np.fromiter(reader.deleted_docs_set, dtype=np.int64)] = False
        alive[self.meta_rows] = False
        return alive

    def rows_of(self, listing_ids: Sequence[int]) -> list[tuple[int, int]]:
        """Return (listing id, row) for each row holding one of these listings, live or not."""
        if self._by_id is None:
            order = np.argsort(self.ids, kind="stable")
            self._by_id = (self.ids[order], order)
        sorted_ids, rows = self._by_id
        wanted = np.asarray(listing_ids, dtype=np.int64)
        starts = np.searchsorted(sorted_ids, wanted, side="left")
        ends = np.searchsorted(sorted_ids, wanted, side="right")
        return [(int(listing_id), int(rows[i]))
                for listing_id, start, end in zip(wanted, starts, ends, strict=True)
                for i in range(start, end)]

    def within(self, lat: float, lon: float, radius_km: float) -> np.ndarray:
        """Return the rows within a spherical radius (a superset, by the prefilter slack)."""
        if self.tree is None:
            return np.zeros(0, dtype=np.int64)
        found = self.tree.query_ball_point(unit_vector(lat, lon),
                                           chord(radius_km * geo.PREFILTER_SLACK + 0.1),
                                           return_sorted=True)
        return np.array(found, dtype=np.int64)

    def terms(self, reader: IndexReader, field: str) -> list[str]:
        """Return the distinct values of a keyword field in this segment."""
        found = self._terms.get(field)
        if found is None:
            found = self._terms[field] = [term.decode("utf-8")
                                          for term in reader.lexicon(field)]
        return found

    def has(self, reader: IndexReader, field: str, key: str, rows: np.ndarray) -> np.ndarray:
        """Return which of ``rows`` contain the term ``key`` in ``field``."""
        bits = self._mask(reader, field, key)
        if bits is None:
            return np.zeros(len(rows), dtype=bool)
        result: np.ndarray = ((bits[rows >> 3] >> (7 - (rows & 7))) & 1).astype(bool)
        return result

    def counts(self, reader: IndexReader, field: str, rows: np.ndarray) -> dict[str, int]:
        """Return how many of ``rows`` hold each value of a keyword field (values none hold
        left out)."""
        terms, held = self._values(reader, field)
        if not len(rows) or not terms:
            return {}
        totals = held[rows].sum(axis=0, dtype=np.int64)
        return {term: int(total) for term, total in zip(terms, totals, strict=True) if total}

    def _values(self, reader: IndexReader, field: str) -> tuple[list[str], np.ndarray]:
        """Return a keyword field's values and a (rows x values) table of who holds which,
        built once: counting a facet is then one sum over the rows searched."""
        found = self._value_tables.get(field)
        if found is None:
            terms = self.terms(reader, field)
            held = np.zeros((self.size, len(terms)), dtype=np.uint8)
            for column, term in enumerate(terms):
                bits = self._mask(reader, field, term)
                if bits is not None:
                    held[:, column] = np.unpackbits(bits)[:self.size]
            with self._lock:
                found = self._value_tables[field] = (terms, held)
        return found

    def prepare(self, reader: IndexReader, concept: Concept) -> None:
        """Build a concept's scores now rather than on its first searches."""
        key = concept_key(concept)
        scores = _score(self, reader, key, np.arange(self.size, dtype=np.int64))
        with self._lock:
            self._remember(key, scores)

    def scores(self, reader: IndexReader, concept: Concept, rows: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray]:
        """Return a concept's score for each of ``rows`` and its best alternative's position.

        The score is the best field weight times kind factor of any alternative a row holds
        (0: none), as ``ranking.text_relevance`` scores it.
        """
        key = concept_key(concept)
        with self._lock:
            cached = self._scores.get(key)
            if cached is not None:
                self._scores.move_to_end(key)
            again = key in self._seen
            self._seen[key] = None
            if len(self._seen) > 16 * SCORE_CACHE:
                self._seen.popitem(last=False)
        if cached is None and not again:
            return _score(self, reader, key, rows)  # a one-off: score the candidates only
        if cached is None:
            cached = _score(self, reader, key, np.arange(self.size, dtype=np.int64))
            with self._lock:
                self._remember(key, cached)
        score, best = cached
        return score[rows], best[rows]

    def _remember(self, key: ConceptKey, scores: tuple[np.ndarray, np.ndarray]) -> None:
        self._scores[key] = scores
        if len(self._scores) > SCORE_CACHE:
            self._scores.popitem(last=False)

    def _mask(self, reader: IndexReader, field: str, key: str) -> np.ndarray | None:
        with self._lock:
            if (field, key) in self._masks:
                self._masks.move_to_end((field, key))
                return self._masks[(field, key)]
        rows = _postings(reader, field, key)
        bits = None
        if rows:
            mask = np.zeros(self.size, dtype=bool)
            mask[rows] = True
            bits = np.packbits(mask)
        with self._lock:
            self._masks[(field, key)] = bits
            if len(self._masks) > MASK_CACHE:
                self._masks.popitem(last=False)
        return bits

    def hours(self, reader: IndexReader, row: int) -> tuple[dict[str, Any], str, Holidays]:
        """Return a row's weekly hours, timezone and holiday hours."""
        if row not in self._hours:
            hours, timezone, holidays = reader.stored_fields(row)["hours"]
            self._hours[row] = (hours, timezone, holidays)
        return self._hours[row]


# What a concept's scores depend on: each alternative's keys and kind, in order.
ConceptKey = tuple[tuple[tuple[str, ...], str], ...]


def concept_key(concept: Concept) -> ConceptKey:
    return tuple((alternative.keys, alternative.kind) for alternative in concept.alternatives)


def _score(data: SegmentData, reader: IndexReader, key: ConceptKey, rows: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray]:
    score = np.zeros(len(rows))
    best = np.full(len(rows), -1, dtype=np.int16)
    for position, (keys, kind) in enumerate(key):
        factor = KIND_FACTORS[kind]
        for weight, fields in FIELD_CLASSES:
            value = weight * factor
            better = score < value
            if not better.any():
                continue
            for term in keys:
                held = data.has(reader, fields[0], term, rows)
                for field in fields[1:]:
                    held |= data.has(reader, field, term, rows)
                better &= held
            score[better] = value
            best[better] = position
    return score, best


def _postings(reader: IndexReader, field: str, key: str) -> list[int]:
    """Return the segment-local ids of the documents holding a term."""
    if not reader.doc_frequency(field, key):
        return []
    matcher = reader.postings(field, key)
    if not isinstance(matcher, W3LeafMatcher):  # e.g. wrapped to hide deletions
        return list(matcher.all_ids())
    # Whole blocks at a time: over twice as fast as Whoosh's id-by-id iteration, which
    # matters when a common term is first searched in a large segment.
    ids: list[int] = []
    while matcher.is_active():
        matcher._read_ids()
        ids.extend(matcher._ids)
        if matcher._lastblock:
            break
        matcher._next_block()
    return ids


@dataclass
class Candidates:
    """What one segment contributes to a search, before the exact distance check.

    Distances are computed once for the candidates of every segment together: their
    vectorised computation has a fixed cost that would otherwise be paid per segment.
    """

    ids: np.ndarray
    lats: np.ndarray
    lons: np.ndarray
    text: np.ndarray
    best: np.ndarray  # (concepts, candidates): position of the best alternative
    verified_on: np.ndarray
    radius_km: float  # the exact radius they must be within (inf: no radius)

    @classmethod
    def none(cls, concepts: int) -> Candidates:
        return cls(np.zeros(0, dtype=np.int64), np.zeros(0), np.zeros(0), np.zeros(0),
                   np.zeros((concepts, 0), dtype=np.int16), np.zeros(0, dtype=np.int32), 0.0)


# A segment's live rows within a spherical superset of a radius that match every keyword,
# with their text relevance and best alternatives (see ``_match_text``).
TextMatch = tuple[np.ndarray, np.ndarray, np.ndarray]


def match_text(data: SegmentData, reader: IndexReader, alive: np.ndarray, lat: float,
               lon: float, radius_km: float | None, concepts: Sequence[Concept]) -> TextMatch:
    """Return the live rows around a point (anywhere: no radius) matching the keywords."""
    if radius_km is not None:
        rows = data.within(lat, lon, radius_km)
        rows = rows[alive[rows]]
    else:
        rows = np.flatnonzero(alive)
    return _match_text(data, reader, rows, concepts)


def match_segment(data: SegmentData, reader: IndexReader, alive: np.ndarray,
                  request: MatchQuery, concepts: Sequence[Concept],
                  matched: TextMatch | None = None) -> Candidates:
    """Match a query against one segment, within a spherical superset of the radius;
    ``matched`` is its ``match_text``, when already known."""
    radius_km = request.radius_km
    if request.nearest is not None and data.tree is not None:
        radius_km = _nearest_radius(data, reader, alive, request, concepts)
        if radius_km is None:
            return Candidates.none(len(concepts))
    rows, text, best = matched or match_text(data, reader, alive, request.lat, request.lon,
                                             radius_km, concepts)
    keep = _filter(data, reader, rows, request.filters)
    rows, text, best = rows[keep], text[keep], best[:, keep]
    return Candidates(data.ids[rows], data.lats[rows], data.lons[rows], text, best,
                      data.verified_on[rows],
                      np.inf if radius_km is None else radius_km)


def facet_segment(data: SegmentData, reader: IndexReader, alive: np.ndarray,
                  request: MatchQuery, names: Sequence[str],
                  matched: TextMatch | None = None) -> dict[str, dict[str, int]]:
    """Count one segment's matches per value of each facet, each without its own filter;
    ``matched`` is its ``match_text``, when already known."""
    assert request.radius_km is not None
    rows, _text, _best = matched or match_text(data, reader, alive, request.lat, request.lon,
                                               request.radius_km, request.concepts)
    rows = rows[geo.within_km(request.lat, request.lon, data.lats[rows], data.lons[rows],
                              request.radius_km)]
    masks = filter_masks(data, reader, rows, request.filters)
    if request.filters.open_at is not None:
        others = np.ones(len(rows), dtype=bool)  # "open now" is read for the rows that can count
        for name, mask in masks.items():
            if name not in {FACETS[facet] for facet in names}:
                others &= mask
        masks["open_at"] = _open(data, reader, rows, others, request.filters.open_at)
    counts = {}
    for name in names:
        keep = np.ones(len(rows), dtype=bool)
        for filter_name, mask in masks.items():
            if filter_name != FACETS[name]:
                keep &= mask
        counts[name] = data.counts(reader, name, rows[keep])
    return counts


def _open(data: SegmentData, reader: IndexReader, rows: np.ndarray, among: np.ndarray,
          at: datetime) -> np.ndarray:
    """Which of ``rows`` (of those marked in ``among``) are open at ``at``."""
    result = np.zeros(len(rows), dtype=bool)
    for position in np.flatnonzero(among):
        hours, timezone, holidays = data.hours(reader, int(rows[position]))
        result[position] = is_open(hours, timezone, at, holidays)
    return result


def _nearest_radius(data: SegmentData, reader: IndexReader, alive: np.ndarray,
                    request: MatchQuery, concepts: Sequence[Concept]) -> float | None:
    """Return a radius holding the ``request.nearest`` nearest matches within the request's
    radius, if any (None: no match).

    Looks at ever more of the nearest listings (by the KD-tree, never beyond the radius)
    until enough of them match, so "the nearest" never has to match the whole directory.
    """
    assert data.tree is not None and request.nearest is not None
    origin = unit_vector(request.lat, request.lon)
    bound = (np.inf if request.radius_km is None
             else chord(request.radius_km * geo.PREFILTER_SLACK + 0.1))
    looked = 4 * request.nearest
    while True:
        count = min(looked, data.size)
        _, found = data.tree.query(origin, k=count, distance_upper_bound=bound)
        found = np.atleast_1d(found).astype(np.int64)
        exhausted = count == data.size or found[-1] == data.size  # data.size: none left
        rows = np.sort(found[found < data.size])
        rows = rows[alive[rows]]
        rows, _text, _best = _match_text(data, reader, rows, concepts)
        rows = rows[_filter(data, reader, rows, request.filters)]
        if len(rows) >= request.nearest or exhausted:
            break
        looked *= 8
    if not len(rows):
        return None
    if len(rows) < request.nearest and request.radius_km is not None:
        return request.radius_km
    distance = np.sort(geo.geodesic_km_many(request.lat, request.lon, data.lats[rows],
                                            data.lons[rows]))
    nearest = float(distance[min(request.nearest, len(distance)) - 1]) + 1e-6
    return nearest if request.radius_km is None else min(nearest, request.radius_km)


def _match_text(data: SegmentData, reader: IndexReader, rows: np.ndarray,
                concepts: Sequence[Concept]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Keep the rows matching every concept; score them as ``ranking.text_relevance`` does."""
    if not concepts:
        return rows, np.ones(len(rows)), np.zeros((0, len(rows)), dtype=np.int16)
    total = np.zeros(len(rows))
    bests: list[np.ndarray] = []
    for concept in concepts:
        score, best = data.scores(reader, concept, rows)
        found = score > 0
        rows, total, score, best = rows[found], total[found], score[found], best[found]
        bests = [b[found] for b in bests] + [best]
        total += score
    return rows, total / len(concepts), np.array(bests, dtype=np.int16).reshape(
        len(concepts), len(rows))


def _filter(data: SegmentData, reader: IndexReader, rows: np.ndarray,
            filters: Filters) -> np.ndarray:
    keep = np.ones(len(rows), dtype=bool)
    for mask in filter_masks(data, reader, rows, filters).values():
        keep &= mask
    if filters.open_at is not None:  # last: it reads each remaining listing's hours
        keep = _open(data, reader, rows, keep, filters.open_at)
    return keep


def filter_masks(data: SegmentData, reader: IndexReader, rows: np.ndarray,
                 filters: Filters) -> dict[str, np.ndarray]:
    """Return, for each filter in use but "open now", which of ``rows`` pass it."""
    masks = {}
    for name, bit in (("telehealth", TELEHEALTH), ("accepting_new_patients", ACCEPTING),
                      ("direct_access", DIRECT_ACCESS), ("home_visits", HOME_VISITS)):
        wanted = getattr(filters, name)
        if wanted is not None:
            masks[name] = ((data.flags[rows] & bit) != 0) == wanted
    for field, names in (("insurance", filters.insurance), ("language", filters.language)):
        if names is not None:
            held = np.zeros(len(rows), dtype=bool)
            for name in names:
                held |= data.has(reader, field, name, rows)
            masks[field] = held
    for field in ID_FIELDS:
        wanted_id = getattr(filters, field)
        if wanted_id is not None:
            masks[field] = data.has(reader, field, wanted_id, rows)
    if filters.max_price is not None:
        masks["max_price"] = data.price_min[rows] <= filters.max_price
    if filters.certified_on is not None:
        masks["certified_on"] = data.certified_until[rows] >= filters.certified_on.toordinal()
    if filters.country is not None:
        masks["country"] = data.has(reader, "country", filters.country, rows)
    return masks
