"""The NPI registry's public dissemination file (NPPES): its columns, and reading it one row
at a time into the few fields finder keeps.

The real file is a CSV of about 330 quoted columns and millions of rows. It is read as a
stream: each row is reduced to a ``RegistryRow`` at once and nothing else of it is kept.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, TextIO

from ..errors import InvalidInput
from ..validation import npi as checked_npi

NPI = "NPI"
ENTITY_TYPE = "Entity Type Code"
ORGANIZATION_NAME = "Provider Organization Name (Legal Business Name)"
LAST_NAME = "Provider Last Name (Legal Name)"
FIRST_NAME = "Provider First Name"
CREDENTIAL = "Provider Credential Text"
ADDRESS_1 = "Provider First Line Business Practice Location Address"
ADDRESS_2 = "Provider Second Line Business Practice Location Address"
CITY = "Provider Business Practice Location Address City Name"
STATE = "Provider Business Practice Location Address State Name"
POSTCODE = "Provider Business Practice Location Address Postal Code"
COUNTRY = "Provider Business Practice Location Address Country Code (If outside U.S.)"
PHONE = "Provider Business Practice Location Address Telephone Number"
TAXONOMIES = tuple(f"Healthcare Provider Taxonomy Code_{n}" for n in range(1, 16))
DEACTIVATION_REASON = "NPI Deactivation Reason Code"
DEACTIVATION_DATE = "NPI Deactivation Date"
REACTIVATION_DATE = "NPI Reactivation Date"

# Without these a file cannot be told apart from another CSV, nor read for what finder keeps.
REQUIRED = (NPI, ENTITY_TYPE, ORGANIZATION_NAME, LAST_NAME, FIRST_NAME, POSTCODE,
            TAXONOMIES[0], DEACTIVATION_DATE)
OPTIONAL = (CREDENTIAL, ADDRESS_1, ADDRESS_2, CITY, STATE, COUNTRY, PHONE, *TAXONOMIES[1:],
            DEACTIVATION_REASON, REACTIVATION_DATE)

# NUCC taxonomy: physical therapists are 2251* (225100000X and its specialisations);
# physical therapy clinics 261QP2000X.
PHYSICAL_THERAPIST_PREFIX = "2251"
PHYSICAL_THERAPY_CLINIC = "261QP2000X"


def is_physical_therapy(taxonomy: str) -> bool:
    """Whether a NUCC taxonomy code is a physical therapist's or a PT clinic's."""
    return taxonomy.startswith(PHYSICAL_THERAPIST_PREFIX) or taxonomy == PHYSICAL_THERAPY_CLINIC


@dataclass(frozen=True)
class RegistryRow:
    """What finder keeps of one row of the registry file."""

    npi: str
    entity_type: int | None  # 1: an individual, 2: an organisation; None when deactivated
    name: str  # an organisation's legal name, or an individual's "LAST, FIRST"
    address_1: str
    address_2: str
    city: str
    region: str
    postcode: str  # "78701" or "78701-1234"
    country: str
    phone: str  # digits, as the registry gives them
    taxonomies: list[str]
    deactivated_on: date | None
    reactivated_on: date | None

    @property
    def physical_therapy(self) -> bool:
        return any(is_physical_therapy(code) for code in self.taxonomies)

    @property
    def deactivated(self) -> bool:
        return self.deactivated_on is not None and (
            self.reactivated_on is None or self.reactivated_on < self.deactivated_on)


@dataclass(frozen=True)
class BadRow:
    """A row that could not be read: its line and why."""

    line: int
    reason: str


class NotARegistryFile(InvalidInput):
    """A file that is not the registry's dissemination CSV: reading stops at once."""

    code = "not_a_registry_file"


def read_registry(handle: TextIO, name: str = "the file") -> Iterator[RegistryRow | BadRow]:
    """Check the registry file's header at once (raising NotARegistryFile when it is not the
    registry's), then yield each row as a RegistryRow, or a BadRow saying what is wrong."""
    reader = csv.reader(handle)
    try:
        header = next(reader, None)
    except (csv.Error, UnicodeDecodeError) as exc:
        raise NotARegistryFile(f"{name} is not a CSV file ({exc}).") from None
    if not header:
        raise NotARegistryFile(f"{name} is empty: the NPPES file starts with a header row.")
    position = {column.strip().lstrip("\ufeff"): index for index, column in enumerate(header)}
    missing = [column for column in REQUIRED if column not in position]
    if missing:
        shown = ", ".join(repr(column) for column in missing[:5])
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        raise NotARegistryFile(
            f"{name} is not the NPPES dissemination file: its header has no {shown}{more} "
            "column. Use the npidata_pfile CSV from the CMS download page.")
    wanted = {column: position.get(column) for column in (*REQUIRED, *OPTIONAL)}
    return _rows(reader, len(header), wanted)


def _rows(reader: Any, width: int, wanted: dict[str, int | None]
          ) -> Iterator[RegistryRow | BadRow]:
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except (csv.Error, UnicodeDecodeError) as exc:
            yield BadRow(reader.line_num, f"unreadable row ({exc})")
            continue
        if not any(cells):
            continue  # a blank line
        if len(cells) != width:
            yield BadRow(reader.line_num, f"{len(cells)} cells where the header has {width} "
                                          "columns")
            continue
        try:
            yield _registry_row(cells, wanted)
        except ValueError as exc:
            yield BadRow(reader.line_num, str(exc))


def _registry_row(cells: list[str], wanted: dict[str, int | None]) -> RegistryRow:
    def cell(column: str) -> str:
        index = wanted[column]
        return cells[index].strip() if index is not None else ""

    try:
        number = checked_npi(cell(NPI))
    except InvalidInput as exc:
        raise ValueError(exc.message) from None
    if not number:
        raise ValueError("npi: is empty")
    entity = cell(ENTITY_TYPE)
    deactivated_on = _date(cell(DEACTIVATION_DATE), DEACTIVATION_DATE)
    if entity not in ("1", "2") and not (entity == "" and deactivated_on):
        raise ValueError(f"{ENTITY_TYPE}: {entity!r} is neither 1 (individual) nor 2 "
                         "(organisation)")
    entity_type = int(entity) if entity else None
    if entity_type == 2:
        name = cell(ORGANIZATION_NAME)
    else:
        last, first = cell(LAST_NAME), cell(FIRST_NAME)
        name = f"{last}, {first}" if last and first else last or first
    return RegistryRow(
        npi=number, entity_type=entity_type, name=name,
        address_1=cell(ADDRESS_1), address_2=cell(ADDRESS_2), city=cell(CITY),
        region=cell(STATE), postcode=_zip(cell(POSTCODE)),
        country=cell(COUNTRY).upper() or "US", phone=cell(PHONE),
        taxonomies=[code for code in (cell(column) for column in TAXONOMIES) if code],
        deactivated_on=deactivated_on,
        reactivated_on=_date(cell(REACTIVATION_DATE), REACTIVATION_DATE),
    )


def _date(value: str, column: str) -> date | None:
    """Read the registry's MM/DD/YYYY dates."""
    if not value:
        return None
    try:
        return datetime.strptime(value, "%m/%d/%Y").date()
    except ValueError:
        raise ValueError(f"{column}: {value!r} is not a MM/DD/YYYY date") from None


def _zip(value: str) -> str:
    """Write a nine-digit ZIP+4 (as the registry gives it, without a dash) as 78701-1234."""
    if re.fullmatch(r"\d{9}", value):
        return f"{value[:5]}-{value[5:]}"
    return value
