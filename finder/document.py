"""The listing document: one JSON shape for a whole listing (the location, its organisation
and its practitioners), declared once here.

The same models validate JSON input (``finder import x.json``, clinic submissions), give the
JSON Schema published at ``/api/v1/schemas/listing.json`` and the OpenAPI components, and
check CSV rows once they are shaped like a document. What a listing shows comes out in the
same shape (``GET /api/v1/listings/<id>``); fields marked read-only there are ignored on input.

Validate with ``ListingDocument.model_validate(data, context={"default_country": "US"})``:
the country decides how phones and postcodes are read and the currency of a price.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Annotated, Any, Literal

import orjson
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from . import hours as hours_module
from . import validation
from .errors import InvalidInput
from .vocabulary import Term, accessibility, techniques

# The currency of a price given without one, by country.
CURRENCIES = {"US": "USD", "CA": "CAD", "GB": "GBP", "AU": "AUD", "NZ": "NZD", "IE": "EUR",
              "DE": "EUR", "FR": "EUR", "ES": "EUR", "IT": "EUR", "NL": "EUR", "BE": "EUR",
              "AT": "EUR", "PT": "EUR", "FI": "EUR", "CH": "CHF", "ZA": "ZAR", "SG": "SGD"}


Text = Annotated[str, StringConstraints(strip_whitespace=True)]


def _unique(items: list[Any]) -> list[Any]:
    return list(dict.fromkeys(items))


Item = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                        max_length=validation.MAX_ITEM_LENGTH)]
Items = Annotated[list[Item], Field(max_length=100), AfterValidator(_unique)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


def read_only(description: str, default: Any = None) -> Any:
    """A field the directory fills in: shown on the way out, ignored on the way in."""
    return Field(default=default, description=description, json_schema_extra={"readOnly": True})


def _term(kind: str, terms: dict[str, Term], value: str) -> str:
    """Return the vocabulary id ``value`` names: its id, its label or one of its synonyms."""
    key = value.strip().casefold()
    for term in terms.values():
        if key in (term.id, term.label.casefold(), *term.synonyms) or key.replace(
                " ", "_").replace("-", "_") == term.id:
            return term.id
    raise _error(f"unknown_{kind.replace(' ', '_')}",
                 f"{value!r} is not a known {kind}; use one of: {', '.join(terms)}")


def _technique(value: str) -> str:
    return _term("technique", techniques(), value)


def _access(value: str) -> str:
    return _term("accessibility feature", accessibility(), value)


TechniqueId = Annotated[str, AfterValidator(_technique),
                        WithJsonSchema({"type": "string", "enum": list(techniques())})]
AccessibilityId = Annotated[str, AfterValidator(_access),
                            WithJsonSchema({"type": "string", "enum": list(accessibility())})]
AgeGroup = Literal["children", "adults", "seniors"]  # the keys of vocabulary.AGE_GROUPS


def _spans(value: Any) -> list[list[str]]:
    """Check opening spans given as [["08:00", "12:00"], ...] or as text "08:00-12:00, ..."."""
    if isinstance(value, str):
        text = value
    elif isinstance(value, list) and all(
            isinstance(span, list | tuple) and len(span) == 2
            and all(isinstance(t, str) for t in span) for span in value):
        text = ", ".join(f"{opens}-{closes}" for opens, closes in value)
    else:
        raise _error("hours", 'give opening times like [["08:00", "18:00"]]')
    if not text.strip():
        return []
    try:
        return hours_module.parse(f"mon {text}")["mon"]
    except ValueError as exc:
        raise _error("hours", str(exc)) from None


def _weekly(value: Any) -> dict[str, list[list[str]]]:
    """Check weekly hours given as {"mon": [["08:00", "18:00"]], ...} or as the CSV's text."""
    if isinstance(value, str):
        try:
            return hours_module.parse(value)
        except ValueError as exc:
            raise _error("hours", str(exc)) from None
    if not isinstance(value, dict):
        raise _error("hours", 'give hours like {"mon": [["08:00", "18:00"]]} or '
                              "'Mon-Fri 08:00-18:00'")
    unknown = [day for day in value if day not in hours_module.DAYS]
    if unknown:
        raise _error("hours", f"{', '.join(map(repr, unknown))} is not a day; use mon, tue, "
                              "... sun")
    return {day: _spans(value[day]) for day in hours_module.DAYS if day in value}


SPANS_SCHEMA = {"type": "array", "items": {
    "type": "array", "items": {"type": "string", "pattern": r"^\d\d:\d\d$"},
    "minItems": 2, "maxItems": 2}}
