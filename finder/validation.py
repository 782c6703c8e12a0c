"""Check and normalise listing fields from any input (CSV rows, forms, JSON)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from typing import Any
from urllib.parse import urlsplit

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from . import hours as hours_module
from .errors import InvalidInput

FIELDS = (
    "external_id", "name", "address_1", "address_2", "city", "region", "postcode", "country",
    "latitude", "longitude", "phone", "website", "email", "services", "conditions",
    "insurance", "languages", "hours", "telehealth", "accepting_new_patients", "npi",
    "description",
)
# Columns beyond the documented contract that the importer also accepts.
EXTRA_FIELDS = ("last_verified",)
LIST_FIELDS = ("services", "conditions", "insurance", "languages")
MAX_LENGTHS = {"external_id": 100, "name": 200, "address_1": 200, "address_2": 200,
               "city": 100, "region": 100, "postcode": 20, "country": 2, "latitude": 30,
               "longitude": 30, "phone": 40, "website": 500, "email": 254, "services": 2000,
               "conditions": 2000, "insurance": 2000, "languages": 500, "hours": 500,
               "telehealth": 10, "accepting_new_patients": 10, "npi": 10, "description": 5000}
MAX_ITEM_LENGTH = 200
# Spreadsheets drop leading zeros from numeric postcodes: 2134 for the ZIP 02134.
POSTCODE_DIGITS = {"US": 5, "AU": 4, "NZ": 4}
_TRUE = {"true", "yes", "y", "1"}
_FALSE = {"false", "no", "n", "0"}


def _bad(field: str, message: str) -> InvalidInput:
    return InvalidInput(f"{field}: {message}", code=f"invalid_{field}")


def split_list(field: str, value: str) -> list[str]:
    """Split a ``;``-separated cell into unique, trimmed items."""
    items = list(dict.fromkeys(item.strip() for item in value.split(";") if item.strip()))
    for item in items:
        if len(item) > MAX_ITEM_LENGTH:
            raise _bad(field, f"an item is longer than {MAX_ITEM_LENGTH} characters")
    return items


def postcode(value: str, country: str) -> str:
    """Restore leading zeros a spreadsheet dropped from an all-digit postcode."""
    digits = POSTCODE_DIGITS.get(country)
    if digits and value.isdigit() and digits - 2 <= len(value) < digits:
        return value.zfill(digits)
    return value


def boolean(field: str, value: str, default: bool) -> bool:
    clean = value.strip().lower()
    if not clean:
        return default
    if clean in _TRUE:
        return True
    if clean in _FALSE:
        return False
    raise _bad(field, f"{value!r} is not true/false/yes/no/1/0")


def phone(value: str, country: str) -> str:
    """Return the phone number in international format, or raise."""
    if not value.strip():
        return ""
    try:
        number = phonenumbers.parse(value, country)
    except phonenumbers.NumberParseException as exc:
        raise _bad("phone", f"{value!r} is not a phone number ({exc})") from exc
    if not phonenumbers.is_valid_number(number):
        raise _bad("phone", f"{value!r} is not a valid phone number in {country}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def email(value: str) -> str:
    if not value.strip():
        return ""
    try:
        return str(validate_email(value.strip(), check_deliverability=False).normalized)
    except EmailNotValidError as exc:
        raise _bad("email", f"{value!r} is not an e-mail address: {exc}") from exc


def website(value: str) -> str:
    clean = value.strip()
    if not clean:
        return ""
    if "://" not in clean:
        clean = f"https://{clean}"
    try:
        parts = urlsplit(clean)
    except ValueError as exc:
        raise _bad("website", f"{value!r} is not a web address ({exc})") from None
    if parts.scheme not in ("http", "https") or "." not in parts.netloc or " " in clean:
        raise _bad("website", f"{value!r} is not a web address")
    return clean


def npi(value: str) -> str:
    """Return a National Provider Identifier after checking its Luhn check digit."""
    clean = value.strip()
    if not clean:
        return ""
    if not re.fullmatch(r"\d{10}", clean):
        raise _bad("npi", f"{value!r} is not 10 digits")
    # The NPI check digit is Luhn over the number prefixed with 80840.
    digits = [int(d) for d in "80840" + clean]
    total = 0
    for i, digit in enumerate(reversed(digits)):
        if i % 2 == 1:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    if total % 10:
        raise _bad("npi", f"{value!r} has a wrong check digit")
    return clean


def coordinate(field: str, value: str, limit: float) -> float | None:
    if not value.strip():
        return None
    try:
        number = float(value)
    except ValueError:
        raise _bad(field, f"{value!r} is not a number") from None
    if not -limit <= number <= limit:
        raise _bad(field, f"{number} is outside -{limit:g}..{limit:g}")
    return number


def listing_fields(raw: Mapping[str, str], default_country: str,
                   require_location: bool = True) -> dict[str, Any]:
    """Check a listing's raw text fields; return clean values or raise InvalidInput."""
    value = {name: str(raw.get(name) or "").strip() for name in FIELDS}
    for name, limit in MAX_LENGTHS.items():
        if len(value[name]) > limit:
            raise _bad(name, f"longer than {limit} characters")
    if not value["name"]:
        raise _bad("name", "is required")
    country = (value["country"] or default_country).upper()
    if not re.fullmatch(r"[A-Z]{2}", country):
        raise _bad("country", f"{value['country']!r} is not a two-letter country code")
    lat = coordinate("latitude", value["latitude"], 90)
    lon = coordinate("longitude", value["longitude"], 180)
    if (lat is None) != (lon is None):
        raise _bad("latitude", "give both latitude and longitude, or neither")
    if require_location and lat is None and not value["postcode"]:
        raise _bad("postcode", "is required when latitude and longitude are empty")
    try:
        weekly = hours_module.parse(value["hours"])
    except ValueError as exc:
        raise _bad("hours", str(exc)) from exc
    return {
        "external_id": value["external_id"] or None,
        "name": value["name"],
        "address_1": value["address_1"],
        "address_2": value["address_2"],
        "city": value["city"],
        "region": value["region"],
        "postcode": postcode(value["postcode"], country),
        "country": country,
        "latitude": lat,
        "longitude": lon,
        "phone": phone(value["phone"], country),
        "website": website(value["website"]),
        "email": email(value["email"]),
        **{name: split_list(name, value[name]) for name in LIST_FIELDS},
        "hours": weekly,
        "telehealth": boolean("telehealth", value["telehealth"], False),
        "accepting_new_patients": boolean(
            "accepting_new_patients", value["accepting_new_patients"], True),
        "npi": npi(value["npi"]),
        "description": value["description"],
        "last_verified": verified_date(str(raw.get("last_verified") or "")),
    }


def verified_date(value: str) -> date | None:
    if not value.strip():
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise _bad("last_verified", f"{value!r} is not a date like 2026-01-31") from None
