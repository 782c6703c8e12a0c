"""The OpenAPI 3 document of the JSON API, built with apispec.

Every response the API gives, errors included, has a schema here; the tests validate real
responses against it. Objects stay open to fields added later (no ``additionalProperties:
false``), so a client written against this document keeps working as the API grows.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from apispec import APISpec

from . import document, vocabulary
from .hours import DAYS
from .models import Source
from .search import FACETS
from .search.params import DEFAULT_LIMIT, MAX_LIMIT, MAX_OFFSET
from .search.ranking import SORTS
from .trust.models import Problem
from .trust.reports import NOTE_LENGTH

OPENAPI_VERSION = "3.1.0"

# The error codes of each status, as ``http_errors`` and ``errors`` answer them.
SEARCH_ERROR_CODES = [
    "missing_location", "invalid_coordinates", "invalid_country", "invalid_unit",
    "invalid_radius", "invalid_sort", "invalid_limit", "invalid_offset", "invalid_filter",
    "invalid_facets", "invalid_q", "invalid_postcode", "invalid_city", "invalid_insurance",
    "invalid_language",
    "unknown_postcode", "unknown_city", "unsupported_country",
]
STATUS_ERROR_CODES: dict[int, list[str]] = {
    400: [*SEARCH_ERROR_CODES, "invalid_id", "invalid_listing", "invalid_owner_email",
          "invalid_modified_after", "invalid_after_id", "invalid_report", "bad_request",
          "untrusted_host"],
    403: ["invalid_key", "origin_not_allowed", "missing_key"],
    404: ["listing_not_found", "not_found"],
    405: ["method_not_allowed"],
    429: ["rate_limited"],
    500: ["internal_error"],
    503: ["geocoder_unavailable", "search_unavailable"],
}
ERROR_CODES = list(dict.fromkeys(code for codes in STATUS_ERROR_CODES.values()
                                 for code in codes))


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _strings(description: str = "") -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "array", "items": {"type": "string"}}
    if description:
        schema["description"] = description
    return schema


def _param(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema,
            "description": description}


def _boolean(name: str, description: str) -> dict[str, Any]:
    return _param(name, {"type": "boolean"}, description)


KEY_PARAMETER = _param("key", {"type": "string"},
                       "A partner's key (or the `X-Finder-Key` header): answered only from "
                       "the partner's origins, with CORS headers for them.")
SEARCH_PARAMETERS = [
    _param("postcode", {"type": "string"},
           "ZIP or postcode to search from (ZIP+4 and spaced forms accepted). A town typed "
           "here is looked up as a city."),
    _param("country", {"type": "string", "pattern": "^[A-Za-z]{2}$"},
           "ISO country of the postcode or city; defaults to the configured country."),
    _param("city", {"type": "string"}, 'City to search from, e.g. "Austin, TX".'),
    _param("lat", {"type": "number", "minimum": -90, "maximum": 90}, "Latitude of the origin."),
    _param("lon", {"type": "number", "minimum": -180, "maximum": 180},
           "Longitude of the origin."),
    _param("q", {"type": "string", "maxLength": 200},
           'Keywords; all must match. Quotes keep a phrase ("low back pain").'),
    _param("radius", {"type": "number", "exclusiveMinimum": 0},
           "Search radius (default 25 mi or 40 km; at most 250 mi)."),
    _param("unit", {"type": "string", "enum": ["mi", "km"]},
           "Distance unit; defaults by the origin's country."),
    _param("sort", {"type": "string", "enum": list(SORTS), "default": "best"},
           "best: relevance times a distance decay; distance: nearest first; relevance."),
    _param("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT,
                     "default": DEFAULT_LIMIT}, "Results per page."),
    _param("offset", {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET, "default": 0},
           "Results to skip."),
    _boolean("telehealth", "Only providers that offer (true) or do not offer (false) telehealth."),
    _boolean("accepting_new_patients", "Only providers accepting new patients."),
    _param("insurance", {"type": "string"}, "Only providers accepting this insurance."),
    _param("language", {"type": "string"}, "Only providers speaking this language."),
    _boolean("open_now", "Only providers open now, in their own timezone."),
    _param("technique", {"type": "string", "enum": list(vocabulary.techniques())},
           "Only providers offering this dry-needling technique."),
    _param("accessibility", {"type": "string", "enum": list(vocabulary.accessibility())},
           "Only providers listing this access feature."),
    _param("age_group", {"type": "string", "enum": list(vocabulary.AGE_GROUPS)},
           "Only providers who see this age group."),
    _boolean("direct_access", "Only providers seeing patients without a referral (true)."),
    _boolean("home_visits", "Only providers offering home visits (true)."),
    _param("max_price", {"type": "number", "minimum": 0},
           "Only providers whose lowest self-pay price per session is at most this."),
    _boolean("certified", "Only providers with a practitioner holding a dry-needling "
                          "certification current today."),
    _param("facets", {"type": "string", "example": "technique,insurance,language"},
           "Count the matches per value of these fields (comma-separated: "
           f"{', '.join(FACETS)}), each without its own filter."),
    KEY_PARAMETER,
]

WIDGET_CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["partner", "name", "theme", "defaults", "techniques"],
    "properties": {
        "partner": {"type": "integer"},
        "name": {"type": "string"},
        "theme": {"type": "object", "properties": {
            "accent": {"type": "string"}, "text": {"type": "string"},
            "font": {"type": "string"}, "radius": {"type": "integer"},
            "scheme": {"type": "string", "enum": ["auto", "light", "dark"]},
            "logo": {"type": "string", "format": "uri"}}},
        "defaults": {"type": "object", "description": "Preset search parameters.",
                     "additionalProperties": {"type": "string"}},
        "techniques": {"type": "object", "description": "Technique labels by id.",
                       "additionalProperties": {"type": "string"}},
    },
}

ERROR_SUGGESTION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "A place the request may have meant: search again with its `country` and "
                   "its `postcode` or `city`.",
    "required": ["country", "label"],
    "properties": {
        "country": {"type": "string"}, "postcode": {"type": "string"},
        "city": {"type": "string"}, "label": {"type": "string"},
        "place": {"type": "string", "description": "Where that postcode is."},
    },
}


def error_schema(codes: list[str] | None = None) -> dict[str, Any]:
    """Return the schema of an error body, its code limited to ``codes`` when given."""
    code: dict[str, Any] = {"type": "string", "pattern": "^[a-z][a-z0-9_]*$"}
    if codes:
        code = {"type": "string", "enum": codes}
    return {
        "type": "object",
        "required": ["error"],
        "properties": {"error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": code,
                "message": {"type": "string", "description": "Human text saying what to do."},
                "suggestions": {"type": "array", "items": _ref("ErrorSuggestion")},
                "fields": {"type": "array", "description": "Each bad field of a listing "
                           "document (`invalid_listing`) or a report (`invalid_report`), "
                           "with what is wrong with it.",
                           "items": {"type": "object", "required": ["field", "message"],
                                     "properties": {"field": {"type": "string"},
                                                    "message": {"type": "string"}}}},
            },
        }},
    }


ADDRESS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["address_1", "address_2", "city", "region", "postcode", "country", "lines"],
    "properties": {
        "address_1": {"type": "string"}, "address_2": {"type": "string"},
        "city": {"type": "string"}, "region": {"type": "string"},
        "postcode": {"type": "string"},
        "country": {"type": "string", "description": "ISO 3166-1 alpha-2 code."},
        "lines": _strings("The postal address as display lines."),
    },
}

OPENING_HOURS = {"type": "array", "description": "Opening periods of the day, in order.",
                 "items": {"type": "array", "minItems": 2, "maxItems": 2,
                           "description": "[opens, closes] as HH:MM.",
                           "items": {"type": "string", "pattern": "^[0-9]{2}:[0-9]{2}$"}}}
HOURS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": 'Opening hours by day in the location\'s own timezone, e.g. '
                   '{"mon": [["08:00", "12:00"], ["13:00", "18:00"]]}; closed days are absent.',
    "properties": {day: OPENING_HOURS for day in DAYS},
}

# What ``listings.public_json`` returns, with the URL of the provider's page.
LISTING_PROPERTIES: dict[str, Any] = {
    "id": {"type": "integer"},
    "name": {"type": "string"},
    "organization": {"type": "string"},
    "description": {"type": "string"},
    "lat": {"type": "number"},
    "lon": {"type": "number"},
    "geocode_precision": {"type": "string", "enum": ["point", "address", "postcode", "city"],
                          "description": "How the coordinates were found."},
    "address": _ref("Address"),
    "phone": {"type": "string", "description": "International format; empty when unknown."},
    "website": {"type": "string"},
    "email": {"type": "string"},
    "npi": {"type": "string", "description": "US National Provider Identifier, or empty."},
    "npi_verified": {"type": "boolean", "description": "The NPI registry (NPPES) lists this "
                     "NPI as active, for a physical therapist or physical therapy clinic of "
                     "this name."},
    "services": _strings(),
    "conditions": _strings(),
    "insurance": _strings(),
    "languages": _strings(),
    "hours": _ref("Hours"),
    "hours_text": {"type": "string", "example": "Mon-Fri 08:00-18:00"},
    "timezone": {"type": "string", "example": "America/Chicago"},
    "telehealth": {"type": "boolean"},
    "accepting_new_patients": {"type": "boolean"},
    "last_verified": {"type": ["string", "null"], "format": "date"},
    "verified_on": {"type": "string", "format": "date", "description":
                    "The day the verification counts from: the last one, else the day the "
                    "listing was added."},
    "reported_outdated": {"type": "boolean", "description":
                          "Patients' reports say it may be out of date."},
    "verification_status": {"type": "string", "enum": ["current", "stale"], "description":
                            "`stale`: not verified for longer than the directory allows, or "
                            "reported out of date; check by phone."},
    "updated_at": {"type": "string", "format": "date-time"},
    "source": {"type": "string", "enum": [source.value for source in Source],
               "description": "Where the listing came from; `demo` listings are fictional."},
    "url": {"type": "string", "format": "uri", "description": "The provider's page."},
    "holiday_hours": {"type": "array", "description": "Dates with other hours than the week's "
                      "(as in the listing document).", "items": {"type": "object"}},
    "techniques": {"type": "array", "description": "Dry-needling techniques offered.",
                   "items": {"type": "string", "enum": list(vocabulary.techniques())}},
    "practitioners": {"type": "array", "items": {
        "type": "object", "required": ["name", "credentials", "certified"],
        "properties": {
            "name": {"type": "string"}, "credentials": _strings('For example "PT", "DPT".'),
            "certified": {"type": "boolean", "description": "Holds a dry-needling "
                          "certification current on the day of the search."}}}},
}

TOMBSTONE: dict[str, Any] = {
    "type": "object",
    "description": "A listing no longer shown: remove it (or follow `merged_into`).",
    "required": ["id", "status", "updated_at"],
    "properties": {"id": {"type": "integer"}, "status": {"const": "unpublished"},
                   "updated_at": {"type": "string", "format": "date-time"},
                   "merged_into": {"type": "integer"}},
}

MATCHED_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "How one keyword matched this result.",
    "required": ["term", "as", "kind"],
    "properties": {
        "term": {"type": "string", "description": "The keyword as typed."},
        "as": {"type": "string", "description": "The indexed words it matched."},
        "kind": {"type": "string", "enum": ["exact", "synonym", "fuzzy"]},
    },
}

HIT_PROPERTIES: dict[str, Any] = {
    **LISTING_PROPERTIES,
    "distance": {"type": "number", "description": "Geodesic distance in `unit`."},
    "unit": {"type": "string", "enum": ["mi", "km"]},
    "score": {"type": "number"},
    "score_components": {
        "type": "object",
        "description": "Why this rank: score = text x distance_decay x freshness.",
        "required": ["text", "distance_decay", "freshness", "distance_km"],
        "properties": {"text": {"type": "number"}, "distance_decay": {"type": "number"},
                       "freshness": {"type": "number", "description":
                                     "1, or 0.5 for a stale listing (see "
                                     "`verification_status`)."},
                       "distance_km": {"type": "number"}},
    },
    "matched_terms": _strings("The indexed words or phrases the keywords matched."),
    "matched": {"type": "array", "items": _ref("MatchedTerm")},
    "hours_status": {"type": "string", "example": "Open now until 6 PM",
                     "description": "Only in searches with a partner key: open now, or when "
                                    "it opens next, in the listing's timezone."},
}
HIT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "A listing as a search result, with its distance and the reasons for its rank.",
    "required": [*LISTING_PROPERTIES, "distance", "unit", "score", "score_components",
                 "matched_terms"],
    "properties": HIT_PROPERTIES,
}

ORIGIN_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Where the search was made from, and how precisely it is known.",
    "required": ["lat", "lon", "label", "precision", "source", "country"],
    "properties": {
        "lat": {"type": "number"}, "lon": {"type": "number"}, "label": {"type": "string"},
        "precision": {"type": "string", "enum": ["point", "address", "postcode", "city"]},
        "source": {"type": "string", "description": "The geocoder that found it."},
        "country": {"type": "string"},
    },
}

QUERY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "The search as understood, with defaults filled in.",
    "required": ["q", "radius", "unit", "sort", "limit", "offset"],
    "properties": {
        "q": {"type": "string"}, "radius": {"type": "number"},
        "unit": {"type": "string", "enum": ["mi", "km"]},
        "sort": {"type": "string", "enum": list(SORTS)},
        "limit": {"type": "integer"}, "offset": {"type": "integer"},
    },
}

WIDENED_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Present when nothing is within the radius: the results are then the "
                   "nearest matches beyond it.",
    "required": ["radius", "unit", "nearest_distance", "count", "search_radius", "country",
                 "message"],
    "properties": {
        "radius": {"type": "number", "description": "The radius that held nothing."},
        "unit": {"type": "string", "enum": ["mi", "km"]},
        "nearest_distance": {"type": "number"},
        "count": {"type": "integer"},
        "message": {"type": "string"},
        "search_radius": {"type": "number",
                          "description": "A radius within which a search finds the nearest."},
        "country": {"type": "string"},
    },
}

SUGGESTION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Present when nothing matches anywhere: what to drop or change.",
    "required": ["message", "remove_filters"],
    "properties": {
        "message": {"type": "string"},
        "remove_filters": _strings("Filters that narrowed the search."),
        "did_you_mean": {"type": ["string", "null"]},
    },
}

RELAXATION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "A search with fewer filters, and how many it would find.",
    "required": ["drop", "count", "message"],
    "properties": {
        "drop": _strings("The filters this search leaves out."),
        "count": {"type": "integer"},
        "at_least": {"type": "boolean",
                     "description": "True when there are this many or more (counted up to 100)."},
        "message": {"type": "string"},
        "action": {"type": "string", "description": "A label for a link to that search."},
        "next_opening": {"type": ["string", "null"], "format": "date-time",
                         "description": "When the first of them opens (dropping open_now)."},
        "url": {"type": "string"},
    },
}

FILTERS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "The directory's values each text filter matched.",
    "properties": {"insurance": _strings(), "language": _strings()},
}

SEARCH_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["origin", "query", "total", "results", "links"],
    "properties": {
        "origin": _ref("Origin"),
        "query": _ref("Query"),
        "total": {"type": "integer", "description": "Matches within the radius."},
        "results": {"type": "array", "items": _ref("Hit")},
        "links": {
            "type": "object",
            "required": ["self"],
            "properties": {"self": {"type": "string", "format": "uri"},
                           "next": {"type": "string", "format": "uri"},
                           "prev": {"type": "string", "format": "uri"}},
        },
        "did_you_mean": {"type": "string",
                         "description": "The keywords with misspellings corrected."},
        "widened": _ref("Widened"),
        "suggestion": _ref("Suggestion"),
        "relaxations": {"type": "array", "items": _ref("Relaxation")},
        "filters": _ref("Filters"),
        "facets": {"type": "object", "description": "Present when `facets` asked for them: "
                   "per facet, the listings each value would find (the other filters kept).",
                   "additionalProperties": {"type": "array", "items": {
                       "type": "object", "required": ["value", "label", "count"],
                       "properties": {"value": {"type": "string", "description": "The "
                                                "value to filter by."},
                                      "label": {"type": "string"},
                                      "count": {"type": "integer"}}}}},
    },
}

HEALTH_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["status", "checks"],
    "properties": {
        "status": {"type": "string", "enum": ["ok", "degraded", "error"],
                   "description": "`degraded`: searches answer, but the index cannot take "
                                  "new changes (see `checks.index`)."},
        "checks": {
            "type": "object",
            "required": ["database", "search_backend", "index"],
            "properties": {"database": {"type": "string"}, "search_backend": {"type": "string"},
                           "index": {"type": "string", "description":
                                     "`ok`, or how many changes are not yet searchable and "
                                     "why, e.g. `behind by 40 change(s): the disk is full`."}},
        },
    },
}

SCHEMAS: dict[str, dict[str, Any]] = {
    "Error": error_schema(), "ErrorSuggestion": ERROR_SUGGESTION_SCHEMA,
    "Address": ADDRESS_SCHEMA, "Hours": HOURS_SCHEMA,
    "MatchedTerm": MATCHED_SCHEMA, "Hit": HIT_SCHEMA, "Origin": ORIGIN_SCHEMA,
    "Query": QUERY_SCHEMA, "Widened": WIDENED_SCHEMA, "Suggestion": SUGGESTION_SCHEMA,
    "Relaxation": RELAXATION_SCHEMA, "Filters": FILTERS_SCHEMA,
    "SearchResults": SEARCH_SCHEMA, "Health": HEALTH_SCHEMA,
    "WidgetConfig": WIDGET_CONFIG_SCHEMA,
}


def _integer_header(description: str) -> dict[str, Any]:
    return {"description": description, "schema": {"type": "integer"}}


HEADERS = {
    "X-RateLimit-Limit": _integer_header("Requests allowed per period."),
    "X-RateLimit-Remaining": _integer_header("Requests left in this period."),
    "X-RateLimit-Reset": _integer_header("When the period ends, in Unix seconds."),
}
RETRY_AFTER = {**_integer_header("Seconds to wait before trying again."), "required": True}
RATE_LIMIT_HEADERS = {name: {"$ref": f"#/components/headers/{name}"} for name in HEADERS}

ERROR_RESPONSES: dict[int, tuple[str, str]] = {
    400: ("BadRequest", "Bad input, with a specific error code."),
    403: ("Forbidden", "A partner key that is missing, unknown, disabled or replaced, or "
                       "used from an origin it is not bound to."),
    404: ("NotFound", "Nothing at this address."),
    405: ("MethodNotAllowed", "The path answers other methods only (GET)."),
    429: ("TooManyRequests", "Rate limited: wait for Retry-After seconds."),
    500: ("InternalError", "An unexpected error on the server."),
    503: ("ServiceUnavailable", "A geocoder or the search engine cannot answer now."),
}


def _error_response(status: int) -> dict[str, Any]:
    description = ERROR_RESPONSES[status][1]
    codes = ", ".join(f"`{code}`" for code in STATUS_ERROR_CODES[status])
    response: dict[str, Any] = {
        "description": f"{description} Codes: {codes}.",
        "content": {"application/json": {"schema": error_schema(STATUS_ERROR_CODES[status])}},
    }
    if status == 429:
        response["headers"] = {**RATE_LIMIT_HEADERS, "Retry-After": RETRY_AFTER}
    return response


def _responses(ok: dict[str, Any], *errors: int) -> dict[str, Any]:
    """Return an operation's responses: ``ok`` for 200, then the shared error responses."""
    responses = {"200": ok}
    for status in errors:
        responses[str(status)] = {"$ref": f"#/components/responses/{ERROR_RESPONSES[status][0]}"}
    return responses


