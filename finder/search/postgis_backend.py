"""The ``postgis`` search backend: search inside PostgreSQL, for deployments of many servers.

Its tables (migration 0003) are derived from the listings, like the Whoosh index, and caught
up from ``index_change`` by whichever process takes the advisory lock, in the transaction that
also records how far they are applied: every server searches the same data and keeps nothing
on local disk, and searches may go to a read replica.

A listing's text is stored as the keys the Whoosh index holds (``documents.text_words``: the
analysed words and their runs), in one ``tsvector`` whose weight labels are the field classes
of ``ranking.FIELD_CLASSES``. A concept then matches through a GIN index, and a ``CASE`` over
its alternatives and classes, in the order the first match wins, says which one scored: the
backends match, score and rank alike. The radius and nearest-first use a GiST index on a
geography column; exact distances are computed as the other backend computes them.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event
from typing import Any

import numpy as np
import orjson
import sqlalchemy as sa
from flask import Flask

from .. import geo
from ..db import copy_rows, get_database
from ..errors import ConfigError, SearchUnavailable
from ..hours import is_open
from ..listings import public_json
from ..models import IndexChange, Location, Status
from ..trust.verification import indexed_day
from . import FACETS, Applied, Matches, MatchQuery, spelling
from .children import die_with_parent
from .documents import (
    FORMAT_VERSION,
    ID_FIELDS,
    Indexed,
    certified_through,
    indexed,
    normalize_keyword,
    spell_keys,
    spell_text,
    text_fields,
    text_words,
)
from .query import Concept, parse
from .ranking import FIELD_CLASSES, KIND_FACTORS

logger = logging.getLogger(__name__)
CHANGE_LOCK = 0x66696E65  # advisory lock held by the one process applying changes
LABELS = "ABCD"  # PostgreSQL's weight labels, one per field class
POSITIONS = {label: str(position) for position, label in enumerate(LABELS, 1)}
REFRESH_INTERVAL = 0.25  # seconds between checks whether the searched data changed
CATCH_UP_INTERVAL = 1.0  # seconds between checks for unapplied changes
FOLLOW_INTERVAL = 0.1  # seconds an import's indexing process waits for its next batch
BATCH = 2000
# Changes after which the searched tables are vacuumed and their statistics renewed at once,
# rather than whenever autovacuum gets to it: without statistics a keyword common to most
# listings looks rare, and until a vacuum marks the new rows visible to every transaction
# each search checks them one by one (a search took half as long again).
SETTLE_AFTER = 5000
# What searches read (``search_document``), and what only the page and catch-up read
# (``search_listing``: the public JSON and the spelling words), apart so that the rows
# searched stay small enough to be kept uncompressed (migration 0010).
COLUMNS = ("id", "geog", "lat", "lon", "keys", "insurance", "languages", "telehealth",
           "accepting_new_patients", "hours", "timezone", "techniques",
           "accessibility", "age_groups", "direct_access", "home_visits", "price_min",
           "certified_until", "verified_on", "country")
LISTING_COLUMNS = ("id", "listing", "words")
# Listings nearest the origin looked through for its nearest matches before the indexes are
# asked for every match of the radius (see ``_Query.walk``).
WALK = 500
FACET_COLUMNS = {**ID_FIELDS, "insurance": "insurance", "language": "languages"}
_ORIGIN = "ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)::geography"

assert len(FIELD_CLASSES) <= len(LABELS), "PostgreSQL has four weight labels"


def _open_at(row: sa.Row[Any], at: datetime) -> bool:
    """Whether a document row (its hours stored as [week, holidays]) is open at ``at``."""
    week, holidays = orjson.loads(row.hours)
    return is_open(week, row.timezone, at, holidays)


def lexeme(key: str) -> str:
    """Quote a key as a tsvector or tsquery lexeme."""
    return "'" + key.replace("\\", "\\\\").replace("'", "''") + "'"


Row = tuple[Any, ...]


def document_rows(location: Indexed) -> tuple[Row, Row]:
    """Return the ``search_document`` and ``search_listing`` rows of a published location,
    in ``COLUMNS`` and ``LISTING_COLUMNS`` order."""
    texts = text_fields(location)
    labels: dict[str, list[str]] = {}
    for label, (_weight, names) in zip(LABELS, FIELD_CLASSES, strict=False):
        for key in set().union(*(text_words(texts[name]) for name in names)):
            labels.setdefault(key, []).append(POSITIONS[label] + label)
    # Weights are kept per position, so each label gets one (A at 1, B at 2, ...).
    keys = " ".join(f"{lexeme(key)}:{','.join(found)}" for key, found in labels.items())
    words = sorted(word.decode("utf-8")
                   for word in spell_keys(spell_text(texts)))
    listing = orjson.dumps(public_json(location)).decode("utf-8")
    return (
        location.id,
        f"SRID=4326;POINT({location.longitude!r} {location.latitude!r})",
        location.latitude,
        location.longitude,
        keys,
        [normalize_keyword(name) for name in location.insurance],
        [normalize_keyword(name) for name in location.languages],
        location.telehealth,
        location.accepting_new_patients,
        orjson.dumps([location.hours, location.holiday_hours]).decode("utf-8"),
        location.timezone,
        location.techniques,
        location.accessibility,
        location.age_groups,
        bool(location.direct_access),
        bool(location.home_visits),
        float(location.self_pay_price["min"]) if location.self_pay_price else None,
        certified_through(location),
        indexed_day(location.last_verified, location.created_at, location.flagged_at),
        location.country,
    ), (location.id, listing, words)


# One way a concept can score: (score, position of its alternative, tsquery).
Branch = tuple[float, int, str]


def branches(concept: Concept) -> list[Branch]:
    """Return every (alternative, field class) of a concept, the one that scores first."""
    found = [(weight * KIND_FACTORS[alternative.kind], position,
              " & ".join(f"{lexeme(key)}:{label}" for key in alternative.keys))
             for position, alternative in enumerate(concept.alternatives)
             for label, (weight, _names) in zip(LABELS, FIELD_CLASSES, strict=False)]
    return sorted(found, key=lambda branch: (-branch[0], branch[1]))


def concept_query(concept: Concept) -> str:
    """Return the tsquery a listing must match to hold the concept in some field class."""
    parts = []
    for alternative in concept.alternatives:
        if len(alternative.keys) == 1:  # any label will do
            parts.append(lexeme(alternative.keys[0]))
        else:  # every run of a long phrase in the same class
            parts.extend(f"({' & '.join(f'{lexeme(key)}:{label}' for key in alternative.keys)})"
                         for label in LABELS[:len(FIELD_CLASSES)])
    return " | ".join(parts)


class _Query:
    """The SQL of one match: its conditions, its selected scores and their parameters."""

    def __init__(self, request: MatchQuery, concepts: list[Concept]) -> None:
        self.params: dict[str, Any] = {"lat": request.lat, "lon": request.lon}
        self.where: list[str] = []
        self.scores: list[str] = []
        self.branches = [branches(concept) for concept in concepts]
        for i, (concept, found) in enumerate(zip(concepts, self.branches, strict=True)):
            self.where.append(f"keys @@ CAST(:c{i} AS tsquery)")
            self.params[f"c{i}"] = concept_query(concept)
            cases = []
            for j, branch in enumerate(found):
                cases.append(f"WHEN keys @@ CAST(:c{i}_{j} AS tsquery) THEN {j}")
                self.params[f"c{i}_{j}"] = branch[2]
            self.scores.append(f"CASE {' '.join(cases)} END")
        filters = request.filters
        for name, wanted in (("telehealth", filters.telehealth),
                             ("accepting_new_patients", filters.accepting_new_patients)):
            if wanted is not None:
                self.where.append(f"{name} = :{name}")
                self.params[name] = wanted
        for name, column, names in (("insurance", "insurance", filters.insurance),
                                      ("language", "languages", filters.language)):
            if names is not None:
                self.where.append(f"{column} && CAST(:{name} AS text[])")
                self.params[name] = list(names)
        for name, column in ID_FIELDS.items():
            if getattr(filters, name) is not None:
                self.where.append(f"CAST(:{name} AS text) = ANY({column})")
                self.params[name] = getattr(filters, name)
        for name in ("direct_access", "home_visits"):
            if getattr(filters, name) is not None:
                self.where.append(f"{name} = :{name}")
                self.params[name] = getattr(filters, name)
        if filters.max_price is not None:
            self.where.append("price_min <= :max_price")
            self.params["max_price"] = filters.max_price
        if filters.certified_on is not None:
            self.where.append("certified_until >= :certified_on")
            self.params["certified_on"] = filters.certified_on
        if filters.country is not None:
            self.where.append("country = :country")
            self.params["country"] = filters.country
        self.open_at = filters.open_at

    def select(self, radius_km: float | None, nearest: int | None = None,
               extra: Sequence[str] = ()) -> sa.TextClause:
        where = list(self.where)
        if radius_km is not None:
            # A spherical superset of the radius; exact distances are checked afterwards.
            # Not ST_DWithin: PostGIS declares it ten thousand times costlier than a keyword
            # match, so the planner would match a common keyword across the whole table
            # (tens of thousands of rows, 6 ms at 100k) to spare it a few hundred calls.
            where.append(f"geog && _ST_Expand({_ORIGIN}, :metres) "
                         f"AND geog <-> {_ORIGIN} <= :metres")
            self.params["metres"] = _superset_metres(radius_km)
        sql = f"SELECT {', '.join(self._columns(extra))} FROM search_document"
        if where:
            sql += " WHERE " + " AND ".join(where)
        if nearest is not None:
            sql += f" ORDER BY geog <-> {_ORIGIN} LIMIT :nearest"
            self.params["nearest"] = nearest
        return sa.text(sql)

    def walk(self, radius_km: float | None, nearest: int) -> sa.TextClause:
        """Select the first ``nearest`` matches among the ``WALK`` listings nearest the origin
        (within the radius), in the GiST index's distance order.

        Where matches are common this reads a few dozen rows, where the planner, misled by
        its estimate of how many rows ``ST_DWithin`` keeps, would match every listing of the
        radius and sort them. The inner query holds no condition but the radius' bounding
        box (which the planner estimates well), so it reads the index nearest first unless
        the box holds so few listings that sorting them costs less.
        """
        inner, where = "", list(self.where)
        if radius_km is not None:
            self.params["metres"] = _superset_metres(radius_km)
            inner = f" WHERE geog && _ST_Expand({_ORIGIN}, :metres)"
            where.append("sphere <= :metres")
        sql = (f"SELECT {', '.join(self._columns())} FROM (SELECT *, geog <-> {_ORIGIN} "
               f"AS sphere FROM search_document{inner} ORDER BY sphere LIMIT {WALK}) AS near")
        if where:
            sql += " WHERE " + " AND ".join(where)
        self.params["nearest"] = nearest
        return sa.text(sql + " LIMIT :nearest")

    def _columns(self, extra: Sequence[str] = ()) -> list[str]:
        columns = ["id", "lat", "lon", "verified_on", *self.scores, *extra]
        if self.open_at is not None:
            columns += ["hours", "timezone"]
        return columns

    def open_rows(self, rows: Sequence[sa.Row[Any]]) -> Sequence[sa.Row[Any]]:
        """Keep the rows open at the requested time (all of them when none is asked)."""
        if self.open_at is None:
            return rows
        return [row for row in rows if _open_at(row, self.open_at)]


@contextmanager
def _translated() -> Iterator[None]:
    try:
        yield
    except sa.exc.OperationalError as exc:
        raise SearchUnavailable(
            "The search database cannot be reached; try again shortly.") from exc


class PostgisBackend:
    name = "postgis"
    applies_in_requests = True

    def __init__(self, engine: sa.Engine, read_engine: sa.Engine | None = None) -> None:
        self._engine = engine
        # Searches only read: without a transaction, a statement costs one round trip
        # rather than three (BEGIN, the statement, ROLLBACK when the connection is returned).
        self._read_engine = (read_engine or engine).execution_options(
            isolation_level="AUTOCOMMIT")
        self._caught_up_at = 0.0
        self._checked_at = 0.0
        self._applied_seq = -1
        self._corrected: dict[Concept, tuple[Concept, str]] = {}
        self._held = threading.local()  # the connection ``reading`` holds, per thread

    @classmethod
    def from_app(cls, app: Flask) -> PostgisBackend:
        database = get_database(app)
        if database.engine.dialect.name != "postgresql":
            raise ConfigError(
                "FINDER_SEARCH_BACKEND=postgis searches in PostgreSQL: set FINDER_DATABASE_URL "
                "to a PostgreSQL database with PostGIS (postgresql+psycopg://...)")
        return cls(database.engine, database.read_engine)

    def close(self) -> None:
        """Nothing to release: the database's engines belong to the app."""

    # -- reading ---------------------------------------------------------------------------

    @contextmanager
    def reading(self) -> Iterator[None]:
        """Read the block's searches through one connection: each checkout of a pooled
        connection costs a round trip to check that it still works."""
        if getattr(self._held, "connection", None) is not None:
            yield
            return
        with _translated():
            connection = self._read_engine.connect()
        self._held.connection = connection
        try:
            yield
        finally:
            self._held.connection = None
            connection.close()

    @contextmanager
    def _connection(self) -> Iterator[sa.Connection]:
        """The connection ``reading`` holds, or one of the pool's for the block."""
        held = getattr(self._held, "connection", None)
        with _translated():
            if held is not None:
                yield held
                return
            with self._read_engine.connect() as connection:
                yield connection

    def match(self, request: MatchQuery) -> Matches:
        if self.applies_in_requests and \
                time.monotonic() - self._caught_up_at >= CATCH_UP_INTERVAL:
            try:
                self.catch_up(limit=BATCH)
            except SearchUnavailable:
                # The primary is down: a replica still answers, from what it has replayed.
                logger.warning("could not apply listing changes", exc_info=True)
        with self._connection() as connection:
            concepts, corrections = (self._correct(connection, request.concepts)
                                    if request.correct else (request.concepts, {}))
            query = _Query(request, concepts)
            radius_km = request.radius_km
            rows: Sequence[sa.Row[Any]] = []
            if request.nearest is not None:
                radius_km = _nearest_radius(connection, query, request)  # None: no match
            if radius_km is not None or request.nearest is None:  # None here: everywhere
                rows = query.open_rows(connection.execute(query.select(radius_km),
                                                          query.params).all())
        if not rows:
            empty = Matches.empty(concepts)
            empty.corrections = corrections
            return empty
        columns = list(zip(*rows, strict=True))
        ids = np.array(columns[0], dtype=np.int64)
        distance = geo.geodesic_km_many(request.lat, request.lon,
                                        np.array(columns[1], dtype=np.float64),
                                        np.array(columns[2], dtype=np.float64))
        total = np.zeros(len(rows))
        best = np.zeros((len(concepts), len(rows)), dtype=np.int16)
        for i, found in enumerate(query.branches):
            chosen = np.array(columns[4 + i], dtype=np.int64)
            total += np.array([branch[0] for branch in found])[chosen]
            best[i] = np.array([branch[1] for branch in found], dtype=np.int16)[chosen]
        text = total / len(concepts) if concepts else np.ones(len(rows))
        inside = distance <= (np.inf if radius_km is None else radius_km)
        verified_on = np.array(columns[3], dtype=np.int32)
        return Matches(ids[inside], distance[inside], text[inside], best[:, inside],
                       verified_on[inside], concepts, corrections)

    def facets(self, request: MatchQuery, names: Sequence[str]) -> dict[str, dict[str, int]]:
        assert request.radius_km is not None
        counts: dict[str, dict[str, int]] = {}
        with self._connection() as connection:
            for name in names:
                own = {FACETS[name]: None}
                query = _Query(replace(request, filters=replace(request.filters, **own)),
                               request.concepts)
                column = FACET_COLUMNS[name]
                rows = query.open_rows(connection.execute(
                    query.select(request.radius_km, extra=[column]), query.params).all())
                if not rows:
                    counts[name] = {}
                    continue
                inside = geo.within_km(
                    request.lat, request.lon, np.array([row.lat for row in rows]),
                    np.array([row.lon for row in rows]), request.radius_km)
                found: Counter[str] = Counter()
                for row, kept in zip(rows, inside, strict=True):
                    if kept:
                        found.update(getattr(row, column))
                counts[name] = dict(found)
        return counts

    def listings(self, ids: list[int]) -> dict[int, dict[str, Any]]:
        with self._connection() as connection:
            rows = connection.execute(
                sa.text("SELECT id, listing FROM search_listing WHERE id = ANY(:ids)"),
                {"ids": list(ids)})
            return {row.id: orjson.loads(row.listing) for row in rows}

    def warm_up(self, queries: Iterable[str]) -> None:
        """Open a connection and check the spelling of likely queries' words."""
        with self._connection() as connection:
            self._correct(connection, [concept for text in queries for concept in parse(text)])

    def _correct(self, connection: sa.Connection, concepts: list[Concept]
                 ) -> tuple[list[Concept], dict[str, str]]:
        """Add spelling corrections to one-word concepts that no listing contains."""
        now = time.monotonic()
        if now - self._checked_at >= REFRESH_INTERVAL:
            self._checked_at = now
            applied = connection.scalar(sa.text("SELECT applied_seq FROM search_state"))
            if applied != self._applied_seq:
                self._applied_seq, self._corrected = applied, {}
        contains, vocabulary = _contains(connection), _vocabulary(connection)
        return spelling.correct_all(
            concepts, self._corrected,
            lambda concept: spelling.correct(concept, contains, vocabulary))

    def applied_seq(self) -> int:
        with self._connection() as connection:
            return int(connection.scalar(sa.text("SELECT applied_seq FROM search_state")) or 0)

    def refresh(self) -> None:
        pass  # every query reads the tables as committed

    # -- writing ---------------------------------------------------------------------------

    @contextmanager
    def indexing_alongside(self, commit_every: float | None = None) -> Iterator[Applied]:
        """Apply changes as they are committed, in a second process, while the block runs.

        An import then shares the machine's cores with the making of its search rows (the
        analysis of each listing's text, most of an import's work after its checks) rather
        than doing one after the other. Rows are searchable as each batch is applied, so
        ``commit_every`` changes nothing; whatever is not applied when the block ends (or if
        the process fails) is left to ``catch_up``.
        """
        context = multiprocessing.get_context("fork")
        stop = context.Event()
        count = context.Value("q", 0)
        follower = context.Process(target=self._follow, args=(stop, os.getpid(), count),
                                   name="finder-indexer", daemon=True)
        follower.start()
        applied = Applied()
        try:
            yield applied
        finally:
            stop.set()
            follower.join()
            applied.count = count.value

    def _follow(self, stop: Event, parent: int, count: Synchronized[int]) -> None:
        die_with_parent()
        for engine in (self._engine, self._read_engine.engine):
            engine.dispose(close=False)  # the parent's connections stay the parent's
        try:
            while True:
                stopping = stop.is_set() or os.getppid() != parent
                applied = self.catch_up(limit=BATCH)
                count.value += applied
                if applied:
                    continue
                if stopping:
                    break
                stop.wait(FOLLOW_INTERVAL)
            if count.value >= SETTLE_AFTER:  # applied a batch at a time, each below the mark
                self._settle()
        except SearchUnavailable:  # the import reports it; its catch-up applies the rest
            logger.warning("could not apply the import's changes alongside it", exc_info=True)

    def catch_up(self, limit: int | None = None, yield_to_imports: bool = False) -> int:
        """Apply the changes recorded after ``search_state.applied_seq``; return how many.

        One process applies changes at a time (an advisory lock); the others leave the work
        to it. Imports do not index alongside here, so ``yield_to_imports`` changes nothing.
        Tables of another format are rebuilt instead.
        """
        self._caught_up_at = time.monotonic()
        with _translated(), self._engine.begin() as connection:
            applied = _apply_changes(connection, limit)
        if applied >= SETTLE_AFTER:
            self._settle()
        return applied

    def rebuild(self, progress: Callable[[int], None] | None = None) -> int:
        """Replace the search tables' contents with the published locations, atomically."""
        with _translated(), self._engine.begin() as connection:
            connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"),
                               {"key": CHANGE_LOCK})
            count = _rebuild(connection, progress)
        self._settle()
        return count

    def _settle(self) -> None:
        """Vacuum the searched tables and renew their statistics (see SETTLE_AFTER)."""
        with _translated(), self._engine.execution_options(
                isolation_level="AUTOCOMMIT").connect() as connection:
            connection.execute(sa.text("VACUUM (ANALYZE) search_document, search_listing"))


