"""The OpenAPI 3 document of the JSON API, built with apispec."""

from __future__ import annotations

from functools import cache
from typing import Any

from apispec import APISpec

from .search.params import DEFAULT_LIMIT, MAX_LIMIT, MAX_OFFSET
from .search.ranking import SORTS

ERROR_CODES = [
    "missing_location", "invalid_coordinates", "invalid_country", "invalid_unit",
    "invalid_radius", "invalid_sort", "invalid_limit", "invalid_offset", "invalid_filter",
    "invalid_q", "invalid_postcode", "invalid_city", "invalid_insurance", "invalid_language",
    "unknown_postcode", "unknown_city", "unsupported_country", "listing_not_found",
    "not_found", "method_not_allowed", "rate_limited", "geocoder_unavailable",
    "search_unavailable", "internal_error",
]


def _param(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema,
            "description": description}


def _boolean(name: str, description: str) -> dict[str, Any]:
    return _param(name, {"type": "boolean"}, description)


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
]

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "object", "required": ["code", "message"], "properties": {
        "code": {"type": "string", "enum": ERROR_CODES},
        "message": {"type": "string"},
    }}},
}

LISTING_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"}, "name": {"type": "string"},
        "organization": {"type": "string"}, "description": {"type": "string"},
        "lat": {"type": "number"}, "lon": {"type": "number"},
        "geocode_precision": {"type": "string"},
        "address": {"type": "object"}, "phone": {"type": "string"},
        "website": {"type": "string"}, "email": {"type": "string"}, "npi": {"type": "string"},
        "services": {"type": "array", "items": {"type": "string"}},
        "conditions": {"type": "array", "items": {"type": "string"}},
        "insurance": {"type": "array", "items": {"type": "string"}},
        "languages": {"type": "array", "items": {"type": "string"}},
        "hours": {"type": "object", "description": 'e.g. {"mon": [["08:00", "18:00"]]}'},
        "hours_text": {"type": "string"}, "timezone": {"type": "string"},
        "telehealth": {"type": "boolean"}, "accepting_new_patients": {"type": "boolean"},
        "last_verified": {"type": "string", "format": "date", "nullable": True},
        "updated_at": {"type": "string", "format": "date-time"},
        "source": {"type": "string"}, "url": {"type": "string", "format": "uri"},
    },
}

HIT_SCHEMA = {
    "allOf": [{"$ref": "#/components/schemas/Listing"}, {"type": "object", "properties": {
        "distance": {"type": "number"}, "unit": {"type": "string", "enum": ["mi", "km"]},
        "score": {"type": "number"},
        "score_components": {"type": "object", "properties": {
            "text": {"type": "number"}, "distance_decay": {"type": "number"},
            "distance_km": {"type": "number"}}},
        "matched_terms": {"type": "array", "items": {"type": "string"}},
    }}],
}

SEARCH_SCHEMA = {
    "type": "object",
    "required": ["origin", "total", "results"],
    "properties": {
        "origin": {"type": "object", "properties": {
            "lat": {"type": "number"}, "lon": {"type": "number"}, "label": {"type": "string"},
            "precision": {"type": "string", "enum": ["point", "address", "postcode", "city"]},
            "source": {"type": "string"}, "country": {"type": "string"}}},
        "query": {"type": "object"},
        "total": {"type": "integer", "description": "Matches within the radius."},
        "results": {"type": "array", "items": {"$ref": "#/components/schemas/Hit"}},
        "links": {"type": "object", "additionalProperties": {"type": "string"}},
        "did_you_mean": {"type": "string"},
        "widened": {"type": "object", "description":
                    "Present when nothing is within the radius: the nearest matches beyond it."},
        "suggestion": {"type": "object", "description": "Present when nothing matches at all."},
    },
}


def _error(description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


@cache
def openapi_document() -> dict[str, Any]:
    """Return the OpenAPI 3 document."""
    spec = APISpec(title="finder API", version="1", openapi_version="3.0.3",
                   info={"description": "Find physical therapists who offer dry needling."})
    spec.components.schema("Error", ERROR_SCHEMA)
    spec.components.schema("Listing", LISTING_SCHEMA)
    spec.components.schema("Hit", HIT_SCHEMA)
    spec.components.schema("SearchResults", SEARCH_SCHEMA)
    spec.path("/api/v1/search", operations={"get": {
        "summary": "Search providers near a place",
        "operationId": "search",
        "parameters": SEARCH_PARAMETERS,
        "responses": {
            "200": {"description": "Ranked results", "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/SearchResults"}}}},
            "400": _error("Bad input, with a specific error code"),
            "429": _error("Rate limited"),
        },
    }})
    spec.path("/api/v1/listings/{location_id}", operations={"get": {
        "summary": "One published listing",
        "operationId": "getListing",
        "parameters": [{"name": "location_id", "in": "path", "required": True,
                        "schema": {"type": "integer"}}],
        "responses": {
            "200": {"description": "The listing", "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/Listing"}}}},
            "404": _error("No published listing with that id"),
        },
    }})
    spec.path("/healthz", operations={"get": {
        "summary": "Health of the database and the search index",
        "operationId": "health",
        "responses": {"200": {"description": "Healthy"}, "503": {"description": "Unhealthy"}},
    }})
    document: dict[str, Any] = spec.to_dict()
    return document
