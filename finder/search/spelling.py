"""Spelling corrections, the same on every backend.

A one-word concept that no listing contains gets the most common listing words within a few
edits of it as extra alternatives. Backends only say whether a word is held and list the
vocabulary; the choice is made here, so every backend corrects a typo to the same words.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from whoosh.support.levenshtein import damerau_levenshtein

from .query import Concept, analyze, with_corrections

MIN_LENGTH = 4  # shorter words are too often meant as typed (abbreviations, codes)
SUGGESTIONS = 3
CACHE_SIZE = 4096  # concepts whose outcome a backend keeps until its data changes

# Whether any listing holds one of these analysed words.
Contains = Callable[[list[str]], bool]
# The vocabulary's words starting with a letter, within a range of lengths, and how many
# listings hold each.
Vocabulary = Callable[[str, int, int], Iterable[tuple[str, int]]]


def max_edits(word: str) -> int:
    return 1 if len(word) <= 6 else 2


def correct(concept: Concept, contains: Contains, vocabulary: Vocabulary) -> tuple[Concept, str]:
    """Return the concept with corrections when no listing holds its word, and the word it
    is corrected to ("" when it is left as it is).

    The corrections are the most common words within ``max_edits`` Damerau-Levenshtein edits
    (a swap of two letters is one edit) that share the typed word's first letter.
    """
    if not concept.is_single_word or len(concept.text) < MIN_LENGTH:
        return concept, ""
    if contains([alt.tokens[0] for alt in concept.alternatives if len(alt.tokens) == 1]):
        return concept, ""
    typed = concept.text.lower()
    edits = max_edits(typed)
    near = [(count, word) for word, count in vocabulary(typed[0], len(typed) - edits,
                                                       len(typed) + edits)
            if damerau_levenshtein(word, typed, limit=edits) <= edits]
    near.sort(key=lambda found: (-found[0], found[1]))
    fixes = [(word, analyze(word)[0]) for _, word in near[:SUGGESTIONS] if analyze(word)]
    if not fixes:
        return concept, ""
    return with_corrections(concept, fixes), fixes[0][0]


def correct_all(concepts: list[Concept], cache: dict[Concept, tuple[Concept, str]],
                correct_one: Callable[[Concept], tuple[Concept, str]]
                ) -> tuple[list[Concept], dict[str, str]]:
    """Correct each concept with ``correct_one``, remembering outcomes in ``cache``; return
    the concepts and each typed word -> the word it was corrected to."""
    corrected, corrections = [], {}
    for concept in concepts:
        known = cache.get(concept)
        if known is None:
            if len(cache) >= CACHE_SIZE:
                cache.clear()
            known = cache[concept] = correct_one(concept)
        concept, fixed = known
        if fixed:
            corrections[concept.text] = fixed
        corrected.append(concept)
    return corrected, corrections
