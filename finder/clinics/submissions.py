"""Submissions: a clinic's listing document waits for a moderator; approving it publishes it
(or changes the published listing) through the importer, with its history and the owner told.

Functions take a session and never commit: the views and commands that call them do.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from .. import document, geo, validation
from ..document import InvalidListing
from ..duplicate_rules import (
    NEAR_KM,
    alike_name_reason,
    host_key,
    is_shared_host,
    name_key,
    name_likeness,
    names_alike,
    phone_key,
    same_npi_reason,
    same_phone_reason,
    same_website_reason,
    website_host,
)
from ..errors import GeocodingError, InvalidInput
from ..geocode import GeocoderChain
from ..hours import to_text
from ..importer import Importer, locate, location_columns
from ..listings import document_json
from ..models import Actor, ListingChange, Location, Practitioner, Source, Status
from ..trust import confirmations
from ..trust.verification import today
from .models import Decision, Kind, Submission

OWN_IDS = "finder:"  # the start of the external ids the directory gives itself
# Fields the history leaves out: they change on every write or are derived.
UNTRACKED = {"id", "updated_at", "hours_text", "timezone", "geocode_precision", "lines",
             "verified_on", "reported_outdated"}
NESTED = ("address", "organization", "self_pay_price")  # compared part by part


def owner_email(text: str) -> str:
    """Return a normalised owner e-mail, or raise InvalidInput saying what is wrong."""
    try:
        address = validation.email(text)
    except InvalidInput as exc:
        raise InvalidInput(f"owner_email: {exc.message.removeprefix('email: ')}",
                           code="invalid_owner_email") from None
    if not address:
        raise InvalidInput("owner_email: is required", code="invalid_owner_email")
    return address


@dataclass(frozen=True)
class Placement:
    """Where a submitted address was placed, and how precisely."""

    lat: float
    lon: float
    precision: str
    warning: str = ""


def check(data: Any, geocoder: GeocoderChain, default_country: str,
          rename: Callable[[str], str] = str) -> tuple[document.ListingDocument, Placement]:
    """Validate a listing document as the import does and locate it; raise InvalidInput.
    ``rename`` names a bad field as the input does (a form's field, the document's path)."""
    if not isinstance(data, dict):
        raise InvalidListing("A listing document is a JSON object.", [])
    checked = document.validate(data, default_country, rename=rename)
    warnings: list[str] = []
    try:
        fields = locate(location_columns(checked), geocoder, warnings.append)
    except GeocodingError as exc:
        raise InvalidListing(f"address: {exc.message}",
                             [(rename("address.postcode"), exc.message)]) from None
    return checked, Placement(fields["latitude"], fields["longitude"],
                              fields["geocode_precision"], " ".join(warnings))


def submit(session: Session, data: dict[str, Any], email: str, geocoder: GeocoderChain,
           default_country: str, location: Location | None = None,
           changed: set[str] | None = None) -> Submission:
    """Queue a new listing, or an owner's edit of ``location``, for moderation. An edit
    may keep only the ``changed`` fields: the others stay as they are stored."""
    checked, _ = check(data, geocoder, default_country)
    stored = checked.model_dump(mode="json", exclude_unset=True)
    if changed is not None:
        stored = {name: value for name, value in stored.items()
                  if name in changed or name == "name"}  # a document always has its name
    if location is not None:
        stored["external_id"] = location.external_id  # an edit changes this listing only
    else:
        stored.pop("external_id", None)  # given when approved
    submission = Submission(kind=Kind.EDIT if location is not None else Kind.NEW,
                            location_id=location.id if location is not None else None,
                            document=stored, owner_email=owner_email(email))
    session.add(submission)
    session.flush()
    return submission


@dataclass(frozen=True)
class Duplicate:
    location_id: int
    name: str
    reasons: tuple[str, ...]


def same_domain(email: str, website: str) -> bool:
    """Whether an e-mail address is on the website's own domain (or a subdomain of it)."""
    domain = email.rsplit("@", 1)[-1].lower().rstrip(".")
    host = website_host(website)
    if not host or is_shared_host(host):
        return False
    return domain == host or domain.endswith(f".{host}")


