"""A Whoosh segment writer that holds postings per term, in memory.

Whoosh's own writer keeps one tuple per posting, sorts them all at commit and writes them one
call at a time: most of the cost of indexing a listing, which has a hundred or more keys.
Here each term gathers its document numbers in an array as documents are added (they arrive
in increasing order), and a commit writes each term's blocks whole, byte for byte as Whoosh's
postings writer would (a test compares the files the two writers make).

Every field of finder's index is unscored (no lengths), which this writer relies on.

It also keeps a unique field unique within its own new segment: a document added again (a
listing that changed twice while one writer was open) replaces the one added before, which
Whoosh's writer cannot see until it commits.

Merging segments at a commit goes the same way: a merged segment's postings are read a block
at a time and renumbered with numpy, rather than handed over one call per posting (which made
merging the slowest part of frequent commits).
"""

from __future__ import annotations

import contextlib
import pickle
import zlib
from array import array
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np
from whoosh import formats
from whoosh.codec.whoosh3 import WHOOSH3_HEADER_MAGIC, W3LeafMatcher
from whoosh.fields import FieldType
from whoosh.reading import SegmentReader
from whoosh.system import pack_int
from whoosh.util.numeric import length_to_byte
from whoosh.util.numlists import delta_encode
from whoosh.writing import SegmentWriter


class KeysField(FieldType):  # type: ignore[misc]
    """A field indexed as the set of its distinct keys: no frequencies, positions or lengths.

    finder scores with its own function and needs only which rows hold a key. Handing
    Whoosh's Existence format the distinct keys, rather than a token stream to count, indexes
    about four times faster than an analysed TEXT field, and this module's writer adds them
    without a call per key.
    """

    def __init__(self, keys: Callable[[str], Iterable[bytes]]) -> None:
        super().__init__(formats.Existence(), analyzer=None)
        self.keys = keys  # a module-level function, so the schema pickles

    def index(self, value: str, **_kwargs: Any) -> Iterator[tuple[bytes, int, float, bytes]]:
        for key in self.keys(value):
            yield key, 1, 1.0, b""


class GroupedPostings:
    """Document numbers by field and term: what Whoosh's writer keeps in its posting pool.

    Every posting of finder's index has weight 1 and no value (Whoosh's Existence format),
    so a term needs only its document numbers.
    """

    def __init__(self) -> None:
        self.fields: dict[str, dict[bytes, array[int]]] = {}
        self.unordered: set[tuple[str, bytes]] = set()  # terms to sort before writing

    def add(self, item: tuple[str, bytes, int, float, bytes | None]) -> None:
        """Add a posting the way Whoosh's writer does (unique ids, and merged segments)."""
        fieldname, text, docnum, weight, value = item
        if weight != 1 or value:
            raise _weighted(fieldname)
        terms = self.fields.setdefault(fieldname, {})
        docnums = terms.get(text)
        if docnums is None:
            terms[text] = array("I", (docnum,))
        else:
            if docnum < docnums[-1]:
                self.unordered.add((fieldname, text))
            docnums.append(docnum)

    def cleanup(self) -> None:
        self.fields.clear()


