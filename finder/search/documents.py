"""What the Whoosh index holds: its schema, analysis and one document per location."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from functools import lru_cache
from typing import Any

import orjson
import sqlalchemy as sa
from whoosh import columns, formats
from whoosh.analysis import CharsetFilter, RegexTokenizer
from whoosh.fields import COLUMN, ID, KEYWORD, STORED, FieldType, Schema
from whoosh.support.charset import accent_map

from ..listings import PUBLIC_COLUMNS, public_json
from ..models import Location, Organization
from .query import all_shingles, analyze
from .ranking import ITEM_BREAK

META_ID = "__meta__"
# Bump when the schema or the analysis changes: an index of another format is rebuilt from the
# database on first use, so an upgrade never serves results analysed the old way.
FORMAT_VERSION = 8
TEXT_FIELDS = ("name", "services", "conditions", "description", "place")
ITEM_SEPARATOR = "\x1f"  # between the items of a list field in the indexed text
TELEHEALTH, ACCEPTING = 1, 2  # bits of the ``flags`` column


class KeysField(FieldType):  # type: ignore[misc]
    """A field indexed as the set of its distinct keys: no frequencies, positions or lengths.

    finder scores with its own function and needs only which rows hold a key. Handing
    Whoosh's Existence format the distinct keys, rather than a token stream to count, indexes
    about four times faster than an analysed TEXT field.
    """

    def __init__(self, keys: Callable[[str], Iterable[bytes]]) -> None:
        super().__init__(formats.Existence(), analyzer=None)
        self.keys = keys  # a module-level function, so the schema pickles

    def index(self, value: str, **_kwargs: Any) -> Iterator[tuple[bytes, int, float, bytes]]:
        for key in self.keys(value):
            yield key, 1, 1.0, b""


def text_keys(value: str) -> set[bytes]:
    """Return every analysed word of a field and its runs of 2..SHINGLE words (so phrases
    need no positions), UTF-8 encoded; items are separated by ITEM_SEPARATOR, and no run
    spans two."""
    keys: set[bytes] = set()
    for item in value.split(ITEM_SEPARATOR):
        keys |= _item_keys(item)
    return keys


def text_words(value: str) -> set[str]:
    """Return ``text_keys`` as text."""
    words: set[str] = set()
    for item in value.split(ITEM_SEPARATOR):
        words |= _item_words(item)
    return words


# Services and conditions repeat across thousands of listings: analyse each once, and share
# the key objects among their postings.
@lru_cache(maxsize=20_000)
def _item_words(item: str) -> frozenset[str]:
    return frozenset(all_shingles(analyze(item), ITEM_BREAK))


@lru_cache(maxsize=20_000)
def _item_keys(item: str) -> frozenset[bytes]:
    return frozenset(key.encode("utf-8") for key in _item_words(item))


def spell_keys(value: str) -> set[bytes]:
    """Return the distinct unstemmed words, UTF-8 encoded: the vocabulary of corrections."""
    return {token.text.encode("utf-8") for token in _spell_analyzer()(value)}


@lru_cache(maxsize=1)
def _spell_analyzer() -> Any:
    return RegexTokenizer() | CharsetFilter(accent_map)


def schema() -> Schema:
    return Schema(
        id=ID(stored=True, unique=True),
        **{name: KeysField(text_keys) for name in TEXT_FIELDS},
        # Unstemmed words of every text field, for spelling corrections.
        spell=KeysField(spell_keys),
        insurance=KEYWORD(commas=True, scorable=False),
        language=KEYWORD(commas=True, scorable=False),
        # Columns only (no postings): read whole into arrays when a segment is opened.
        listing=COLUMN(columns.NumericColumn("q")),
        lat=COLUMN(columns.NumericColumn("d")),
        lon=COLUMN(columns.NumericColumn("d")),
        flags=COLUMN(columns.NumericColumn("B")),
        # The listing's public JSON, so a results page reads its listings from the segment
        # it matched them in (a few microseconds each) rather than from the database.
        listing_json=COLUMN(columns.VarBytesColumn()),
        hours=STORED,  # (weekly hours, timezone), read only for "open now"
        applied_seq=STORED,
        format_version=STORED,
        database_id=STORED,
    )


# The columns a document is made from: everything a listing shows, and its status. Indexing
# reads them as plain rows, which costs a fraction of loading ORM objects; tests and the
# benchmark's reference pass Location objects, which have the same attributes.
_INDEXED_COLUMNS = (*PUBLIC_COLUMNS, "status")
Indexable = Location | sa.Row[Any]


def select_indexed(ids: Iterable[int]) -> sa.Select[Any]:
    """Return the query for the rows to index of these locations."""
    return sa.select(
        *(Location.__table__.c[name] for name in _INDEXED_COLUMNS),
        Organization.name.label("organization_name"),
    ).join(Organization, Organization.id == Location.organization_id).where(
        Location.id.in_(list(ids)))


def place_text(location: Indexable) -> str:
    return f"{location.city} {location.region}"


def text_fields(location: Indexable) -> dict[str, str]:
    """Return the searchable text of a location, field by field (list items kept apart)."""
    names = [location.name]
    if location.organization_name != location.name:
        names.append(location.organization_name)
    return {
        "name": ITEM_SEPARATOR.join(names),
        "services": ITEM_SEPARATOR.join(location.services),
        "conditions": ITEM_SEPARATOR.join(location.conditions),
        "description": location.description,
        "place": place_text(location),
    }


def field_tokens(location: Indexable) -> dict[str, tuple[str, ...]]:
    """Return the analysed fields, with ITEM_BREAK between items, for ``text_relevance``."""
    tokens = {}
    for name, text in text_fields(location).items():
        items = [analyze(item) for item in text.split(ITEM_SEPARATOR)]
        joined = tuple(token for item in items for token in (*item, ITEM_BREAK))[:-1]
        if joined:
            tokens[name] = joined
    return tokens


def normalize_keyword(value: str) -> str:
    """Fold case, accents and punctuation of an insurance or language name."""
    decomposed = unicodedata.normalize("NFKD", value.casefold())
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(re.findall(r"\w+", plain))


def document(location: sa.Row[Any]) -> dict[str, Any]:
    """Return the index document of a published location, read by ``select_indexed``."""
    texts = text_fields(location)
    flags = (TELEHEALTH if location.telehealth else 0) | (
        ACCEPTING if location.accepting_new_patients else 0)
    return {
        "id": str(location.id),
        **texts,
        "spell": " ".join(texts.values()).lower(),
        "insurance": ",".join(normalize_keyword(i) for i in location.insurance),
        "language": ",".join(normalize_keyword(lang) for lang in location.languages),
        "listing": location.id,
        "lat": location.latitude,
        "lon": location.longitude,
        "flags": flags,
        "hours": (location.hours, location.timezone),
        "listing_json": orjson.dumps(public_json(location)),
    }
