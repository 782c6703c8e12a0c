"""What both peers share: reading the generated CSV, request arguments, origin, errors."""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from flask import Flask, Response, jsonify, request

from finder.errors import FinderError
from finder.geocode.gazetteer import Gazetteer

KM_PER_UNIT = {"mi": 1.609344, "km": 1.0}


@dataclass(frozen=True)
class Row:
    """One listing as the peers store it; ``id`` is its 1-based line in the CSV."""

    id: int
    name: str
    services: str
    conditions: str
    description: str
    lat: float
    lon: float
    telehealth: bool
    accepting: bool
    languages: list[str]


@cache
def gazetteer() -> Gazetteer:
    """Return finder's offline gazetteer, shared by the whole process."""
    return Gazetteer()


def read_rows(csv_path: Path) -> Iterator[Row]:
    """Yield the listings of a generated CSV; rows without coordinates get their postcode's."""
    with open(csv_path, encoding="utf-8", newline="") as handle:
        for number, row in enumerate(csv.DictReader(handle), start=1):
            if row["latitude"] and row["longitude"]:
                lat, lon = float(row["latitude"]), float(row["longitude"])
            else:
                place = gazetteer().postcode(row["postcode"], row["country"] or "US")
                lat, lon = place.lat, place.lon
            yield Row(
                id=number, name=row["name"], services=row["services"],
                conditions=row["conditions"], description=row["description"], lat=lat, lon=lon,
                telehealth=row["telehealth"].strip().lower() in ("true", "yes", "1"),
                accepting=row["accepting_new_patients"].strip().lower() in ("true", "yes", "1"),
                languages=[x.strip().lower() for x in row["languages"].split(";") if x.strip()],
            )


@dataclass(frozen=True)
class Search:
    lat: float
    lon: float
    q: str
    radius_km: float
    unit: str
    limit: int
    telehealth: bool | None
    accepting: bool | None
    language: str


class BadRequest(Exception):
    pass


def _flag(name: str) -> bool | None:
    raw = request.args.get(name, "").strip().lower()
    return None if raw == "" else raw in ("true", "yes", "1")


def parse_search() -> Search:
    """Read the query string of /api/v1/search (the subset the benchmark sends)."""
    args = request.args
    unit = args.get("unit", "mi")
    try:
        radius = float(args.get("radius", "25"))
        limit = int(args.get("limit", "10"))
    except ValueError as exc:
        raise BadRequest(str(exc)) from exc
    if unit not in KM_PER_UNIT or not math.isfinite(radius) or radius <= 0:
        raise BadRequest("bad radius or unit")
    try:
        place = gazetteer().postcode(args.get("postcode", ""), args.get("country", "US"))
    except FinderError as exc:
        raise BadRequest(exc.message) from exc
    return Search(place.lat, place.lon, args.get("q", "").strip(), radius * KM_PER_UNIT[unit],
                  unit, max(1, min(limit, 50)), _flag("telehealth"),
                  _flag("accepting_new_patients"), args.get("language", "").strip().lower())


def answer(search: Search, hits: list[tuple[int, str, float]]) -> dict[str, Any]:
    """Return the JSON body: the origin and (id, name, distance in the unit) per hit."""
    per_unit = KM_PER_UNIT[search.unit]
    return {"origin": {"lat": search.lat, "lon": search.lon},
            "results": [{"id": i, "name": name, "distance": round(km / per_unit, 3)}
                        for i, name, km in hits]}


def install_common(app: Flask) -> None:
    """Add /healthz, the 400 answer and a warm gazetteer to a peer app."""
    gazetteer().postcode("10001", "US")

    @app.errorhandler(BadRequest)
    def _bad_request(exc: BadRequest) -> tuple[Response, int]:
        return jsonify({"error": {"code": "bad_request", "message": str(exc)}}), 400

    @app.get("/healthz")
    def healthz() -> Response:
        return jsonify({"status": "ok"})
