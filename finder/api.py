"""The JSON API for patients' apps, partner sites and anyone who links to a search."""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlencode

import sqlalchemy as sa
from flask import Blueprint, Response, current_app, jsonify, request, url_for

from . import document, geo, vocabulary
from .clinics import submissions
from .db import get_session
from .document import InvalidListing
from .errors import InvalidInput, NotFound
from .geocode import get_geocoder
from .hours import status
from .listings import changed_since, get_document, merged_into, public_state
from .metrics import timed_search
from .openapi import openapi_document
from .partners import counts as partner_counts
from .partners.access import current_partner
from .partners.views import commit_count
from .result_page import without
from .search import backlog, get_backend
from .search.filter_values import directory_values
from .search.outcome import Hit, Scoring, SearchOutcome
from .search.params import SearchParams, parse_params
from .search.ranking import Decay
from .search.service import search
from .security import get_rate_limits
from .trust import reports as patient_reports
from .trust.verification import Policy, today
from .trust.views import receive as receive_report

bp = Blueprint("api", __name__)
CHANGES_PAGE = 100
MAX_LOCATIONS = 50  # in one submission
MAX_CHANGES_PAGE = 500
REPORT_FIELDS = ("problem", "note", "email")


def scoring_from_config() -> Scoring:
    """Return the distance decay of ``sort=best`` and the verification policy configured."""
    config = current_app.config
    return Scoring(Decay(offset_km=geo.to_km(config["DECAY_OFFSET_MI"], "mi"),
                         scale_km=geo.to_km(config["DECAY_SCALE_MI"], "mi")),
                   Policy.of(config))


def run_search(args: Any) -> SearchOutcome:
    """Parse request arguments and search: the one function behind the API and the pages."""
    params = parse_params(args)
    with timed_search():
        return search(get_backend(), get_geocoder(), params,
                      default_country=current_app.config["DEFAULT_COUNTRY"],
                      scoring=scoring_from_config(), names=directory_values().get)


def provider_url_prefix() -> str:
    """Return a provider page's URL without its id (one ``url_for`` per results page)."""
    return url_for("views.provider", location_id=0, _external=True).removesuffix("0")


def hit_json(hit: Hit, unit: str, url_prefix: str) -> dict[str, Any]:
    ranked = hit.ranked
    return {
        **hit.listing,
        "url": f"{url_prefix}{ranked.id}",
        "distance": round(geo.from_km(ranked.distance_km, unit), 3),
        "unit": unit,
        "score": ranked.score,
        "score_components": {
            "text": round(ranked.text, 6),
            "distance_decay": round(ranked.decay, 6),
            "freshness": ranked.freshness,
            "distance_km": round(ranked.distance_km, 3),
        },
        "matched_terms": ranked.matched_terms,
        "matched": [{"term": term, "as": found, "kind": kind}
                    for term, found, kind in ranked.matched],
    }


def for_partner(body: dict[str, Any], partner_id: int, hits: list[Hit]) -> None:
    """Add what the partner widget shows (each result's opening status) and mark profile
    links as followed from the partner, so its profile views can be counted."""
    now = datetime.now(UTC)
    for result, hit in zip(body["results"], hits, strict=True):
        listing = hit.listing
        result["url"] = f"{result['url']}?partner={partner_id}"
        result["hours_status"] = status(listing["hours"], listing["timezone"],
                                        listing["address"]["country"], now,
                                        listing["holiday_hours"])


def outcome_json(outcome: SearchOutcome) -> dict[str, Any]:
    params, origin = outcome.params, outcome.origin
    url_prefix = provider_url_prefix()
    body: dict[str, Any] = {
        "origin": {"lat": origin.lat, "lon": origin.lon, "label": origin.label,
                   "precision": origin.precision, "source": origin.source,
                   "country": origin.country},
        "query": {"q": params.q, "radius": outcome.radius, "unit": outcome.unit,
                  "sort": params.sort, "limit": params.limit, "offset": params.offset},
        "total": outcome.total,
        "results": [hit_json(hit, outcome.unit, url_prefix) for hit in outcome.hits],
        "links": _links(params, outcome),
    }
    if outcome.did_you_mean:
        body["did_you_mean"] = outcome.did_you_mean
    if outcome.widened:
        body["widened"] = outcome.widened
    if outcome.suggestion:
        body["suggestion"] = outcome.suggestion
    if outcome.relaxations:
        base = url_for("api.search_listings", _external=True)
        body["relaxations"] = [
            {**offer, "url": f"{base}?{urlencode(without(params, *offer['drop']))}"}
            for offer in outcome.relaxations]
    if outcome.filters:
        body["filters"] = outcome.filters
    if params.facets:
        body["facets"] = facets_json(outcome.facets)
    return body


