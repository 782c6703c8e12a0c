"""schema.org JSON-LD for provider profiles and place pages: pure functions over public JSON.

Search engines read these blocks to show a provider's address, phone and hours. Every value
comes from a listing's public JSON (``finder.listings.public_json``); empty values are left
out rather than sent as empty strings.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from markupsafe import Markup

SCHEMA = "https://schema.org"
PROVIDER_TYPES = ["MedicalBusiness", "Physiotherapy"]
DAYS_OF_WEEK = {
    "mon": "https://schema.org/Monday", "tue": "https://schema.org/Tuesday",
    "wed": "https://schema.org/Wednesday", "thu": "https://schema.org/Thursday",
    "fri": "https://schema.org/Friday", "sat": "https://schema.org/Saturday",
    "sun": "https://schema.org/Sunday",
}
# Inside a <script> element only "<" could end it ("</script>", "<!--"); ">" and "&" are
# escaped too so the block reads the same to any HTML parser. JSON parses the escapes back.
_SCRIPT_SAFE = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026",
                              "\u2028": "\\u2028", "\u2029": "\\u2029"})


def _compact(data: dict[str, Any]) -> dict[str, Any]:
    """Drop empty values (None, "", [], {}); keep False and 0."""
    return {key: value for key, value in data.items()
            if value is not None and value != "" and value != [] and value != {}}


def _time(value: str) -> str:
    # The import format allows a closing time of 24:00, which is not an xsd:time.
    return "23:59" if value == "24:00" else value


def opening_hours(hours: dict[str, Any]) -> list[dict[str, str]]:
    """Return one OpeningHoursSpecification per day and opening span."""
    return [{"@type": "OpeningHoursSpecification", "dayOfWeek": uri,
             "opens": _time(opens), "closes": _time(closes)}
            for day, uri in DAYS_OF_WEEK.items() for opens, closes in hours.get(day) or []]


def postal_address(address: dict[str, Any]) -> dict[str, Any]:
    """Return the schema.org PostalAddress of a public address."""
    street = ", ".join(part for part in (address.get("address_1"), address.get("address_2"))
                       if part)
    return _compact({
        "@type": "PostalAddress",
        "streetAddress": street,
        "addressLocality": address.get("city"),
        "addressRegion": address.get("region"),
        "postalCode": address.get("postcode"),
        "addressCountry": address.get("country"),
    })


def provider(listing: dict[str, Any], url: str) -> dict[str, Any]:
    """Return the JSON-LD of one listing's public JSON, whose page is at ``url``."""
    geo = None
    if listing.get("lat") is not None and listing.get("lon") is not None:
        geo = {"@type": "GeoCoordinates", "latitude": listing["lat"],
               "longitude": listing["lon"]}
    return _compact({
        "@context": SCHEMA,
        "@type": PROVIDER_TYPES,
        "@id": url,
        "name": listing.get("name"),
        "url": url,
        "description": listing.get("description"),
        "telephone": listing.get("phone"),
        "address": postal_address(listing.get("address") or {}),
        "geo": geo,
        "openingHoursSpecification": opening_hours(listing.get("hours") or {}),
        # The clinic's own site names the same business: what sameAs is for.
        "sameAs": listing.get("website"),
        "knowsLanguage": listing.get("languages"),
    })


def item_list(entries: Iterable[tuple[dict[str, Any], str]], name: str) -> dict[str, Any]:
    """Return an ItemList of providers, given (public JSON, page URL) pairs in order."""
    elements = []
    for position, (listing, url) in enumerate(entries, start=1):
        item = provider(listing, url)
        del item["@context"]  # stated once, on the list
        elements.append({"@type": "ListItem", "position": position, "item": item})
    return _compact({"@context": SCHEMA, "@type": "ItemList", "name": name,
                     "numberOfItems": len(elements), "itemListElement": elements})


def breadcrumb_list(crumbs: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """Return a BreadcrumbList of (name, absolute URL) pairs, outermost first."""
    return {"@context": SCHEMA, "@type": "BreadcrumbList", "itemListElement": [
        {"@type": "ListItem", "position": position, "name": name, "item": url}
        for position, (name, url) in enumerate(crumbs, start=1)]}


def script(data: dict[str, Any]) -> Markup:
    """Return ``data`` as a JSON-LD script element that no text inside it can close."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":")).translate(_SCRIPT_SAFE)
    return Markup(f'<script type="application/ld+json">{text}</script>')
