"""The CSV's listing columns, and checks of single listing fields (phones, e-mails, web
addresses, NPIs, postcodes) that the listing document's declaration uses."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from .errors import InvalidInput

FIELDS = (
    "external_id", "name", "address_1", "address_2", "city", "region", "postcode", "country",
    "latitude", "longitude", "phone", "website", "email", "services", "conditions",
    "insurance", "languages", "hours", "telehealth", "accepting_new_patients", "npi",
    "description", "techniques", "accessibility", "self_pay_price", "direct_access",
    "home_visits", "age_groups", "holiday_hours",
)
# Columns beyond the documented contract that the importer also accepts.
EXTRA_FIELDS = ("last_verified",)
MAX_ITEM_LENGTH = 200
# Spreadsheets drop leading zeros from numeric postcodes: 2134 for the ZIP 02134.
POSTCODE_DIGITS = {"US": 5, "AU": 4, "NZ": 4}


def _bad(field: str, message: str) -> InvalidInput:
    return InvalidInput(f"{field}: {message}", code=f"invalid_{field}")


def postcode(value: str, country: str) -> str:
    """Restore leading zeros a spreadsheet dropped from an all-digit postcode."""
    digits = POSTCODE_DIGITS.get(country)
    if digits and value.isdigit() and digits - 2 <= len(value) < digits:
        return value.zfill(digits)
    return value


def phone(value: str, country: str) -> str:
    """Return the phone number in international format, or raise."""
    if not value.strip():
        return ""
    try:
        number = phonenumbers.parse(value, country)
    except phonenumbers.NumberParseException as exc:
        raise _bad("phone", f"{value!r} is not a phone number ({exc})") from exc
    # Valid where the listing is, or (a number dialled from abroad) anywhere: asking about
    # the listing's own region first spares a search through every region of the code.
    if not (phonenumbers.is_valid_number_for_region(number, country)
            or phonenumbers.is_valid_number(number)):
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