Spans = Annotated[list[list[str]], BeforeValidator(_spans), WithJsonSchema(SPANS_SCHEMA)]
WeeklyHours = Annotated[dict[str, list[list[str]]], BeforeValidator(_weekly), WithJsonSchema({
    "type": "object", "description": "Opening times per day in the location's own timezone; "
    "a day missing or [] is closed.",
    "properties": dict.fromkeys(hours_module.DAYS, SPANS_SCHEMA),
    "additionalProperties": False})]


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Address(_Part):
    address_1: Text = Field(default="", max_length=200)
    address_2: Text = Field(default="", max_length=200)
    city: Text = Field(default="", max_length=100)
    region: Text = Field(default="", max_length=100, description="State, province or county.")
    postcode: Text = Field(default="", max_length=20)
    country: str = Field(default="", validate_default=True,
                         description="Two-letter ISO code; the directory's default country "
                                     "when empty.")
    lines: list[str] = read_only("The address as display lines.", default=[])

    @field_validator("country")
    @classmethod
    def _country(cls, value: str, info: ValidationInfo) -> str:
        country = (value.strip() or (info.context or {}).get("default_country", "")).upper()
        if len(country) != 2 or not country.isalpha() or not country.isascii():
            raise _error("country", f"{value!r} is not a two-letter country code")
        return country

    @model_validator(mode="after")
    def _postcode(self) -> Address:
        self.postcode = validation.postcode(self.postcode, self.country)
        return self


class Organization(_Part):
    """The clinic or practice the location belongs to (chains have several locations)."""

    name: Name
    website: Text = Field(default="", max_length=500)
    phone: Text = Field(default="", max_length=40)
    npi: Text = Field(default="", max_length=10,
                      description="Type 2 (organisation) NPI, US only.")


class Licence(_Part):
    region: Text = Field(max_length=100,
                         description="The licensing state, province or country.")
    number: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                             max_length=50)]


class Certification(_Part):
    """A dry-needling certification held by a practitioner."""

    issuer: Name
    title: Name
    hours: int | None = Field(default=None, ge=1, le=2000,
                              description="Hours of training the course took.")
    earned: date
    expires: date | None = Field(default=None, description="Empty: it does not expire.")

    @model_validator(mode="after")
    def _dates(self) -> Certification:
        if self.earned > date.today() + timedelta(days=1):
            raise _error("earned", f"{self.earned} is in the future", "earned")
        if self.expires is not None and self.expires < self.earned:
            raise _error("expires", f"{self.expires} is before earned ({self.earned})",
                         "expires")
        return self


class Practitioner(_Part):
    """A clinician who works at the location (and maybe at others of its organisation)."""

    external_id: Text | None = Field(
        default=None, max_length=100,
        description="Your id for this practitioner: the same id at several locations of one "
                    "organisation is one person.")
    name: Name
    credentials: Annotated[list[Annotated[str, StringConstraints(
        strip_whitespace=True, min_length=1, max_length=30)]], Field(max_length=20),
        AfterValidator(_unique)] = Field(default=[], description='For example "PT", "DPT".')
    npi: Text = Field(default="", max_length=10,
                      description="Type 1 (individual) NPI, US only.")
    licence: Licence | None = None
    languages: Items = []
    gender: Literal["female", "male", "non_binary"] | None = None
    certifications: Annotated[list[Certification], Field(max_length=30)] = []

    @field_validator("npi")
    @classmethod
    def _npi(cls, value: str) -> str:
        return _checked(validation.npi, value)

    @field_validator("gender", mode="before")
    @classmethod
    def _no_gender(cls, value: Any) -> Any:
        return None if value == "" else value


class Price(_Part):
    """The self-pay price of one session."""

    min: float = Field(ge=0, le=100_000)
    max: float | None = Field(default=None, ge=0, le=100_000)
    currency: str = Field(default="", description="ISO 4217 code; from the country when empty.")

    @model_validator(mode="after")
    def _range(self) -> Price:
        if self.max is not None and self.max < self.min:
            raise _error("price", f"{self.max:g} is below min ({self.min:g})", "max")
        self.currency = self.currency.strip().upper()
        if self.currency and not (len(self.currency) == 3 and self.currency.isalpha()):
            raise _error("currency", f"{self.currency!r} is not a three-letter code like USD",
                         "currency")
        return self


class HolidayHours(_Part):
    """Hours of one date that differ from the weekly ones."""

    date: date
    closed: bool = False
    hours: Spans = []
    note: Text = Field(default="", max_length=200)

    @model_validator(mode="after")
    def _closed_or_hours(self) -> HolidayHours:
        if self.closed == bool(self.hours):
            raise _error("holiday", f"give either closed: true or the hours open on {self.date}")
        return self


