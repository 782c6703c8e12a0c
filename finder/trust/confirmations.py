"""Owners' one-click confirmations that a listing is still correct.

A confirmation link names the listing and the owner's address, signed for this one purpose.
It may be followed any number of times (confirming twice is confirming), but only while the
address is still the listing's owner's, and only for as long as a verification lasts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy.orm import Session

from ..clinics.owners import DAY, InvalidLink
from ..models import Actor, ListingChange, Location, Status

PURPOSE = "finder.verify-confirm"
UNVERIFIED = "unverified"  # ``Location.unpublished_reason`` of a listing hidden for its age


@dataclass(frozen=True)
class Confirmation:
    location_id: int
    email: str


def _serializer(secret_key: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key, salt=PURPOSE)


def make_token(secret_key: str, location_id: int, email: str) -> str:
    return _serializer(secret_key).dumps({"l": location_id, "e": email})


def read_token(session: Session, secret_key: str, token: str, days: int) -> tuple[Location,
                                                                               Confirmation]:
    """Return the listing a confirmation link is for, or raise InvalidLink saying why not."""
    again = "Ask for a new link on the Manage page, or reply to the message."
    try:
        data: Any = _serializer(secret_key).loads(token, max_age=days * DAY)
    except SignatureExpired:
        raise InvalidLink(f"This link has expired. {again}", code="expired_link") from None
    except BadSignature:
        raise InvalidLink(f"This link is not valid. {again}") from None
    if not (isinstance(data, dict) and isinstance(data.get("l"), int)
            and isinstance(data.get("e"), str)):
        raise InvalidLink(f"This link is not valid. {again}")
    location = session.get(Location, data["l"])
    if location is None or not location.owner_email \
            or location.owner_email.casefold() != data["e"].casefold():
        raise InvalidLink("This link was sent to an address that no longer manages the "
                          f"listing. {again}", code="not_owner")
    return location, Confirmation(location.id, data["e"])


def editable(location: Location) -> bool:
    """Whether its owner may change the listing: it is published, or hidden only because it
    was not confirmed in time (a change or a confirmation brings it back)."""
    return location.status is Status.PUBLISHED or (
        location.status is Status.UNPUBLISHED and location.unpublished_reason == UNVERIFIED)


def confirm(session: Session, location: Location, today: date, actor_kind: Actor,
            actor: str, note: str = "confirmed: nothing changed") -> bool:
    """Record that the listing is correct as of ``today``: its clock starts again, patients'
    flags are cleared and, if it was hidden for its age, it is published again. Return
    whether it was published again."""
    changes: dict[str, list[Any]] = {}
    if location.last_verified != today:
        changes["last_verified"] = [
            location.last_verified.isoformat() if location.last_verified else None,
            today.isoformat()]
        location.last_verified = today
    if location.flagged_at is not None:
        changes["reported_outdated"] = [True, False]
        location.flagged_at = None
    restored = location.status is not Status.PUBLISHED and editable(location)
    if restored:
        changes["status"] = [location.status.value, Status.PUBLISHED.value]
        location.status = Status.PUBLISHED
        location.unpublished_reason = ""
    session.add(ListingChange(location_id=location.id, actor_kind=actor_kind, actor=actor,
                              changes=changes, note=note))
    return restored
