"""The embedded search backend: a Whoosh index derived from the database.

The index holds one document per published location plus a ``__meta__`` document recording the
highest ``IndexChange.seq`` applied, committed atomically with the documents. Any process can
catch the index up from the change record; Whoosh allows one writer, so a process that cannot
take the lock leaves the work to the one that holds it. Searchers reopen when another process
commits a new index generation, reusing the arrays of the segments they already know
(see ``segments``).
"""

from __future__ import annotations

import fcntl
import logging
import math
import multiprocessing
import os
import pickle
import threading
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from functools import partial
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import Session, sessionmaker
from whoosh import index, writing
from whoosh.columns import ColumnReader
from whoosh.fields import Schema
from whoosh.index import LockError
from whoosh.reading import IndexReader
from whoosh.searching import Searcher

from .. import geo
from ..db import get_database
from ..errors import SearchUnavailable, is_disk_full
from ..models import DatabaseIdentity, IndexChange, Location, Status
from . import (
    Applied,
    Matches,
    MatchQuery,
    merging,
    shared_readers,
    spelling,
    whoosh_compat,  # noqa: F401  (patches Whoosh before any index is written)
)
from .children import die_with_parent
from .documents import (
    FORMAT_VERSION,
    META_ID,
    TEXT_FIELDS,
    Indexed,
    document,
    indexed,
    schema,
)
from .query import Concept, parse
from .segments import (
    SegmentData,
    TextMatch,
    concept_key,
    facet_segment,
    match_segment,
    match_text,
)
from .whoosh_writer import GroupedSegmentWriter

REFRESH_INTERVAL = 0.25  # seconds between checks for a newer index generation
LOCK_POLL = 0.01  # seconds between tries at the index's lock: the next writer starts at once
OPEN_ATTEMPTS = 3  # tries at opening the newest generation while commits delete files
CATCH_UP_INTERVAL = 1.0  # seconds between checks for unapplied database changes
BATCH = 2000
STEP = 1000  # changes read at a time while catching up, between looks at the clock
# Documents merged into one segment at most (see ``merging``): beside an import's
# indexing...
MERGE_MAX_DOCS = 2_000
SERVING_MERGE_DOCS = 500  # ...and by a server's commit, where merging holds up its changes
FOLLOW_INTERVAL = 0.2  # seconds between looks at the change log while indexing alongside
MERGE_INTERVAL = 0.2  # seconds between looks at whether small segments are due a merge
MERGE_NICENESS = 10  # how far below the import merging beside it runs
FOLLOW_STEP = 1.0  # seconds an import's indexing works between commits when keeping pace
KEEP_PACE_LIMIT = 30.0  # seconds an import waits for its changes to be searchable, at most
KEEP_PACE_POLL = 0.01  # seconds between the import's looks at what is indexed
IMPORTING_LOCK = "importing.lock"  # each import's indexing process holds a shared flock on it
logger = logging.getLogger(__name__)


@dataclass
class _Snapshot:
    """One index generation: its searcher, its segments and their live rows."""

    searcher: Searcher
    segments: list[tuple[SegmentData, IndexReader, np.ndarray]]
    meta: dict[str, Any]
    # Each concept searched in this generation, as corrected, and the word it was corrected to.
    corrected: dict[Concept, tuple[Concept, str]] = field(default_factory=dict)
    # Each segment's reader of listings' public JSON, opened on first use.
    listing_columns: dict[int, ColumnReader] = field(default_factory=dict)
    users: int = 0  # searches using it now
    retired: bool = False  # replaced by a newer generation: closed when no search uses it

    def listing_json(self, position: int, row: int) -> bytes:
        column = self.listing_columns.get(position)
        if column is None:
            reader = self.segments[position][1]
            column = self.listing_columns[position] = reader.column_reader(
                "listing_json", translate=False)
        value: bytes = column[row]
        return value

    @property
    def applied_seq(self) -> int:
        return int(self.meta.get("applied_seq", 0))

    @property
    def format_version(self) -> int:
        return int(self.meta.get("format_version", 0))

    @property
    def database_id(self) -> str:
        return str(self.meta.get("database_id", ""))


