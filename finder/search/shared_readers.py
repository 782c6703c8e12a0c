"""Segment readers shared by the index generations that hold the same segment.

Every commit makes a new generation, and a server opens each (several a second while imports
run). Whoosh would open a reader for every segment anew, about a millisecond each, and its own
reuse keeps a segment's old deletions (changed listings would be found twice). Here a segment
whose deletions have not changed keeps its reader, and only the new or changed segments are
opened; a reader is closed when the last generation using it is.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from whoosh import index
from whoosh.columns import ColumnReader
from whoosh.reading import EmptyReader, MultiReader, SegmentReader
from whoosh.searching import Searcher

# A segment as a reader may be shared: its id and how many of its documents are deleted
# (deletions only ever grow, so the count tells the set).
Key = tuple[str, int]


def key_of(segment: Any) -> Key:
    return segment.segment_id(), segment.deleted_count()


class SharedReader(SegmentReader):  # type: ignore[misc]
    """A segment's reader, closed when the last of the generations sharing it closes it."""

    _counting = threading.Lock()  # generations are opened and closed on several threads

    def __init__(self, storage: Any, schema: Any, segment: Any) -> None:
        super().__init__(storage, schema, segment)
        self._users = 0
        self._listing_json: ColumnReader | None = None
        # Whoosh opens the stored fields' file on first use, and a merge may have deleted
        # it by then (the reader's generation still searched, a newer one without it).
        try:
            if self.doc_count_all():
                if not self._perdoc.has_column("_stored"):  # Whoosh: a column of its own
                    raise FileNotFoundError(f"{segment.segment_id()}: no stored fields")
                self.stored_fields(0)
        except BaseException:
            super().close()
            raise

    def share(self) -> None:
        with self._counting:
            self._users += 1

    def close(self) -> None:
        with self._counting:
            self._users -= 1
            last = self._users == 0
        if last:
            super().close()

    def listing_json(self) -> ColumnReader:
        """The reader of the listings' public JSON, opened once."""
        if self._listing_json is None:
            self._listing_json = self.column_reader("listing_json", translate=False)
        return self._listing_json


@dataclass
class Generation:
    """A searcher of one generation, its readers by key, and which of them are new."""

    searcher: Searcher
    readers: dict[Key, SharedReader]
    fresh: list[SharedReader]  # opened for it: no other thread reads them yet


def open_newest(ix: index.FileIndex, known: dict[Key, SharedReader]) -> Generation:
    """Open the newest generation, sharing the ``known`` readers of segments it holds
    unchanged (``known`` is the last call's ``readers``).

    A shared reader's files are being read by the searches of the generations that share it,
    and a file has one position: only the thread searching a generation may read through its
    shared readers, and what the ``fresh`` ones hold is all that is new.
    """
    toc = ix._read_toc()
    readers: list[SharedReader] = []
    fresh: list[SharedReader] = []
    try:
        for segment in toc.segments:
            reader = known.get(key_of(segment))
            if reader is None:
                reader = SharedReader(ix.storage, toc.schema, segment)
                fresh.append(reader)
            reader.share()
            readers.append(reader)
    except BaseException:
        for reader in readers:
            reader.close()
        raise
    # Always a MultiReader: it carries this generation's number, which a reused reader's
    # own does not, and its searcher tells when a newer one exists by that number.
    composite = (MultiReader(readers, generation=toc.generation) if readers
                 else EmptyReader(toc.schema))
    return Generation(Searcher(composite, fromindex=ix),
                      {key_of(reader.segment()): reader for reader in readers}, fresh)
