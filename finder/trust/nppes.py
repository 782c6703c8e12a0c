"""The NPI registry (NPPES): keep its physical therapists and clinics, check the directory's
NPIs against them, and propose listings for the clinics the directory does not have yet.

``import_registry`` stores what ``nppes_file`` reads, a batch at a time; ``verify_directory``
gives every location and practitioner with an NPI its ``npi_status``; ``create_listings``
makes unpublished listings of registry clinics for moderators to review. Each takes a session
and never commits: the caller's ``on_batch`` does, so a large file never piles up in memory.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from ..errors import GeocodingError, InvalidInput
from ..geocode import Geocoder
from ..geocode.gazetteer import timezone_at
from ..listings import VERIFIED
from ..models import (
    Actor,
    ListingChange,
    Location,
    Organization,
    Practitioner,
    Source,
    Status,
    insert_locations,
)
from ..validation import phone as checked_phone
from . import names
from .models import NppesRecord
from .nppes_file import BadRow, RegistryRow, is_physical_therapy

BATCH_SIZE = 5000
MAX_REPORTED = 50  # bad rows kept for the report; the rest are only counted
NOT_FOUND, DEACTIVATED, MISMATCH = "not_found", "deactivated", "mismatch"
PROBLEMS = (DEACTIVATED, MISMATCH, NOT_FOUND)
UNPUBLISHED_REASON = "nppes"
EXTERNAL_ID_PREFIX = "nppes:"

# The columns of NppesRecord a registry row sets.
RECORD_FIELDS = ("entity_type", "name", "address_1", "address_2", "city", "region", "postcode",
                 "country", "phone", "taxonomies", "deactivated_on", "reactivated_on")


@dataclass
class ImportReport:
    read: int = 0
    kept: int = 0
    deactivated: int = 0  # of those kept
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    bad_rows: list[BadRow] = field(default_factory=list)  # the first MAX_REPORTED


def directory_npis(session: Session) -> set[str]:
    """Every NPI the directory holds: its locations', organisations' and practitioners'."""
    found: set[str] = set()
    for column in (Location.npi, Organization.npi, Practitioner.npi):
        found.update(session.scalars(sa.select(column).where(column != "").distinct()))
    return found


def import_registry(session: Session, rows: Iterable[RegistryRow | BadRow], *,
                    batch_size: int = BATCH_SIZE,
                    on_batch: Callable[[], None] | None = None) -> ImportReport:
    """Store the registry rows finder needs, as NppesRecord rows (idempotent on NPI).

    Kept: physical therapists and PT clinics, and any row of an NPI the directory holds or
    that is stored already, so that a deactivation or a change of taxonomy is learned. Bad
    rows are counted (the first few with their reason) and never stop the import.
    """
    report = ImportReport()
    in_directory = directory_npis(session)
    wanted: dict[str, RegistryRow] = {}
    # Rows kept only if their NPI is stored already: asked about once a batch.
    if_stored: dict[str, RegistryRow] = {}
    for row in rows:
        report.read += 1
        if isinstance(row, BadRow):
            report.rejected += 1
            if len(report.bad_rows) < MAX_REPORTED:
                report.bad_rows.append(row)
            continue
        if row.physical_therapy or row.npi in in_directory:
            wanted[row.npi] = row
        else:
            if_stored[row.npi] = row
        if len(wanted) + len(if_stored) >= batch_size:
            _store_batch(session, wanted, if_stored, report, on_batch)
    _store_batch(session, wanted, if_stored, report, on_batch)
    return report


def _store_batch(session: Session, wanted: dict[str, RegistryRow],
                 if_stored: dict[str, RegistryRow], report: ImportReport,
                 on_batch: Callable[[], None] | None) -> None:
    if if_stored:
        for npi in session.scalars(sa.select(NppesRecord.npi)
                                   .where(NppesRecord.npi.in_(list(if_stored)))):
            wanted[npi] = if_stored[npi]
    stored = {record.npi: record for record in session.scalars(
        sa.select(NppesRecord).where(NppesRecord.npi.in_(list(wanted))))} if wanted else {}
    new: list[dict[str, Any]] = []
    for npi, row in wanted.items():
        values = {name: getattr(row, name) for name in RECORD_FIELDS}
        if row.entity_type is None:  # a deactivated row says nothing else
            values = {"deactivated_on": row.deactivated_on,
                      "reactivated_on": row.reactivated_on}
        report.kept += 1
        report.deactivated += row.deactivated
        record = stored.get(npi)
        if record is None:
            new.append({"npi": npi, "entity_type": row.entity_type or 0, "name": row.name,
                        **values})
            report.created += 1
            continue
        changed = False
        for name, value in values.items():
            if getattr(record, name) != value:
                setattr(record, name, value)
                changed = True
        if changed:
            report.updated += 1
        else:
            report.unchanged += 1
    if new:
        session.execute(sa.insert(NppesRecord), new)
    session.flush()
    if on_batch is not None:
        on_batch()
    session.expunge_all()
    wanted.clear()
    if_stored.clear()