class ListingDocument(_Part):
    """A whole listing: one location, its organisation and its practitioners."""

    model_config = ConfigDict(extra="forbid", title="Listing")

    id: int | None = read_only("The directory's id of the listing.")
    external_id: Text | None = Field(
        default=None, max_length=100,
        description="Your id for this listing: importing it again updates it.")
    name: Name
    organization: Organization | None = Field(
        default=None, description="Empty: an organisation of the listing's own name.")
    description: Text = Field(default="", max_length=5000)
    address: Address = Field(default_factory=dict, validate_default=True)
    lat: float | None = Field(default=None, ge=-90, le=90,
                              description="Empty: located from the address.")
    lon: float | None = Field(default=None, ge=-180, le=180)
    geocode_precision: str | None = read_only("How the point was found: point, address or "
                                              "postcode (its centroid).")
    timezone: str | None = read_only("The location's timezone, from its point.")
    phone: Text = Field(default="", max_length=40)
    website: Text = Field(default="", max_length=500)
    email: Text = Field(default="", max_length=254)
    npi: Text = Field(default="", max_length=10)
    npi_verified: bool | None = read_only(
        "The NPI registry (NPPES) lists this NPI as active, for a physical therapist or "
        "physical therapy clinic of this name.")
    services: Items = []
    conditions: Items = []
    insurance: Items = []
    languages: Items = []
    hours: WeeklyHours = {}
    hours_text: str | None = read_only("The weekly hours as text, e.g. Mon-Fri 08:00-18:00.")
    holiday_hours: Annotated[list[HolidayHours], Field(max_length=100)] = []
    telehealth: bool = False
    accepting_new_patients: bool = True
    direct_access: bool | None = Field(default=None,
                                       description="Patients may come without a referral.")
    home_visits: bool | None = None
    techniques: Annotated[list[TechniqueId], AfterValidator(_unique)] = []
    accessibility: Annotated[list[AccessibilityId], AfterValidator(_unique)] = []
    age_groups: Annotated[list[AgeGroup], AfterValidator(_unique)] = []
    self_pay_price: Price | None = None
    practitioners: Annotated[list[Practitioner], Field(max_length=200)] = []
    last_verified: date | None = None
    verified_on: date | None = read_only(
        "The day the listing's verification counts from: its last verification, or the day "
        "it was added if it has none.")
    reported_outdated: bool | None = read_only(
        "Patients' reports say the listing may be out of date (until it is confirmed).")
    verification_status: str | None = read_only(
        "`current`, or `stale`: not verified for longer than the directory allows, or "
        "reported out of date; check by phone.")
    updated_at: str | None = read_only("When the listing last changed.")
    status: str | None = read_only("`published`, in the change feed (a listing no longer "
                                   "shown comes there as a tombstone).")
    source: str | None = read_only("Where the listing came from: import, self-submitted, "
                                   "nppes or demo (demo listings are fictional).")
    url: str | None = read_only("The provider's page.")

    @field_validator("phone", "website", "email", "npi")
    @classmethod
    def _contact(cls, value: str, info: ValidationInfo) -> str:
        if info.field_name == "phone":
            return _checked(validation.phone, value, _country(info))
        check = {"website": validation.website, "email": validation.email,
                 "npi": validation.npi}[str(info.field_name)]
        return _checked(check, value)

    @field_validator("organization")
    @classmethod
    def _organization(cls, value: Organization | None, info: ValidationInfo
                      ) -> Organization | None:
        if value is not None:
            value.phone = _checked(validation.phone, value.phone, _country(info))
            value.website = _checked(validation.website, value.website)
            value.npi = _checked(validation.npi, value.npi)
        return value

    @field_validator("holiday_hours")
    @classmethod
    def _one_entry_a_day(cls, value: list[HolidayHours]) -> list[HolidayHours]:
        seen = [entry.date for entry in value]
        twice = sorted({day.isoformat() for day in seen if seen.count(day) > 1})
        if twice:
            raise _error("holiday", f"{', '.join(twice)} appears more than once")
        return sorted(value, key=lambda entry: entry.date)

    @model_validator(mode="after")
    def _located_and_priced(self, info: ValidationInfo) -> ListingDocument:
        if (self.lat is None) != (self.lon is None):
            raise _error("location", "give both coordinates, or neither", "lat")
        if ((info.context or {}).get("require_location", True) and self.lat is None
                and not self.address.postcode):
            raise _error("location", "is required when there are no coordinates",
                         "address.postcode")
        if self.self_pay_price is not None and not self.self_pay_price.currency:
            currency = CURRENCIES.get(self.address.country)
            if currency is None:
                raise _error("currency", "is required: there is no default currency for "
                             f"{self.address.country}", "self_pay_price.currency")
            self.self_pay_price.currency = currency
        return self


