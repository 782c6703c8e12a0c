"""Bulk import of listings from CSV rows or listing documents (JSON), idempotent on
``external_id``.

Every record is checked on its own, by the listing document's one declaration: a bad record
is reported with its line (or number) and reason and skipped, and never stops the good ones
from being imported.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import IO, Any

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.orm import Session, selectinload

from . import csv_input, csv_listing, document
from .errors import GeocodingError, InvalidInput
from .geocode import GeocoderChain
from .geocode.gazetteer import timezone_at
from .json_input import Unreadable
from .models import (
    Actor,
    ListingChange,
    Location,
    Organization,
    Source,
    Status,
    insert_locations,
    practitioner_location,
)
from .practitioners import Practitioners, locations_by_external_id, locations_of
from .validation import EXTRA_FIELDS, FIELDS

REQUIRED = ("external_id", "name")
LOCATED_FIELDS = ("latitude", "longitude", "geocode_precision", "geocode_source", "timezone")
LOCATION_COLUMNS = {"latitude", "longitude", "postcode", "country"}


@dataclass
class Rejected:
    line: int
    external_id: str
    reason: str


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    # Rows imported with a caveat, e.g. an address placed at its postcode centroid.
    warnings: list[Rejected] = field(default_factory=list)


# Each kind of file: its columns, and those it must have.
KINDS = {"locations": ((*FIELDS, *EXTRA_FIELDS), REQUIRED),
         "practitioners": (csv_listing.PRACTITIONER_COLUMNS,
                           csv_listing.PRACTITIONER_REQUIRED)}


def read_rows(handle: IO[str], notes: Mapping[int, str] | None = None,
              kind: str = "locations") -> Iterator[tuple[int, dict[str, str]]]:
    """Read a CSV of listings or practitioners (see ``csv_input.read_rows``)."""
    allowed, required = KINDS[kind]
    return csv_input.read_rows(handle, notes, allowed=allowed, required=required)


def locate(fields: dict[str, Any], geocoder: GeocoderChain,
           warn: Callable[[str], None]) -> dict[str, Any]:
    """Fill in coordinates, their precision and source, and the timezone.

    Given coordinates are kept; otherwise an online geocoder (when configured) locates the
    street address, and the postcode centroid is the fallback, with a warning saying why.
    """
    if fields["latitude"] is not None:
        lat, lon = fields["latitude"], fields["longitude"]
        precision, source = "point", "provided"
    else:
        place = None
        if geocoder.locates_addresses and fields["address_1"]:
            address = ", ".join(part for part in (fields["address_1"], fields["city"],
                                                  fields["region"], fields["postcode"]) if part)
            try:
                place = geocoder.address(address, fields["country"])
            except GeocodingError as exc:
                warn(f"{exc.message} Placed at the postcode centroid instead.")
        if place is None:
            place = geocoder.postcode(fields["postcode"], fields["country"])
        lat, lon, precision, source = place.lat, place.lon, place.precision, place.source
    return {**fields, "latitude": lat, "longitude": lon, "geocode_precision": precision,
            "geocode_source": source, "timezone": timezone_at(lat, lon)}


def check_readable(row: Mapping[str, str]) -> None:
    """Raise InvalidInput for a row the CSV reader could not read whole."""
    if "__error__" in row:
        raise InvalidInput(row["__error__"])
    if "__extra__" in row:
        raise InvalidInput("row has more cells than the header has columns")


Record = tuple[int, Mapping[str, Any]]  # (line or record number, CSV row or document)


class Importer:
    """Create or update locations from CSV rows or listing documents, within the caller's
    transaction.

    ``add_row`` or ``add_document``, then ``flush`` the batch (new locations are written in
    bulk at that point).
    """

    def __init__(self, session: Session, geocoder: GeocoderChain, default_country: str,
                 source: Source = Source.IMPORT, history: Actor | None = Actor.IMPORT) -> None:
        self.session = session
        # Who changes listings, for their history (None: the caller records it).
        self.history = history
        self.geocoder = geocoder
        self.default_country = default_country
        self.source = source
        self.report = ImportReport()
        self.practitioners = Practitioners(session)
        self._organizations: dict[tuple[str, str], Organization] = {}
        self._seen: dict[str, int] = {}
        self._existing: dict[str, Location] = {}
        # New locations: their columns, organisation and practitioners (None: not given).
        self._new: list[tuple[dict[str, Any], Organization,
                              list[document.Practitioner] | None]] = []

    def flush(self) -> None:
        """Write the batch: updates and new organisations first, then new locations in bulk,
        then who works at the new locations."""
        self.session.flush()
        ids = insert_locations(self.session, [
            {**fields, "organization_id": organization.id, "source": self.source,
             "status": Status.PUBLISHED}
            for fields, organization, _ in self._new
        ])
        staff = [(location_id, [self.practitioners.upsert(organization, p) for p in given])
                 for location_id, (_, organization, given) in zip(ids, self._new, strict=True)
                 if given]
        if staff:
            self.session.flush()
            self.session.execute(sa.insert(practitioner_location), [
                {"location_id": location_id, "practitioner_id": practitioner.id}
                for location_id, practitioners in staff
                for practitioner in dict.fromkeys(practitioners)])
        self._new.clear()

    def forget(self) -> None:
        """Drop the finished batch from memory (it is flushed, and committed by on_batch)."""
        self.session.expunge_all()
        self._organizations.clear()
        self._existing.clear()
        self.practitioners.forget()

    def prefetch(self, records: list[Record]) -> None:
        """Load the stored listings and organisations a batch refers to, in two queries
        rather than two per record."""
        external_ids = {str(record.get("external_id") or "").strip() for _, record in records}
        self._existing = {
            location.external_id or "": location for location in self.session.scalars(
                sa.select(Location).where(Location.external_id.in_(external_ids))
                .options(selectinload(Location.organization)))
        }
        names = {_organization_name(record).lower() for _, record in records} - {
            key[0] for key in self._organizations}
        for organization in self.session.scalars(
                sa.select(Organization).where(sa.func.lower(Organization.name).in_(names))):
            self._organizations.setdefault(
                (organization.name.casefold(), organization.website.casefold()), organization)

    def add_row(self, line: int, row: Mapping[str, str]) -> None:
        """Import one CSV row, or record why it was rejected."""
        external_id = (row.get("external_id") or "").strip()
        try:
            check_readable(row)
            cells = {name: value for name, value in row.items() if not name.startswith("__")}
            try:
                data = csv_listing.listing_document(cells)
            except csv_listing.CellError as exc:
                raise InvalidInput(str(exc)) from None
        except InvalidInput as exc:
            self.report.rejected.append(Rejected(line, external_id, exc.message))
            return
        if "__note__" in row:
            self.report.warnings.append(Rejected(line, external_id, row["__note__"]))
        self._add(line, external_id, data, set(cells), csv_listing.column_of)

    def add_document(self, line: int, data: Any) -> None:
        """Import one listing document, or record why it was rejected."""
        if isinstance(data, Unreadable):
            self.report.rejected.append(Rejected(line, "", str(data)))
            return
        if not isinstance(data, dict):
            self.report.rejected.append(Rejected(
                line, "", f"a listing document is a JSON object, not {type(data).__name__}"))
            return
        external_id = str(data.get("external_id") or "").strip()
        self._add(line, external_id, data, _document_columns(data), str)

    def _add(self, line: int, external_id: str, data: dict[str, Any], present: set[str],
             rename: Callable[[str], str]) -> None:
        try:
            if not external_id:
                raise InvalidInput("external_id: is required")
            if external_id in self._seen:
                first_line = self._seen[external_id]
                raise InvalidInput(
                    f"external_id: {external_id!r} already appeared on line {first_line}"
                )
            existing = self._existing.get(external_id)
            # An update without location fields keeps the stored location.
            keeps_location = existing is not None and not (LOCATION_COLUMNS & present)
            checked = document.validate(data, self.default_country,
                                        require_location=not keeps_location, rename=rename)
            fields = location_columns(checked)
            if not keeps_location:
                fields = locate(fields, self.geocoder, lambda message: self.report.warnings
                                .append(Rejected(line, external_id, message)))
        except (InvalidInput, GeocodingError) as exc:
            self.report.rejected.append(Rejected(line, external_id, exc.message))
            return
        self._seen[external_id] = line
        owner = _organization_fields(checked)
        staff = checked.practitioners if "practitioners" in present else None
        if existing is None:
            self._new.append((fields, self._organization(owner), staff))
            self.report.created += 1
        elif existing.merged_into_id is not None and self.history is Actor.IMPORT:
            # A moderator merged this listing into another: the row neither brings the
            # duplicate back nor changes the listing kept (which has its own row).
            self.report.unchanged += 1
            self.report.warnings.append(Rejected(
                line, external_id, f"not applied: this listing was merged into listing "
                f"{existing.merged_into_id}; change that listing's row instead"))
        elif existing.owner_email and self.history is Actor.IMPORT:
            # A clinic keeps this listing itself, through moderation: a file does not undo it.
            self.report.unchanged += 1
            self.report.warnings.append(Rejected(
                line, external_id, "kept as it is: its clinic maintains this listing (its "
                "changes go through moderation, not through imports)"))
        else:
            self._update(existing, fields, present, owner, staff)

    def _organization(self, fields: dict[str, str]) -> Organization:
        """Return the organisation of a chain: same name and same website, or a new one."""
        name, website = fields["name"], fields["website"]
        key = (name.casefold(), website.casefold())
        organization = self._organizations.get(key)  # prefetched for the batch
        if organization is None:
            organization = Organization(**fields)
            self.session.add(organization)
        self._organizations[key] = organization
        return organization

    def _update(self, location: Location, fields: dict[str, Any], present: set[str],
                owner: dict[str, str], staff: list[document.Practitioner] | None) -> None:
        # A field the record does not have leaves the stored value alone, and so does an
        # empty last_verified; the point is only moved when the record says where it is.
        relocated = "latitude" in present or (
            {"postcode", "country"} & present
            and (fields["postcode"], fields["country"]) != (location.postcode, location.country))
        fields = {name: value for name, value in fields.items()
                  if name in present or (relocated and name in LOCATED_FIELDS)}
        if fields.get("last_verified", 0) is None:
            del fields["last_verified"]
        changes: dict[str, list[Any]] = {}  # field: [old, new], for the listing's history
        if {"name", "website", "organization"} & present:
            if "organization" not in present:  # the organisation follows the listing's name
                owner = {"name": fields.get("name", location.name),
                         "website": fields.get("website", location.website),
                         "phone": fields.get("phone", location.phone)}
            if (owner["name"], owner["website"]) != (location.organization.name,
                                                     location.organization.website):
                changes["organization"] = [location.organization.name, owner["name"]]
                location.organization = self._organization(owner)
        for name, value in fields.items():
            old = getattr(location, name)
            if old != value:
                changes[name] = [_plain(old), _plain(value)]
                setattr(location, name, value)
        changed = bool(changes)
        if staff is not None:
            practitioners = list(dict.fromkeys(
                self.practitioners.upsert(location.organization, p) for p in staff))
            if practitioners != location.practitioners:
                changes["practitioners"] = [[p.name for p in location.practitioners],
                                            [p.name for p in practitioners]]
                location.practitioners = practitioners
                changed = True
            changed |= any(p in self.session.new or self.session.is_modified(p)
                           for p in practitioners)
        if changes and self.history is not None:
            self.session.add(ListingChange(location_id=location.id, actor_kind=self.history,
                                           changes=changes, note=f"{self.source.value} update"))
        if changed:
            self.report.updated += 1
        else:
            self.report.unchanged += 1


def _plain(value: Any) -> Any:
    """A column's value as JSON holds it (for the history)."""
    return value.isoformat() if isinstance(value, date) else value


