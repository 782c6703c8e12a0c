"""What the Whoosh index holds: its schema, analysis and one document per location."""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Any, TypeVar

import orjson
import sqlalchemy as sa
from sqlalchemy.orm import Session
from whoosh import columns
from whoosh.fields import COLUMN, ID, STORED, Schema
from whoosh.support.charset import accent_map

from .. import vocabulary
from ..listings import PUBLIC_COLUMNS, public_json
from ..models import Certification, Location, Organization, Practitioner, practitioner_location
from ..trust.verification import indexed_day
from .query import all_shingles, analyze
from .ranking import ITEM_BREAK
from .whoosh_writer import KeysField

META_ID = "__meta__"
# Bump when the schema or the analysis changes: an index of another format is rebuilt from the
# database on first use, so an upgrade never serves results analysed the old way.
FORMAT_VERSION = 13
TEXT_FIELDS = ("name", "services", "conditions", "description", "place")
ITEM_SEPARATOR = "\x1f"  # between the items of a list field in the indexed text
# Bits of the ``flags`` column.
TELEHEALTH, ACCEPTING, DIRECT_ACCESS, HOME_VISITS = 1, 2, 4, 8
# Filters on a listing's vocabulary ids: index field -> location column.
ID_FIELDS = {"technique": "techniques", "accessibility": "accessibility",
             "age_group": "age_groups"}
NO_CERTIFICATION = 0  # ``certified_until`` of a listing without a current certification
T = TypeVar("T")


def text_keys(value: str) -> set[bytes]:
    """Return every analysed word of a field and its runs of 2..SHINGLE words (so phrases
    need no positions), UTF-8 encoded; items are separated by ITEM_SEPARATOR, and no run
    spans two."""
    return _of_items(value, _item_keys)


def text_words(value: str) -> set[str]:
    """Return ``text_keys`` as text."""
    return _of_items(value, _item_words)


def _of_items(value: str, of_item: Callable[[str], frozenset[T]]) -> set[T]:
    """Return the union of ``of_item`` over a field's items."""
    found: set[T] = set()
    for item in value.split(ITEM_SEPARATOR):
        found |= of_item(item)
    return found


# Services and conditions repeat across thousands of listings: analyse each once, and share
# the key objects among their postings.
@lru_cache(maxsize=20_000)
def _item_words(item: str) -> frozenset[str]:
    return frozenset(all_shingles(analyze(item), ITEM_BREAK))


@lru_cache(maxsize=20_000)
def _item_keys(item: str) -> frozenset[bytes]:
    return frozenset(key.encode("utf-8") for key in _item_words(item))


# Words as Whoosh's default tokenizer finds them.
_SPELL_WORD = re.compile(r"[\w*]+(?:\.?[\w*]+)*")


def spell_keys(value: str) -> set[bytes]:
    """Return the distinct unstemmed words, accents folded, UTF-8 encoded: the vocabulary
    of corrections (items separated by ITEM_SEPARATOR, as ``text_keys`` reads them)."""
    return _of_items(value, _item_spell_keys)


@lru_cache(maxsize=20_000)
def _item_spell_keys(item: str) -> frozenset[bytes]:
    return frozenset(word.translate(accent_map).encode("utf-8")
                     for word in set(_SPELL_WORD.findall(item)))


def comma_keys(value: str) -> set[bytes]:
    """Return the items of a comma-separated list, UTF-8 encoded."""
    return {item.strip().encode("utf-8") for item in value.split(",") if item.strip()}