def likely_duplicates(session: Session, submission: Submission, geocoder: GeocoderChain,
                      default_country: str) -> list[Duplicate]:
    """Published listings that look like the submission's: the same phone, website host or
    NPI, or a near-identical name close by, each with why."""
    try:
        checked, placed = check(submission.document, geocoder, default_country)
    except InvalidInput:
        return []
    phone, host, npi = checked.phone, host_key(checked.website), checked.npi
    box = NEAR_KM / 111.0  # in degrees of latitude: a prefilter only
    candidates = session.scalars(sa.select(Location).where(
        Location.status == Status.PUBLISHED,
        Location.id != (submission.location_id or 0),
        Location.id.not_in(submission.not_duplicates or [0]),
        sa.or_(*(clause for clause in (
            Location.phone == phone if phone else None,
            Location.npi == npi if npi else None,
            sa.func.lower(Location.website).contains(host, autoescape=True)
            if host else None,
            sa.and_(Location.latitude.between(placed.lat - box, placed.lat + box),
                    Location.longitude.between(placed.lon - 2 * box, placed.lon + 2 * box)),
        ) if clause is not None)))).all()
    found = []
    name = name_key(checked.name)
    for location in candidates:
        reasons = []
        if phone_key(phone) and phone_key(location.phone) == phone_key(phone):
            reasons.append(same_phone_reason(location.phone))
        if host and host_key(location.website) == host:
            reasons.append(same_website_reason(host))
        if npi and location.npi == npi:
            reasons.append(same_npi_reason(npi))
        likeness = name_likeness(name, name_key(location.name))
        km = geo.geodesic_km(placed.lat, placed.lon, location.latitude, location.longitude)
        if names_alike(likeness, km):
            reasons.append(alike_name_reason(likeness, km, location.name))
        if reasons:
            found.append(Duplicate(location.id, location.name, tuple(reasons)))
    return found


def _tracked(listing: dict[str, Any]) -> dict[str, Any]:
    """The fields a person changes, nested ones named as "address.city"."""
    tracked: dict[str, Any] = {}
    for name, value in listing.items():
        if name in UNTRACKED:
            continue
        if name in NESTED and isinstance(value, dict):
            tracked.update({f"{name}.{part}": item for part, item in value.items()
                            if part not in UNTRACKED})
        else:
            tracked[name] = value
    return tracked


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list[Any]]:
    """Each field that differs, as [old, new]."""
    old, new = _tracked(before), _tracked(after)
    return {name: [old.get(name), new.get(name)] for name in dict.fromkeys([*old, *new])
            if old.get(name) != new.get(name)}


