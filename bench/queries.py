"""The deterministic query mix every engine answers: postcode origins, keywords, filters, radii."""

from __future__ import annotations

import csv
import random
import urllib.parse
from dataclasses import dataclass, field, replace
from pathlib import Path

COMMON_KEYWORDS = ("dry needling", "back pain", "neck pain")
RARE_KEYWORDS = ("vestibular", "tmj", "achilles", "pelvic")
RADII_MI = (5.0, 10.0, 25.0, 50.0)
# One filter at most per query; None means no filter.
FILTERS: tuple[dict[str, str], ...] = (
    {"telehealth": "true"},
    {"accepting_new_patients": "true"},
    {"language": "Spanish"},
)
KEYWORD_SHARE = {"none": 0.25, "common": 0.45, "rare": 0.30}
FILTER_SHARE = 0.3
SEARCH_PATH = "/api/v1/search"


@dataclass(frozen=True)
class Query:
    postcode: str
    country: str
    q: str
    radius: float
    unit: str = "mi"
    filters: dict[str, str] = field(default_factory=dict)
    sort: str = ""  # empty: the engine's default (finder: best)
    limit: int = 10

    def params(self) -> dict[str, str]:
        """Return the query-string arguments, in a fixed order."""
        args = {"postcode": self.postcode, "country": self.country, "q": self.q,
                "radius": f"{self.radius:g}", "unit": self.unit, "limit": str(self.limit)}
        if self.sort:
            args["sort"] = self.sort
        args.update(self.filters)
        return args

    def path(self) -> str:
        """Return the API path with its query string."""
        return f"{SEARCH_PATH}?{urllib.parse.urlencode(self.params())}"

    def sorted_by(self, sort: str) -> Query:
        return replace(self, sort=sort)

    def describe(self) -> str:
        """Return a short human form, for reports."""
        extra = " ".join(f"{k}={v}" for k, v in self.filters.items())
        keywords = f'"{self.q}"' if self.q else "(no keywords)"
        return (f"{self.postcode} {self.country} {keywords} {self.radius:g} {self.unit}"
                f"{' ' + extra if extra else ''}{' sort=' + self.sort if self.sort else ''}")


def read_postcodes(csv_path: Path) -> list[tuple[str, str]]:
    """Return the (postcode, country) of every row of a generated CSV, in file order."""
    with open(csv_path, encoding="utf-8", newline="") as handle:
        return [(row["postcode"], row["country"]) for row in csv.DictReader(handle)]


def build_mix(postcodes: list[tuple[str, str]], count: int, seed: int = 1) -> list[Query]:
    """Return ``count`` queries drawn with a seeded RNG; the same inputs give the same mix.

    Origins are drawn from the listings' own postcodes, so they follow where the data is.
    """
    rng = random.Random(seed)
    kinds = list(KEYWORD_SHARE)
    weights = list(KEYWORD_SHARE.values())
    mix = []
    for _ in range(count):
        postcode, country = rng.choice(postcodes)
        kind = rng.choices(kinds, weights)[0]
        q = "" if kind == "none" else rng.choice(
            COMMON_KEYWORDS if kind == "common" else RARE_KEYWORDS)
        filters = dict(rng.choice(FILTERS)) if rng.random() < FILTER_SHARE else {}
        mix.append(Query(postcode, country, q, rng.choice(RADII_MI), filters=filters))
    return mix


def write_paths(queries: list[Query], path: Path) -> Path:
    """Write one request path per line (what the wrk script cycles through)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{query.path()}\n" for query in queries), encoding="utf-8")
    return path
