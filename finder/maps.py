"""Maps of results and profiles, drawn as inline SVG, and links to a directions service.

A map shows where providers are relative to the search origin: distance rings in the search
unit, a scale bar, north, the origin and numbered pins that match the list. By default there
is no basemap, so a page with a map asks no other host for anything. When the operator names
a tile server (``FINDER_MAP_TILE_URL``) the map becomes Web Mercator at a tile zoom level, so
the pins line up with the tiles drawn behind them.

Everything here is pure: numbers in, drawing instructions out (the template draws them).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from geographiclib.geodesic import Geodesic

from . import geo

if TYPE_CHECKING:
    from .search.outcome import SearchOutcome

WIDTH = 340  # viewBox units: about one per CSS pixel in the page's map column
RESULTS_HEIGHT = 340
PROFILE_HEIGHT = 200
LONE_HEIGHT = 140  # a provider alone: little to show without a basemap
PIN_RADIUS = 12.0  # pins 2 * 12 + 2 apart leave each a 24 px target at the usual scale
PIN_GAP = 2.0  # between nudged pins
PAD = PIN_RADIUS + 12.0  # free margin inside the frame
TILE_SIZE = 256
MAX_ZOOM = 19
EARTH_RADIUS_M = 6378137.0  # Web Mercator's sphere
MIN_HALF_EXTENT_KM = 0.6  # a provider alone is shown at street scale
NUDGE_ROUNDS = 80
_WGS84 = Geodesic.WGS84


@dataclass(frozen=True)
class Origin:
    """The point a search was made from."""

    lat: float
    lon: float
    label: str


@dataclass(frozen=True)
class Point:
    """A provider to pin, numbered as in the list beside the map (0: a lone, unnumbered pin)."""

    id: int
    number: int
    name: str
    lat: float
    lon: float
    distance: str = ""  # e.g. "0.5 mi"; empty when there is no origin


@dataclass(frozen=True)
class Pin:
    """A numbered pin; (x, y) may be nudged off its true place (ax, ay) to stay readable."""

    id: int
    number: int
    name: str
    distance: str
    x: float
    y: float
    ax: float
    ay: float

    @property
    def label(self) -> str:
        """Return the pin's accessible name, e.g. "1. Needle Point PT, 0.5 mi"."""
        name = f"{self.number}. {self.name}" if self.number else self.name
        return f"{name}, {self.distance}" if self.distance else name

    @property
    def moved(self) -> bool:
        """Return whether the pin was nudged away from its true place."""
        return math.hypot(self.x - self.ax, self.y - self.ay) > 1.0


@dataclass(frozen=True)
class Ring:
    """A circle at a distance from the origin."""

    distance: float  # in the map's unit
    radius: float  # in viewBox units
    label: str
    label_x: float = 0.0  # where the label is written on the ring, clear of pins if possible
    label_y: float = 0.0


@dataclass(frozen=True)
class Tile:
    """One basemap image of the operator's tile server."""

    href: str
    x: float
    y: float
    size: float


@dataclass(frozen=True)
class ScaleBar:
    x: float
    y: float
    length: float  # in viewBox units
    label: str


@dataclass(frozen=True)
class Map:
    """Everything the template draws, in viewBox units (x to the east, y to the south)."""

    width: int
    height: int
    title: str
    unit: str
    origin: tuple[float, float] | None  # the search origin's place on the map
    origin_label: str
    centre: tuple[float, float]  # where the rings are centred
    rings: list[Ring]
    pins: list[Pin]
    scale: ScaleBar
    tiles: list[Tile]
    linked: bool  # whether each pin links to its entry in a list on the page
    pin_radius: float = PIN_RADIUS
    # How a point of the view maps back to the ground (centre, scale, middle, projection),
    # for a map the clinic clicks to move its pin.
    frame: dict[str, float] | None = None

    @property
    def rings_text(self) -> str:
        """Return the rings' distances as words, e.g. "12.5 and 25 mi"."""
        values = [f"{ring.distance:g}" for ring in self.rings]
        if not values:
            return ""
        return f"{' and '.join(values)} {self.unit}"


