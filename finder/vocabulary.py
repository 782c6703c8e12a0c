"""The controlled vocabularies of a listing: dry-needling techniques and access features
(from ``data/``), and the age groups a clinic sees."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache

from .resources import resource_dir


@dataclass(frozen=True)
class Term:
    id: str
    label: str
    description: str
    synonyms: tuple[str, ...] = ()


def _read(name: str) -> dict[str, Term]:
    with (resource_dir("data") / name).open("rb") as handle:
        table = tomllib.load(handle)
    return {key: Term(key, entry["label"], " ".join(entry["description"].split()),
                      tuple(entry.get("synonyms", ())))
            for key, entry in table.items()}


@cache
def techniques() -> dict[str, Term]:
    """The dry-needling techniques, by id, in the order of ``data/techniques.toml``."""
    return _read("techniques.toml")


@cache
def accessibility() -> dict[str, Term]:
    """The access features, by id, in the order of ``data/accessibility.toml``."""
    return _read("accessibility.toml")


AGE_GROUPS = {"children": "Children", "adults": "Adults", "seniors": "Seniors"}


def labels(name: str) -> dict[str, str] | None:
    """Return id -> label of the vocabulary a filter or facet ``name`` takes (None: it takes
    the directory's own names, as insurance and language do)."""
    if name == "technique":
        return {key: term.label for key, term in techniques().items()}
    if name == "accessibility":
        return {key: term.label for key, term in accessibility().items()}
    if name == "age_group":
        return AGE_GROUPS
    return None