def location_columns(checked: document.ListingDocument) -> dict[str, Any]:
    """Return a checked listing document's values as location columns."""
    address = checked.address
    return {
        "external_id": checked.external_id,
        "name": checked.name,
        "description": checked.description,
        **{name: getattr(address, name) for name in csv_listing.ADDRESS_COLUMNS},
        "latitude": checked.lat,
        "longitude": checked.lon,
        "phone": checked.phone,
        "website": checked.website,
        "email": checked.email,
        "npi": checked.npi,
        "services": checked.services,
        "conditions": checked.conditions,
        "insurance": checked.insurance,
        "languages": checked.languages,
        "hours": checked.hours,
        "holiday_hours": [entry.model_dump(mode="json") for entry in checked.holiday_hours],
        "telehealth": checked.telehealth,
        "accepting_new_patients": checked.accepting_new_patients,
        "direct_access": checked.direct_access,
        "home_visits": checked.home_visits,
        "techniques": checked.techniques,
        "accessibility": checked.accessibility,
        "age_groups": checked.age_groups,
        "self_pay_price": (checked.self_pay_price.model_dump()
                           if checked.self_pay_price else None),
        "last_verified": checked.last_verified,
    }


def _organization_fields(checked: document.ListingDocument) -> dict[str, str]:
    if checked.organization is not None:
        return checked.organization.model_dump()
    return {"name": checked.name, "website": checked.website, "phone": checked.phone}


