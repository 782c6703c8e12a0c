"""Geocoding: turn a postcode, a city or an address into a point.

A geocoder satisfies the small ``Geocoder`` protocol; the registry maps the names in the
``FINDER_GEOCODERS`` setting to constructors, and ``GeocoderChain`` asks them in order. The
offline gazetteer is the default and needs no network; online services are opt-in.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from flask import Flask, current_app

from ..errors import ConfigError, GeocodingError


@dataclass(frozen=True)
class Place:
    """A located point and how precisely it is known."""

    lat: float
    lon: float
    label: str
    precision: str  # "point", "address", "postcode" or "city"
    source: str  # the geocoder that found it
    country: str
    postcode: str = ""
    city: str = ""
    region: str = ""
    timezone: str | None = None


class Geocoder(Protocol):
    name: str
    locates_addresses: bool

    def postcode(self, code: str, country: str) -> Place:
        """Locate a postcode in a country or raise UnknownPostcode / InvalidPostcode."""
        ...

    def city(self, name: str, country: str) -> Place:
        """Locate a city ("Austin" or "Austin, TX") or raise UnknownCity."""
        ...

    def address(self, query: str, country: str) -> Place:
        """Locate a street address or raise GeocodingError."""
        ...


class GeocoderChain:
    """Ask each configured geocoder in turn; the first answer wins.

    A geocoder that cannot locate the place passes to the next one; the last error is raised,
    so a failure is always reported, never turned into a missing point.
    """

    def __init__(self, geocoders: Sequence[Geocoder]) -> None:
        self.geocoders = list(geocoders)

    @property
    def locates_addresses(self) -> bool:
        return any(geocoder.locates_addresses for geocoder in self.geocoders)

    def _first(self, ask: Callable[[Geocoder], Place]) -> Place:
        error: GeocodingError | None = None
        for geocoder in self.geocoders:
            try:
                return ask(geocoder)
            except GeocodingError as exc:
                error = exc
        assert error is not None
        raise error

    def postcode(self, code: str, country: str) -> Place:
        return self._first(lambda g: g.postcode(code, country))

    def city(self, name: str, country: str) -> Place:
        return self._first(lambda g: g.city(name, country))

    def address(self, query: str, country: str) -> Place:
        return self._first(lambda g: g.address(query, country) if g.locates_addresses
                           else _no_addresses(g))


def _no_addresses(geocoder: Geocoder) -> Place:
    raise GeocodingError(f"The {geocoder.name} geocoder does not locate street addresses.")


def _gazetteer(app: Flask) -> Geocoder:
    from .gazetteer import Gazetteer

    return Gazetteer()


def _nominatim(app: Flask) -> Geocoder:
    from .online import NominatimGeocoder

    return NominatimGeocoder.from_app(app)


REGISTRY: dict[str, Callable[[Flask], Geocoder]] = {
    "gazetteer": _gazetteer,
    "nominatim": _nominatim,
}


def init_app(app: Flask) -> None:
    """Build the configured geocoder chain."""
    if not app.config["GEOCODERS"]:
        raise ConfigError("FINDER_GEOCODERS must name at least one geocoder, e.g. gazetteer")
    unknown = [name for name in app.config["GEOCODERS"] if name not in REGISTRY]
    if unknown:
        raise ConfigError(
            f"FINDER_GEOCODERS names unknown geocoder(s) {', '.join(unknown)}; "
            f"choose from {', '.join(REGISTRY)}"
        )
    app.extensions["finder.geocoder"] = GeocoderChain(
        [REGISTRY[name](app) for name in app.config["GEOCODERS"]]
    )


def get_geocoder(app: Flask | None = None) -> GeocoderChain:
    """Return the app's geocoder chain."""
    chain: GeocoderChain = (app or current_app).extensions["finder.geocoder"]
    return chain
