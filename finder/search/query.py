"""Keyword queries: analysis, synonyms and the parsed form every backend matches.

A query becomes a list of ``Concept``s that must all match (AND). Each concept has one or more
``Alternative`` token sequences (the words typed, their synonyms, spelling corrections), any of
which may match. User syntax is never interpreted: quotes make a phrase, everything else is text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache, cached_property, lru_cache

from whoosh.analysis import (
    Analyzer,
    CharsetFilter,
    LowercaseFilter,
    RegexTokenizer,
    StemFilter,
    StopFilter,
)
from whoosh.analysis.filters import STOP_WORDS
from whoosh.lang.porter import stem
from whoosh.support.charset import accent_map

from ..resources import resource_dir

EXACT, SYNONYM, FUZZY = "exact", "synonym", "fuzzy"
# Phrases are matched through word n-grams ("shingles") of up to this many words: exactly for
# phrases this long or shorter; a longer phrase matches when each of its runs of this many
# words does.
SHINGLE = 3
MAX_QUERY_LENGTH = 200
MAX_CONCEPTS = 12


@cache
def analyzer() -> Analyzer:
    """Return the analyser shared by the index and the query: fold accents and case, stem.

    Words are runs of letters and digits only (Whoosh's default also keeps ``*``), and accents
    are folded before stemming so "rééducation" and "reeducation" stem alike.
    """
    return (RegexTokenizer(r"\w+(?:\.?\w+)*") | LowercaseFilter() | CharsetFilter(accent_map)
            | StopFilter() | StemFilter())


# The analyser's steps as plain functions, for ``analyze`` (indexing calls it for every
# listing's text; Whoosh's token objects cost several times more). A test holds the two equal.
_WORD = re.compile(r"\w+(?:\.?\w+)*")


@lru_cache(maxsize=100_000)
def _stem(word: str) -> str:
    return str(stem(word))


def analyze(text: str) -> tuple[str, ...]:
    """Return the analysed tokens of a text, as ``analyzer()`` finds them."""
    folded = (word.lower().translate(accent_map) for word in _WORD.findall(text))
    return tuple(_stem(word) for word in folded if len(word) >= 2 and word not in STOP_WORDS)


def shingles(tokens: tuple[str, ...]) -> tuple[str, ...]:
    """Return the n-gram keys that a phrase of these tokens must all match."""
    size = min(len(tokens), SHINGLE)
    return tuple(" ".join(tokens[i:i + size]) for i in range(len(tokens) - size + 1))


def all_shingles(tokens: tuple[str, ...], separator: str) -> set[str]:
    """Return every 1..SHINGLE-gram of a token stream, never across a ``separator`` token."""
    keys: set[str] = set()
    run: list[str] = []
    for token in (*tokens, separator):
        if token == separator:
            for size in range(1, SHINGLE + 1):
                keys.update(" ".join(run[i:i + size]) for i in range(len(run) - size + 1))
            run = []
        else:
            run.append(token)
    return keys


@dataclass(frozen=True)
class Alternative:
    tokens: tuple[str, ...]
    text: str  # readable form, reported in matched_terms
    kind: str = EXACT

    @cached_property  # read for every segment of every search
    def keys(self) -> tuple[str, ...]:
        return shingles(self.tokens)


@dataclass(frozen=True)
class Concept:
    text: str
    alternatives: tuple[Alternative, ...]

    @property
    def is_single_word(self) -> bool:
        return len(self.alternatives[0].tokens) == 1


@dataclass
class Synonyms:
    """Synonym groups keyed by their analysed token sequences."""

    expansions: dict[tuple[str, ...], list[tuple[tuple[str, ...], str]]] = field(
        default_factory=dict
    )

    @property
    def longest(self) -> int:
        return max((len(key) for key in self.expansions), default=1)

    def add(self, source: str, targets: list[str]) -> None:
        key = analyze(source)
        if not key:
            return
        known = self.expansions.setdefault(key, [])
        for target in targets:
            tokens = analyze(target)
            if tokens and tokens != key and all(tokens != t for t, _ in known):
                known.append((tokens, target))

    @classmethod
    def parse(cls, text: str) -> Synonyms:
        """Parse the synonyms file format (see data/synonyms.txt)."""
        synonyms = cls()
        for line in text.splitlines():
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            if "=>" in line:
                left, right = line.split("=>", 1)
                targets = [t.strip() for t in right.split(",") if t.strip()]
                for source in left.split(","):
                    synonyms.add(source.strip(), targets)
            else:
                group = [t.strip() for t in line.split(",") if t.strip()]
                for term in group:
                    synonyms.add(term, group)
        return synonyms


@cache
def default_synonyms() -> Synonyms:
    """Return the synonyms shipped in data/synonyms.txt."""
    return Synonyms.parse((resource_dir("data") / "synonyms.txt").read_text("utf-8"))


_PHRASE = re.compile(r'"([^"]*)"')


def parse(text: str, synonyms: Synonyms | None = None) -> list[Concept]:
    """Parse a keyword query into concepts; quoted text is a phrase, all else is plain words."""
    synonyms = synonyms or default_synonyms()
    if len(text) > MAX_QUERY_LENGTH:  # cut at a word boundary, never mid-word
        text = text[:MAX_QUERY_LENGTH + 1].rsplit(None, 1)[0]
    concepts: list[Concept] = []
    for phrase in _PHRASE.findall(text):
        tokens = analyze(phrase)
        if tokens:
            concepts.append(_concept(tokens, phrase.strip(), synonyms))
    rest = _PHRASE.sub(" ", text).replace('"', " ")
    words = [(token.text, rest[token.startchar:token.endchar])
             for token in analyzer()(rest, chars=True)]
    i = 0
    while i < len(words):
        # Longest synonym phrase starting here, so "low back pain" stays one concept.
        for size in range(min(synonyms.longest, len(words) - i), 0, -1):
            tokens = tuple(w for w, _ in words[i:i + size])
            if size == 1 or tokens in synonyms.expansions:
                surface = " ".join(s for _, s in words[i:i + size]).lower()
                concepts.append(_concept(tokens, surface, synonyms))
                i += size
                break
    unique = list({c.alternatives[0].tokens: c for c in concepts}.values())
    return unique[:MAX_CONCEPTS]


def _concept(tokens: tuple[str, ...], surface: str, synonyms: Synonyms) -> Concept:
    alternatives = [Alternative(tokens, surface, EXACT)]
    for target_tokens, target_text in synonyms.expansions.get(tokens, []):
        alternatives.append(Alternative(target_tokens, target_text, SYNONYM))
    return Concept(surface, tuple(alternatives))


def with_corrections(concept: Concept, corrections: list[tuple[str, str]]) -> Concept:
    """Add spelling corrections ``(word, stemmed token)`` to a one-word concept."""
    extra = tuple(Alternative((token,), word, FUZZY) for word, token in corrections)
    return Concept(concept.text, concept.alternatives + extra)