class GroupedSegmentWriter(SegmentWriter):  # type: ignore[misc]
    """Whoosh's ``SegmentWriter``, with postings grouped per term (see the module)."""

    def __init__(self, ix: Any, **kwargs: Any) -> None:
        super().__init__(ix, **kwargs)
        self.pool = GroupedPostings()
        self._own: dict[tuple[str, Any], int] = {}  # unique value -> its docnum here
        self._read_schema()

    def _read_schema(self) -> None:
        self._keyed = {name: field for name, field in self.schema.items()
                       if isinstance(field, KeysField)}
        self._unique = [name for name, field in self.schema.items() if field.unique]

    def add_field(self, *args: Any, **kwargs: Any) -> None:
        super().add_field(*args, **kwargs)
        self._read_schema()

    def remove_field(self, *args: Any, **kwargs: Any) -> None:
        super().remove_field(*args, **kwargs)
        self._read_schema()

    def cancel(self) -> None:
        """Drop what was written and release the index's lock, even when closing the new
        segment fails (Whoosh writes its columns out on cancel too: on a full disk that
        fails, and its cancel would keep the lock until the process ends); and delete the
        new segment's files, which no generation refers to (left, failed attempts on a full
        disk would fill whatever space is freed)."""
        try:
            super().cancel()
        except OSError:
            self.pool.cleanup()
            self._finish()
        finally:
            for name in self.newsegment.list_files(self.storage):
                with contextlib.suppress(OSError):
                    self.storage.delete_file(name)

    def delete_by_term(self, fieldname: str, text: Any, searcher: Any = None) -> int:
        deleted: int = super().delete_by_term(fieldname, text, searcher=searcher)
        own = self._own.pop((fieldname, text), None)
        if own is not None:
            self.newsegment.delete_document(own)
            deleted += 1
        return deleted

    def add_document(self, **fields: Any) -> None:
        docnum, postings = self.docnum, self.pool.fields
        unique = [(name, fields[name]) for name in self._unique
                  if fields.get(name) is not None]
        for value in unique:
            earlier = self._own.pop(value, None)
            if earlier is not None:
                self.newsegment.delete_document(earlier)
        # Keys go straight to their terms. Whoosh would also record an empty stored value
        # and a zero length for these fields, which writes nothing.
        for name in [name for name in fields if name in self._keyed]:
            value = fields.pop(name)
            if value is None:
                continue
            terms = postings.get(name)
            if terms is None:
                terms = postings[name] = {}
            for key in self._keyed[name].keys(value):
                docnums = terms.get(key)
                if docnums is None:
                    terms[key] = array("I", (docnum,))
                else:
                    docnums.append(docnum)
        super().add_document(**fields)
        self._own.update(dict.fromkeys(unique, docnum))

    def add_postings_to_pool(self, reader: Any, startdoc: int,
                             docmap: dict[int, int] | None) -> None:
        """Add a merged segment's postings, renumbered: ``docmap`` maps the documents kept
        (when the segment has deletions), or they follow on from ``startdoc``."""
        if not isinstance(reader, SegmentReader):
            super().add_postings_to_pool(reader, startdoc, docmap)
            return
        renumber = None
        if docmap is not None:
            renumber = np.full(reader.doc_count_all(), -1, dtype=np.int64)
            renumber[np.fromiter(docmap.keys(), np.int64, len(docmap))] = np.fromiter(
                docmap.values(), np.int64, len(docmap))
        pool = self.pool
        for fieldname, text, ids in stored_postings(reader):
            if fieldname not in self.schema:
                continue
            numbers = renumber[ids] if renumber is not None else ids + startdoc
            if renumber is not None:
                numbers = numbers[numbers >= 0]
            if not len(numbers):
                continue
            terms = pool.fields.setdefault(fieldname, {})
            docnums = terms.get(text)
            added = array("I", numbers.astype(np.uint32).tobytes())
            if docnums is None:
                terms[text] = added
            else:
                if added[0] < docnums[-1]:
                    pool.unordered.add((fieldname, text))
                docnums.extend(added)

    def _flush_segment(self) -> None:
        self.perdocwriter.close()
        for fieldname, text in self.pool.unordered:
            terms = self.pool.fields[fieldname]
            terms[text] = array("I", sorted(terms[text]))
        write_postings(self.fieldwriter, self.schema, self.pool.fields)
        self.fieldwriter.close()