def _organization_name(record: Mapping[str, Any]) -> str:
    organization = record.get("organization")
    if isinstance(organization, dict) and organization.get("name"):
        return str(organization["name"]).strip()
    return str(record.get("name") or "").strip()


def _document_columns(data: Mapping[str, Any]) -> set[str]:
    """Return the location columns (and organization, practitioners) a document gives."""
    present = set()
    for key, value in data.items():
        if key == "address" and isinstance(value, Mapping):
            present |= set(value) & set(csv_listing.ADDRESS_COLUMNS)
        else:
            present.add({"lat": "latitude", "lon": "longitude"}.get(key, key))
    return present


def import_csv(
    session: Session,
    geocoder: GeocoderChain,
    rows: Iterable[tuple[int, dict[str, str]]],
    *,
    default_country: str,
    commit_every: int = 1000,
    on_batch: Callable[[int], None] | None = None,
    source: Source = Source.IMPORT,
) -> ImportReport:
    """Import CSV rows, calling ``on_batch(rows_done)`` after every ``commit_every`` rows.

    The caller's ``on_batch`` commits, so a crash loses at most the batch in flight and a
    rerun is idempotent. New listings record ``source`` (``demo`` for the demo directory).
    """
    importer = Importer(session, geocoder, default_country, source)
    return _run(importer, importer.add_row, rows, commit_every, on_batch)