def facets_json(facets: dict[str, dict[str, int]]) -> dict[str, list[dict[str, Any]]]:
    """Each facet's values with a label and a count, the most frequent first."""
    body = {}
    for name, counts in facets.items():
        values: list[dict[str, Any]]
        named = vocabulary.labels(name)
        if named is None:  # insurance and language: the names listings use most, as values
            named = {key: value.name for key, value in directory_values().get(name).items()}
            values = [{"value": named.get(key, key), "label": named.get(key, key),
                       "count": count} for key, count in counts.items() if count]
        else:
            values = [{"value": key, "label": named.get(key, key), "count": count}
                      for key, count in counts.items() if count]
        body[name] = sorted(values, key=lambda value: (-value["count"], value["label"]))
    return body



def _links(params: SearchParams, outcome: SearchOutcome) -> dict[str, str]:
    base = url_for("api.search_listings", _external=True)  # once: it is slow with arguments

    def link(**changes: int) -> str:
        args = params.query_args(**changes)
        return f"{base}?{urlencode(args)}" if args else base

    links = {"self": link()}
    if params.offset + params.limit < outcome.total:
        links["next"] = link(offset=params.offset + params.limit)
    if params.offset > 0 and outcome.total:
        links["prev"] = link(offset=max(0, params.offset - params.limit))
    return links


@bp.get("/api/v1/search")
def search_listings() -> Response:
    """Search providers near a postcode, city or point."""
    outcome = run_search(request.args)
    body = outcome_json(outcome)
    caller = current_partner()
    if caller is not None:
        for_partner(body, caller.id, outcome.hits)
        if outcome.params.offset == 0:  # "Load more" continues a search already counted
            commit_count(lambda session: partner_counts.record_search(
                session, caller.id, outcome.params, outcome.origin, outcome.total))
    response = jsonify(body)
    # Ohana-style pagination headers beside the body's links.
    response.headers["X-Total-Count"] = str(outcome.total)
    response.headers["Link"] = ", ".join(
        f'<{url}>; rel="{rel}"' for rel, url in body["links"].items()
    )
    return response


@bp.post("/api/v1/listings")
def submit_listing() -> tuple[Response, int]:
    """Take a clinic's listing document, or several locations of one clinic as
    ``{"listings": [...]}``, with a private ``owner_email``, for moderation."""
    get_rate_limits().enforce(current_app.config["SUBMIT_RATE_LIMIT"], "submit",
                              request.remote_addr or "unknown", what=" submissions")
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise InvalidInput("Send the listing document as a JSON object.",
                           code="invalid_listing")
    email = data.pop("owner_email", None)
    if not isinstance(email, str) or not email.strip():
        raise InvalidInput("owner_email: say where the private editing link should go.",
                           code="invalid_owner_email")
    several = "listings" in data
    documents = data["listings"] if several else [data]
    if not isinstance(documents, list) or not 1 <= len(documents) <= MAX_LOCATIONS:
        raise InvalidInput(f"'listings' must be a list of 1 to {MAX_LOCATIONS} listing "
                           "documents.", code="invalid_listing")
    session = get_session()
    made = []
    for number, document_data in enumerate(documents):
        try:
            made.append(submissions.submit(session, document_data, email, get_geocoder(),
                                           current_app.config["DEFAULT_COUNTRY"]))
        except InvalidListing as exc:
            if not several:
                raise
            raise InvalidListing(f"listings[{number}]: {exc.message}",
                                 [(f"listings[{number}].{name}", says)
                                  for name, says in exc.fields]) from None
        except InvalidInput as exc:
            if not several:
                raise
            raise InvalidInput(f"listings[{number}]: {exc.message}", code=exc.code) from None
    session.commit()
    if several:
        return jsonify({"ids": [item.id for item in made], "status": "pending"}), 202
    return jsonify({"id": made[0].id, "status": made[0].status.value}), 202


@bp.get("/api/v1/listings")
def list_changes() -> Response:
    """Page through the listings changed since a moment, oldest change first; unpublished
    ones as tombstones."""
    since = _moment(request.args.get("modified_after", ""))
    after = request.args.get("after_id")
    if after is not None and (not after.isascii() or not after.isdigit() or len(after) > 9):
        raise InvalidInput("'after_id' must be a listing id.", code="invalid_after_id")
    raw_limit = request.args.get("limit", str(CHANGES_PAGE))
    if not raw_limit.isascii() or not raw_limit.isdigit() or not 1 <= int(raw_limit) <= \
            MAX_CHANGES_PAGE:
        raise InvalidInput(f"'limit' must be 1 to {MAX_CHANGES_PAGE}.", code="invalid_limit")
    limit = int(raw_limit)
    found = changed_since(get_session(), since, int(after) if after else None, limit)
    body: dict[str, Any] = {"listings": [_served(listing) if "verified_on" in listing
                                         else listing for listing in found]}
    if len(found) == limit:
        last = found[-1]
        body["next"] = url_for("api.list_changes", modified_after=last["updated_at"],
                               after_id=last["id"], limit=limit, _external=True)
    return jsonify(body)


