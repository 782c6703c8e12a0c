"""A Whoosh segment writer that holds postings per term, in memory.

Whoosh's own writer keeps one tuple per posting, sorts them all at commit and writes them one
call at a time: most of the cost of indexing a listing, which has a hundred or more keys.
Here each term gathers its document numbers in an array as documents are added (they arrive
in increasing order), and a commit writes each term's blocks whole. The files written are
the same as Whoosh's (same codec, same blocks); only the route to them is shorter.

Every field of finder's index is unscored (no lengths), which this writer relies on.

It also keeps a unique field unique within its own new segment: a document added again (a
listing that changed twice while one writer was open) replaces the one added before, which
Whoosh's writer cannot see until it commits.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from whoosh import formats
from whoosh.fields import FieldType
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


class _Term:
    __slots__ = ("docnums", "weights", "values", "ordered")

    def __init__(self) -> None:
        self.docnums = array("I")
        self.weights: array[float] | None = None  # None: every weight is 1
        self.values: list[bytes] = []  # only the non-empty ones, as Whoosh's blocks keep them
        self.ordered = True

    def weight_list(self) -> array[float]:
        return self.weights if self.weights is not None else array("f", [1.0]) * len(
            self.docnums)


class GroupedPostings:
    """Postings by field and term; the ``PostingPool`` interface Whoosh's writer uses."""

    def __init__(self) -> None:
        self.fields: dict[str, dict[bytes, _Term]] = {}

    def add(self, item: tuple[str, bytes, int, float, bytes | None]) -> None:
        fieldname, text, docnum, weight, value = item
        terms = self.fields.get(fieldname)
        if terms is None:
            terms = self.fields[fieldname] = {}
        term = terms.get(text)
        if term is None:
            term = terms[text] = _Term()
        elif docnum < term.docnums[-1]:
            term.ordered = False  # only from merging old segments out of order; sorted later
        if weight != 1 and term.weights is None:
            term.weights = term.weight_list()
        term.docnums.append(docnum)
        if term.weights is not None:
            term.weights.append(weight)
        if value:
            term.values.append(value)

    def iter_postings(self) -> Any:
        for fieldname in sorted(self.fields):
            terms = self.fields[fieldname]
            for text in sorted(terms):
                term = _sorted(terms[text])
                values = term.values or [b""] * len(term.docnums)
                for docnum, weight, value in zip(term.docnums, term.weight_list(), values,
                                                 strict=True):
                    yield fieldname, text, docnum, weight, value

    def cleanup(self) -> None:
        self.fields.clear()


def _sorted(term: _Term) -> _Term:
    if term.ordered:
        return term
    order = sorted(range(len(term.docnums)), key=term.docnums.__getitem__)
    result = _Term()
    result.docnums = array("I", (term.docnums[i] for i in order))
    weights = term.weight_list()
    result.weights = array("f", (weights[i] for i in order))
    result.values = [term.values[i] for i in order] if term.values else []
    return result


class GroupedSegmentWriter(SegmentWriter):  # type: ignore[misc]
    """Whoosh's ``SegmentWriter``, with postings grouped per term (see the module)."""

    def __init__(self, ix: Any, **kwargs: Any) -> None:
        super().__init__(ix, **kwargs)
        self.pool = GroupedPostings()
        self._keyed = self._keyed_fields()
        self._unique = [name for name, field in self.schema.items() if field.unique]
        self._own: dict[tuple[str, Any], int] = {}  # unique value -> its docnum here

    def _keyed_fields(self) -> dict[str, KeysField]:
        return {name: field for name, field in self.schema.items()
                if isinstance(field, KeysField)}

    def add_field(self, *args: Any, **kwargs: Any) -> None:
        super().add_field(*args, **kwargs)
        self._keyed = self._keyed_fields()
        self._unique = [name for name, field in self.schema.items() if field.unique]

    def remove_field(self, *args: Any, **kwargs: Any) -> None:
        super().remove_field(*args, **kwargs)
        self._keyed = self._keyed_fields()
        self._unique = [name for name, field in self.schema.items() if field.unique]

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
                term = terms.get(key)
                if term is None:
                    term = terms[key] = _Term()
                term.docnums.append(docnum)
                if term.weights is not None:  # weighed when merged from an old segment
                    term.weights.append(1.0)
        super().add_document(**fields)
        self._own.update(dict.fromkeys(unique, docnum))

    def _flush_segment(self) -> None:
        self.perdocwriter.close()
        write_postings(self.fieldwriter, self.schema, self.pool.fields)
        self.fieldwriter.close()


def write_postings(fieldwriter: Any, schema: Any, fields: dict[str, dict[bytes, _Term]]
                   ) -> None:
    """Write every term's postings through the codec's field writer, a block at a time."""
    for fieldname in sorted(name for name, terms in fields.items() if terms):
        terms = fields[fieldname]
        fieldwriter.start_field(fieldname, schema[fieldname])
        for text in sorted(terms):
            term = _sorted(terms[text])
            fieldwriter.start_term(text)
            block = fieldwriter._postwriter
            limit = block._blocklimit
            weights = term.weight_list()
            for start in range(0, len(term.docnums), limit):
                if start:
                    block._write_block()
                block._ids = term.docnums[start:start + limit]
                block._weights = weights[start:start + limit]
                block._values = term.values[start:start + limit]
                block._maxweight = max(block._weights)
            fieldwriter.finish_term()
        fieldwriter.finish_field()