# -- verification ----------------------------------------------------------------------------


@dataclass
class VerifyReport:
    locations: Counter[str] = field(default_factory=Counter)
    practitioners: Counter[str] = field(default_factory=Counter)


def is_active(record: NppesRecord) -> bool:
    return record.deactivated_on is None or (
        record.reactivated_on is not None and record.reactivated_on >= record.deactivated_on)


def verdict(npi: str, record: NppesRecord | None, agrees: Callable[[NppesRecord], bool]
            ) -> tuple[str, str]:
    """The registry's word on an NPI, and why (for moderators)."""
    if record is None:
        return NOT_FOUND, f"NPI {npi} is not in the NPI registry file last imported."
    if not is_active(record):
        when = record.deactivated_on.isoformat() if record.deactivated_on else "?"
        return DEACTIVATED, f"The registry deactivated NPI {npi} on {when}."
    problems = []
    if not agrees(record):
        problems.append(f"the registry names it '{record.name}'")
    if not any(is_physical_therapy(code) for code in record.taxonomies):
        listed = ", ".join(record.taxonomies) or "no taxonomy"
        problems.append(f"the registry lists it as {listed}, not a physical therapist or "
                        "physical therapy clinic")
    if problems:
        said = "; ".join(problems)
        return MISMATCH, said[0].upper() + said[1:] + "."
    return VERIFIED, ""


def _location_agrees(location: Location) -> Callable[[NppesRecord], bool]:
    def agrees(record: NppesRecord) -> bool:
        if record.entity_type == 1:  # a solo practice under its therapist's own NPI
            return any(names.same_person(record.name, name)
                       for name in (location.name, location.organization.name))
        return names.same_organisation(record.name, location.name, location.organization.name)
    return agrees


def _person_agrees(name: str) -> Callable[[NppesRecord], bool]:
    return lambda record: names.same_person(record.name, name)


def _records(session: Session, npis: Iterable[str]) -> dict[str, NppesRecord]:
    return {record.npi: record for record in session.scalars(
        sa.select(NppesRecord).where(NppesRecord.npi.in_(set(npis))))}


def _pages(session: Session, model: type[Location] | type[Practitioner], size: int,
           **options: Any) -> Iterator[list[Any]]:
    """Yield the rows of ``model`` with an NPI or a status, in pages by id."""
    last = 0
    while True:
        page: list[Any] = list(session.scalars(
            sa.select(model).where(model.id > last,
                                   sa.or_(model.npi != "", model.npi_status != ""))
            .order_by(model.id).limit(size).options(*options.get("load", ()))))
        if not page:
            return
        yield page
        last = page[-1].id


def verify_directory(session: Session, today: date, *, batch_size: int = 1000,
                     on_batch: Callable[[], None] | None = None) -> VerifyReport:
    """Check every NPI of the directory against the stored registry records."""
    report = VerifyReport()
    for page in _pages(session, Location, batch_size,
                       load=[selectinload(Location.organization)]):
        records = _records(session, (location.npi for location in page))
        for location in page:
            status, detail = ("", "") if not location.npi else verdict(
                location.npi, records.get(location.npi), _location_agrees(location))
            _set(location, npi_status=status, npi_detail=detail,
                 npi_checked_on=today if status else None)
            if status:
                report.locations[status] += 1
        _finish(session, on_batch)
    for page in _pages(session, Practitioner, batch_size):
        records = _records(session, (person.npi for person in page))
        for person in page:
            status, _ = ("", "") if not person.npi else verdict(
                person.npi, records.get(person.npi), _person_agrees(person.name))
            _set(person, npi_status=status, npi_checked_on=today if status else None)
            if status:
                report.practitioners[status] += 1
        _finish(session, on_batch)
    return report


def _set(target: Location | Practitioner, **values: Any) -> None:
    """Set only what differs, so an unchanged listing is not reindexed for nothing."""
    for name, value in values.items():
        if getattr(target, name) != value:
            setattr(target, name, value)


def _finish(session: Session, on_batch: Callable[[], None] | None) -> None:
    session.flush()
    if on_batch is not None:
        on_batch()
    session.expunge_all()