def _moment(text: str) -> datetime:
    """Read an ISO 8601 date or time (UTC when it names no offset)."""
    if not text.strip():
        return datetime.min.replace(tzinfo=UTC)
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput("'modified_after' must be an ISO 8601 date or time, like "
                           "2026-11-30 or 2026-11-30T12:00:00Z.",
                           code="invalid_modified_after") from None
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # an offset that takes it before year 1 or after 9999
        raise InvalidInput("'modified_after' is beyond the years a date can hold.",
                           code="invalid_modified_after") from None


@bp.get("/api/v1/listings/<int:location_id>")
def get_listing(location_id: int) -> Response:
    """Return one published listing as its listing document (a merged listing's address
    answers with a permanent redirect to the listing kept)."""
    try:
        listing = get_document(get_session(), location_id)
    except NotFound:
        kept = merged_into(get_session(), location_id)
        if kept is None:
            raise
        args: dict[str, Any] = request.args.to_dict()  # a partner key goes along
        target = url_for("api.get_listing", location_id=kept, **args)
        moved = jsonify({"merged_into": kept, "url": target})
        moved.status_code = 308
        moved.headers["Location"] = target
        return moved
    return jsonify(_served(listing))


def _served(listing: dict[str, Any]) -> dict[str, Any]:
    """A listing document as the API answers it: with its status as of today, and its URL."""
    state = Policy.of(current_app.config).state(date.fromisoformat(listing["verified_on"]),
                                                listing["reported_outdated"], today())
    return {**listing, "verification_status": public_state(state),
            "url": f"{provider_url_prefix()}{listing['id']}"}


@bp.post("/api/v1/listings/<int:location_id>/reports")
def report_listing(location_id: int) -> tuple[Response, int]:
    """Take a patient's report that a published listing is wrong: ``problem`` (one of
    ``trust.models.Problem``), an optional ``note`` and an optional private ``email``."""
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise InvalidInput('Send the report as a JSON object, like {"problem": "phone", '
                           '"note": "The number is now 512-555-0100"}.', code="invalid_report")
    unknown = sorted(set(data) - set(REPORT_FIELDS))
    if unknown:
        raise patient_reports.InvalidReport(
            [(str(name)[:40], f"is not a field of a report ({', '.join(REPORT_FIELDS)})")
             for name in unknown])
    report = receive_report(location_id, data.get("problem"), data.get("note"),
                            data.get("email"))
    return jsonify({"id": report.id, "status": report.status.value}), 201


@bp.get("/api/v1/schemas/listing.json")
def listing_schema() -> Response:
    """Return the listing document's JSON Schema."""
    response = jsonify(document.json_schema(url_for("api.listing_schema", _external=True)))
    response.mimetype = "application/schema+json"
    return response


@bp.get("/api/v1/openapi.json")
def openapi() -> Response:
    """Return the OpenAPI 3 document of this API."""
    return jsonify(openapi_document())


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    """Report whether the database and the search index answer."""
    checks: dict[str, str] = {}
    try:
        get_session().execute(sa.text("SELECT 1"))
        checks["database"] = "ok"
    except sa.exc.SQLAlchemyError as exc:
        checks["database"] = f"error: {type(exc).__name__}"
    checks["search_backend"] = get_backend().name
    healthy = checks["database"] == "ok"
    index, failing = index_check() if healthy else ("unknown", False)
    checks["index"] = index
    status = "degraded" if failing else "ok"  # searches still answer, from what is indexed
    return jsonify({"status": status if healthy else "error", "checks": checks}), (
        200 if healthy else 503)


# Less free space than this in the data folder is named as the likely reason an index is
# behind, whichever process saw the failure.
LOW_SPACE = 64 * 2**20


def index_check() -> tuple[str, bool]:
    """Say whether the search index is up to date, or how far behind it is and, as far as
    this process knows, why; and whether that is a failure rather than work in progress."""
    try:
        pending, _age = backlog(get_session(), get_backend())
    except Exception as exc:  # the search database or index does not answer
        return f"unknown: {type(exc).__name__}", True
    if not pending:
        return "ok", False
    applier = current_app.extensions.get("finder.applier")
    why = applier.last_error if applier is not None else ""
    free = shutil.disk_usage(current_app.config["DATA_DIR"]).free
    if free < LOW_SPACE and why in ("", "the disk is full"):
        why = f"the disk is full ({free // 2**20} MB free in FINDER_DATA_DIR)"
    return f"behind by {pending} change(s): {why or 'catching up'}", bool(why)