def _corrected(searcher: Searcher, concept: Concept) -> tuple[Concept, str]:
    """Return a concept with spelling corrections (see ``spelling``)."""
    reader = searcher.reader()

    def contains(tokens: list[str]) -> bool:
        return any(reader.doc_frequency(name, token) for token in tokens for name in TEXT_FIELDS)

    def vocabulary(first: str, shortest: int, longest: int) -> Iterator[tuple[str, int]]:
        for key in reader.expand_prefix("spell", first):
            word = key.decode("utf-8") if isinstance(key, bytes) else key
            if shortest <= len(word) <= longest:
                yield word, reader.doc_frequency("spell", word)

    return spelling.correct(concept, contains, vocabulary)


class WhooshBackend:
    name = "whoosh"
    applies_in_requests = True

    def __init__(self, path: Path, sessions: sessionmaker[Session]) -> None:
        self.path = path
        self._sessions = sessions
        self._lock = threading.RLock()
        self._opening = threading.Lock()  # held by the thread opening a new generation
        self._snapshot: _Snapshot | None = None
        self._segments: dict[str, SegmentData] = {}
        self._readers: dict[shared_readers.Key, shared_readers.SharedReader] = {}
        self._checked_at = 0.0
        self._caught_up_at = 0.0
        self._indexed_seq = 0  # the newest change this process saw the index hold
        self._recent = threading.local()  # the last search's text matches, for its facets
        self._ix = self._open_or_create()

    @classmethod
    def from_app(cls, app: Flask) -> WhooshBackend:
        """Open (or create) the index in the app's data folder."""
        return cls(Path(app.config["DATA_DIR"]) / "index", get_database(app).sessionmaker)

    @contextmanager
    def _creation_lock(self) -> Iterator[None]:
        self.path.mkdir(parents=True, exist_ok=True)
        with open(self.path.parent / "index.create.lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)  # several workers may start at once
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _open_or_create(self) -> index.Index:
        with self._creation_lock():
            existing = _open_existing(self.path)
            if existing is not None:
                return existing
            ix = index.create_in(str(self.path), schema())
            with ix.writer() as writer:
                writer.add_document(id=META_ID, applied_seq=0, format_version=FORMAT_VERSION)
            return ix

    def close(self) -> None:
        with self._lock:
            if self._snapshot is not None:
                self._snapshot.searcher.close()
            self._snapshot, self._readers = None, {}
            self._ix.close()

    # -- reading ---------------------------------------------------------------------------

    def _current(self, check: bool = False) -> _Snapshot:
        """Return the snapshot, reopening it if another commit made it stale (looked at
        every REFRESH_INTERVAL, or now when asked to ``check``)."""
        with self._lock:
            snapshot, committed_here = self._snapshot, self._checked_at == 0.0
            if snapshot is not None:
                now = time.monotonic()
                if not check and now - self._checked_at < REFRESH_INTERVAL:
                    return snapshot
                self._checked_at = now
                if snapshot.searcher.up_to_date():
                    return snapshot
        # Opening a generation builds its new segments' arrays (a merged segment's take a
        # while): one thread opens it, and searches go on with the snapshot they have,
        # unless this process's own commit must be seen at once.
        if not self._opening.acquire(blocking=snapshot is None or committed_here):
            assert snapshot is not None
            return snapshot
        try:
            with self._lock:
                opened = self._snapshot
                if opened is not snapshot and opened is not None and \
                        opened.searcher.up_to_date():
                    return opened  # another thread opened it meanwhile
            # A new searcher, not refresh(): refresh() reuses segment readers and keeps
            # their old deletions, so deleted listings would linger.
            newest = self._open_newest()
            with self._lock:
                if self._snapshot is not None:
                    self._retire(self._snapshot)
                self._snapshot = newest
            return newest
        finally:
            self._opening.release()

    def _retire(self, snapshot: _Snapshot) -> None:
        """Close a replaced snapshot, or have its last search close it."""
        snapshot.retired = True
        if not snapshot.users:
            snapshot.searcher.close()

    @contextmanager
    def _reading(self) -> Iterator[_Snapshot]:
        """The current snapshot, kept open while the block uses it."""
        while True:
            snapshot = self._current()
            with self._lock:
                if not snapshot.retired:  # else it may be closed: take its successor
                    snapshot.users += 1
                    break
        try:
            yield snapshot
        finally:
            with self._lock:
                snapshot.users -= 1
                if snapshot.retired and not snapshot.users:
                    snapshot.searcher.close()

    def _open_newest(self) -> _Snapshot:
        """Open the newest generation, sharing the readers of the segments it holds
        unchanged with the current one (see ``shared_readers``). Another process's commit
        may merge its segments away and delete their files before this one has opened them
        all: then it opens the generation that commit made."""
        for attempt in range(OPEN_ATTEMPTS):
            generation = None
            try:
                generation = shared_readers.open_newest(self._ix, self._readers)
                # The meta document is in a segment new to this process, or else where the
                # current snapshot found it (the shared readers are its searches' to read).
                meta = _live_document(generation.fresh, "id", META_ID)
                if meta is None and self._snapshot is not None:
                    meta = self._snapshot.meta
                snapshot = self._load(generation.searcher, meta or {})
                self._readers = generation.readers
                return snapshot
            except FileNotFoundError:
                if generation is not None:
                    generation.searcher.close()
                if attempt == OPEN_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    def _load(self, searcher: Searcher, meta: dict[str, Any]) -> _Snapshot:
        if int(meta.get("format_version", 0)) != FORMAT_VERSION:
            return _Snapshot(searcher, [], meta)  # unreadable until catch_up rebuilds it
        segments = []
        known: dict[str, SegmentData] = {}
        for reader, _offset in searcher.reader().leaf_readers():
            segment_id = reader.segment().segment_id()
            data = self._segments.get(segment_id) or SegmentData(reader)
            known[segment_id] = data
            alive = data.live(reader)
            if alive.any():  # not only deleted rows or the meta document: each costs a search
                segments.append((data, reader, alive))
        self._segments = known  # forget segments merged away
        # Every file a search reads is open from here on, so a later merge that deletes
        # the segments' files cannot take them from this generation.
        columns = {position: reader.listing_json()
                   for position, (_data, reader, _alive) in enumerate(segments)}
        return _Snapshot(searcher, segments, meta, listing_columns=columns)

    def reading(self) -> AbstractContextManager[None]:
        return nullcontext()  # each call takes the current snapshot, which costs nothing

    def match(self, request: MatchQuery) -> Matches:
        if self.applies_in_requests and \
                time.monotonic() - self._caught_up_at >= CATCH_UP_INTERVAL:
            try:
                self.catch_up(limit=BATCH)
            except Exception:  # a full disk, say: answer from the index as it stands
                logger.warning("could not apply listing changes", exc_info=True)
        with self._reading() as snapshot:
            concepts, corrections = (self._correct(snapshot, request.concepts)
                                     if request.correct else (request.concepts, {}))
            matched: list[TextMatch | None] = [None] * len(snapshot.segments)
            if request.nearest is None and request.radius_km is not None:
                matched = [match_text(data, reader, alive, request.lat, request.lon,
                                      request.radius_km, concepts)
                           for data, reader, alive in snapshot.segments]
                self._recent.match = (snapshot, _area(request, concepts), matched)
            parts = [match_segment(data, reader, alive, request, concepts, found)
                     for (data, reader, alive), found in zip(snapshot.segments, matched,
                                                             strict=True)]
            if not parts:
                return Matches.empty(concepts)
            lats = np.concatenate([p.lats for p in parts])
            lons = np.concatenate([p.lons for p in parts])
            distance = geo.geodesic_km_many(request.lat, request.lon, lats, lons)
            inside = distance <= np.repeat([p.radius_km for p in parts],
                                           [len(p.ids) for p in parts])
            return Matches(
                ids=np.concatenate([p.ids for p in parts])[inside],
                distance_km=distance[inside],
                text=np.concatenate([p.text for p in parts])[inside],
                best=np.concatenate([p.best for p in parts], axis=1)[:, inside],
                verified_on=np.concatenate([p.verified_on for p in parts])[inside],
                concepts=concepts,
                corrections=corrections,
            )

    def facets(self, request: MatchQuery, names: Sequence[str]) -> dict[str, dict[str, int]]:
        counts: dict[str, Counter[str]] = {name: Counter() for name in names}
        with self._reading() as snapshot:
            # The search just made in this thread matched the same keywords in the same area:
            # its rows are counted rather than found again.
            matched: list[TextMatch | None] = [None] * len(snapshot.segments)
            recent = getattr(self._recent, "match", None)
            if recent and recent[0] is snapshot and recent[1] == _area(request, request.concepts):
                matched = recent[2]
            for (data, reader, alive), found in zip(snapshot.segments, matched, strict=True):
                for name, values in facet_segment(data, reader, alive, request, names,
                                                  found).items():
                    counts[name].update(values)
            return {name: dict(found) for name, found in counts.items()}

    def listings(self, ids: list[int]) -> dict[int, dict[str, Any]]:
        """Return the public JSON of these listings as the searchable generation has them."""
        with self._reading() as snapshot:
            found: dict[int, dict[str, Any]] = {}
            for position, (data, _reader, alive) in enumerate(snapshot.segments):
                for listing_id, row in data.rows_of(ids):
                    if alive[row]:
                        found[listing_id] = orjson.loads(snapshot.listing_json(position, row))
            return found

    def warm_up(self, queries: Iterable[str]) -> None:
        """Build the scores of likely queries' concepts, so first searches are not slow."""
        with self._reading() as snapshot:
            concepts = [concept for text in queries for concept in parse(text)]
            for data, reader, _alive in snapshot.segments:
                for concept in concepts:
                    data.prepare(reader, concept)

    def _correct(self, snapshot: _Snapshot, concepts: list[Concept]
                 ) -> tuple[list[Concept], dict[str, str]]:
        """Add spelling corrections to one-word concepts that no listing contains."""
        return spelling.correct_all(concepts, snapshot.corrected,
                                    lambda concept: _corrected(snapshot.searcher, concept))

    def applied_seq(self) -> int:
        return self._current().applied_seq

    def refresh(self) -> None:
        # Reading a new generation builds the arrays of its new segments (a merged one can
        # take a while): the applier does it here so that a search rarely has to.
        self._current(check=True)

    def _meta(self) -> dict[str, Any]:
        """The index's meta document: the search snapshot's, or read afresh when this
        process does not search (reading a snapshot's arrays would be wasted there)."""
        if self._snapshot is not None:
            return self._current().meta
        with self._ix.searcher() as searcher:
            return dict(searcher.document(id=META_ID) or {})

    # -- writing ---------------------------------------------------------------------------

    def catch_up(self, limit: int | None = None, yield_to_imports: bool = False,
                 seconds: float | None = None, merge_docs: int | None = None,
                 waiting: Event | None = None) -> int:
        """Apply the changes recorded after the index's ``applied_seq``; return how many.

        All of them in one commit, or at most ``limit`` of them, or as many as fit in about
        ``seconds`` (a batch at a time), so a caller can bound its step; the commit merges
        small segments into one of up to ``merge_docs`` documents (see ``merging``; 0: it
        merges none). With ``waiting``
        (an event that ends the wait), a step that has applied everything waits for more until
        its ``seconds`` are up, so that a steady stream of changes makes commits that far
        apart rather than one per change the database commits. An index built
        from another database, or from a newer state of it, or by another release, is rebuilt
        instead. Returns 0 when another process holds the index's lock: that one applies them;
        with ``yield_to_imports``, also while an import's indexing process runs.
        """
        self._caught_up_at = time.monotonic()
        if yield_to_imports and self._importing():
            return 0
        deadline = math.inf if seconds is None else time.monotonic() + seconds
        with self._sessions() as session:
            database_id = _database_id(session)
            newest = session.scalar(sa.select(sa.func.max(IndexChange.seq))) or 0
            meta = self._meta()
            if _stale(int(meta.get("format_version", 0)), str(meta.get("database_id", "")),
                      int(meta.get("applied_seq", 0)), database_id, newest):
                return self.rebuild(only_if_stale=True)
            self._indexed_seq = int(meta.get("applied_seq", 0))
            if newest <= self._indexed_seq:
                return 0
            try:
                writer = self._writer(timeout=0.5)
            except LockError:
                return 0
            try:
                # Ask the writer's own (newest) reader what the index holds: a search snapshot
                # may predate another process's commit, and adding twice would duplicate.
                held = writer.searcher().reader()
                applied, done = _applied_seq(writer.searcher()), 0
                while (limit is None or done < limit) and time.monotonic() < deadline:
                    if applied >= newest:
                        if waiting is None or waiting.wait(FOLLOW_INTERVAL):
                            break
                        session.rollback()  # a new read transaction sees later commits
                        newest = session.scalar(sa.select(sa.func.max(IndexChange.seq))) or 0
                        continue
                    size = STEP if limit is None else min(STEP, limit - done)
                    changes = session.execute(
                        sa.select(IndexChange.seq, IndexChange.location_id)
                        .where(IndexChange.seq > applied, IndexChange.seq <= newest)
                        .order_by(IndexChange.seq).limit(size)
                    ).all()
                    if not changes:
                        break
                    ids = list(dict.fromkeys(change.location_id for change in changes))
                    for location in _locations(session, ids):
                        _write(writer, location,
                               replace=held.doc_frequency("id", str(location.id)) > 0)
                    applied, done = changes[-1].seq, done + len(changes)
                if not done:
                    writer.cancel()
                    return 0
                writer.update_document(id=META_ID, applied_seq=applied,
                                       format_version=FORMAT_VERSION, database_id=database_id)
                writer.commit(mergetype=partial(merging.merge_small, up_to=SERVING_MERGE_DOCS
                                                if merge_docs is None else merge_docs))
                self._indexed_seq = applied
            except BaseException:
                writer.cancel()
                raise
        with self._lock:
            self._checked_at = 0.0  # make the next search reopen the new generation
        return done

    @contextmanager
    def indexing_alongside(self, commit_every: float | None = None) -> Iterator[Applied]:
        """Index changes as they are committed, in a second process, while the block runs.

        An import then shares the machine's two cores with its indexing rather than waiting
        for it. The second process lets go of the index's lock between commits, so other
        processes take their turns, and applies other importers' changes too. It commits as
        soon as it has applied what is committed (the block keeps pace with ``wait_for``
        after each of its commits), or, given ``commit_every``, about that many seconds
        apart (a bulk load: fewer, larger segments). A third process merges the small
        segments its commits make, beside them (see ``merging``), so that no commit waits
        for a merge. Whatever it has not applied when the block ends (or if it fails) is
        left to ``catch_up``.
        """
        context = multiprocessing.get_context("fork")
        stop, wake = context.Event(), context.Event()
        count, indexed = context.Value("q", 0), context.Value("q", 0)
        follower = context.Process(target=self._follow,
                                   args=(stop, wake, os.getpid(), count, indexed, commit_every),
                                   name="finder-indexer", daemon=True)
        indexing_done = context.Event()
        merger = context.Process(target=self._merge_beside, args=(indexing_done,),
                                 name="finder-merger", daemon=True)
        follower.start()
        merger.start()
        applied = _KeepingPace(wake, indexed, follower.is_alive)
        try:
            yield applied
        finally:
            stop.set()
            wake.set()
            follower.join()
            indexing_done.set()
            merger.join()
            applied.count = count.value
            with self._lock:
                self._checked_at = 0.0

    def _importing(self) -> bool:
        """Whether an import's indexing process is at work (see ``_follow``)."""
        try:
            with open(self.path / IMPORTING_LOCK, "ab") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        except OSError:
            pass  # a read-only or vanished index folder: nothing says an import runs
        return False

    def _follow(self, stop: Event, wake: Event, parent: int, count: Synchronized[int],
                indexed: Synchronized[int], commit_every: float | None) -> None:
        die_with_parent()
        # Held until this process ends, however it ends: the kernel lets go of a flock.
        importing = open(self.path / IMPORTING_LOCK, "ab")  # noqa: SIM115
        fcntl.flock(importing, fcntl.LOCK_SH)
        self._snapshot, self._readers = None, {}  # the parent's; this process does not search
        with self._sessions() as session:
            engine = session.get_bind()
        if isinstance(engine, sa.Engine):
            engine.dispose(close=False)  # the parent's connections stay the parent's
        while True:
            stopping = stop.is_set() or os.getppid() != parent
            wake.clear()
            try:
                applied = self.catch_up(seconds=commit_every or FOLLOW_STEP, merge_docs=0,
                                        waiting=stop if commit_every else None)
            except Exception as exc:
                if is_disk_full(exc):
                    return  # nothing of this step is committed; catch_up applies it later
                raise
            count.value += applied
            indexed.value = self._indexed_seq
            if applied:
                continue
            if stopping:
                return
            wake.wait(FOLLOW_INTERVAL)

    def _merge_beside(self, indexing_done: Event) -> None:
        """Merge small segments aside (see ``merging``) while an import's indexing process
        commits, and once more after its last commit."""
        die_with_parent()
        os.nice(MERGE_NICENESS)  # below the import and its indexing, which are below searches
        while True:
            stopping = indexing_done.wait(MERGE_INTERVAL)
            try:
                merging.merge_aside(self._ix, self.path, MERGE_MAX_DOCS)
            except OSError:
                pass  # a full disk, or a generation deleted as it was read: try again later
            if stopping:
                return

    def _writer(self, timeout: float) -> GroupedSegmentWriter:
        # Separate files rather than one compound file per segment: they are read with plain
        # file reads of what a search needs, whereas a compound file is memory-mapped and
        # every page a search touches counts in the serving process's memory.
        return GroupedSegmentWriter(self._ix, timeout=timeout, delay=LOCK_POLL, compound=False)

    def rebuild(self, progress: Callable[[int], None] | None = None,
                only_if_stale: bool = False) -> int:
        """Replace the whole index with the published locations of the database."""
        with self._sessions() as session:
            database_id = _database_id(session)
            newest = session.scalar(sa.select(sa.func.max(IndexChange.seq))) or 0
            same_format = int(self._meta().get("format_version", 0)) == FORMAT_VERSION
            try:
                writer = self._writer(timeout=60.0)
            except LockError as exc:
                raise SearchUnavailable("The search index is locked by another process.") from exc
            count = 0
            try:
                meta = writer.searcher().document(id=META_ID) or {}
                if only_if_stale and not _stale(
                        int(meta.get("format_version", 0)), str(meta.get("database_id", "")),
                        int(meta.get("applied_seq", 0)), database_id, newest):
                    writer.cancel()  # another process rebuilt it while we waited for the lock
                    return 0
                if not same_format:
                    _conform(writer, schema())
                writer.add_document(id=META_ID, applied_seq=newest,
                                    format_version=FORMAT_VERSION, database_id=database_id)
                ids = session.scalars(
                    sa.select(Location.id).where(Location.status == Status.PUBLISHED)
                    .order_by(Location.id)
                ).all()
                for batch in _chunks(list(ids), BATCH):
                    for location in _locations(session, batch):
                        writer.add_document(**document(location))
                        count += 1
                    if progress:
                        progress(len(batch))
                # CLEAR swaps the new segment in for the old ones in one atomic commit.
                writer.commit(mergetype=writing.CLEAR)
                self._indexed_seq = newest
            except BaseException:
                writer.cancel()
                raise
        with self._lock:
            self._checked_at = 0.0
        return count


class _KeepingPace(Applied):
    """What an import's indexing process has applied, and a way to wait for it."""

    def __init__(self, wake: Event, indexed: Synchronized[int],
                 indexing: Callable[[], bool]) -> None:
        super().__init__()
        self._wake, self._indexed, self._indexing = wake, indexed, indexing
        self._patient = True

    def wait_for(self, seq: int) -> None:
        # An index that takes too long (locked by a rebuild, say) is left to catch up
        # later, rather than slowing the rest of the import to its pace.
        self._wake.set()
        deadline = time.monotonic() + KEEP_PACE_LIMIT
        while self._patient and self._indexed.value < seq and self._indexing():
            if time.monotonic() > deadline:
                self._patient = False
            time.sleep(KEEP_PACE_POLL)


def _open_existing(path: Path) -> index.Index | None:
    """Open the index at ``path``; None when there is none, or when its stored schema names
    classes that this release no longer has (it is then created afresh and rebuilt)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)  # Whoosh leaves that file open
        try:
            return index.open_dir(str(path)) if index.exists_in(str(path)) else None
        except (AttributeError, ImportError, pickle.UnpicklingError):
            return None


def _conform(writer: writing.IndexWriter, target: Schema) -> None:
    """Give the index the target schema; the CLEAR commit that follows makes it atomic."""
    for name in list(writer.schema.names()):
        writer.remove_field(name)
    for name, field_type in target.items():
        writer.add_field(name, field_type)


def _database_id(session: Session) -> str:
    return session.scalar(sa.select(DatabaseIdentity.database_id)) or ""


def _stale(format_version: int, database_id: str, applied_seq: int,
           current_database_id: str, newest_seq: int) -> bool:
    """Whether an index must be rebuilt rather than caught up."""
    return (format_version != FORMAT_VERSION or database_id != current_database_id
            or applied_seq > newest_seq)  # a database restored from an older backup


def _applied_seq(searcher: Searcher) -> int:
    fields = searcher.document(id=META_ID)
    return int(fields["applied_seq"]) if fields else 0


def _area(request: MatchQuery, concepts: Sequence[Concept]) -> tuple[Any, ...]:
    """What the rows of ``match_text`` depend on."""
    return (request.lat, request.lon, request.radius_km,
            tuple(concept_key(concept) for concept in concepts))


def _live_document(readers: Iterable[IndexReader], field: str, value: str
                   ) -> dict[str, Any] | None:
    """The stored fields of the first live document with this value, if these readers hold
    one."""
    for reader in readers:
        if reader.doc_frequency(field, value):
            for docnum in reader.postings(field, value).all_ids():
                if not reader.is_deleted(docnum):
                    return dict(reader.stored_fields(docnum))
    return None


def _write(writer: writing.IndexWriter, location: Indexed, replace: bool) -> None:
    """Index a location; ``replace`` when the index may already hold it."""
    if location.status != Status.PUBLISHED:
        writer.delete_by_term("id", str(location.id))  # wherever it is, this writer's too
    elif replace:
        writer.update_document(**document(location))
    else:
        writer.add_document(**document(location))


def _locations(session: Session, ids: list[int]) -> list[Indexed]:
    return indexed(session, ids)


def _chunks(items: list[int], size: int) -> Iterator[list[int]]:
    """Yield slices of at most ``size`` items."""
    for start in range(0, len(items), size):
        yield list(items[start:start + size])