def stored_postings(reader: SegmentReader) -> Iterator[tuple[str, bytes, np.ndarray]]:
    """Yield every term of a segment with the numbers of the documents holding it, deleted
    ones included, a block at a time; every posting must have weight 1 and no value.

    A term in one or two documents (most of a small segment's terms: the word runs of each
    description) is answered from its term info, which records its first and last document,
    without reading its postings.
    """
    terms = reader._terms
    for (fieldname, text), terminfo in terms.items():
        if fieldname not in reader.schema:
            continue
        count = terminfo.doc_frequency()
        if count <= 2 and terminfo.weight() == count and not terminfo.is_inlined():
            ids = (terminfo.min_id(),) if count == 1 else (terminfo.min_id(), terminfo.max_id())
            yield fieldname, text, np.array(ids, dtype=np.int64)
            continue
        matcher = terms._codec.postings_reader(terms._postfile, terminfo,
                                               reader.schema[fieldname].format)
        if not isinstance(matcher, W3LeafMatcher):  # a single posting, kept in the term
            ids, weights, values = terminfo.inlined_postings()
            if any(weight != 1 for weight in weights) or any(values):
                raise _weighted(fieldname)
            yield fieldname, text, np.array(ids, dtype=np.int64)
            continue
        blocks = []
        while matcher.is_active():
            matcher._read_data()
            gaps, weights, values = matcher._data
            if weights is not None or values is not None:
                raise _weighted(fieldname)
            blocks.append(np.cumsum(np.asarray(gaps, dtype=np.int64)))
            if matcher._lastblock:
                break
            matcher._next_block()
        yield fieldname, text, np.concatenate(blocks)


def _weighted(fieldname: str) -> ValueError:
    return ValueError(f"field {fieldname!r} has weighted postings or values, which this "
                      "writer does not keep")


def write_postings(fieldwriter: Any, schema: Any, fields: dict[str, dict[bytes, array[int]]]
                   ) -> None:
    """Write every term's postings through the codec's field writer."""
    single: dict[int, bytes] = {}  # a one-document term's block, by document
    for fieldname in sorted(name for name, terms in fields.items() if terms):
        terms = fields[fieldname]
        fieldwriter.start_field(fieldname, schema[fieldname])
        for text in sorted(terms):
            fieldwriter.start_term(text)
            _write_blocks(fieldwriter._postwriter, terms[text], single)
            fieldwriter.finish_term()
        fieldwriter.finish_field()


def _write_blocks(writer: Any, docnums: array[int], single: dict[int, bytes]) -> None:
    """Write a term's postings as Whoosh's postings writer writes them (``_write_block``:
    a header, then per block its length, a pickled summary and the pickled, compressed
    gaps between document numbers), for postings of weight 1 without values or lengths.

    The term info gathers the same totals as Whoosh's ``add_block`` would; the last block's
    length is negative, which is how a reader knows it is the last. Most terms of a new
    segment are in one document, whose dozens of such terms share the same bytes: they are
    made once, in ``single``.
    """
    terminfo, postfile, level = writer._terminfo, writer._postfile, writer._compression
    limit, count = writer._blocklimit, len(docnums)
    for start in range(0, count, limit):
        ids = docnums[start:start + limit]
        terminfo._weight += float(len(ids))
        terminfo._df += len(ids)
        terminfo._maxweight = max(terminfo._maxweight, 1.0)
        if terminfo._minid is None:
            terminfo._minid = ids[0]
        terminfo._maxid = ids[-1]
        if count == 1:
            block = single.get(ids[0])
            if block is None:
                block = single[ids[0]] = _block(ids, level, last=True)
        else:
            block = _block(ids, level, last=start + limit >= count)
        postfile.write(WHOOSH3_HEADER_MAGIC + block if start == 0 else block)
        writer._blockcount += 1


def _block(ids: array[int], level: int, last: bool) -> bytes:
    """One block of postings: its signed length, summary and data."""
    data = pickle.dumps((tuple(delta_encode(ids)), None, None), 2)
    if level:
        data = zlib.compress(data, level)
    info = pickle.dumps((len(ids), ids[-1], 1.0, level, length_to_byte(None),
                         length_to_byte(0)), 2)
    size = len(info) + len(data)
    length: bytes = pack_int(-size if last else size)
    return length + info + data
