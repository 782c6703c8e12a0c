"""The listing form: the fields a patient needs, written the way the CSV import reads them, so
one set of rules (the listing document's) checks the form, the API and the import alike."""

from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    EmailField,
    Field,
    HiddenField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from .. import csv_listing, vocabulary

YES_NO = [SelectChoice("", "Not said"), SelectChoice("true", "Yes"), SelectChoice("false", "No")]
# Multi-line text areas: one item per line (or separated by ';', as in the CSV).
LIST_FIELDS = ("services", "conditions", "insurance", "languages")


class CheckboxesField(SelectMultipleField):  # type: ignore[misc]
    """Several choices as checkboxes, each with its label."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def _amount(value: float) -> str:
    """A price as typed: 90, or 92.5."""
    return str(int(value)) if float(value).is_integer() else str(value)


def _choices(terms: dict[str, Any]) -> list[SelectChoice]:
    return [SelectChoice(key, getattr(term, "label", term)) for key, term in terms.items()]


class ListingForm(FlaskForm):  # type: ignore[misc]
    """A whole listing, as a clinic fills it in."""

    form_errors: list[str]  # errors of no one field (wtforms sets it)

    name = StringField("Clinic name", validators=[Length(max=200)])
    organization = StringField("Organisation (if the clinic belongs to a group)",
                               validators=[Optional(), Length(max=200)])
    description = TextAreaField("About the clinic", validators=[Length(max=5000)])
    address_1 = StringField("Street address", validators=[Length(max=200)])
    address_2 = StringField("Suite, floor (optional)", validators=[Length(max=200)])
    city = StringField("City", validators=[Length(max=100)])
    region = StringField("State, province or region", validators=[Length(max=100)])
    postcode = StringField("ZIP or postcode", validators=[Length(max=20)])
    country = StringField("Country (two letters, e.g. US)", validators=[Length(max=2)])
    latitude = StringField("Latitude", validators=[Length(max=20)])
    longitude = StringField("Longitude", validators=[Length(max=20)])
    phone = StringField("Phone", validators=[Length(max=40)])
    website = StringField("Website", validators=[Length(max=500)])
    email = StringField("Public e-mail for patients (optional)", validators=[Length(max=254)])
    npi = StringField("NPI (US, optional)", validators=[Length(max=10)])
    services = TextAreaField("Services, one per line", validators=[Length(max=5000)])
    conditions = TextAreaField("Conditions treated, one per line",
                               validators=[Length(max=5000)])
    insurance = TextAreaField("Insurance accepted, one per line", validators=[Length(max=5000)])
    languages = TextAreaField("Languages spoken, one per line", validators=[Length(max=2000)])
    hours = StringField("Opening hours, e.g. Mon-Fri 08:00-18:00; Sat 09:00-13:00",
                        validators=[Length(max=500)])
    holiday_hours = StringField("Holiday hours, e.g. 2026-12-25 closed; 2026-12-24 09:00-13:00",
                                validators=[Length(max=2000)])
    practitioners = TextAreaField(
        "Practitioners, one per line", validators=[Length(max=10_000)])
    # What the practitioners box held when the form was filled, so an owner who leaves it
    # alone keeps every detail stored about them (NPI, licence, languages).
    practitioners_shown = HiddenField()
    techniques = CheckboxesField("Dry-needling techniques offered")
    accessibility = CheckboxesField("Access")
    age_groups = CheckboxesField("Ages seen")
    self_pay_price = StringField("Self-pay price per session, e.g. 90 or 90-120",
                                 validators=[Length(max=40)])
    telehealth = BooleanField("Offers telehealth")
    accepting_new_patients = BooleanField("Accepting new patients", default=True)
    direct_access = SelectField("Patients can come without a referral", choices=YES_NO,
                                default="")
    home_visits = SelectField("Home visits", choices=YES_NO, default="")
    owner_email = EmailField("Your e-mail (private: for your editing link, never shown)",
                             validators=[Length(max=254)])
    # Left empty by people; filled by bots that fill every field. Hidden from both eyes
    # and screen readers in the page.
    fax_number = StringField("Leave this empty", validators=[Optional()])
    check = SubmitField("Check the address")
    send = SubmitField("Send for review")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.known: dict[str, dict[str, Any]] = {}  # stored practitioners by name (an edit's)
        self.techniques.choices = _choices(vocabulary.techniques())
        self.accessibility.choices = _choices(vocabulary.accessibility())
        self.age_groups.choices = _choices(vocabulary.AGE_GROUPS)

    def is_bot(self) -> bool:
        return bool((self.fax_number.data or "").strip())

    def row(self) -> dict[str, str]:
        """The form as a CSV row: every listing column it has, lists joined with ';'."""
        row: dict[str, str] = {}
        for name in (*csv_listing.ADDRESS_COLUMNS, "name", "description", "latitude",
                     "longitude", "phone", "website", "email", "npi", "hours", "holiday_hours",
                     "self_pay_price", "direct_access", "home_visits"):
            row[name] = str(self[name].data or "").strip()
        for name in LIST_FIELDS:
            row[name] = ";".join((self[name].data or "").splitlines())
        for name in ("techniques", "accessibility", "age_groups"):
            row[name] = ";".join(self[name].data or [])
        row["telehealth"] = "true" if self.telehealth.data else "false"
        row["accepting_new_patients"] = "true" if self.accepting_new_patients.data else "false"
        return row

    def document(self) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        """The listing document the form describes, and the fields too garbled to be part
        of it (each with why), so every mistake is shown at once."""
        row, unreadable = self.row(), []
        for column in ("self_pay_price", "holiday_hours"):
            try:
                csv_listing.listing_document({column: row[column]})
            except csv_listing.CellError as exc:
                unreadable.append((column, str(exc).partition(": ")[2]))
                del row[column]
        data = csv_listing.listing_document(row)
        if (self.organization.data or "").strip():
            data["organization"] = {"name": self.organization.data.strip()}
        text = (self.practitioners.data or "").strip()
        if text != (self.practitioners_shown.data or "").strip():
            try:
                data["practitioners"] = practitioners_of(text, self.known)
            except csv_listing.CellError as exc:
                unreadable.append(("practitioners", str(exc).partition(": ")[2]))
        return data, unreadable

    def fill(self, listing: dict[str, Any]) -> None:
        """Fill the form from a listing document (an owner's edit starts from what is live)."""
        self.practitioners.data = practitioners_text(listing.get("practitioners") or [])
        self.practitioners_shown.data = self.practitioners.data
        address = listing.get("address") or {}
        for name in csv_listing.ADDRESS_COLUMNS:
            self[name].data = address.get(name, "")
        for name in ("name", "description", "phone", "website", "email", "npi",
                     "techniques", "accessibility", "age_groups", "telehealth",
                     "accepting_new_patients"):
            self[name].data = listing.get(name)
        organization = (listing.get("organization") or {}).get("name", "")
        self.organization.data = organization if organization != listing.get("name") else ""
        if listing.get("geocode_precision") == "point":  # a place the clinic gave or chose
            self.latitude.data = str(listing.get("lat") or "")
            self.longitude.data = str(listing.get("lon") or "")
        for name in LIST_FIELDS:
            self[name].data = "\n".join(listing.get(name) or [])
        self.hours.data = listing.get("hours_text", "")
        self.holiday_hours.data = "; ".join(
            f"{entry['date']} " + ("closed" if entry.get("closed") else ",".join(
                f"{start}-{end}" for start, end in entry.get("hours") or []))
            for entry in listing.get("holiday_hours") or [])
        price = listing.get("self_pay_price")
        if price:
            low, high = price.get("min"), price.get("max")
            self.self_pay_price.data = _amount(low) + (f"-{_amount(high)}" if high else "")
        for name in ("direct_access", "home_visits"):
            value = listing.get(name)
            self[name].data = "" if value is None else ("true" if value else "false")

    def changes(self, listing: dict[str, Any]) -> set[str]:
        """The document's fields this form changes from ``listing`` (what a form filled from
        it would say), so an edit sends only those and keeps all the form does not show."""
        before = ListingForm(formdata=None, meta={"csrf": False})
        before.known = self.known
        before.fill(listing)
        was, _ = before.document()
        now, _ = self.document()
        return {name for name in now if was.get(name) != now[name]}

    def show_errors(self, fields: list[tuple[str, str]]) -> None:
        """Put each message next to its field (others go to the form's own list)."""
        general: list[str] = list(self.form_errors)
        for name, message in fields:
            field: Field | None = self._fields.get(name.split("[", 1)[0])
            if field is None:
                general.append(f"{name}: {message}" if name else message)
            else:
                field.errors = [*field.errors, message]
        self.form_errors = general


class EmailForm(FlaskForm):  # type: ignore[misc]
    """One e-mail address: to ask for an owner link, or to claim a listing."""

    email = EmailField("Your e-mail address", validators=[Length(max=254)])
    fax_number = StringField("Leave this empty", validators=[Optional()])
    send = SubmitField("Send me a link")

    def is_bot(self) -> bool:
        return bool((self.fax_number.data or "").strip())


PRACTITIONERS_HINT = ("Name | credentials | then each dry-needling certification as issuer | "
                      "title | hours | earned (YYYY-MM-DD) | expires (YYYY-MM-DD, or empty). "
                      "For example: Ana Diaz | PT DPT | Northridge Institute | Level 2 | 54 | "
                      "2024-01-01 |")


def practitioners_text(people: list[dict[str, Any]]) -> str:
    """Practitioners as the form's box writes them, one per line."""
    lines = []
    for person in people:
        parts = [person["name"], " ".join(person.get("credentials") or [])]
        for held in person.get("certifications") or []:
            parts += [held["issuer"], held["title"], str(held.get("hours") or ""),
                      held["earned"], held.get("expires") or ""]
        lines.append(" | ".join(parts))
    return "\n".join(lines)


def practitioners_of(text: str, known: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Read the box; a practitioner already stored keeps what the box does not show."""
    people = []
    for number, line in enumerate(filter(None, map(str.strip, text.splitlines())), 1):
        parts = [part.strip() for part in line.split("|")]
        name, credentials, held = parts[0], parts[1] if len(parts) > 1 else "", parts[2:]
        if len(held) % 5:
            raise csv_listing.CellError(
                f"practitioners: line {number} ({name[:40]}) has a certification without "
                "all of issuer | title | hours | earned | expires (leave hours or expires "
                "empty, but keep their bars)")
        certifications = [{"issuer": issuer, "title": title, "hours": hours or None,
                           "earned": earned, "expires": expires or None}
                          for issuer, title, hours, earned, expires in
                          zip(*[iter(held)] * 5, strict=True)]
        stored = {key: value for key, value in known.get(name.casefold(), {}).items()
                  if key in ("external_id", "npi", "licence", "languages", "gender")
                  and value not in (None, "", [])}
        people.append({**stored, "name": name,
                       "credentials": credentials.replace(",", " ").split(),
                       "certifications": certifications})
    return people


class ConfirmForm(FlaskForm):  # type: ignore[misc]
    """One button: the listing is still correct."""

    confirm = SubmitField("Yes, everything is still correct")
