"""Server-rendered pages for patients; they work without JavaScript."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial
from typing import Any
from urllib.parse import parse_qsl, urlencode

from flask import (
    Blueprint,
    Response,
    current_app,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from werkzeug.wrappers import Response as BaseResponse

from . import geo, maps, profile, vocabulary
from .api import run_search
from .db import get_session
from .errors import FinderError, NotFound
from .geocode.gazetteer import SUGGESTED_COUNTRIES, country_names
from .hours import status, week
from .listings import address_lines, get_document, get_published, merged_into
from .partners import counts
from .partners.models import Partner
from .partners.views import commit_count, number_arg
from .result_page import (
    PAGE_FACETS,
    filter_chips,
    last_page_offset,
    page_links,
    refinements,
    suggestion_args,
    without,
)
from .search import get_backend
from .search.filter_values import directory_values
from .search.outcome import SearchOutcome
from .search.params import SearchParams
from .trust.verification import Policy, State, today

bp = Blueprint("views", __name__)

# Shown on the home page; tests check that each one finds providers in the demo directory.
SUGGESTED_KEYWORDS = ("dry needling", "low back pain", "sciatica", "neck pain", "headache",
                      "sports injury", "plantar fasciitis", "tennis elbow")
# The last place searched from (a postcode or city, never a device position), so popular
# searches on the home page can search near it.
PLACE_COOKIE = "finder_place"
PLACE_ARGS = ("postcode", "city", "country")
PLACE_COOKIE_DAYS = 90
POINT_PLACES = 3  # decimals of a device position passed on (about 100 m)


@bp.app_context_processor
def _helpers() -> dict[str, object]:
    return {"address_lines": address_lines, "in_unit": geo.from_km,
            "hours_status": partial(status, at=datetime.now(UTC)), "week": week,
            "directions_url": partial(maps.directions_url, current_app.config["DIRECTIONS_URL"]),
            "countries": [(code, country_names()[code]) for code in SUGGESTED_COUNTRIES],
            "filter_choices": _filter_choices, "vocabulary": vocabulary}


def _filter_choices(field: str) -> list[str]:
    """Return the directory's names for a filter, the most common first (form suggestions)."""
    values = directory_values().get(field)
    return [value.name for value in sorted(values.values(), key=lambda v: (-v.count, v.name))]


def _saved_place() -> dict[str, Any]:
    saved = dict(parse_qsl(request.cookies.get(PLACE_COOKIE, "")))
    return {key: value for key, value in saved.items() if key in PLACE_ARGS and value}


def _search_link(place: dict[str, Any], **args: Any) -> str:
    """A search near the last place searched from, or the home page asking for one."""
    if place:
        return url_for(".search", **args, **place)
    return url_for(".index", q=args.get("q", "")) + "#postcode"


def _home(status_code: int = 200, **context: object) -> tuple[str, int]:
    place = _saved_place()
    popular = [(term, _search_link(place, q=term)) for term in SUGGESTED_KEYWORDS]
    return render_template("index.html", params=SearchParams(), popular=popular,
                           place_known=bool(place),
                           default_country=current_app.config["DEFAULT_COUNTRY"],
                           **context), status_code


@bp.get("/")
def index() -> tuple[str, int]:
    """Show the search form (with keywords already filled in from a popular search)."""
    return _home(form={"q": request.args.get("q", "")[:200]})


@bp.get("/about-dry-needling")
def about() -> str:
    """Explain dry needling, its techniques and what to ask, with searches for each."""
    place = _saved_place()
    techniques = [(term, _search_link(place, technique=key, q="") if place
                   else _search_link(place, q=term.label))
                  for key, term in vocabulary.techniques().items()]
    return render_template("about.html", techniques=techniques,
                           search_url=_search_link(place, q="dry needling"))


@bp.get("/search")
def search() -> BaseResponse | tuple[str, int]:
    """Show search results: the HTML twin of /api/v1/search."""
    try:
        outcome = run_search(request.args)
    except FinderError as exc:
        if exc.status >= 500:
            raise
        fixes = [(fix["label"], url_for(".search", **dict(suggestion_args(request.args, fix))))
                 for fix in exc.suggestions]
        return _home(exc.status, error=exc, form=request.args, fixes=fixes)
    params = outcome.params
    if outcome.total and params.offset >= outcome.total:  # past the end: the last page
        return redirect(url_for(".search", **params.query_args(
            offset=last_page_offset(params, outcome.total))))
    response: Response = make_response(render_template("search.html",
                                                       **_results_context(outcome)))
    place = {name: getattr(params, name) for name in PLACE_ARGS if getattr(params, name)}
    if params.lat is None and place:
        response.set_cookie(PLACE_COOKIE, urlencode(place), max_age=PLACE_COOKIE_DAYS * 86400,
                            httponly=True, samesite="Lax", secure=request.is_secure)
    return response