def _apply_changes(connection: sa.Connection, limit: int | None) -> int:
    """Apply the changes after ``search_state.applied_seq`` (at most ``limit``) unless
    another process holds the lock; rebuild the tables of another format. Return how many."""
    if not connection.scalar(sa.text("SELECT pg_try_advisory_xact_lock(:key)"),
                             {"key": CHANGE_LOCK}):
        return 0  # another process is applying them
    applied, version = connection.execute(
        sa.text("SELECT applied_seq, format_version FROM search_state")).one()
    if version != FORMAT_VERSION:
        return _rebuild(connection, None)
    changes = connection.execute(
        sa.select(IndexChange.seq, IndexChange.location_id)
        .where(IndexChange.seq > applied).order_by(IndexChange.seq).limit(limit)).all()
    if not changes:
        return 0
    ids = list(dict.fromkeys(change.location_id for change in changes))
    for start in range(0, len(ids), BATCH):
        _replace(connection, ids[start:start + BATCH])
    connection.execute(sa.text("UPDATE search_state SET applied_seq = :seq"),
                       {"seq": changes[-1].seq})
    return len(changes)


def _contains(connection: sa.Connection) -> spelling.Contains:
    def contains(tokens: list[str]) -> bool:
        if not tokens:
            return False
        return bool(connection.scalar(
            sa.text("SELECT EXISTS (SELECT 1 FROM search_document "
                    "WHERE keys @@ CAST(:query AS tsquery))"),
            {"query": " | ".join(lexeme(token) for token in tokens)}))

    return contains


