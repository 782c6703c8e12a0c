"""Distance maths: geodesic distance (as geopy computes it), units and a fast prefilter."""

from __future__ import annotations

import math

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


def within_km(lat: float, lon: float, lats: np.ndarray, lons: np.ndarray,
              radius_km: float) -> np.ndarray:
    """Return which points are within ``radius_km`` geodesic km, exactly as comparing
    ``geodesic_km_many`` would, computing the geodesic only near the radius (where the
    great-circle distance cannot tell)."""
    spherical = haversine_km(lat, lon, lats, lons)
    inside = spherical * PREFILTER_SLACK <= radius_km
    unsure = ~inside & (spherical <= radius_km * PREFILTER_SLACK)
    if unsure.any():
        inside[unsure] = geodesic_km_many(lat, lon, lats[unsure], lons[unsure]) <= radius_km
    return inside


# WGS-84, as in geographiclib.
_A = 6378137.0
_F = 1 / 298.257223563
_B = (1 - _F) * _A
_E2 = (_A**2 - _B**2) / _B**2
_TOLERANCE = 1e-12  # radians of longitude on the auxiliary sphere
_MAX_ITERATIONS = 20  # near-me lines converge in a few; the rest fall back


def geodesic_km_many(lat: float, lon: float, lats: np.ndarray, lons: np.ndarray) -> np.ndarray:
    """Return WGS-84 geodesic distances in km from one point to arrays of points.

    Vincenty's inverse formula, vectorised, agrees with Karney's algorithm (what geopy uses)
    to well under a millimetre. Near-me distances converge in a few iterations; the rare
    pairs that do not (long or nearly antipodal lines) are computed with geographiclib.
    """
    lats = np.asarray(lats, dtype=np.float64)
    lons = np.asarray(lons, dtype=np.float64)
    u1 = math.atan((1 - _F) * math.tan(math.radians(lat)))
    sin_u1, cos_u1 = math.sin(u1), math.cos(u1)
    u2 = np.arctan((1 - _F) * np.tan(np.radians(lats)))
    sin_u2, cos_u2 = np.sin(u2), np.cos(u2)
    big_l = np.radians(lons - lon)
    a, b = cos_u1 * sin_u2, sin_u1 * cos_u2
    c_, d = cos_u1 * cos_u2, sin_u1 * sin_u2
    lam = big_l
    # Coincident points divide by zero below (0 m), and lines along the equator too (rare:
    # computed with geographiclib). Guarding every iteration would cost more than fixing
    # those lanes once afterwards.
    coincident = (lats == lat) & (lons == lon)
    with np.errstate(divide="ignore", invalid="ignore"):
        for _ in range(_MAX_ITERATIONS):
            sin_lam, cos_lam = np.sin(lam), np.cos(lam)
            sin_sigma = np.hypot(cos_u2 * sin_lam, a - b * cos_lam)
            cos_sigma = d + c_ * cos_lam
            sigma = np.arctan2(sin_sigma, cos_sigma)
            sin_alpha = c_ * sin_lam / sin_sigma
            cos2_alpha = 1 - sin_alpha * sin_alpha
            cos_2sm = cos_sigma - 2 * d / cos2_alpha
            c = _F / 16 * cos2_alpha * (4 + _F * (4 - 3 * cos2_alpha))
            previous = lam
            lam = big_l + (1 - c) * _F * sin_alpha * (
                sigma + c * sin_sigma * (cos_2sm + c * cos_sigma * (2 * cos_2sm * cos_2sm - 1)))
            moving = np.abs(lam - previous) > _TOLERANCE
            if not moving.any():
                break
            # A converged lane keeps its lambda, so its distance is what it would be computed
            # alone: otherwise the other points searched alongside decide how many iterations
            # it gets, and equal points in different searches tie-break differently.
            lam = np.where(moving, lam, previous)
        u2s = cos2_alpha * _E2
        big_a = 1 + u2s / 16384 * (4096 + u2s * (-768 + u2s * (320 - 175 * u2s)))
        big_b = u2s / 1024 * (256 + u2s * (-128 + u2s * (74 - 47 * u2s)))
        delta_sigma = big_b * sin_sigma * (cos_2sm + big_b / 4 * (
            cos_sigma * (2 * cos_2sm * cos_2sm - 1)
            - big_b / 6 * cos_2sm * (4 * sin_sigma * sin_sigma - 3) * (4 * cos_2sm * cos_2sm - 3)))
        metres = _B * big_a * (sigma - delta_sigma)
    metres[coincident] = 0.0
    for i in np.flatnonzero((moving | ~np.isfinite(metres)) & ~coincident):
        metres[i] = _WGS84.Inverse(lat, lon, lats[i], lons[i], Geodesic.DISTANCE)["s12"]
    result: np.ndarray = metres / 1000.0
    return result
