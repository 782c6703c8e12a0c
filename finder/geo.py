"""Distance maths: geodesic distance (as geopy computes it), units and a fast prefilter."""

from __future__ import annotations

import numpy as np
from geographiclib.geodesic import Geodesic
from geopy.distance import EARTH_RADIUS

KM_PER_MILE = 1.609344
UNITS = {"mi": KM_PER_MILE, "km": 1.0}
# Miles where people think in miles; kilometres everywhere else.
MILE_COUNTRIES = frozenset({"US", "GB", "LR", "MM", "PR", "GU", "VI", "AS", "MP"})

_WGS84 = Geodesic.WGS84
# The spherical prefilter may differ from the ellipsoid by up to ~0.56%; widen it by 1%.
PREFILTER_SLACK = 1.01


def default_unit(country: str) -> str:
    """Return the distance unit people in a country expect."""
    return "mi" if country.upper() in MILE_COUNTRIES else "km"


def to_km(value: float, unit: str) -> float:
    return value * UNITS[unit]


def from_km(km: float, unit: str) -> float:
    return km / UNITS[unit]


def geodesic_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Return the WGS-84 geodesic distance in km.

    This is the computation behind ``geopy.distance.geodesic`` (Karney's algorithm from
    geographiclib), called directly because it is the hot path of every search.
    """
    return float(_WGS84.Inverse(lat1, lon1, lat2, lon2, Geodesic.DISTANCE)["s12"]) / 1000.0


def haversine_km(lat: float, lon: float, lats: np.ndarray, lons: np.ndarray) -> np.ndarray:
    """Return great-circle distances in km from one point to arrays of points (in degrees)."""
    lat1, lon1 = np.radians(lat), np.radians(lon)
    lat2, lon2 = np.radians(lats), np.radians(lons)
    a = (np.sin((lat2 - lat1) / 2.0) ** 2
         + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2.0) ** 2)
    result: np.ndarray = 2.0 * EARTH_RADIUS * np.arcsin(np.sqrt(np.minimum(a, 1.0)))
    return result