def _vocabulary(connection: sa.Connection) -> spelling.Vocabulary:
    def vocabulary(first: str, shortest: int, longest: int) -> Iterable[tuple[str, int]]:
        prefix = first.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        rows = connection.execute(
            sa.text("SELECT word, listings FROM search_word WHERE word LIKE :prefix "
                    "AND length(word) BETWEEN :shortest AND :longest"),
            {"prefix": prefix, "shortest": shortest, "longest": longest})
        return [(row.word, row.listings) for row in rows]

    return vocabulary


def _superset_metres(radius_km: float) -> float:
    return (radius_km * geo.PREFILTER_SLACK + 0.1) * 1000.0


def _nearest_radius(connection: sa.Connection, query: _Query,
                    request: MatchQuery) -> float | None:
    """Return a radius holding the ``request.nearest`` nearest matches within the request's
    radius, if any (None: no match).

    The nearest by the GiST index's spherical distance, among the nearest listings first
    (``_Query.walk``); the radius search that follows finds any that the exact distance
    would order differently.
    """
    assert request.nearest is not None
    wanted, bound = request.nearest, request.radius_km
    looked = wanted if query.open_at is None else 4 * wanted  # "open now" is checked here
    found = connection.execute(query.walk(bound, looked), query.params).all()
    rows = query.open_rows(found)
    if len(rows) < wanted:  # matches are rare near the origin, or few are open now
        looked *= 8 if len(found) == looked else 1
        while True:
            found = connection.execute(query.select(bound, nearest=looked), query.params).all()
            rows = query.open_rows(found)
            if len(rows) >= wanted or len(found) < looked:
                break
            looked *= 8
    if not rows:
        return None
    if len(rows) < wanted and bound is not None:
        return bound
    distance = np.sort(geo.geodesic_km_many(
        request.lat, request.lon, np.array([row.lat for row in rows], dtype=np.float64),
        np.array([row.lon for row in rows], dtype=np.float64)))
    nearest = float(distance[min(wanted, len(distance)) - 1]) + 1e-6
    return nearest if bound is None else min(nearest, bound)


