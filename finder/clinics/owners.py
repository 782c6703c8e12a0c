"""Owners' private links: signed, expiring, single-purpose, and each good for one change.

A link carries the listing, the owner's e-mail and a random id, signed with the app's secret
key for this one purpose (another signed value, such as a session cookie, is not a link).
Sending a change through it spends it; asking again at /manage gives a new one.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy.orm import Session

from ..errors import FinderError
from .models import UsedToken

PURPOSE = "finder.owner-edit"
DAY = 86_400


class InvalidLink(FinderError):
    """An owner link that is forged, expired or already used."""

    code = "invalid_link"
    status = 403


@dataclass(frozen=True)
class OwnerLink:
    location_id: int
    email: str
    token_id: str
    claim: bool = False  # sent to claim an unowned listing: using it proves the mailbox


def _serializer(secret_key: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key, salt=PURPOSE)


def make_token(secret_key: str, location_id: int, email: str, claim: bool = False) -> str:
    """Return a new link token for this listing and owner (or claimant)."""
    payload: dict[str, Any] = {"l": location_id, "e": email, "j": secrets.token_urlsafe(16)}
    if claim:
        payload["c"] = 1
    return _serializer(secret_key).dumps(payload)


def read_token(session: Session, secret_key: str, token: str, days: int) -> OwnerLink:
    """Return what a token grants, or raise InvalidLink saying why it cannot be used."""
    try:
        data: Any = _serializer(secret_key).loads(token, max_age=days * DAY)
    except SignatureExpired:
        raise InvalidLink("This link has expired. Ask for a new one on the Manage page.",
                          code="expired_link") from None
    except BadSignature:
        raise InvalidLink("This link is not valid. Ask for a new one on the Manage page.") \
            from None
    if not (isinstance(data, dict) and isinstance(data.get("l"), int)
            and isinstance(data.get("e"), str) and isinstance(data.get("j"), str)):
        raise InvalidLink("This link is not valid. Ask for a new one on the Manage page.")
    if session.get(UsedToken, data["j"]) is not None:
        raise InvalidLink("This link has been used already. Ask for a new one on the Manage "
                          "page.", code="used_link")
    return OwnerLink(data["l"], data["e"], data["j"], claim=data.get("c") == 1)


def spend(session: Session, link: OwnerLink) -> None:
    """Mark the link used, in the transaction of the change it sends."""
    session.add(UsedToken(token_id=link.token_id))
