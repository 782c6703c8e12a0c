"""Whether the registry's name for an NPI and a listing's name are the same provider's.

The registry holds legal names ("EASTSIDE PHYSICAL THERAPY, P.L.L.C."); listings hold what
patients see ("Eastside PT"). They are compared leniently: case, punctuation, company
suffixes and common abbreviations are ignored, and a close spelling still agrees.
"""

from __future__ import annotations

import re
import unicodedata
from difflib import SequenceMatcher

# How close two normalised names must be to agree when their words differ.
CLOSE_ENOUGH = 0.88

COMPANY_SUFFIXES = frozenset({
    "llc", "pllc", "lllp", "llp", "lp", "pc", "psc", "pa", "inc", "incorporated", "corp",
    "corporation", "co", "company", "ltd", "limited", "the", "and", "of", "dba", "sc",
})
CREDENTIALS = frozenset({
    "pt", "dpt", "mpt", "mspt", "ms", "ma", "ba", "bs", "bsc", "phd", "ocs", "scs", "ncs",
    "cscs", "atc", "faaompt", "cert", "dn", "ptp", "jr", "sr", "ii", "iii", "mr", "mrs", "dr",
    "cmpt", "ccs", "gcs", "wcs",
})
ABBREVIATIONS = {"pt": "physical therapy", "rehab": "rehabilitation", "ctr": "center",
                 "centre": "center", "ptrs": "physical therapy", "svcs": "services",
                 "assoc": "associates", "hlth": "health", "med": "medical"}
# Words so common in clinic names that sharing only them says nothing.
GENERIC = frozenset({"physical", "therapy", "therapists", "rehabilitation", "center", "clinic",
                     "sports", "services", "associates", "health", "medical", "wellness",
                     "and", "group", "care", "pain", "spine", "orthopedic", "orthopaedic"})


def _words(name: str) -> list[str]:
    """Lower-case ASCII words, with "&" read as "and" and "P.L.L.C." as "pllc"."""
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    folded = folded.casefold().replace("&", " and ")
    folded = re.sub(r"(?<=\b\w)\.(?=\w\b)", "", folded)  # P.L.L.C. -> PLLC
    folded = folded.replace(".", "").replace("'", "")
    return re.findall(r"[a-z0-9]+", folded)


def organisation_words(name: str) -> list[str]:
    """The words of an organisation's name that identify it."""
    words: list[str] = []
    for word in _words(name):
        words.extend(ABBREVIATIONS.get(word, word).split())
    return [word for word in words if word not in COMPANY_SUFFIXES]


def person_words(name: str) -> list[str]:
    """The words of a person's name, without credentials and titles ("Dana Smith, DPT")."""
    return [word for word in _words(name) if word not in CREDENTIALS]


def _agree(mine: list[str], theirs: list[str]) -> bool:
    if not mine or not theirs:
        return False
    if set(mine) == set(theirs):
        return True
    shorter, longer = sorted((set(mine), set(theirs)), key=len)
    # "Eastside Physical Therapy" inside "Eastside Physical Therapy Downtown", as long as the
    # shared words say more than "physical therapy".
    if shorter <= longer and shorter - GENERIC:
        return True
    ratio = SequenceMatcher(None, " ".join(sorted(mine)), " ".join(sorted(theirs))).ratio()
    return ratio >= CLOSE_ENOUGH


def same_organisation(registry_name: str, *names: str) -> bool:
    """Whether the registry's legal name agrees with any of a listing's names."""
    theirs = organisation_words(registry_name)
    return any(_agree(organisation_words(name), theirs) for name in names if name)


def same_person(registry_name: str, name: str) -> bool:
    """Whether the registry's "LAST, FIRST" agrees with a practitioner's name: the last name
    is there and the first name agrees (or is an initial of it)."""
    last, _, first = registry_name.partition(",")
    last_words, first_words = person_words(last), person_words(first)
    words = person_words(name)
    if not last_words or not words:
        return False
    if set(last_words) <= set(words) and (
            not first_words or first_words[0] in words
            or any(word[0] == first_words[0][0] and len(word) == 1 for word in words)):
        return True
    return _agree(words, first_words + last_words)