def _results_context(outcome: SearchOutcome) -> dict[str, object]:
    params = outcome.params
    # Where directions start: a device position only to about 100 m, since it leaves the site
    # when a patient follows the link.
    places = POINT_PLACES if outcome.origin.precision == "point" else 5
    start = (round(outcome.origin.lat, places), round(outcome.origin.lon, places))
    link = partial(url_for, ".search")
    default_country = current_app.config["DEFAULT_COUNTRY"]
    return {
        "outcome": outcome, "params": params, "form": request.args,
        "default_country": default_country,
        "pages": [(page, link(**params.query_args(offset=page.offset)))
                  for page in page_links(params, outcome.total)],
        "prev_url": link(**params.query_args(offset=max(0, params.offset - params.limit)))
        if params.offset > 0 else "",
        "next_url": link(**params.query_args(offset=params.offset + params.limit))
        if params.offset + params.limit < outcome.total else "",
        "chips": [(label, link(**without(params, name)))
                  for label, name in filter_chips(params, default_country)],
        "relaxations": [(offer, link(**without(params, *offer["drop"])))
                        for offer in outcome.relaxations],
        "widen_url": link(**params.query_args(radius=outcome.widened["search_radius"],
                                              unit=outcome.unit, offset=0))
        if outcome.widened else "",
        "sort_links": {sort: link(**params.query_args(sort=sort, offset=0))
                       for sort in ("best", "distance", "relevance")},
        "start": start,
        "profile_args": {"back": request.full_path, "from_lat": start[0], "from_lon": start[1],
                         "unit": outcome.unit},
        "map_data": maps.for_results(outcome, current_app.config["MAP_TILE_URL"]),
        "refine": [(title, [(choice, link(**(without(params, name) if choice.current else
                                            params.query_args(offset=0, **{name: choice.value}))))
                            for choice in choices])
                   for title, name, choices in refinements(params, _page_facets(outcome))],
    }


def _page_facets(outcome: SearchOutcome) -> dict[str, dict[str, int]]:
    if outcome.query is None:
        return {}
    return get_backend().facets(outcome.query, list(PAGE_FACETS))


def _count_partner_view(partner: str) -> None:
    """Count a profile opened from a partner's widget (its links carry ``partner=ID``)."""
    partner_id = number_arg(partner)
    if partner_id is None:
        return
    found = get_session().get(Partner, partner_id)
    if found is not None and found.enabled:
        commit_count(lambda session: counts.record_profile_view(session, partner_id))


@bp.get("/providers/<int:location_id>")
def provider(location_id: int) -> str | BaseResponse:
    """Show one provider's profile (a merged listing's profile leads to the one kept)."""
    try:
        location = get_published(get_session(), location_id)
    except NotFound:
        kept = merged_into(get_session(), location_id)
        if kept is None:
            raise
        args: dict[str, Any] = request.args.to_dict()  # the way back to the search
        return redirect(url_for(".provider", location_id=kept, **args), 301)
    back = request.args.get("back", "")
    if not back.startswith("/search?"):
        back = ""  # only ever link back to our own search page
    origin = maps.origin_from_args(request.args)  # where the searcher came from, if known
    unit = request.args.get("unit", "")
    unit = unit if unit in geo.UNITS else geo.default_unit(location.country)
    distance = ""
    if origin is not None:
        km = geo.geodesic_km(origin.lat, origin.lon, location.latitude, location.longitude)
        distance = f"{geo.from_km(km, unit):.1f} {unit}"
    day = today()
    state = Policy.of(current_app.config).state_of(location, day)
    listing = get_document(get_session(), location_id)
    _count_partner_view(request.args.get("partner", ""))
    return render_template("provider.html", location=location, listing=listing,
                           care=profile.care(listing, day), back=back, origin=origin,
                           distance=distance, stale=state is State.STALE, today=day,
                           map_data=maps.for_provider(location, origin,
                                                      current_app.config["MAP_TILE_URL"], unit))
