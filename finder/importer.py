"""Bulk import of listings from CSV, idempotent on ``external_id``.

Every row is checked on its own: a bad row is reported with its line number and reason and
skipped, and never stops the good rows from being imported.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import IO, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from . import csv_input
from .errors import GeocodingError, InvalidInput
from .geocode import GeocoderChain
from .geocode.gazetteer import timezone_at
from .models import Location, Organization, Source, Status, insert_locations
from .validation import EXTRA_FIELDS, FIELDS, listing_fields

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


def read_rows(handle: IO[str], notes: Mapping[int, str] | None = None
              ) -> Iterator[tuple[int, dict[str, str]]]:
    """Read a listings CSV (see ``csv_input.read_rows``)."""
    return csv_input.read_rows(handle, notes, allowed=(*FIELDS, *EXTRA_FIELDS),
                               required=REQUIRED)


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


class Importer:
    """Create or update locations from checked rows, within the caller's transaction.

    ``add`` rows, then ``flush`` them (new locations are written in bulk at that point).
    """

    def __init__(self, session: Session, geocoder: GeocoderChain, default_country: str,
                 source: Source = Source.IMPORT) -> None:
        self.session = session
        self.geocoder = geocoder
        self.default_country = default_country
        self.source = source
        self.report = ImportReport()
        self._organizations: dict[tuple[str, str], Organization] = {}
        self._seen: dict[str, int] = {}
        self._existing: dict[str, Location] = {}
        self._new: list[tuple[dict[str, Any], Organization]] = []

    def flush(self) -> None:
        """Write the batch: updates and new organisations first, then new locations in bulk."""
        self.session.flush()
        insert_locations(self.session, [
            {**fields, "organization_id": organization.id, "source": self.source,
             "status": Status.PUBLISHED}
            for fields, organization in self._new
        ])
        self._new.clear()

    def forget(self) -> None:
        """Drop the finished batch from memory (it is flushed, and committed by on_batch)."""
        self.session.expunge_all()
        self._organizations.clear()
        self._existing.clear()

    def prefetch(self, rows: list[tuple[int, dict[str, str]]]) -> None:
        """Load the stored listings and organisations a batch of rows refers to, in two
        queries rather than two per row."""
        external_ids = {(row.get("external_id") or "").strip() for _, row in rows}
        self._existing = {
            location.external_id or "": location for location in self.session.scalars(
                sa.select(Location).where(Location.external_id.in_(external_ids))
                .options(selectinload(Location.organization)))
        }
        names = {(row.get("name") or "").strip().lower() for _, row in rows} - {
            key[0] for key in self._organizations}
        for organization in self.session.scalars(
                sa.select(Organization).where(sa.func.lower(Organization.name).in_(names))):
            self._organizations.setdefault(
                (organization.name.casefold(), organization.website.casefold()), organization)

    def add(self, line: int, row: dict[str, str]) -> None:
        """Import one row, or record why it was rejected."""
        external_id = (row.get("external_id") or "").strip()
        try:
            if "__error__" in row:
                raise InvalidInput(row["__error__"])
            if "__extra__" in row:
                raise InvalidInput("row has more cells than the header has columns")
            if not external_id:
                raise InvalidInput("external_id: is required")
            if external_id in self._seen:
                first_line = self._seen[external_id]
                raise InvalidInput(
                    f"external_id: {external_id!r} already appeared on line {first_line}"
                )
            existing = self._existing.get(external_id)
            present = set(row)
            # An update from a file without location columns keeps the stored location.
            keeps_location = existing is not None and not (LOCATION_COLUMNS & present)
            fields = listing_fields(row, self.default_country,
                                    require_location=not keeps_location)
            if not keeps_location:
                fields = locate(fields, self.geocoder, lambda message: self.report.warnings
                                .append(Rejected(line, external_id, message)))
        except (InvalidInput, GeocodingError) as exc:
            self.report.rejected.append(Rejected(line, external_id, exc.message))
            return
        if "__note__" in row:
            self.report.warnings.append(Rejected(line, external_id, row["__note__"]))
        self._seen[external_id] = line
        if existing is None:
            self._create(fields)
        else:
            self._update(existing, fields, present)

    def _organization(self, fields: dict[str, Any]) -> Organization:
        """Return the organisation of a chain: same name and same website, or a new one."""
        name, website = fields["name"], fields["website"]
        key = (name.casefold(), website.casefold())
        organization = self._organizations.get(key)  # prefetched for the batch
        if organization is None:
            organization = Organization(name=name, website=website, phone=fields["phone"])
            self.session.add(organization)
        self._organizations[key] = organization
        return organization

    def _create(self, fields: dict[str, Any]) -> None:
        self._new.append((fields, self._organization(fields)))
        self.report.created += 1

    def _update(self, location: Location, fields: dict[str, Any], present: set[str]) -> None:
        # A column the file does not have leaves the stored value alone, and so does an empty
        # last_verified; the point is only moved when the file says where it is.
        relocated = "latitude" in present or (
            {"postcode", "country"} & present
            and (fields["postcode"], fields["country"]) != (location.postcode, location.country))
        fields = {name: value for name, value in fields.items()
                  if name in present or (relocated and name in LOCATED_FIELDS)}
        if fields.get("last_verified", 0) is None:
            del fields["last_verified"]
        changed = False
        if {"name", "website"} & present and (
                fields.get("name", location.name), fields.get("website", location.website)) != (
                location.organization.name, location.organization.website):
            location.organization = self._organization(
                {"name": location.name, "website": location.website, "phone": location.phone,
                 **fields})
            changed = True
        for name, value in fields.items():
            if getattr(location, name) != value:
                setattr(location, name, value)
                changed = True
        if changed:
            self.report.updated += 1
        else:
            self.report.unchanged += 1


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
    """Import rows, calling ``on_batch(rows_done)`` after every ``commit_every`` rows.

    The caller's ``on_batch`` commits, so a crash loses at most the batch in flight and a
    rerun is idempotent. New listings record ``source`` (``demo`` for the demo directory).
    """
    importer = Importer(session, geocoder, default_country, source)
    for batch in _batches(rows, commit_every):
        importer.prefetch(batch)
        with session.no_autoflush:  # one flush per batch: inserts go out together
            for line, row in batch:
                importer.add(line, row)
        importer.flush()
        if on_batch:
            on_batch(len(batch))
        importer.forget()
    return importer.report


def _batches(rows: Iterable[tuple[int, dict[str, str]]], size: int
             ) -> Iterator[list[tuple[int, dict[str, str]]]]:
    batch: list[tuple[int, dict[str, str]]] = []
    for item in rows:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