def _documents(connection: sa.Connection, ids: list[int]) -> list[tuple[Row, Row]]:
    return [document_rows(location) for location in indexed(connection, ids)
            if location.status == Status.PUBLISHED]


def _copy(connection: sa.Connection, rows: list[tuple[Row, Row]]) -> None:
    for table, columns, part in (("search_document", COLUMNS, 0),
                                 ("search_listing", LISTING_COLUMNS, 1)):
        copy_rows(connection, table, columns, (row[part] for row in rows))


def _replace(connection: sa.Connection, ids: list[int]) -> None:
    """Bring these locations' documents (and the vocabulary's counts) up to date."""
    counts: Counter[str] = Counter()
    connection.execute(sa.text("DELETE FROM search_document WHERE id = ANY(:ids)"),
                       {"ids": ids})
    for words in connection.scalars(
            sa.text("DELETE FROM search_listing WHERE id = ANY(:ids) RETURNING words"),
            {"ids": ids}):
        counts.subtract(words)
    rows = _documents(connection, ids)
    for _document, (_id, _listing, words) in rows:
        counts.update(words)
    _copy(connection, rows)
    _count_words(connection, {word: n for word, n in counts.items() if n})


def _count_words(connection: sa.Connection, counts: dict[str, int]) -> None:
    """Add to the number of listings holding each word, forgetting words none holds."""
    if not counts:
        return
    words, deltas = list(counts), list(counts.values())
    connection.execute(sa.text(
        "INSERT INTO search_word (word, listings) "
        "SELECT * FROM unnest(CAST(:words AS text[]), CAST(:deltas AS integer[])) "
        "ON CONFLICT (word) DO UPDATE SET listings = search_word.listings + excluded.listings"),
        {"words": words, "deltas": deltas})
    connection.execute(sa.text(
        "DELETE FROM search_word WHERE word = ANY(:words) AND listings <= 0"), {"words": words})


def _rebuild(connection: sa.Connection, progress: Callable[[int], None] | None) -> int:
    """Refill the search tables in this transaction; searches see the old rows until commit."""
    newest = connection.scalar(sa.select(sa.func.max(IndexChange.seq))) or 0
    for table in ("search_document", "search_listing", "search_word"):
        connection.execute(sa.text(f"DELETE FROM {table}"))
    ids = list(connection.scalars(
        sa.select(Location.id).where(Location.status == Status.PUBLISHED).order_by(Location.id)))
    counts: Counter[str] = Counter()
    count = 0
    for start in range(0, len(ids), BATCH):
        rows = _documents(connection, ids[start:start + BATCH])
        for _document, (_id, _listing, words) in rows:
            counts.update(words)
        _copy(connection, rows)
        count += len(rows)
        if progress:
            progress(len(ids[start:start + BATCH]))
    _count_words(connection, counts)
    connection.execute(sa.text("UPDATE search_state SET applied_seq = :seq, "
                               "format_version = :version"),
                       {"seq": newest, "version": FORMAT_VERSION})
    return count