def _json(description: str, schema: str, headers: dict[str, Any] | None = None
          ) -> dict[str, Any]:
    response: dict[str, Any] = {"description": description,
                                "content": {"application/json": {"schema": _ref(schema)}}}
    if headers:
        response["headers"] = headers
    return response


# A listing merged into another (a duplicate) lives on at the listing kept.
MERGED_LISTING: dict[str, Any] = {
    "description": "The listing was merged into another, a duplicate of it: `Location` is "
                   "the listing kept (a permanent redirect).",
    "headers": {"Location": {"required": True, "schema": {"type": "string"},
                             "description": "The kept listing's address in this API."}},
    "content": {"application/json": {"schema": {
        "type": "object", "required": ["merged_into", "url"],
        "properties": {"merged_into": {"type": "integer", "description": "The kept listing's id."},
                       "url": {"type": "string"}}}}},
}

# The errors any request may meet: another method, the rate limit, a server failure.
COMMON_ERRORS = (405, 429, 500)


def listing_schemas() -> dict[str, dict[str, Any]]:
    """The listing document's schemas, named Listing..., from its one declaration."""
    return {name if name.startswith("Listing") else f"Listing{name}": schema
            for name, schema in document.openapi_schemas().items()}


@cache
def openapi_document() -> dict[str, Any]:
    """Return the OpenAPI 3 document."""
    spec = APISpec(title="finder API", version="1", openapi_version=OPENAPI_VERSION,
                   info={"description": "Find physical therapists who offer dry needling."})
    for name, schema in {**SCHEMAS, **listing_schemas()}.items():
        spec.components.schema(name, schema)
    for name, header in HEADERS.items():
        spec.components.header(name, header)
    for status, (name, _) in ERROR_RESPONSES.items():
        spec.components.response(name, _error_response(status))
    search_headers = {
        **RATE_LIMIT_HEADERS,
        "X-Total-Count": {"description": "Matches within the radius (as `total`).",
                          "schema": {"type": "integer"}},
        "Link": {"description": "RFC 8288 links: self, next and prev pages.",
                 "schema": {"type": "string"}},
    }
    spec.path("/api/v1/search", operations={"get": {
        "summary": "Search providers near a place",
        "operationId": "search",
        "parameters": SEARCH_PARAMETERS,
        "responses": _responses(
            _json("Ranked results. When nothing is within the radius, `total` is 0 and "
                  "`widened` or `suggestion` says what to do.", "SearchResults", search_headers),
            400, 403, *COMMON_ERRORS, 503),
    }})
    spec.path("/api/v1/widget/config", operations={"get": {
        "summary": "What a partner's widget shows before a search",
        "operationId": "widgetConfig",
        "parameters": [{**KEY_PARAMETER, "required": True}],
        "responses": _responses(_json("The partner's name, theme and presets",
                                      "WidgetConfig", RATE_LIMIT_HEADERS),
                                403, *COMMON_ERRORS),
    }})
    click = _responses({"description": "Counted"}, 400, 403, *COMMON_ERRORS)
    spec.path("/api/v1/widget/click", operations={"post": {
        "summary": "Count a click on a result in a partner's widget",
        "operationId": "widgetClick",
        "parameters": [{**KEY_PARAMETER, "required": True},
                       {"name": "id", "in": "query", "required": True,
                        "schema": {"type": "integer"}, "description": "The listing clicked."}],
        "responses": {"204": click.pop("200"), **click},
    }})
    submitted = _responses({"description": "Queued for moderation: its `id`, or the `ids` of "
                                           "several locations", "content": {
        "application/json": {"schema": {
            "type": "object", "required": ["status"],
            "properties": {"id": {"type": "integer"},
                           "ids": {"type": "array", "items": {"type": "integer"}},
                           "status": {"type": "string", "enum": ["pending"]}}}}}},
        400, 403, *COMMON_ERRORS, 503)
    changes_page = _responses({"description": "A page of listings, oldest change first",
                               "content": {"application/json": {"schema": {
                                   "type": "object", "required": ["listings"],
                                   "properties": {
                                       "listings": {"type": "array", "items": {"oneOf": [
                                           _ref("ListingDocument"), TOMBSTONE]}},
                                       "next": {"type": "string", "format": "uri"}}}}},
                               "headers": RATE_LIMIT_HEADERS},
                              400, 403, *COMMON_ERRORS, 503)
    spec.path("/api/v1/listings", operations={"get": {
        "summary": "Page through the listings changed since a moment",
        "description": "Oldest change first. A published listing comes whole (with "
                       "`status: published`); one no longer shown comes as a tombstone "
                       "(`status: unpublished`, and `merged_into` when it was merged into "
                       "another), so a mirror can remove it.",
        "operationId": "listChanges",
        "parameters": [
            _param("modified_after", {"type": "string"},
                   "An ISO 8601 date or time (UTC when it names no offset); empty: from the "
                   "start."),
            _param("after_id", {"type": "integer", "minimum": 0},
                   "With modified_after at a listing's time: only those of higher id (the "
                   "`next` link sets both)."),
            _param("limit", {"type": "integer", "minimum": 1, "maximum": 500,
                             "default": 100}, "Listings per page."),
        ],
        "responses": changes_page,
    }, "post": {
        "summary": "Submit a listing for moderation",
        "operationId": "submitListing",
        "description": "A clinic's listing document (the shape `GET /api/v1/listings/{id}` "
                       "returns; read-only fields left out) with a private `owner_email`, "
                       "where the editing link is sent. Nothing is published before a "
                       "moderator approves it.",
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "oneOf": [
                {"allOf": [_ref("ListingDocument"), {
                    "type": "object", "required": ["owner_email"],
                    "properties": {"owner_email": {"type": "string", "format": "email"}}}]},
                {"type": "object", "required": ["listings", "owner_email"],
                 "description": "Several locations of one clinic, sent together.",
                 "properties": {"listings": {"type": "array", "minItems": 1, "maxItems": 50,
                                             "items": _ref("ListingDocument")},
                                "owner_email": {"type": "string", "format": "email"}}}]}}}},
        "responses": {"202": submitted.pop("200"), **submitted},
    }})
    spec.path("/api/v1/listings/{location_id}", operations={"get": {
        "summary": "One published listing",
        "operationId": "getListing",
        "parameters": [{"name": "location_id", "in": "path", "required": True,
                        "schema": {"type": "integer", "minimum": 1}}],
        "responses": {**_responses(
            _json("The listing document (public fields only): the same shape `finder import "
                  "x.json` takes back", "ListingDocument", RATE_LIMIT_HEADERS),
            403, 404, *COMMON_ERRORS, 503), "308": MERGED_LISTING},
    }})
    reported = _responses({"description": "Taken: the report waits for a moderator", "content": {
        "application/json": {"schema": {
            "type": "object", "required": ["id", "status"],
            "properties": {"id": {"type": "integer"},
                           "status": {"type": "string", "enum": ["open"]}}}}}},
        400, 404, *COMMON_ERRORS)
    spec.path("/api/v1/listings/{location_id}/reports", operations={"post": {
        "summary": "Report that a published listing is wrong",
        "operationId": "reportListing",
        "description": "A patient's report, as the form behind every profile's \"Report "
                       "incorrect information\" link takes it. It goes to the moderators and "
                       "the listing's owner is told what is wrong (never who said so). "
                       "Several people reporting a listing closed, or its phone wrong, mark "
                       "it out of date at once. Limited per client address "
                       "(`FINDER_REPORT_RATE_LIMIT`).",
        "parameters": [{"name": "location_id", "in": "path", "required": True,
                        "schema": {"type": "integer", "minimum": 1}}],
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "type": "object", "required": ["problem"], "additionalProperties": False,
            "properties": {
                "problem": {"type": "string", "enum": [problem.value for problem in Problem]},
                "note": {"type": "string", "maxLength": NOTE_LENGTH,
                         "description": "What is wrong, or what it should say."},
                "email": {"type": "string", "format": "email",
                          "description": "Private: to tell the patient what was done. "
                                         "Never shown, never given to the clinic."}}}}}},
        "responses": {"201": reported.pop("200"), **reported},
    }})
    spec.path("/api/v1/schemas/listing.json", operations={"get": {
        "summary": "The listing document's JSON Schema (draft 2020-12)",
        "operationId": "listingSchema",
        "responses": _responses({"description": "The JSON Schema", "content": {
            "application/schema+json": {"schema": {"type": "object"}}}}, *COMMON_ERRORS),
    }})
    spec.path("/api/v1/openapi.json", operations={"get": {
        "summary": "This document",
        "operationId": "openapi",
        "responses": _responses({"description": "The OpenAPI document", "content": {
            "application/json": {"schema": {"type": "object"}}}}, *COMMON_ERRORS),
    }})
    unhealthy = _json("The database does not answer", "Health")
    spec.path("/healthz", operations={"get": {
        "summary": "Health of the database and the search index",
        "operationId": "health",
        "responses": {**_responses(_json("Healthy", "Health"), *COMMON_ERRORS),
                      "503": unhealthy},
    }})
    document: dict[str, Any] = spec.to_dict()
    return document
