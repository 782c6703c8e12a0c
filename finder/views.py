"""Server-rendered pages for patients; they work without JavaScript."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from functools import partial

from flask import Blueprint, current_app, render_template, request, url_for

from . import geo, maps
from .api import run_search
from .db import get_session
from .errors import FinderError
from .hours import format_hours, is_open
from .listings import address_lines, get_published
from .search.params import MAX_RADIUS_KM, SearchParams

bp = Blueprint("views", __name__)

# Shown on the home page; tests check that each one finds providers in the demo directory.
SUGGESTED_KEYWORDS = ("dry needling", "low back pain", "sciatica", "neck pain", "headache",
                      "sports injury", "plantar fasciitis", "tennis elbow")


@bp.app_context_processor
def _helpers() -> dict[str, object]:
    return {"address_lines": address_lines, "format_hours": format_hours, "is_open": is_open,
            "now": datetime.now(UTC),
            "directions_url": partial(maps.directions_url, current_app.config["DIRECTIONS_URL"])}


@bp.get("/")
def index() -> str:
    """Show the search form."""
    return render_template("index.html", params=SearchParams(), suggestions=SUGGESTED_KEYWORDS,
                           default_country=current_app.config["DEFAULT_COUNTRY"])


@bp.get("/search")
def search() -> tuple[str, int]:
    """Show search results: the HTML twin of /api/v1/search."""
    try:
        outcome = run_search(request.args)
    except FinderError as exc:
        if exc.status >= 500:
            raise
        return render_template("index.html", error=exc, form=request.args,
                               params=SearchParams(), suggestions=SUGGESTED_KEYWORDS,
                               default_country=current_app.config["DEFAULT_COUNTRY"]), exc.status
    params = outcome.params
    pages = {}
    if params.offset + params.limit < outcome.total:
        pages["next"] = url_for(".search", **params.query_args(offset=params.offset + params.limit))
    if params.offset > 0 and outcome.total:
        pages["prev"] = url_for(".search",
                                **params.query_args(offset=max(0, params.offset - params.limit)))
    widen_radius = 0
    if outcome.widened:
        limit = geo.from_km(MAX_RADIUS_KM, outcome.unit)
        widen_radius = min(math.floor(limit), math.ceil(outcome.widened["nearest_distance"] * 1.2))
    return render_template("search.html", outcome=outcome, params=params, form=request.args,
                           pages=pages, widen_radius=widen_radius,
                           widen_url=url_for(".search", **params.query_args(
                               radius=widen_radius, unit=outcome.unit, offset=0)),
                           sort_links={
                               sort: url_for(".search", **params.query_args(sort=sort, offset=0))
                               for sort in ("best", "distance", "relevance")},
                           default_country=current_app.config["DEFAULT_COUNTRY"],
                           map_data=maps.for_results(outcome, current_app.config["MAP_TILE_URL"])
                           ), 200


@bp.get("/providers/<int:location_id>")
def provider(location_id: int) -> str:
    """Show one provider's profile."""
    location = get_published(get_session(), location_id)
    back = request.args.get("back", "")
    if not back.startswith("/search?"):
        back = ""  # only ever link back to our own search page
    origin = maps.origin_from_args(request.args)  # where the searcher came from, if known
    return render_template("provider.html", location=location, back=back, origin=origin,
                           map_data=maps.for_provider(location, origin,
                                                      current_app.config["MAP_TILE_URL"]))