def _error(kind: str, message: str, field: str = "") -> PydanticCustomError:
    """An error of the value being checked, or of its ``field`` (a dotted path) when a check
    of the whole model finds it. The message goes in as a value, so braces in what a user
    typed are never read as a template."""
    return PydanticCustomError(kind, "{message}", {"message": message, "field": field})


def _country(info: ValidationInfo) -> str:
    address = info.data.get("address")
    return address.country if isinstance(address, Address) else str(
        (info.context or {}).get("default_country", "US"))


def _checked(check: Callable[..., str], *args: str) -> str:
    """Run one of ``validation``'s checks, its message becoming the field's error."""
    try:
        return check(*args)
    except InvalidInput as exc:
        message = exc.message.split(": ", 1)[-1]  # the field is named by the error's location
        raise _error("invalid", message) from None


class InvalidListing(InvalidInput):
    """A listing document with bad fields; ``fields`` says what is wrong with each."""

    code = "invalid_listing"

    def __init__(self, message: str, fields: list[tuple[str, str]]) -> None:
        super().__init__(message)
        self.fields = fields


def field_messages(error: ValidationError, rename: Callable[[str], str] = str
                   ) -> list[tuple[str, str]]:
    """Return each bad field of a validation error, as (its name, what is wrong with it);
    ``rename`` turns a field's path ("practitioners[0].npi") into the input's name."""
    found = []
    for item in error.errors(include_url=False):
        context = item.get("ctx") or {}
        path = ""
        for key in [*item["loc"], *filter(None, str(context.get("field", "")).split("."))]:
            path += f"[{key}]" if isinstance(key, int) else f".{key}" if path else str(key)
        message = item["msg"]
        kind = item["type"]
        if kind == "missing" or (kind == "string_too_short" and not str(item["input"]).strip()):
            message = "is required"
        elif kind == "extra_forbidden":
            message = "is not a field of a listing"
        elif kind == "string_too_long":
            message = f"longer than {context['max_length']} characters"
        elif kind.startswith(("string_", "int_", "float_", "bool_", "date_", "list_",
                              "greater_", "less_", "literal_", "too_", "dict_", "model_")):
            shown = repr(item["input"])
            message = f"{message} (got {shown[:60]}{'...' if len(shown) > 60 else ''})"
        found.append((rename(path) if path else "", message))
    return found


def describe(error: ValidationError, rename: Callable[[str], str] = str, limit: int = 3
             ) -> str:
    """Return a validation error as one line naming each bad field ("practitioners[0].npi:
    '123' is not 10 digits; ..."); ``rename`` turns a field's path into the input's name."""
    parts = [f"{name}: {message}" if name else message
             for name, message in field_messages(error, rename)[:limit]]
    more = error.error_count() - limit
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


def _nul_at(value: Any, path: str = "") -> str | None:
    """The path of the first text holding a NUL character (PostgreSQL cannot store one)."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    items = (value.items() if isinstance(value, dict)
             else enumerate(value) if isinstance(value, list) else ())
    for key, item in items:
        found = _nul_at(item, f"{path}[{key}]" if isinstance(key, int)
                        else f"{path}.{key}" if path else str(key))
        if found is not None:
            return found
    return None


def _may_hold_nul(value: Any) -> bool:
    """Whether a document may hold a NUL character: one serialisation in C, where looking
    at every text of every listing of a large import took a tenth of its checking."""
    try:
        return b"\\u0000" in orjson.dumps(value)
    except (TypeError, orjson.JSONEncodeError):  # not plain JSON: look at every text
        return True


def validate(data: Any, default_country: str, require_location: bool = True,
             rename: Callable[[str], str] = str) -> ListingDocument:
    """Return a checked listing document, or raise InvalidInput naming the bad fields."""
    nul = _nul_at(data) if _may_hold_nul(data) else None
    if nul is not None:
        name = rename(nul) if nul else "listing"
        raise InvalidListing(f"{name}: holds a NUL character, which text cannot",
                             [(name, "holds a NUL character, which text cannot")])
    try:
        return ListingDocument.model_validate(
            data, context={"default_country": default_country,
                           "require_location": require_location})
    except ValidationError as exc:
        raise InvalidListing(describe(exc, rename), field_messages(exc, rename)) from None


def json_schema(schema_id: str) -> dict[str, Any]:
    """The listing document's JSON Schema (draft 2020-12), as published at ``schema_id``."""
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": schema_id,
            **ListingDocument.model_json_schema(mode="validation")}


def openapi_schemas() -> dict[str, dict[str, Any]]:
    """The listing document and its parts as OpenAPI 3.1 component schemas, by name (its
    parts' references are to ``Listing<Part>``)."""
    schema = ListingDocument.model_json_schema(
        ref_template="#/components/schemas/Listing{model}", mode="validation")
    parts = schema.pop("$defs", {})
    return {**parts, "ListingDocument": schema}
