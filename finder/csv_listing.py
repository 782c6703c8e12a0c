"""CSV rows in the shape of the listing document, so one declaration checks both.

A listings row becomes a listing document holding the columns the file has (an empty cell
means the field's default, or "not said"); a practitioners row becomes a practitioner and the
external ids of the locations they work at. Errors name the CSV column, not the document's.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

# Listing columns whose cells are ';'-separated lists.
LIST_COLUMNS = ("services", "conditions", "insurance", "languages", "techniques",
                "accessibility", "age_groups")
ADDRESS_COLUMNS = ("address_1", "address_2", "city", "region", "postcode", "country")
# Empty cells of these mean the document's default.
DEFAULTED_COLUMNS = ("telehealth", "accepting_new_patients", "direct_access", "home_visits",
                     "self_pay_price", "last_verified", "latitude", "longitude")
COORDINATES = {"latitude": "lat", "longitude": "lon"}

PRACTITIONER_COLUMNS = ("external_id", "location_external_ids", "name", "credentials", "npi",
                        "licence_region", "licence_number", "languages", "gender",
                        "certifications")
PRACTITIONER_REQUIRED = ("external_id", "location_external_ids", "name")

_PRICE = re.compile(r"(\d+(?:\.\d{1,2})?)(?:\s*-\s*(\d+(?:\.\d{1,2})?))?")
_HOLIDAY = re.compile(r"(\d{4}-\d{2}-\d{2})\s+(.*)")


class CellError(ValueError):
    """A cell that cannot be read; its message names the column."""


def split(value: str) -> list[str]:
    return [item.strip() for item in value.split(";") if item.strip()]


def listing_document(row: Mapping[str, str]) -> dict[str, Any]:
    """Return the listing document of a CSV row: only the columns the row has."""
    document: dict[str, Any] = {}
    for column, raw in row.items():
        value = (raw or "").strip()
        if column in ADDRESS_COLUMNS:
            document.setdefault("address", {})[column] = value
        elif column in DEFAULTED_COLUMNS and not value:
            continue
        elif column in COORDINATES:
            document[COORDINATES[column]] = value
        elif column in LIST_COLUMNS:
            document[column] = split(value)
        elif column == "self_pay_price":
            document[column] = price(value)
        elif column == "holiday_hours":
            document[column] = holiday_hours(value)
        elif column == "external_id":
            document[column] = value or None
        else:
            document[column] = value
    return document


def price(value: str) -> dict[str, Any]:
    """Read ``90`` or ``90-120`` (per session, in the country's currency)."""
    found = _PRICE.fullmatch(value.replace(",", ""))
    if not found:
        raise CellError(f"self_pay_price: {value!r} is not a price like 90 or 90-120")
    low, high = found.groups()
    return {"min": float(low), "max": float(high) if high else None}


def holiday_hours(value: str) -> list[dict[str, Any]]:
    """Read ``2026-12-25 closed; 2026-12-24 09:00-13:00``."""
    entries = []
    for clause in split(value):
        found = _HOLIDAY.fullmatch(clause)
        if not found:
            raise CellError(f"holiday_hours: {clause[:60]!r} is not like '2026-12-25 closed' "
                            "or '2026-12-24 09:00-13:00'")
        day, rest = found.groups()
        if rest.strip().lower() == "closed":
            entries.append({"date": day, "closed": True})
        else:
            entries.append({"date": day, "hours": rest})
    return entries


def column_of(path: str) -> str:
    """Name the CSV column of a listing document's field path ("address.postcode" ->
    "postcode", "lat" -> "latitude", "holiday_hours[1].date" -> "holiday_hours")."""
    top = re.split(r"[.\[]", path, maxsplit=1)[0]
    if top == "address":
        return path.split(".", 2)[1] if "." in path else top
    return {value: key for key, value in COORDINATES.items()}.get(top, top)


def practitioner_column_of(path: str) -> str:
    """Name the practitioners CSV column of a practitioner's field path ("licence.number"
    -> "licence_number"; "certifications[1].expires" stays, naming the entry)."""
    return f"licence_{path.split('.', 1)[1]}" if path.startswith("licence.") else path


def practitioner(row: Mapping[str, str]) -> tuple[list[str], dict[str, Any]]:
    """Return the external ids of a practitioners row's locations and its practitioner."""
    locations = split(row.get("location_external_ids") or "")
    if not locations:
        raise CellError("location_external_ids: is required (the external_id of each "
                        "location the practitioner works at, separated by ';')")
    document: dict[str, Any] = {"external_id": (row.get("external_id") or "").strip() or None}
    for column in ("name", "npi", "gender"):
        if column in row:
            document[column] = (row[column] or "").strip()
    for column in ("credentials", "languages"):
        if column in row:
            document[column] = split(row[column] or "")
    region, number = ((row.get(c) or "").strip() for c in ("licence_region", "licence_number"))
    if region or number:
        document["licence"] = {"region": region, "number": number}
    if "certifications" in row:
        document["certifications"] = certifications(row["certifications"] or "")
    return locations, document


def certifications(value: str) -> list[dict[str, Any]]:
    """Read ``issuer|title|hours|YYYY-MM-DD|YYYY-MM-DD`` entries separated by ';' (the hours
    and the expiry may be empty)."""
    found = []
    for entry in split(value):
        parts = [part.strip() for part in entry.split("|")]
        if len(parts) != 5:
            raise CellError(f"certifications: {entry[:60]!r} has {len(parts)} parts; write "
                            "issuer|title|hours|earned|expires (hours and expires may be empty)")
        issuer, title, hours, earned, expires = parts
        found.append({"issuer": issuer, "title": title, "hours": hours or None,
                      "earned": earned, "expires": expires or None})
    return found
