"""Merging the index's small segments: within a commit, or beside the writers.

Frequent commits make many small segments, and each costs every search a little, so once
MERGE_AT of them gather, the smallest are merged into one of at most ``up_to`` documents.
Large segments are left as they are (`finder reindex` makes one of everything).

A commit can merge them itself (``merge_small``, Whoosh's merge policy interface), but then
the changes it holds wait for the merge. ``merge_aside`` merges them without the index's lock
instead, into files of their own, and takes the lock only to swap the merged segment in:
imports' commits go on meanwhile, and the deletions they make in the merged segments (changed
listings) are carried over at the swap.
"""

from __future__ import annotations

import contextlib
import fcntl
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from whoosh import index, writing
from whoosh.codec.whoosh3 import W3Codec, W3Segment
from whoosh.index import LockError
from whoosh.reading import SegmentReader

from .whoosh_writer import GroupedSegmentWriter

MERGE_AT = 8  # small segments that make a merge due
MERGING_LOCK = "merging.lock"  # held by the one process merging aside
# Files of a segment being merged aside: a name the index's own clean-up (which deletes
# the files of every "MAIN_" segment no generation lists) leaves alone until the swap.
ASIDE = "ASIDE"
ASIDE_TEMPORARY = ASIDE + ".tmp"  # the folder of their temporary files (Whoosh's naming)
SWAP_TIMEOUT = 10.0  # seconds a merged segment waits for the index's lock before it is dropped


def small_segments(segments: list[Any], up_to: int) -> list[Any]:
    """The segments to merge now: once MERGE_AT segments of under ``up_to`` documents gather,
    the smallest of them, up to ``up_to`` documents in all; otherwise none."""
    small = sorted((segment for segment in segments if segment.doc_count_all() < up_to),
                   key=lambda segment: segment.doc_count_all())
    if len(small) < MERGE_AT:
        return []
    chosen: list[Any] = []
    total = 0
    for segment in small:
        if len(chosen) >= 2 and total + segment.doc_count_all() > up_to:
            break
        chosen.append(segment)
        total += segment.doc_count_all()
    return chosen


def merge_small(writer: writing.SegmentWriter, segments: list[Any], up_to: int) -> list[Any]:
    """Whoosh merge policy: merge ``small_segments`` into the committing writer's segment."""
    chosen = small_segments(segments, up_to)
    for segment in chosen:
        reader = SegmentReader(writer.storage, writer.schema, segment)
        writer.add_reader(reader)
        reader.close()
    return [segment for segment in segments if segment not in chosen]


def merge_aside(ix: index.FileIndex, path: Path, up_to: int) -> bool:
    """Merge ``small_segments`` beside the index's writers (``prepare``, then ``swap_in``);
    return whether a merged segment replaced them. Nothing happens while another process
    merges aside."""
    with _merging(path) as alone:
        if not alone:
            return False
        _delete_leftovers(ix)
        merged = prepare(ix, up_to)
        return merged is not None and swap_in(ix, merged)


@dataclass
class Merged:
    """A merged segment written aside, and what it replaces."""

    segment: Any
    replaces: list[Any]  # the segments merged, as they were when the merge began
    # Per segment merged, its live documents' numbers in the merged one.
    numbers: dict[str, dict[int, int]]


def prepare(ix: index.FileIndex, up_to: int) -> Merged | None:
    """Write ``small_segments`` as one segment of ASIDE files, without the index's lock
    (None: none are due, or a commit merged them away and deleted their files meanwhile)."""
    chosen = small_segments(ix._read_toc().segments, up_to)
    if not chosen:
        return None
    writer = _AsideWriter(ix)
    numbers: dict[str, dict[int, int]] = {}
    try:
        for segment in chosen:
            # Whoosh's merge numbers the live documents of each segment in turn.
            deleted, start = set(segment.deleted_docs()), writer.docnum
            live = [doc for doc in range(segment.doc_count_all()) if doc not in deleted]
            numbers[segment.segment_id()] = {doc: start + n for n, doc in enumerate(live)}
            reader = SegmentReader(ix.storage, writer.schema, segment)
            writer.add_reader(reader)
            reader.close()
        merged = writer._finalize_segment()
    except FileNotFoundError:
        writer.cancel()
        return None
    except BaseException:
        writer.cancel()
        raise
    writer._finish()
    return Merged(merged, chosen, numbers)


