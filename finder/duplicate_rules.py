"""What makes two listings look like one: the same phone, website host or NPI, or a name
alike close by. Declared once, for a clinic's submission (``clinics.submissions``) and for the
whole directory (``moderation.duplicates``).

Pure functions: no database, no request.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from rapidfuzz import fuzz

NEAR_KM = 0.5  # a name alike counts only within this distance
ALIKE = 90.0  # how alike two names must be, in percent (token sort ratio)
MIN_PHONE_DIGITS = 7  # shorter numbers (a typo, an extension alone) prove nothing

# Sites where anyone has an address or a page: sharing their domain proves nothing.
SHARED_DOMAINS = ("facebook.com", "instagram.com", "linkedin.com", "google.com", "gmail.com",
                  "outlook.com", "hotmail.com", "yahoo.com", "icloud.com", "wixsite.com",
                  "squarespace.com", "wordpress.com", "yelp.com", "linktr.ee")

# Words of a business's legal form: "Peak PT" and "Peak PT, LLC" are the same clinic, and on
# short names these words alone would pull the likeness under the threshold.
LEGAL_FORMS = frozenset({"llc", "pllc", "inc", "incorporated", "pc", "psc", "ltd", "limited",
                         "co", "corp", "corporation", "lp", "llp", "pty"})
_NOT_WORD = re.compile(r"[\W_]+")
_NOT_DIGIT = re.compile(r"\D+")


def website_host(url: str) -> str:
    """A website's host name, lower case, without ``www.``."""
    try:
        host = urlsplit(url if "//" in url else f"//{url}").hostname or ""
    except ValueError:  # a malformed address (an unclosed IPv6 bracket) has no host
        return ""
    return host.rstrip(".").removeprefix("www.")


_SHARED = frozenset(SHARED_DOMAINS)


def is_shared_host(host: str) -> bool:
    """Whether a host belongs to a site where anyone may have a page or an address."""
    labels = host.split(".")
    return any(".".join(labels[start:]) in _SHARED for start in range(len(labels) - 1))


def host_key(url: str) -> str:
    """The host two listings' websites must share to look like one, or "" when it proves
    nothing (no website, or a shared site such as a social network)."""
    host = website_host(url)
    return "" if is_shared_host(host) else host


def phone_key(phone: str) -> str:
    """The digits of a phone number, or "" when too few to compare."""
    digits = _NOT_DIGIT.sub("", phone)
    return digits if len(digits) >= MIN_PHONE_DIGITS else ""


def name_key(name: str) -> str:
    """A name as it is compared: case folded, punctuation and legal forms left out."""
    words = _NOT_WORD.sub(" ", name.casefold()).split()
    kept = [word for word in words if word not in LEGAL_FORMS]
    return " ".join(kept or words)


def name_likeness(first: str, second: str) -> float:
    """How alike two names are, 0 to 100, whatever the order of their words (both as
    ``name_key`` gives them)."""
    return float(fuzz.token_sort_ratio(first, second))


def names_alike(likeness: float, km: float) -> bool:
    """Whether names this alike, this far apart, make a likely duplicate."""
    return likeness >= ALIKE and km <= NEAR_KM


def same_phone_reason(phone: str) -> str:
    return f"same phone {phone}"


def same_npi_reason(npi: str) -> str:
    return f"same NPI {npi}"


def same_website_reason(host: str) -> str:
    return f"same website {host}"


def alike_name_reason(likeness: float, km: float, name: str = "") -> str:
    """Why names alike make a likely duplicate; ``name``: the other's, when not beside it."""
    like = f"a name like {name!r} ({likeness:.0f}% alike)" if name else \
        f"a name {likeness:.0f}% alike"
    return f"{like} {km:.2f} km away"
