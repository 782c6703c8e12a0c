"""Insurance and language filters: match the way people type them to the names listings use.

People type "BCBS", "Blue Cross", "aetn" or "Español"; listings say "Blue Cross Blue Shield",
"Aetna" and "Spanish". A typed filter is folded (case, accents, punctuation) and expanded
through the other names in ``data/filter-aliases.txt``; it then means those exact names and
every name the directory holds that it is the start of (at a word boundary). Backends keep the
listings holding any of them.

The directory's names are counted at most every few minutes (``DirectoryValues``): a name
typed in full finds a new listing at once, the start of a new name once it is counted.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache

import sqlalchemy as sa
from flask import Flask, current_app

from ..db import SQLITE_MMAP_BYTES, get_database
from ..models import Status
from ..resources import resource_dir
from .documents import normalize_keyword as fold

FIELDS = {"insurance": "insurance", "language": "languages"}  # filter -> location column
logger = logging.getLogger(__name__)
MIN_PREFIX = 2  # a single letter is the start of too many names to mean any of them


@cache
def aliases() -> dict[str, frozenset[str]]:
    """Map each folded other name to the folded names it stands for."""
    found: dict[str, set[str]] = {}
    text = (resource_dir("data") / "filter-aliases.txt").read_text("utf-8")
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if ":" not in line:
            continue
        name, _, others = line.partition(":")
        for other in others.split(","):
            if fold(other):
                found.setdefault(fold(other), set()).add(fold(name))
    return {other: frozenset(names) for other, names in found.items()}


def _starts(typed: str, name: str) -> bool:
    """Whether ``typed`` is ``name`` or the start of it or of one of its later words."""
    return name == typed or (len(typed) >= MIN_PREFIX and f" {typed}" in f" {name}")


def resolve(typed: str, names: Iterable[str]) -> tuple[str, ...]:
    """Return the folded names a typed filter means: itself, its other names, and the known
    ``names`` that they start."""
    wanted = fold(typed)
    if not wanted:
        return ()
    targets = {wanted, *aliases().get(wanted, ())}
    names = list(names)
    found = {name for name in names if any(_starts(target, name) for target in targets)}
    if not found:  # "Aetna PPO" or "Spanish speaking": a listed name and more words
        found = {name for name in names if wanted.startswith(f"{name} ")}
    return tuple(sorted(targets | found))


@dataclass(frozen=True)
class Value:
    name: str  # as most listings write it
    count: int  # published listings holding it


class DirectoryValues:
    """The insurance and language names published listings use, read at most every few
    minutes: for the choices offered on the form and to resolve typed filters."""

    MAX_AGE = 300.0

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine
        self._lock = threading.Lock()
        self._cached: dict[str, tuple[float, dict[str, Value]]] = {}

    def get(self, field: str) -> dict[str, Value]:
        """Return folded name -> value for the filter ``field`` (insurance or language).

        The first call reads them; later ones answer at once, and a stale answer is renewed
        in the background, so no search waits for the directory to be counted again.
        """
        with self._lock:
            cached = self._cached.get(field)
            if cached is None:
                cached = self._cached[field] = (time.monotonic(), self._read(FIELDS[field]))
            elif time.monotonic() - cached[0] >= self.MAX_AGE:
                self._cached[field] = (time.monotonic(), cached[1])  # one renewal at a time
                threading.Thread(target=self._renew, args=(field,), daemon=True).start()
            return cached[1]

    def _renew(self, field: str) -> None:
        try:
            values = self._read(FIELDS[field])
        except sa.exc.SQLAlchemyError:
            logger.warning("could not renew the %s names; keeping the last ones", field,
                           exc_info=True)
            return
        with self._lock:
            self._cached[field] = (time.monotonic(), values)

    def _read(self, column: str) -> dict[str, Value]:
        published = {"published": Status.PUBLISHED.value}
        with self._engine.connect() as connection:
            # Each list item of a JSON column, counted: no portable SQL spells it.
            if connection.dialect.name == "postgresql":
                sql = (f"SELECT item, count(*) FROM location, "
                       f"jsonb_array_elements_text(location.{column}) AS item "
                       "WHERE status = :published GROUP BY item")
                rows = connection.execute(sa.text(sql), published).all()
            else:
                sql = (f"SELECT item.value, count(*) FROM location, json_each(location.{column})"
                       " AS item WHERE status = :published GROUP BY item.value")
                # Scanned through the memory map, the whole table would stay mapped in each
                # server process; read through SQLite's small page cache instead.
                connection.exec_driver_sql("PRAGMA mmap_size=0")
                try:
                    rows = connection.execute(sa.text(sql), published).all()
                finally:
                    connection.exec_driver_sql(f"PRAGMA mmap_size={SQLITE_MMAP_BYTES}")
        merged: dict[str, Value] = {}
        counted = sorted(((str(row[0]), int(row[1])) for row in rows), key=lambda row: -row[1])
        for name, count in counted:
            key = fold(name)
            if not key:
                continue
            known = merged.get(key)
            merged[key] = Value(known.name if known else name, count + (known.count if known
                                                                        else 0))
        return merged


def init_app(app: Flask) -> None:
    """Keep the directory's filter values for the app."""
    app.extensions["finder.directory_values"] = DirectoryValues(get_database(app).read_engine)


def directory_values(app: Flask | None = None) -> DirectoryValues:
    """Return the app's directory values."""
    values: DirectoryValues = (app or current_app).extensions["finder.directory_values"]
    return values


def display(values: Mapping[str, Value], folded: Iterable[str]) -> list[str]:
    """Return the names listings use for those of these folded names that they use."""
    return [values[key].name for key in folded if key in values]