def swap_in(ix: index.FileIndex, merged: Merged, timeout: float = SWAP_TIMEOUT) -> bool:
    """Replace the segments ``merged`` replaces with it, in a commit of its own, carrying
    over the deletions made in them since; return whether it did. When one of them is
    gone (merged by another commit, or the index rebuilt), or the index's lock is not
    free within ``timeout`` seconds, the merged files are deleted instead."""
    swapped: list[bool] = []
    try:
        writer = GroupedSegmentWriter(ix, timeout=timeout, delay=0.01, compound=False)
    except LockError:
        _delete_files(ix, merged.segment)
        return False
    try:
        writer.commit(mergetype=lambda _writer, segments: _swap(
            ix, segments, merged, swapped))
    except BaseException:
        writer.cancel()
        raise
    finally:
        if merged.segment.index_name() == ASIDE:  # not in the index (or nothing in it)
            _delete_files(ix, merged.segment)
    return bool(swapped)


@contextlib.contextmanager
def _merging(path: Path) -> Iterator[bool]:
    """Hold MERGING_LOCK if no other process does; yield whether this one does."""
    with open(path / MERGING_LOCK, "ab") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True


class _AsideCodec(W3Codec):  # type: ignore[misc]
    """Whoosh's codec, naming new segments' files ASIDE_..."""

    def new_segment(self, storage: Any, indexname: str) -> W3Segment:
        return W3Segment(W3Codec(), ASIDE)


class _AsideWriter(GroupedSegmentWriter):
    """A segment writer that takes no lock and writes ASIDE files, temporary ones included:
    the writers' own temporary folder is emptied by each of their commits."""

    def __init__(self, ix: index.FileIndex) -> None:
        super().__init__(ix, _lk=False, compound=False, codec=_AsideCodec())
        self._tempstorage = ix.storage.temp_storage(ASIDE_TEMPORARY)


def _swap(ix: index.FileIndex, segments: list[Any], merged: Merged,
          swapped: list[bool]) -> list[Any]:
    """Merge policy of ``swap_in``'s commit: the newest ``segments`` with those ``merged``
    replaces replaced (by nothing, if none of their documents was left), or left as they
    are when one of them is gone."""
    current = {segment.segment_id(): segment for segment in segments}
    replaced = [segment.segment_id() for segment in merged.replaces]
    if any(name not in current for name in replaced):
        return segments
    kept = [segment for segment in segments if segment.segment_id() not in replaced]
    swapped.append(True)
    if not merged.segment.doc_count_all():
        return kept
    for old in merged.replaces:
        renumber = merged.numbers[old.segment_id()]
        since = set(current[old.segment_id()].deleted_docs()) - set(old.deleted_docs())
        for doc in since:
            merged.segment.delete_document(renumber[doc])
    for name in merged.segment.list_files(ix.storage):
        ix.storage.rename_file(name, ix.indexname + name[len(ASIDE):])
    merged.segment.indexname = ix.indexname
    return [*kept, merged.segment]


def _delete_files(ix: index.FileIndex, segment: Any) -> None:
    for name in segment.list_files(ix.storage):
        with contextlib.suppress(OSError):
            ix.storage.delete_file(name)


def _delete_leftovers(ix: index.FileIndex) -> None:
    """Delete the files of a merge aside that ended before its swap (a killed process)."""
    for name in ix.storage.list():
        if name.startswith(ASIDE + "_"):
            with contextlib.suppress(OSError):
                ix.storage.delete_file(name)
    shutil.rmtree(Path(ix.storage.folder) / ASIDE_TEMPORARY, ignore_errors=True)