def build(origin: Origin | None, points: Sequence[Point], *, radius: float | None, unit: str,
          title: str, tile_url: str = "", linked: bool = False, width: int = WIDTH,
          height: int = RESULTS_HEIGHT) -> Map:
    """Lay out a map of the points around the origin (or around the first point)."""
    if origin is None and not points:
        raise ValueError("a map needs an origin or at least one point")
    centre = (origin.lat, origin.lon) if origin else (points[0].lat, points[0].lon)
    km_per_unit = geo.to_km(1.0, unit)
    projection = _Projection(centre, mercator=bool(tile_url))
    local = [projection.local(p.lat, p.lon) for p in points]

    # Rings: the search radius and half of it; when the radius dwarfs the results, rings that
    # fit the results instead, so ten pins within 3 mi are not lost in a 250 mi circle.
    farthest_km = max((projection.distance_km(p.lat, p.lon) for p in points), default=0.0)
    ring_distances: list[float] = []
    if origin is not None:
        if radius is not None and (not points or radius * km_per_unit <= 1.6 * farthest_km):
            outer = radius
        else:
            outer = _nice_ceil(max(farthest_km, MIN_HALF_EXTENT_KM / 2) / km_per_unit)
        ring_distances = [outer / 2, outer]

    # The extent to fit, in local units around the centre.
    per_km = projection.units_per_km
    reach = max([d * km_per_unit * per_km for d in ring_distances] + [0.0])
    xs = [x for x, _ in local] + [-reach, reach, 0.0]
    ys = [y for _, y in local] + [-reach, reach, 0.0]
    minimum = MIN_HALF_EXTENT_KM * per_km
    x0, x1 = _widen(min(xs), max(xs), minimum)
    y0, y1 = _widen(min(ys), max(ys), minimum)
    scale = min((width - 2 * PAD) / (x1 - x0), (height - 2 * PAD) / (y1 - y0))
    tiles: list[Tile] = []
    if tile_url:
        zoom = max(0, min(MAX_ZOOM, math.floor(math.log2(scale))))
        scale = 2.0**zoom  # one tile pixel per viewBox unit: sharp tiles
    mid_x, mid_y = (x0 + x1) / 2, (y0 + y1) / 2

    def to_view(x: float, y: float) -> tuple[float, float]:
        return width / 2 + (x - mid_x) * scale, height / 2 - (y - mid_y) * scale

    if tile_url:
        tiles = _tiles(tile_url, zoom, projection.world(*centre), to_view(0.0, 0.0),
                       width, height)
    centre_xy = to_view(0.0, 0.0)
    px_per_unit = scale * per_km * km_per_unit
    anchors = [to_view(x, y) for x, y in local]
    placed = _nudge(anchors, width, height)
    rings = _label_rings(centre_xy, [d * px_per_unit for d in ring_distances], ring_distances,
                         unit, placed, width, height)
    pins = [Pin(p.id, p.number, p.name, p.distance, x, y, ax, ay)
            for p, (x, y), (ax, ay) in zip(points, placed, anchors, strict=True)]
    frame = {"lat": centre[0], "lon": centre[1], "scale": scale, "mid_x": mid_x,
             "mid_y": mid_y, "mercator": float(projection.mercator),
             "world_x": projection.world(*centre)[0], "world_y": projection.world(*centre)[1]}
    return Map(width=width, height=height, title=title, unit=unit,
               origin=centre_xy if origin else None,
               origin_label=origin.label if origin else "", centre=centre_xy, rings=rings,
               pins=pins, scale=_scale_bar(px_per_unit, unit, width, height), tiles=tiles,
               linked=linked, frame=frame)


def for_results(outcome: SearchOutcome, tile_url: str = "") -> Map | None:
    """Return the map of a results page, or None when it has no results to show."""
    if not outcome.hits:
        return None
    origin = Origin(outcome.origin.lat, outcome.origin.lon, outcome.origin.label)
    per_unit = geo.to_km(1.0, outcome.unit)
    points = [Point(hit.listing["id"], outcome.params.offset + n, hit.listing["name"],
                    hit.listing["lat"], hit.listing["lon"],
                    f"{hit.ranked.distance_km / per_unit:.1f} {outcome.unit}")
              for n, hit in enumerate(outcome.hits, start=1)]
    return build(origin, points, radius=outcome.radius, unit=outcome.unit,
                 title=f"Map of the results around {origin.label}", tile_url=tile_url,
                 linked=True)


def for_provider(listing: Any, origin: Origin | None = None, tile_url: str = "",
                 unit: str = "") -> Map:
    """Return the map of a profile: the provider alone, or with the search origin (distances
    in ``unit``, by default the listing's country's)."""
    unit = unit or geo.default_unit(listing.country or "")
    distance = ""
    if origin is not None:
        km = geo.geodesic_km(origin.lat, origin.lon, listing.latitude, listing.longitude)
        distance = f"{geo.from_km(km, unit):.1f} {unit}"
    point = Point(listing.id, 0, listing.name, listing.latitude, listing.longitude, distance)
    title = (f"Map of {listing.name} and {origin.label}" if origin
             else f"Map of {listing.name}")
    height = PROFILE_HEIGHT if origin or tile_url else LONE_HEIGHT
    return build(origin, [point], radius=None, unit=unit, title=title, tile_url=tile_url,
                 height=height)


