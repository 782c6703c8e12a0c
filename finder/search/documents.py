"""What the Whoosh index holds: its schema, analysis and one document per location."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from typing import Any

from whoosh import columns
from whoosh.analysis import Analyzer, CharsetFilter, RegexTokenizer, Token
from whoosh.fields import COLUMN, ID, KEYWORD, STORED, TEXT, Schema
from whoosh.support.charset import accent_map

from ..models import Location
from .query import SHINGLE, analyze, analyzer
from .ranking import ITEM_BREAK

META_ID = "__meta__"
# Bump when the schema or the analysis changes: an index of another format is rebuilt from the
# database on first use, so an upgrade never serves results analysed the old way.
FORMAT_VERSION = 5
TEXT_FIELDS = ("name", "services", "conditions", "description", "place")
ITEM_SEPARATOR = "\x1f"  # between the items of a list field in the indexed text
TELEHEALTH, ACCEPTING = 1, 2  # bits of the ``flags`` column


class ShingleAnalyzer(Analyzer):  # type: ignore[misc]
    """Index each item's words and its runs of 2..SHINGLE words (so phrases need no positions).

    Items are separated by ITEM_SEPARATOR, and no shingle spans two items.
    """

    def __call__(self, value: str, **kwargs: Any) -> Iterator[Token]:
        base = analyzer()
        for item in value.split(ITEM_SEPARATOR):
            words = [token.text for token in base(item)]
            for size in range(1, SHINGLE + 1):
                for start in range(len(words) - size + 1):
                    yield Token(text=" ".join(words[start:start + size]), boost=1.0,
                                removestops=False, mode=kwargs.get("mode", ""))


def _unscored(field: TEXT) -> TEXT:
    field.scorable = False  # finder scores with its own function: no field lengths needed
    return field


def schema() -> Schema:
    text = ShingleAnalyzer()
    return Schema(
        id=ID(stored=True, unique=True),
        **{name: _unscored(TEXT(analyzer=text, phrase=False)) for name in TEXT_FIELDS},
        # Unstemmed words of every text field, for spelling corrections.
        spell=_unscored(TEXT(analyzer=RegexTokenizer() | CharsetFilter(accent_map),
                             phrase=False)),
        insurance=KEYWORD(commas=True, scorable=False),
        language=KEYWORD(commas=True, scorable=False),
        # Columns only (no postings): read whole into arrays when a segment is opened.
        listing=COLUMN(columns.NumericColumn("q")),
        lat=COLUMN(columns.NumericColumn("d")),
        lon=COLUMN(columns.NumericColumn("d")),
        flags=COLUMN(columns.NumericColumn("B")),
        hours=STORED,  # (weekly hours, timezone), read only for "open now"
        applied_seq=STORED,
        format_version=STORED,
        database_id=STORED,
    )


def place_text(location: Location) -> str:
    return f"{location.city} {location.region}"


def text_fields(location: Location) -> dict[str, str]:
    """Return the searchable text of a location, field by field (list items kept apart)."""
    names = [location.name]
    if location.organization.name != location.name:
        names.append(location.organization.name)
    return {
        "name": ITEM_SEPARATOR.join(names),
        "services": ITEM_SEPARATOR.join(location.services),
        "conditions": ITEM_SEPARATOR.join(location.conditions),
        "description": location.description,
        "place": place_text(location),
    }


def field_tokens(location: Location) -> dict[str, tuple[str, ...]]:
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


def document(location: Location) -> dict[str, Any]:
    """Return the index document of a published location."""
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
    }