def schema() -> Schema:
    return Schema(
        id=ID(stored=True, unique=True),
        **{name: KeysField(text_keys) for name in TEXT_FIELDS},
        # Unstemmed words of every text field, for spelling corrections.
        spell=KeysField(spell_keys),
        insurance=KeysField(comma_keys),
        language=KeysField(comma_keys),
        country=KeysField(comma_keys),
        **{name: KeysField(comma_keys) for name in ID_FIELDS},
        # Columns only (no postings): read whole into arrays when a segment is opened.
        listing=COLUMN(columns.NumericColumn("q")),
        lat=COLUMN(columns.NumericColumn("d")),
        lon=COLUMN(columns.NumericColumn("d")),
        flags=COLUMN(columns.NumericColumn("B")),
        # The lowest self-pay price (inf: none given), and the last day (an ordinal) one of
        # the listing's practitioners holds a current dry-needling certification.
        price_min=COLUMN(columns.NumericColumn("d", default=math.inf)),
        certified_until=COLUMN(columns.NumericColumn("i", default=NO_CERTIFICATION)),
        # The day (an ordinal) the listing was last verified, for its freshness.
        verified_on=COLUMN(columns.NumericColumn("i")),
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
_INDEXED_COLUMNS = (*PUBLIC_COLUMNS, "status", "accessibility", "age_groups", "direct_access",
                    "home_visits", "self_pay_price")


@dataclass(frozen=True)
class Staff:
    """A practitioner as search sees them: found by name and credentials, and certified
    until ``certified_until`` (None: no dry-needling certification; date.max: one that does
    not expire)."""

    name: str
    credentials: tuple[str, ...]
    certified_until: date | None

    @classmethod
    def of(cls, practitioner: Practitioner) -> Staff:
        return cls(practitioner.name, tuple(practitioner.credentials),
                   certified_until([(c.earned, c.expires) for c in practitioner.certifications]))


def certified_until(certifications: Iterable[tuple[date, date | None]]) -> date | None:
    """The last day any of these (earned, expires) certifications is current."""
    return max((expires or date.max for _earned, expires in certifications), default=None)


class Indexed:
    """A location's indexed columns (a row of ``select_indexed``) and its staff."""

    __slots__ = ("_row", "staff")

    def __init__(self, row: sa.Row[Any], staff: list[Staff]) -> None:
        self._row = row
        self.staff = staff

    def __getattr__(self, name: str) -> Any:
        return getattr(self._row, name)

    def _asdict(self) -> dict[str, Any]:
        return {**self._row._asdict(), "staff": self.staff}


Indexable = Location | Indexed


def staff_of(location: Indexable) -> list[Staff]:
    if isinstance(location, Location):
        return [Staff.of(practitioner) for practitioner in location.practitioners]
    return location.staff


def select_indexed(ids: Iterable[int]) -> sa.Select[Any]:
    """Return the query for the rows to index of these locations."""
    return sa.select(
        *(Location.__table__.c[name] for name in _INDEXED_COLUMNS),
        Organization.name.label("organization_name"),
    ).join(Organization, Organization.id == Location.organization_id).where(
        Location.id.in_(list(ids)))


def indexed(connection: sa.Connection | Session, ids: list[int]) -> list[Indexed]:
    """Return the indexed rows of these locations, each with its staff (three queries)."""
    rows = connection.execute(select_indexed(ids)).all()
    people: dict[int, list[tuple[int, str, list[str]]]] = {}
    staff: Sequence[sa.Row[Any]] = connection.execute(
        sa.select(practitioner_location.c.location_id, Practitioner.id, Practitioner.name,
                  Practitioner.credentials)
        .join(Practitioner, Practitioner.id == practitioner_location.c.practitioner_id)
        .where(practitioner_location.c.location_id.in_(ids))
        .order_by(Practitioner.name, Practitioner.id)).all()
    for person in staff:
        people.setdefault(person.location_id, []).append(
            (person.id, person.name, person.credentials))
    held: dict[int, list[tuple[date, date | None]]] = {}
    practitioner_ids = {p for found in people.values() for p, _, _ in found}
    if practitioner_ids:
        for practitioner_id, earned, expires in connection.execute(
                sa.select(Certification.practitioner_id, Certification.earned,
                          Certification.expires)
                .where(Certification.practitioner_id.in_(practitioner_ids))):
            held.setdefault(practitioner_id, []).append((earned, expires))
    return [Indexed(row, [Staff(name, tuple(credentials), certified_until(held.get(p, [])))
                          for p, name, credentials in people.get(row.id, [])])
            for row in rows]


def place_text(location: Indexable) -> str:
    return f"{location.city} {location.region}"


def text_fields(location: Indexable) -> dict[str, str]:
    """Return the searchable text of a location, field by field (list items kept apart).

    Practitioners' names and credentials are found as the clinic's name is; the techniques'
    labels and other names as its services are.
    """
    names = [location.name]
    if location.organization_name != location.name:
        names.append(location.organization_name)
    for person in staff_of(location):
        names.extend((person.name, *person.credentials))
    terms = vocabulary.techniques()
    offered = [text for technique in location.techniques if technique in terms
               for text in (terms[technique].label, *terms[technique].synonyms)]
    return {
        "name": ITEM_SEPARATOR.join(names),
        "services": ITEM_SEPARATOR.join([*location.services, *offered]),
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


def spell_text(texts: dict[str, str]) -> str:
    """The text whose words are the spelling vocabulary: every text field, lower-cased."""
    return ITEM_SEPARATOR.join(texts.values()).lower()


@lru_cache(maxsize=4096)  # insurers and languages repeat across a directory
def normalize_keyword(value: str) -> str:
    """Fold case, accents and punctuation of an insurance or language name."""
    decomposed = unicodedata.normalize("NFKD", value.casefold())
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(re.findall(r"\w+", plain))


def flags(location: Indexable) -> int:
    return ((TELEHEALTH if location.telehealth else 0)
            | (ACCEPTING if location.accepting_new_patients else 0)
            | (DIRECT_ACCESS if location.direct_access else 0)
            | (HOME_VISITS if location.home_visits else 0))


def price_min(location: Indexable) -> float:
    price = location.self_pay_price
    return float(price["min"]) if price else math.inf


def certified_through(location: Indexable) -> date | None:
    """The last day one of the location's practitioners is certified (None: never)."""
    return max((p.certified_until for p in staff_of(location) if p.certified_until),
               default=None)


def document(location: Indexed) -> dict[str, Any]:
    """Return the index document of a published location, read by ``indexed``."""
    texts = text_fields(location)
    until = certified_through(location)
    return {
        "id": str(location.id),
        **texts,
        "spell": spell_text(texts),
        "insurance": ",".join(normalize_keyword(i) for i in location.insurance),
        "language": ",".join(normalize_keyword(lang) for lang in location.languages),
        **{name: ",".join(getattr(location, column)) for name, column in ID_FIELDS.items()},
        "country": location.country,
        "listing": location.id,
        "lat": location.latitude,
        "lon": location.longitude,
        "flags": flags(location),
        "price_min": price_min(location),
        "certified_until": until.toordinal() if until else NO_CERTIFICATION,
        "verified_on": indexed_day(location.last_verified, location.created_at,
                                   location.flagged_at),
        "hours": (location.hours, location.timezone, location.holiday_hours),
        "listing_json": orjson.dumps(public_json(location)),
    }