def problems(session: Session) -> tuple[list[Location], list[Practitioner]]:
    """Listings and practitioners whose NPI the registry did not confirm."""
    locations = list(session.scalars(
        sa.select(Location).where(Location.npi_status.in_(PROBLEMS))
        .order_by(Location.npi_status, Location.name, Location.id)))
    people = list(session.scalars(
        sa.select(Practitioner).where(Practitioner.npi_status.in_(PROBLEMS))
        .order_by(Practitioner.npi_status, Practitioner.name, Practitioner.id)))
    return locations, people


def waiting_for_review(session: Session, limit: int = 200) -> list[Location]:
    """Listings made from the registry that nobody has published yet."""
    return list(session.scalars(
        sa.select(Location).where(Location.unpublished_reason == UNPUBLISHED_REASON,
                                  Location.status == Status.UNPUBLISHED)
        .order_by(Location.name, Location.id).limit(limit)))


# -- listings of registry clinics ------------------------------------------------------------


@dataclass
class ListingsReport:
    created: int = 0
    not_placed: int = 0
    reasons: list[str] = field(default_factory=list)  # the first MAX_REPORTED


def _without_listing() -> sa.Select[NppesRecord]:
    """Registry organisations whose NPI no listing (nor its organisation) holds, and of
    which no listing was made before (a moderator may have changed its NPI since)."""
    held = sa.union(sa.select(Location.npi).where(Location.npi != ""),
                    sa.select(Organization.npi).where(Organization.npi != ""))
    made = sa.exists().where(
        Location.external_id == sa.literal(EXTERNAL_ID_PREFIX).concat(NppesRecord.npi))
    return sa.select(NppesRecord).where(NppesRecord.entity_type == 2,
                                        NppesRecord.npi.not_in(held), ~made)


def create_listings(session: Session, geocoder: Geocoder, today: date, *,
                    batch_size: int = 1000,
                    on_batch: Callable[[], None] | None = None) -> ListingsReport:
    """Make an unpublished listing of every active registry PT clinic the directory lacks,
    placed at its ZIP centroid, for moderators to review (idempotent)."""
    report = ListingsReport()
    last = ""
    while True:
        page = list(session.scalars(_without_listing().where(NppesRecord.npi > last)
                                    .order_by(NppesRecord.npi).limit(batch_size)))
        if not page:
            return report
        last = page[-1].npi
        rows = []
        for record in page:
            if not is_active(record) or not any(
                    is_physical_therapy(code) for code in record.taxonomies):
                continue
            try:
                rows.append(_listing_row(session, record, geocoder, today))
            except GeocodingError as exc:
                report.not_placed += 1
                if len(report.reasons) < MAX_REPORTED:
                    report.reasons.append(f"NPI {record.npi} ({record.name}): {exc.message}")
        session.flush()  # the new organisations get their ids
        for row in rows:
            row["organization_id"] = row.pop("organization").id
        ids = insert_locations(session, rows)
        if ids:
            session.execute(sa.insert(ListingChange), [
                {"location_id": location_id, "actor_kind": Actor.SYSTEM,
                 "actor": "NPI registry", "changes": {},
                 "note": "made from the NPI registry, unpublished until a moderator reviews it"}
                for location_id in ids])
        report.created += len(ids)
        _finish(session, on_batch)


def _listing_row(session: Session, record: NppesRecord, geocoder: Geocoder, today: date
                 ) -> dict[str, Any]:
    if record.country != "US":
        raise GeocodingError(f"the practice is outside the US ({record.country})")
    place = geocoder.postcode(record.postcode[:5], "US")
    try:
        phone = checked_phone(record.phone, "US")
    except InvalidInput:
        phone = ""  # a wrong number is worse than none; the moderator sees the registry's
    organization = Organization(name=record.name, phone=phone, npi=record.npi)
    session.add(organization)
    return {
        "organization": organization, "external_id": EXTERNAL_ID_PREFIX + record.npi,
        "name": record.name, "address_1": record.address_1, "address_2": record.address_2,
        "city": record.city, "region": record.region, "postcode": record.postcode[:5],
        "country": "US", "latitude": place.lat, "longitude": place.lon,
        "geocode_precision": "postcode", "geocode_source": place.source,
        "timezone": timezone_at(place.lat, place.lon), "phone": phone, "npi": record.npi,
        "status": Status.UNPUBLISHED, "source": Source.NPPES,
        "unpublished_reason": UNPUBLISHED_REASON, "npi_status": VERIFIED, "npi_detail": "",
        "npi_checked_on": today,
    }
