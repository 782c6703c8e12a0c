"""One exception root for finder; vendor errors are translated into these at the edge."""

from __future__ import annotations


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
