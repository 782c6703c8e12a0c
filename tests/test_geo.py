"""Distances agree with geopy's geodesic distance."""

from __future__ import annotations

import numpy as np
import pytest
from geopy.distance import geodesic

from finder import geo
from finder.geo import geodesic_km, geodesic_km_many, haversine_km


@pytest.mark.parametrize("origin", [(30.27, -97.74), (0.0, 0.0), (-45.0, 170.0), (89.9, 10.0),
                                    (64.1, -21.9)])
@pytest.mark.parametrize("spread", [0.5, 5.0, 180.0])
def test_vectorised_geodesic_matches_geopy(origin: tuple[float, float], spread: float) -> None:
    rng = np.random.default_rng(7)
    lats = np.clip(origin[0] + rng.uniform(-spread, spread, 300), -89.99, 89.99)
    lons = (origin[1] + rng.uniform(-spread, spread, 300) + 180) % 360 - 180
    fast = geodesic_km_many(origin[0], origin[1], lats, lons)
    for lat, lon, km in zip(lats[:60], lons[:60], fast[:60], strict=True):
        assert km == pytest.approx(geodesic(origin, (lat, lon)).km, abs=1e-6)
    scalar = [geodesic_km(origin[0], origin[1], lat, lon) for lat, lon in zip(lats, lons,
                                                                             strict=True)]
    assert np.allclose(fast, scalar, rtol=0, atol=1e-6)


def test_same_point_and_antipodes() -> None:
    distances = geodesic_km_many(10.0, 10.0, np.array([10.0, -10.0]), np.array([10.0, -170.0]))
    assert distances[0] == 0.0
    assert distances[1] == pytest.approx(geodesic((10, 10), (-10, -170)).km, abs=1e-6)


def test_haversine_is_within_the_prefilter_slack_of_geodesic() -> None:
    rng = np.random.default_rng(3)
    lats, lons = rng.uniform(-80, 80, 2000), rng.uniform(-180, 180, 2000)
    exact = geodesic_km_many(40.0, -75.0, lats, lons)
    rough = haversine_km(40.0, -75.0, lats, lons)
    assert np.all(np.abs(rough - exact) <= exact * 0.0057 + 1e-9)


def test_within_km_agrees_with_the_geodesic_everywhere_near_the_radius() -> None:
    rng = np.random.default_rng(3)
    for lat, lon in [(30.27, -97.74), (64.1, -21.9), (-33.9, 151.2), (0.0, 179.9)]:
        lats = lat + rng.uniform(-1.5, 1.5, 20_000)
        lons = lon + rng.uniform(-1.5, 1.5, 20_000)
        lons = (lons + 180.0) % 360.0 - 180.0
        for radius in (5.0, 40.0, 100.0):
            exact = geo.geodesic_km_many(lat, lon, lats, lons) <= radius
            assert (geo.within_km(lat, lon, lats, lons, radius) == exact).all()
            assert exact.any() and not exact.all()


def test_a_points_distance_does_not_depend_on_the_points_beside_it() -> None:
    # Ties at equal distance break by id, so equal points must get bit-equal distances
    # whichever other points a search computes alongside them.
    rng = np.random.default_rng(11)
    near = np.array([30.2801]), np.array([-97.7312])
    alone = geodesic_km_many(30.27, -97.74, *near)[0]
    for spread in (0.01, 1.0, 20.0, 120.0):
        lats = np.append(near[0], np.clip(30.27 + rng.uniform(-spread, spread, 500), -89, 89))
        lons = np.append(near[1], -97.74 + rng.uniform(-spread, spread, 500))
        assert geodesic_km_many(30.27, -97.74, lats, lons)[0] == alone