def import_documents(
    session: Session,
    geocoder: GeocoderChain,
    documents: Iterable[tuple[int, Any]],
    *,
    default_country: str,
    commit_every: int = 1000,
    on_batch: Callable[[int], None] | None = None,
) -> ImportReport:
    """Import listing documents (number, parsed JSON) like ``import_csv`` imports rows."""
    importer = Importer(session, geocoder, default_country)
    return _run(importer, importer.add_document, documents, commit_every, on_batch)


def import_practitioners(
    session: Session,
    rows: Iterable[tuple[int, dict[str, str]]],
    *,
    commit_every: int = 1000,
    on_batch: Callable[[int], None] | None = None,
) -> ImportReport:
    """Import practitioner rows: each names the locations (by external id) they work at."""
    people = Practitioners(session)
    report = ImportReport()
    seen: dict[str, int] = {}
    for batch in _batches(rows, commit_every):
        people.prefetch((row.get("external_id") or "").strip() for _, row in batch)
        stored = locations_by_external_id(session, (
            key for _, row in batch
            for key in csv_listing.split(row.get("location_external_ids") or "")))
        with session.no_autoflush:
            for line, row in batch:
                _add_practitioner(session, people, stored, report, seen, line, row)
        session.flush()
        if on_batch:
            on_batch(len(batch))
        session.expunge_all()
        people.forget()
    return report


def _add_practitioner(session: Session, people: Practitioners,
                      stored: Mapping[str, Location], report: ImportReport,
                      seen: dict[str, int], line: int, row: Mapping[str, str]) -> None:
    external_id = (row.get("external_id") or "").strip()
    try:
        check_readable(row)
        if not external_id:
            raise InvalidInput("external_id: is required")
        if external_id in seen:
            raise InvalidInput(f"external_id: {external_id!r} already appeared on line "
                               f"{seen[external_id]}")
        try:
            location_ids, data = csv_listing.practitioner(row)
            given = document.Practitioner.model_validate(data)
            locations = locations_of(stored, location_ids)
        except csv_listing.CellError as exc:
            raise InvalidInput(str(exc)) from None
        except ValidationError as exc:
            raise InvalidInput(document.describe(exc, csv_listing.practitioner_column_of)
                               ) from None
        except ValueError as exc:
            raise InvalidInput(f"location_external_ids: {exc}") from None
        if len({location.organization_id for location in locations}) > 1:
            raise InvalidInput("location_external_ids: the locations belong to different "
                               "organisations; a practitioner works for one")
    except InvalidInput as exc:
        report.rejected.append(Rejected(line, external_id, exc.message))
        return
    seen[external_id] = line
    practitioner = people.upsert(locations[0].organization, given)
    created = practitioner in session.new  # each external id comes once a file
    changed = created or session.is_modified(practitioner)
    before = set() if created else set(practitioner.locations)
    _practitioner_history(session, practitioner.name, before, set(locations),
                          modified=changed and not created)
    if before != set(locations):
        practitioner.locations = locations
        changed = True
    if created:
        report.created += 1
    elif changed:
        report.updated += 1
    else:
        report.unchanged += 1


def _practitioner_history(session: Session, name: str, before: set[Location],
                          after: set[Location], modified: bool) -> None:
    """Record in each listing's history a practitioner joining, leaving or changing."""
    for location in after | before:
        joined, left = location not in before, location not in after
        if not (joined or left or modified):
            continue
        note = "joined" if joined else "left" if left else "details changed"
        session.add(ListingChange(location_id=location.id, actor_kind=Actor.IMPORT,
                                  changes={"practitioners": [None if joined else name,
                                                             None if left else name]},
                                  note=f"practitioner {note} (practitioners import)"))


def _run(importer: Importer, add: Callable[[int, Any], None], records: Iterable[Record],
         commit_every: int, on_batch: Callable[[int], None] | None) -> ImportReport:
    for batch in _batches(records, commit_every):
        importer.prefetch([(n, r) for n, r in batch if isinstance(r, Mapping)])
        with importer.session.no_autoflush:  # one flush per batch: inserts go out together
            for number, record in batch:
                add(number, record)
        importer.flush()
        if on_batch:
            on_batch(len(batch))
        importer.forget()
    return importer.report


def _batches(records: Iterable[Record], size: int) -> Iterator[list[Record]]:
    batch: list[Record] = []
    for item in records:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