def shown(value: Any) -> str:
    """A field's value as a moderator reads it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return "; ".join(value)
    if isinstance(value, dict) and all(isinstance(spans, list) for spans in value.values()):
        return to_text(value)  # weekly hours
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _load(session: Session, location_id: int) -> Location:
    location = session.scalars(sa.select(Location).where(Location.id == location_id).options(
        selectinload(Location.organization),
        selectinload(Location.practitioners).selectinload(Practitioner.certifications),
    ).execution_options(populate_existing=True)).one()
    return location


def proposed_changes(session: Session, submission: Submission) -> dict[str, list[Any]]:
    """What approving an edit would change in the published listing, field by field."""
    if submission.location_id is None:
        return diff({}, submission.document)
    current = _tracked(document_json(_load(session, submission.location_id)))
    sent = _tracked(submission.document)
    return {name: change for name, change in diff(current, {**current, **sent}).items()
            if name in sent}


def approve(session: Session, submission: Submission, moderator_id: int | None, moderator: str,
            geocoder: GeocoderChain, default_country: str, merging: bool = False) -> Location:
    """Publish a new listing or apply an edit; record the history. Raise InvalidInput if the
    document no longer passes (the rules may have changed since it was sent)."""
    take_decision(session, submission, Decision.MERGED if merging else Decision.APPROVED,
                  moderator_id)
    if submission.kind is Kind.CLAIM:
        return _approve_claim(session, submission, moderator)
    data = dict(submission.document)
    target = None if submission.location_id is None else _load(session, submission.location_id)
    if target is None:
        data["external_id"] = f"{OWN_IDS}submission-{submission.id}"
    else:
        if target.external_id is None:
            target.external_id = f"{OWN_IDS}location-{target.id}"
        data["external_id"] = target.external_id
        # An edit that does not name the organisation keeps the one the listing has (the
        # import's rule, that it follows the listing's name, is for whole rows).
        data.setdefault("organization", document_json(target)["organization"])
    _own_practitioners(data, submission, target)
    before = document_json(target) if target is not None else {}
    # The moderator's approval is the history entry, not an import's.
    importer = Importer(session, geocoder, default_country, Source.SELF_SUBMITTED, history=None)
    importer.prefetch([(1, data)])
    importer.add_document(1, data)
    if importer.report.rejected:
        raise InvalidInput(importer.report.rejected[0].reason, code="invalid_listing")
    importer.flush()
    location = session.scalars(sa.select(Location).where(
        Location.external_id == data["external_id"])).one()
    note = f"submission {submission.id} approved"
    if target is None:  # a new listing: published, and owned by who sent it
        location.status = Status.PUBLISHED
        location.owner_email = submission.owner_email
    elif merging and not location.owner_email:
        location.owner_email = submission.owner_email
        note += "; a new owner"
    # The clinic sent these details and a moderator checked them: they are verified today
    # (and a listing hidden for want of that is shown again).
    location.last_verified = today()
    location.flagged_at = None
    if confirmations.editable(location):
        location.status, location.unpublished_reason = Status.PUBLISHED, ""
    session.flush()
    after = document_json(_load(session, location.id))
    session.add(ListingChange(location_id=location.id, actor_kind=Actor.MODERATOR,
                              actor=moderator, changes=diff(before, after), note=note))
    submission.location_id = location.id
    return location


def _own_practitioners(data: dict[str, Any], submission: Submission,
                       target: Location | None) -> None:
    """Let a submission's practitioners be only its listing's own: one of the same name
    already there is that person; anyone else is new. (A submission never names, and so
    never changes, another listing's practitioner.)"""
    people = data.get("practitioners")
    if people is None:
        return
    at = {person.name.casefold(): person for person in (target.practitioners if target else [])}
    own = []
    for number, person in enumerate(people):
        stored = at.get(str(person.get("name", "")).casefold())
        if stored is not None and stored.external_id is None:
            stored.external_id = f"{OWN_IDS}practitioner-{stored.id}"
        own.append({**person, "external_id": stored.external_id if stored is not None
                    else f"{OWN_IDS}submission-{submission.id}-{number}"})
    data["practitioners"] = own


def take_decision(session: Session, submission: Submission, decision: Decision,
                  moderator_id: int | None, message: str = "") -> None:
    """Decide a pending submission, once: a decision taken meanwhile (by another moderator,
    in another tab) makes this one refused rather than applied twice."""
    if submission.status is not Decision.PENDING:
        done = submission.status.value.replace("_", " ")
        raise InvalidInput(f"This submission was already {done}.")
    decided = session.execute(
        sa.update(Submission)
        .where(Submission.id == submission.id, Submission.status == Decision.PENDING)
        .values(status=decision, decided_by=moderator_id, decided_at=datetime.now(UTC),
                message=message or submission.message)
        .execution_options(synchronize_session=False))
    if decided.rowcount != 1:  # type: ignore[attr-defined]
        raise InvalidInput("Another moderator decided this submission a moment ago.")
    session.refresh(submission)


def _approve_claim(session: Session, submission: Submission, moderator: str) -> Location:
    assert submission.location_id is not None  # a claim names its listing
    location = _load(session, submission.location_id)
    location.owner_email = submission.owner_email
    session.add(ListingChange(location_id=location.id, actor_kind=Actor.MODERATOR,
                              actor=moderator, changes={},
                              note=f"claim {submission.id} approved: a new owner"))
    return location


def merge(session: Session, submission: Submission, location_id: int, moderator_id: int | None,
          moderator: str, geocoder: GeocoderChain, default_country: str) -> Location:
    """Fold a new listing into the published one it duplicates: that listing takes the
    submitted details (and owner), and keeps its id, history and external id."""
    if submission.kind is not Kind.NEW:
        raise InvalidInput("Only a new listing can be merged into another.")
    submission.location_id = location_id
    return approve(session, submission, moderator_id, moderator, geocoder, default_country,
                   merging=True)


def not_a_duplicate(submission: Submission, location_id: int) -> None:
    """Stop proposing this listing as a duplicate of the submission."""
    submission.not_duplicates = [*(submission.not_duplicates or []), location_id]


def pending(session: Session) -> list[Submission]:
    """The submissions waiting for a moderator, oldest first."""
    return list(session.scalars(sa.select(Submission).where(
        Submission.status == Decision.PENDING).order_by(Submission.id)))


def set_published(session: Session, location: Location, published: bool, moderator: str,
                  reason: str) -> None:
    """Publish or unpublish a listing (never delete it), saying why in its history."""
    if not reason.strip():
        raise InvalidInput("Say why: it is kept in the listing's history.")
    status = Status.PUBLISHED if published else Status.UNPUBLISHED
    if location.status is status:
        raise InvalidInput(f"The listing is {status.value} already.")
    session.add(ListingChange(location_id=location.id, actor_kind=Actor.MODERATOR,
                              actor=moderator,
                              changes={"status": [location.status.value, status.value]},
                              note=reason.strip()))
    location.status = status
    location.unpublished_reason = "" if published else "moderator"


def find_listings(session: Session, text: str, limit: int = 50) -> list[Location]:
    """Listings whose name holds ``text`` (or whose id it is), published or not."""
    query = sa.select(Location).order_by(Location.name, Location.id).limit(limit)
    text = text.strip()
    if text.isascii() and text.isdigit() and len(text) < 10:
        query = query.where(Location.id == int(text))
    elif text:
        query = query.where(Location.name.ilike(f"%{text}%"))
    return list(session.scalars(query))


def reject(session: Session, submission: Submission, moderator_id: int | None,
           reason: str) -> None:
    if not reason.strip():
        raise InvalidInput("Say why the submission is rejected: the clinic is told.")
    take_decision(session, submission, Decision.REJECTED, moderator_id, reason.strip())


def request_changes(session: Session, submission: Submission, moderator_id: int | None,
                    message: str) -> None:
    if not message.strip():
        raise InvalidInput("Say what should change: the clinic is told.")
    take_decision(session, submission, Decision.CHANGES_REQUESTED, moderator_id,
                  message.strip())


def history(session: Session, location_id: int) -> list[ListingChange]:
    """A listing's changes, newest first."""
    return list(session.scalars(sa.select(ListingChange).where(
        ListingChange.location_id == location_id).order_by(ListingChange.id.desc())))
