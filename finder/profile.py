"""What a provider's profile says about dry needling there, in plain words: who does it and
how they were trained, which techniques, what it costs, referral, access, ages and the days
the clinic keeps other hours. Pure functions of the listing document."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from . import vocabulary
from .hours import DAY_NAMES, DAYS, clock

# How prices read; other currencies show their code.
CURRENCY_SIGNS = {"USD": "$", "CAD": "CA$", "GBP": "£", "AUD": "A$", "NZD": "NZ$", "EUR": "€"}
HOLIDAYS_SHOWN = 6


@dataclass
class Certificate:
    text: str  # "DN-2 from Dry Needling Institute, 54 hours"
    status: str  # "current until March 1, 2027", "does not expire", "expired March 1, 2021"
    current: bool


@dataclass
class Person:
    name: str
    credentials: str
    licence: str
    certificates: list[Certificate] = field(default_factory=list)

    @property
    def certified(self) -> bool:
        return any(certificate.current for certificate in self.certificates)


@dataclass
class Care:
    people: list[Person]
    techniques: list[vocabulary.Term]
    access: list[vocabulary.Term]
    ages: list[str]
    price: str  # "$90–$120 a session", or ""
    referral: str  # "No referral needed", "A referral is needed", or ""
    home_visits: str
    holidays: list[tuple[str, str]]  # (date, what happens) still to come


def care(listing: dict[str, Any], today: date) -> Care:
    """Return the dry-needling sections of a profile from its listing document."""
    country = listing["address"]["country"]
    return Care(
        people=[_person(p, today) for p in listing["practitioners"]],
        techniques=_terms(listing["techniques"], vocabulary.techniques()),
        access=_terms(listing["accessibility"], vocabulary.accessibility()),
        ages=[vocabulary.AGE_GROUPS[key] for key in listing["age_groups"]
              if key in vocabulary.AGE_GROUPS],
        price=price_text(listing["self_pay_price"]),
        referral={True: "No referral needed: book directly",
                  False: "A referral from a doctor is needed",
                  None: ""}[listing["direct_access"]],
        home_visits={True: "Home visits offered", False: "No home visits",
                     None: ""}[listing["home_visits"]],
        holidays=_holidays(listing["holiday_hours"], country, today),
    )


def price_text(price: dict[str, Any] | None) -> str:
    if not price:
        return ""
    sign = CURRENCY_SIGNS.get(price["currency"])

    def amount(value: float) -> str:
        number = f"{value:,.0f}" if value == int(value) else f"{value:,.2f}"
        return f"{sign}{number}" if sign else f"{number} {price['currency']}"

    if price.get("max") and price["max"] != price["min"]:
        return f"{amount(price['min'])}–{amount(price['max'])} a session"
    return f"{amount(price['min'])} a session"


def _terms(keys: list[str], terms: dict[str, vocabulary.Term]) -> list[vocabulary.Term]:
    return [terms[key] for key in keys if key in terms]


def _day(value: date) -> str:
    return f"{value.strftime('%B')} {value.day}, {value.year}"


def _person(person: dict[str, Any], today: date) -> Person:
    licence = person.get("licence")
    return Person(
        name=person["name"],
        credentials=", ".join(person["credentials"]),
        licence=f"Licence {licence['number']} ({licence['region']})" if licence else "",
        certificates=[_certificate(c, today) for c in person["certifications"]],
    )


def _certificate(certificate: dict[str, Any], today: date) -> Certificate:
    text = f"{certificate['title']} from {certificate['issuer']}"
    if certificate.get("hours"):
        text += f", {certificate['hours']} hours"
    earned = date.fromisoformat(certificate["earned"])
    expires = date.fromisoformat(certificate["expires"]) if certificate["expires"] else None
    if expires is not None and expires < today:
        return Certificate(text, f"expired {_day(expires)}", False)
    if earned > today:
        return Certificate(text, f"from {_day(earned)}", False)
    if expires is None:
        return Certificate(text, f"earned {_day(earned)}, does not expire", True)
    return Certificate(text, f"earned {_day(earned)}, current until {_day(expires)}", True)


def _holidays(entries: list[dict[str, Any]], country: str, today: date
              ) -> list[tuple[str, str]]:
    found = []
    for entry in entries:
        day = date.fromisoformat(entry["date"])
        if day < today:
            continue
        weekday = DAY_NAMES[DAYS[day.weekday()]]
        when = "Closed" if entry["closed"] else ", ".join(
            f"{clock(opens, country)}–{clock(closes, country)}" for opens, closes in entry["hours"])
        note = f" ({entry['note']})" if entry["note"] else ""
        found.append((f"{weekday} {_day(day)}", f"{when}{note}"))
    return found[:HOLIDAYS_SHOWN]
