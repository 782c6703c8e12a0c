"""Listings: read a location and render its public form (never its private fields)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from .errors import NotFound
from .hours import format_hours, to_text
from .models import Location, Organization, Practitioner, Status
from .practitioners import practitioner_json
from .trust.verification import Policy, State, verified_on

# What a listing shows, read as a plain row with its organization's name in one query, for its
# page, the listing API and its search index document (whose copy results pages show). Rows
# cost a fraction of ORM objects. Private columns (owner e-mail, status, external id) are not
# read at all; of ``npi_status`` only whether it is "verified" is shown (``npi_detail`` is
# private).
PUBLIC_COLUMNS = (
    "id", "name", "description", "latitude", "longitude", "geocode_precision", "address_1",
    "address_2", "city", "region", "postcode", "country", "phone", "website", "email", "npi",
    "services", "conditions", "insurance", "languages", "hours", "timezone", "telehealth",
    "accepting_new_patients", "last_verified", "updated_at", "source", "techniques",
    "holiday_hours", "created_at", "flagged_at", "npi_status",
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


# The ``npi_status`` of an NPI the registry confirms (see ``trust.nppes``).
VERIFIED = "verified"

MAX_ID = 2**31  # ids are 32-bit integers on PostgreSQL: a larger one is no listing


def _not_found(location_id: int) -> NotFound:
    return NotFound(f"There is no published listing with id {location_id}.",
                    code="listing_not_found")


def get_published(session: Session, location_id: int) -> Listing:
    """Return a published listing or raise NotFound."""
    if not 0 < location_id < MAX_ID:
        raise _not_found(location_id)
    listing = session.execute(
        _SELECT_PUBLIC.where(_LOCATION.c.id == location_id,
                             _LOCATION.c.status == Status.PUBLISHED)
    ).first()
    if listing is None:
        raise _not_found(location_id)
    return listing


MAX_MERGE_HOPS = 20  # a merged listing's successor may itself have been merged, so far


def merged_into(session: Session, location_id: int) -> int | None:
    """Return the published listing a merged listing now lives on (following later merges),
    or None when it was not merged or its successor is not published."""
    if not 0 < location_id < MAX_ID:
        return None
    current, seen = location_id, {location_id}
    for _ in range(MAX_MERGE_HOPS):
        found = session.execute(sa.select(Location.merged_into_id, Location.status).where(
            Location.id == current)).first()
        if found is None:
            return None
        successor, status = found
        if successor is None:
            return current if current != location_id and status is Status.PUBLISHED else None
        if successor in seen:
            return None  # a loop: no listing to send anyone to
        current = successor
        seen.add(current)
    return None


def get_document(session: Session, location_id: int) -> dict[str, Any]:
    """Return a published listing as its listing document (public fields only), or raise
    NotFound."""
    if not 0 < location_id < MAX_ID:
        raise _not_found(location_id)
    location = session.scalars(
        sa.select(Location).where(Location.id == location_id,
                                  Location.status == Status.PUBLISHED)
        .options(selectinload(Location.organization),
                 selectinload(Location.practitioners).selectinload(
                     Practitioner.certifications))).first()
    if location is None:
        raise _not_found(location_id)
    return document_json(location)


def changed_since(session: Session, since: datetime, after_id: int | None, limit: int
                  ) -> list[dict[str, Any]]:
    """Listings changed after ``since`` (or at it, with an id above ``after_id``), oldest
    change first: published ones as listing documents, unpublished ones as tombstones (see
    ``tombstone``). A client pages on by the last one's time and id, so listings changed in
    the same instant are neither skipped nor repeated."""
    later = Location.updated_at > since
    if after_id is not None:
        later = sa.or_(later, sa.and_(Location.updated_at == since, Location.id > after_id))
    locations = session.scalars(
        sa.select(Location).where(Location.status.in_([Status.PUBLISHED, Status.UNPUBLISHED]),
                                  later)
        .order_by(Location.updated_at, Location.id).limit(limit)
        .options(selectinload(Location.organization),
                 selectinload(Location.practitioners).selectinload(
                     Practitioner.certifications)))
    return [{**document_json(location), "status": Status.PUBLISHED.value}
            if location.status is Status.PUBLISHED else tombstone(location)
            for location in locations]


def tombstone(location: Location) -> dict[str, Any]:
    """What a mirror learns of a listing no longer shown: its id, that it is unpublished, when,
    and the listing it was merged into, if it was."""
    found: dict[str, Any] = {"id": location.id, "status": Status.UNPUBLISHED.value,
                             "updated_at": location.updated_at.isoformat()}
    if location.merged_into_id is not None:
        found["merged_into"] = location.merged_into_id
    return found


def document_json(location: Location) -> dict[str, Any]:
    """Return a location as the listing document, in the shape ``document.ListingDocument``
    declares (without its URL, which depends on the request)."""
    organization = location.organization
    return {
        "id": location.id,
        "external_id": location.external_id,
        "name": location.name,
        "organization": {"name": organization.name, "website": organization.website,
                         "phone": organization.phone, "npi": organization.npi},
        "description": location.description,
        "address": {"address_1": location.address_1, "address_2": location.address_2,
                    "city": location.city, "region": location.region,
                    "postcode": location.postcode, "country": location.country,
                    "lines": address_lines(location)},
        "lat": location.latitude,
        "lon": location.longitude,
        "geocode_precision": location.geocode_precision,
        "timezone": location.timezone,
        "phone": location.phone,
        "website": location.website,
        "email": location.email,
        "npi": location.npi,
        "npi_verified": location.npi_status == VERIFIED,
        "services": location.services,
        "conditions": location.conditions,
        "insurance": location.insurance,
        "languages": location.languages,
        "hours": location.hours,
        "hours_text": to_text(location.hours),
        "holiday_hours": location.holiday_hours,
        "telehealth": location.telehealth,
        "accepting_new_patients": location.accepting_new_patients,
        "direct_access": location.direct_access,
        "home_visits": location.home_visits,
        "techniques": location.techniques,
        "accessibility": location.accessibility,
        "age_groups": location.age_groups,
        "self_pay_price": location.self_pay_price,
        "practitioners": [practitioner_json(p) for p in location.practitioners],
        "last_verified": location.last_verified.isoformat() if location.last_verified else None,
        "verified_on": verified_on(location.last_verified, location.created_at).isoformat(),
        "reported_outdated": location.flagged_at is not None,
        "updated_at": location.updated_at.isoformat(),
        "source": location.source.value,
    }


def address_lines(location: Listing | Location) -> list[str]:
    """Return the postal address as display lines."""
    return _lines(location.address_1, location.address_2, location.city, location.region,
                  location.postcode)


def _lines(address_1: str, address_2: str, city: str, region: str, postcode: str) -> list[str]:
    locality = " ".join(p for p in (f"{city},", region, postcode) if p)
    return [line for line in (address_1, address_2, locality.strip(" ,")) if line]


class PublicRow(Protocol):
    """A row of ``PUBLIC_COLUMNS`` and ``organization_name`` (and maybe ``staff``)."""

    def _asdict(self) -> dict[str, Any]: ...


def public_json(location: PublicRow) -> dict[str, Any]:
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
            "lines": _lines(row["address_1"], row["address_2"], row["city"], row["region"],
                            row["postcode"]),
        },
        "phone": row["phone"],
        "website": row["website"],
        "email": row["email"],
        "npi": row["npi"],
        "npi_verified": row["npi_status"] == VERIFIED,
        "services": row["services"],
        "conditions": row["conditions"],
        "insurance": row["insurance"],
        "languages": row["languages"],
        "hours": row["hours"],
        "hours_text": to_text(row["hours"]),
        "holiday_hours": row["holiday_hours"],
        "timezone": row["timezone"],
        "telehealth": row["telehealth"],
        "accepting_new_patients": row["accepting_new_patients"],
        "techniques": row["techniques"],
        # Whether each is certified depends on the day: see ``as_of``.
        "practitioners": [{"name": person.name, "credentials": list(person.credentials),
                           "certified_until": (person.certified_until.isoformat()
                                               if person.certified_until else None)}
                          for person in row.get("staff", ())],
        "last_verified": row["last_verified"].isoformat() if row["last_verified"] else None,
        # Whether it is stale depends on the day: see ``as_of``.
        "verified_on": verified_on(row["last_verified"], row["created_at"]).isoformat(),
        "reported_outdated": row["flagged_at"] is not None,
        "updated_at": row["updated_at"].isoformat(),
        "source": row["source"].value,
    }


def as_of(listing: dict[str, Any], today: date, policy: Policy) -> dict[str, Any]:
    """Return a listing's public JSON as of ``today``: each practitioner marked ``certified``
    (holding a dry-needling certification current that day) instead of its last certified
    day, and its ``verification_status``, ``current`` or ``stale``."""
    today_text = today.isoformat()
    state = policy.state(date.fromisoformat(listing["verified_on"]),
                         listing["reported_outdated"], today)
    return {**listing, "practitioners": [
        {"name": person["name"], "credentials": person["credentials"],
         "certified": bool(person["certified_until"]) and person["certified_until"] >= today_text}
        for person in listing.get("practitioners", ())],
        "verification_status": public_state(state)}


def public_state(state: State) -> str:
    """What patients are told of a verification state: the details are current or stale (a
    listing whose owner has been asked to confirm it is still current)."""
    return "stale" if state is State.STALE else "current"


__all__ = ["PUBLIC_COLUMNS", "Listing", "address_lines", "document_json", "format_hours",
           "get_document", "get_published", "merged_into", "public_json", "as_of"]
