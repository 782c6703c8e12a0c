"""Listings: read a location and render its public form (never its private fields)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from .errors import NotFound
from .hours import format_hours, to_text
from .models import Location, Organization, Status

# What a listing shows, read as a plain row with its organization's name in one query, for its
# page, the listing API and its search index document (whose copy results pages show). Rows
# cost a fraction of ORM objects. Private columns (owner e-mail, status, external id) are not
# read at all.
PUBLIC_COLUMNS = (
    "id", "name", "description", "latitude", "longitude", "geocode_precision", "address_1",
    "address_2", "city", "region", "postcode", "country", "phone", "website", "email", "npi",
    "services", "conditions", "insurance", "languages", "hours", "timezone", "telehealth",
    "accepting_new_patients", "last_verified", "updated_at", "source",
)
# Table columns, not ORM attributes: a plain Core select skips the ORM's loading machinery.
_LOCATION, _ORGANIZATION = Location.__table__, Organization.__table__
_SELECT_PUBLIC = sa.select(
    *(_LOCATION.c[name] for name in PUBLIC_COLUMNS),
    _ORGANIZATION.c.name.label("organization_name"),
).join(_ORGANIZATION, _ORGANIZATION.c.id == _LOCATION.c.organization_id)

# A listing as shown to the public: a row with the attributes of ``PUBLIC_COLUMNS`` and
# ``organization_name``.
Listing = sa.Row[Any]


def get_published(session: Session, location_id: int) -> Listing:
    """Return a published listing or raise NotFound."""
    if not 0 < location_id < 2**63:  # beyond any database integer
        raise NotFound(f"There is no published listing with id {location_id}.",
                       code="listing_not_found")
    listing = session.execute(
        _SELECT_PUBLIC.where(_LOCATION.c.id == location_id,
                             _LOCATION.c.status == Status.PUBLISHED)
    ).first()
    if listing is None:
        raise NotFound(f"There is no published listing with id {location_id}.",
                       code="listing_not_found")
    return listing


def address_lines(location: Listing) -> list[str]:
    """Return the postal address as display lines."""
    locality = " ".join(p for p in (f"{location.city},", location.region, location.postcode) if p)
    lines = [location.address_1, location.address_2, locality.strip(" ,")]
    return [line for line in lines if line]


def public_json(location: Listing) -> dict[str, Any]:
    """Return the public JSON of a location without its URL (which depends on the request).

    Private fields are left out by construction.
    """
    row = location._asdict()  # a dict is read several times faster than a Row
    return {
        "id": row["id"],
        "name": row["name"],
        "organization": row["organization_name"],
        "description": row["description"],
        "lat": row["latitude"],
        "lon": row["longitude"],
        "geocode_precision": row["geocode_precision"],
        "address": {
            "address_1": row["address_1"],
            "address_2": row["address_2"],
            "city": row["city"],
            "region": row["region"],
            "postcode": row["postcode"],
            "country": row["country"],
            "lines": address_lines(location),
        },
        "phone": row["phone"],
        "website": row["website"],
        "email": row["email"],
        "npi": row["npi"],
        "services": row["services"],
        "conditions": row["conditions"],
        "insurance": row["insurance"],
        "languages": row["languages"],
        "hours": row["hours"],
        "hours_text": to_text(row["hours"]),
        "timezone": row["timezone"],
        "telehealth": row["telehealth"],
        "accepting_new_patients": row["accepting_new_patients"],
        "last_verified": row["last_verified"].isoformat() if row["last_verified"] else None,
        "updated_at": row["updated_at"].isoformat(),
        "source": row["source"].value,
    }


__all__ = ["PUBLIC_COLUMNS", "Listing", "address_lines", "format_hours", "get_published",
           "public_json"]