def for_placement(lat: float, lon: float, name: str, tile_url: str = "", unit: str = "mi"
                  ) -> Map:
    """Return the map of where a clinic was placed, at street scale, for moving its pin."""
    point = Point(0, 0, name or "Your clinic", lat, lon)
    return build(None, [point], radius=None, unit=unit, title=f"Where {point.name} is placed",
                 tile_url=tile_url, height=PROFILE_HEIGHT)


def origin_from_args(args: Any, label: str = "your search point") -> Origin | None:
    """Return the origin named by ``from_lat`` and ``from_lon``, or None if they are not valid."""
    try:
        lat, lon = float(args.get("from_lat", "")), float(args.get("from_lon", ""))
    except (TypeError, ValueError):
        return None
    if not (math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90
            and -180 <= lon <= 180):
        return None
    return Origin(lat, lon, label)


def directions_url(template: str, lat: float, lon: float, from_lat: float | None = None,
                   from_lon: float | None = None) -> str:
    """Fill a directions URL template (see ``FINDER_DIRECTIONS_URL``) for a trip to lat, lon."""
    known = from_lat is not None and from_lon is not None
    start_lat = _coordinate(from_lat) if known and from_lat is not None else ""
    start_lon = _coordinate(from_lon) if known and from_lon is not None else ""
    values = {
        "lat": _coordinate(lat), "lon": _coordinate(lon),
        "to": f"{_coordinate(lat)}%2C{_coordinate(lon)}",
        "from_lat": start_lat, "from_lon": start_lon,
        "from": f"{start_lat}%2C{start_lon}" if known else "",
    }
    return template.format(**values)


def _coordinate(value: float) -> str:
    return f"{value:.5f}"  # about a metre


class _Projection:
    """Local plane coordinates around a centre, x east and y north.

    Azimuthal equidistant by default (distances from the centre are exact, so a pin lies
    inside the ring of any distance larger than its own); Web Mercator under tiles, in world
    pixels at zoom 0.
    """

    def __init__(self, centre: tuple[float, float], *, mercator: bool) -> None:
        self.centre = centre
        self.mercator = mercator
        if mercator:
            metres_per_unit = (2 * math.pi * EARTH_RADIUS_M * math.cos(math.radians(centre[0]))
                               / TILE_SIZE)
            self.units_per_km = 1000.0 / metres_per_unit
            self.origin_world = self.world(*centre)
        else:
            self.units_per_km = 1.0

    def local(self, lat: float, lon: float) -> tuple[float, float]:
        if self.mercator:
            wx, wy = self.world(lat, lon)
            ox, oy = self.origin_world
            return wx - ox, oy - wy
        line = _WGS84.Inverse(self.centre[0], self.centre[1], lat, lon,
                              Geodesic.DISTANCE | Geodesic.AZIMUTH)
        km, azimuth = line["s12"] / 1000.0, math.radians(line["azi1"])
        return km * math.sin(azimuth), km * math.cos(azimuth)

    def distance_km(self, lat: float, lon: float) -> float:
        return geo.geodesic_km(self.centre[0], self.centre[1], lat, lon)

    @staticmethod
    def world(lat: float, lon: float) -> tuple[float, float]:
        """Return Web Mercator world pixels at zoom 0 (x east, y south)."""
        lat = max(-85.05112878, min(85.05112878, lat))
        siny = math.sin(math.radians(lat))
        x = (lon + 180.0) / 360.0 * TILE_SIZE
        y = (0.5 - math.log((1 + siny) / (1 - siny)) / (4 * math.pi)) * TILE_SIZE
        return x, y


def _tiles(template: str, zoom: int, centre_world: tuple[float, float],
           centre_view: tuple[float, float], width: int, height: int) -> list[Tile]:
    """Return the tiles covering the viewBox, the centre's world pixel at ``centre_view``."""
    n = 2**zoom
    cx, cy = centre_world[0] * n, centre_world[1] * n  # world pixels at this zoom
    left, top = cx - centre_view[0], cy - centre_view[1]  # world pixel of the viewBox corner
    tiles = []
    for ty in range(math.floor(top / TILE_SIZE), math.floor((top + height) / TILE_SIZE) + 1):
        if not 0 <= ty < n:
            continue  # beyond the poles
        for tx in range(math.floor(left / TILE_SIZE), math.floor((left + width) / TILE_SIZE) + 1):
            href = template.format(z=zoom, x=tx % n, y=ty)
            tiles.append(Tile(href, tx * TILE_SIZE - left, ty * TILE_SIZE - top, TILE_SIZE))
    return tiles


