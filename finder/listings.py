"""Listings: read a location and render its public form (never its private fields)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from .errors import NotFound
from .hours import format_hours, to_text
from .models import Location, Status


def get_published(session: Session, location_id: int) -> Location:
    """Return a published location or raise NotFound."""
    if not 0 < location_id < 2**63:  # beyond any database integer
        raise NotFound(f"There is no published listing with id {location_id}.",
                       code="listing_not_found")
    location = session.scalar(
        sa.select(Location).where(Location.id == location_id)
        .options(selectinload(Location.organization))
    )
    if location is None or location.status != Status.PUBLISHED:
        raise NotFound(f"There is no published listing with id {location_id}.",
                       code="listing_not_found")
    return location


def address_lines(location: Location) -> list[str]:
    """Return the postal address as display lines."""
    locality = " ".join(p for p in (f"{location.city},", location.region, location.postcode) if p)
    lines = [location.address_1, location.address_2, locality.strip(" ,")]
    return [line for line in lines if line]


def public_json(location: Location, url: str) -> dict[str, Any]:
    """Return the public JSON of a location; private fields are left out by construction."""
    return {
        "id": location.id,
        "name": location.name,
        "organization": location.organization.name,
        "description": location.description,
        "lat": location.latitude,
        "lon": location.longitude,
        "geocode_precision": location.geocode_precision,
        "address": {
            "address_1": location.address_1,
            "address_2": location.address_2,
            "city": location.city,
            "region": location.region,
            "postcode": location.postcode,
            "country": location.country,
            "lines": address_lines(location),
        },
        "phone": location.phone,
        "website": location.website,
        "email": location.email,
        "npi": location.npi,
        "services": location.services,
        "conditions": location.conditions,
        "insurance": location.insurance,
        "languages": location.languages,
        "hours": location.hours,
        "hours_text": to_text(location.hours),
        "timezone": location.timezone,
        "telehealth": location.telehealth,
        "accepting_new_patients": location.accepting_new_patients,
        "last_verified": location.last_verified.isoformat() if location.last_verified else None,
        "updated_at": location.updated_at.isoformat(),
        "source": location.source.value,
        "url": url,
    }


__all__ = ["address_lines", "format_hours", "get_published", "public_json"]
