"""One exception root for finder; vendor errors are translated into these at the edge."""

from __future__ import annotations

import errno


class FinderError(Exception):
    """Base of every error finder raises on purpose."""

    code = "finder_error"
    status = 500

    def __init__(self, message: str, *, code: str | None = None,
                 suggestions: list[dict[str, str]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        # What the user probably meant, each a set of search arguments and a label.
        self.suggestions = suggestions or []


class ConfigError(FinderError):
    """A setting or environment value that cannot be used."""

    code = "invalid_setting"


class InvalidInput(FinderError):
    """Bad input from a user: answered with a 400 and a specific code."""

    code = "invalid_input"
    status = 400


class AccessDenied(FinderError):
    """A partner key that is unknown, disabled or used from an origin it is not bound to."""

    code = "invalid_key"
    status = 403


class GeocodingError(FinderError):
    """A place that cannot be located."""

    code = "geocoding_failed"
    status = 400


class UnknownPostcode(GeocodingError):
    code = "unknown_postcode"


class UnknownCity(GeocodingError):
    code = "unknown_city"


class GeocoderUnavailable(GeocodingError):
    """An online geocoder that timed out, refused or failed."""

    code = "geocoder_unavailable"
    status = 503


class NotFound(FinderError):
    code = "not_found"
    status = 404


class SearchUnavailable(FinderError):
    """The search engine cannot answer (index missing, locked or corrupt)."""

    code = "search_unavailable"
    status = 503


class InvalidPostcode(GeocodingError):
    """A postcode whose shape is wrong for its country."""

    code = "invalid_postcode"


class UnsupportedCountry(GeocodingError):
    code = "unsupported_country"


class DiskFull(FinderError):
    """The disk holding the database or the search index is full."""

    code = "disk_full"
    status = 503


# What each layer says when the disk is full: the OS (ENOSPC, or EDQUOT past a quota),
# SQLite (SQLITE_FULL) and PostgreSQL (SQLSTATE 53100, disk_full).
_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
_FULL_TEXTS = ("database or disk is full", "no space left on device", "disk quota exceeded")


def is_disk_full(exc: BaseException) -> bool:
    """Whether an error, or one it was raised from, says the disk is full."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending:
        error = pending.pop()
        if error is None or id(error) in seen:
            continue
        seen.add(id(error))
        if isinstance(error, OSError) and error.errno in _FULL_ERRNOS:
            return True
        if getattr(error, "sqlstate", None) == "53100" or any(
                text in str(error).lower() for text in _FULL_TEXTS):
            return True
        pending += [error.__cause__, error.__context__, getattr(error, "orig", None)]
    return False