def _widen(low: float, high: float, minimum: float) -> tuple[float, float]:
    """Return the interval grown symmetrically to at least twice ``minimum`` wide."""
    if high - low >= 2 * minimum:
        return low, high
    middle = (low + high) / 2
    return middle - minimum, middle + minimum


def _nice_ceil(value: float) -> float:
    """Return the smallest round number (1, 2, 2.5, 3, 4, 5, 6, 8 times 10^k) >= ``value``."""
    power = 10.0 ** math.floor(math.log10(value))
    return next(step * power for step in (1, 2, 2.5, 3, 4, 5, 6, 8, 10)
                if step * power >= value * 0.999)


def _nice_floor(value: float) -> float:
    """Return the largest of 1, 2, 5 times a power of ten that is at most ``value``."""
    power = 10.0 ** math.floor(math.log10(value))
    return next(step * power for step in (5, 2, 1) if step * power <= value * 1.001)


def _scale_bar(px_per_unit: float, unit: str, width: int, height: int) -> ScaleBar:
    length = _nice_floor(width / 4 / px_per_unit)
    return ScaleBar(x=12.0, y=height - 12.0, length=length * px_per_unit,
                    label=f"{length:g} {unit}")


# Where a ring's label may go, in order of preference: clockwise degrees from north.
LABEL_BEARINGS = (0, 315, 45, 270, 90, 225, 135, 180)
LABEL_HALF_SIZE = (20.0, 7.0)  # half the width and height of a label like "12.5 mi"


def _label_rings(centre: tuple[float, float], radii: list[float], distances: list[float],
                 unit: str, pins: list[tuple[float, float]], width: int,
                 height: int) -> list[Ring]:
    """Put each ring's label on the ring where no pin or other label covers it."""
    taken = list(pins)
    rings = []
    clear = PIN_RADIUS + LABEL_HALF_SIZE[0]
    for distance, radius in zip(distances, radii, strict=True):
        best, best_room = centre, -1.0
        for bearing in LABEL_BEARINGS:
            angle = math.radians(bearing)
            x, y = centre[0] + radius * math.sin(angle), centre[1] - radius * math.cos(angle)
            if not (LABEL_HALF_SIZE[0] <= x <= width - LABEL_HALF_SIZE[0]
                    and LABEL_HALF_SIZE[1] <= y <= height - LABEL_HALF_SIZE[1]):
                continue
            room = min((math.hypot(x - px, (y - py) * 2) for px, py in taken), default=clear)
            if room >= clear:
                best = (x, y)
                break
            if room > best_room:
                best, best_room = (x, y), room
        taken.append(best)
        rings.append(Ring(distance, radius, f"{distance:g} {unit}", best[0], best[1]))
    return rings


def _nudge(anchors: list[tuple[float, float]], width: int,
           height: int) -> list[tuple[float, float]]:
    """Push overlapping pins apart just enough to read each one; keep them in the frame."""
    if not anchors:
        return []
    at = np.array(anchors, dtype=np.float64)
    low, high = PIN_RADIUS + 1, np.array([width, height]) - PIN_RADIUS - 1
    at = np.clip(at, low, high)
    n = len(at)
    # Pins on the same spot start on a small golden-angle spiral, so they part in a stable way.
    angles = np.arange(n) * 2.399963
    at += np.stack([np.cos(angles), np.sin(angles)], axis=1) * 0.01
    separation = 2 * PIN_RADIUS + PIN_GAP
    upper = np.triu(np.ones((n, n), dtype=bool), k=1)
    for _ in range(NUDGE_ROUNDS):
        delta = at[:, None, :] - at[None, :, :]
        distance = np.hypot(delta[..., 0], delta[..., 1])
        overlapping = upper & (distance < separation)
        if not overlapping.any():
            break
        overlapping |= overlapping.T
        push = np.where(overlapping, (separation - distance) / 2 / np.maximum(distance, 1e-9),
                        0.0)
        at += (delta * push[..., None]).sum(axis=1) * 0.6
        at = np.clip(at, low, high)
    return [(float(x), float(y)) for x, y in at]
