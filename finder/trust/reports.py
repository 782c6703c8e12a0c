"""Patients' reports of wrong information: taking one, marking a listing out of date when
several people agree, and a moderator's resolution of each.

Reports are private: their notes, e-mails and reporters' digests are shown only to
moderators. A reporter is known only by a keyed digest of their network address, so that one
person's repeated reports count once, without keeping the address.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from .. import validation
from ..errors import InvalidInput
from ..models import Actor, ListingChange, Location
from .models import PatientReport, Problem, ReportStatus

# This many open reports of one kind, from as many different reporters, mark a listing as
# possibly out of date at once (no moderator needed: it is a notice, not a removal).
REPORTS_TO_FLAG = 3
FLAGGING = (Problem.CLOSED, Problem.PHONE)
NOTE_LENGTH = 1000
RESOLUTION_LENGTH = 2000
DIGEST_PURPOSE = b"finder.patient-report.reporter"

PROBLEM_LABELS: dict[Problem, str] = {
    Problem.PHONE: "The phone number is wrong",
    Problem.ADDRESS: "The address is wrong",
    Problem.HOURS: "The opening hours are wrong",
    Problem.CLOSED: "The clinic has closed",
    Problem.NO_DRY_NEEDLING: "They do not offer dry needling",
    Problem.OTHER: "Something else",
}
OUTCOMES = (ReportStatus.FIXED, ReportStatus.DISMISSED)


class InvalidReport(InvalidInput):
    """A report with bad fields; ``fields`` says what is wrong with each."""

    code = "invalid_report"

    def __init__(self, fields: list[tuple[str, str]]) -> None:
        super().__init__("The report cannot be taken: "
                         + " ".join(f"{name}: {says}" for name, says in fields))
        self.fields = fields


@dataclass(frozen=True)
class ReportInput:
    """A report as checked: what is wrong, the note and the reporter's (optional) e-mail."""

    problem: Problem
    note: str
    email: str


def check(problem: Any, note: Any, email: Any) -> ReportInput:
    """Check a report's fields, as typed in the form or sent as JSON; raise InvalidReport
    naming every bad one."""
    fields: list[tuple[str, str]] = []
    chosen: Problem | None = None
    if not isinstance(problem, str) or not problem.strip():
        fields.append(("problem", "Choose what is wrong."))
    else:
        try:
            chosen = Problem(problem.strip())
        except ValueError:
            fields.append(("problem", f"{problem[:40]!r} is not one of the choices: "
                                      f"{', '.join(item.value for item in Problem)}."))
    text = note if isinstance(note, str) else None
    if note is not None and text is None:
        fields.append(("note", "The note must be text."))
    text = (text or "").replace("\x00", "").strip()
    if len(text) > NOTE_LENGTH:
        fields.append(("note", f"The note has {len(text):,} characters; keep it to "
                               f"{NOTE_LENGTH:,}."))
    address = ""
    if email is not None and not isinstance(email, str):
        fields.append(("email", "The e-mail address must be text."))
    elif email:
        try:
            address = validation.email(email)
        except InvalidInput as exc:
            fields.append(("email", exc.message.removeprefix("email: ")
                           + " Leave it empty if you do not want an answer."))
    if fields or chosen is None:
        raise InvalidReport(fields)
    return ReportInput(chosen, text, address)


def reporter_digest(secret_key: str, address: str) -> str:
    """Return a keyed digest of a client's address: the same for the same person, and
    useless to anyone without the directory's key.

    An IPv6 client is counted by its /64 network, which one household or phone usually
    holds whole: otherwise one person could pass for many by changing the address's end.
    (The user agent is left out for the same reason: anyone can change it.)
    """
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        network = address
    else:
        network = str(ipaddress.ip_network(f"{ip}/64", strict=False)) if ip.version == 6 \
            else str(ip)
    return hmac.new(secret_key.encode(), DIGEST_PURPOSE + b"\n" + network.encode(),
                    hashlib.sha256).hexdigest()


def take(session: Session, location: Location, report: ReportInput,
         reporter: str) -> tuple[PatientReport, bool]:
    """Store a report on a listing and mark the listing out of date when enough people now
    agree; return it, and whether it is the first open one from this reporter (the owner is
    told of those, so that one person's repeats do not flood the clinic's mailbox)."""
    repeated = session.scalar(sa.select(sa.func.count()).select_from(PatientReport).where(
        PatientReport.location_id == location.id, PatientReport.reporter == reporter,
        PatientReport.status == ReportStatus.OPEN)) or 0
    taken = PatientReport(location_id=location.id, problem=report.problem, note=report.note,
                          email=report.email, reporter=reporter, status=ReportStatus.OPEN)
    session.add(taken)
    session.flush()
    _flag_when_agreed(session, location)
    return taken, repeated == 0


def independent_reports(session: Session, location_id: int,
                        problem: Problem | None = None) -> int:
    """Count the different people with open reports on a listing (of one kind, if given)."""
    query = sa.select(sa.func.count(sa.distinct(PatientReport.reporter))).where(
        PatientReport.location_id == location_id, PatientReport.status == ReportStatus.OPEN)
    if problem is not None:
        query = query.where(PatientReport.problem == problem)
    return session.scalar(query) or 0


def _flag_when_agreed(session: Session, location: Location) -> None:
    if location.flagged_at is not None:
        return
    for problem in FLAGGING:
        count = independent_reports(session, location.id, problem)
        if count >= REPORTS_TO_FLAG:
            # Through the ORM, so the listing's change reaches the search index by itself.
            location.flagged_at = datetime.now(UTC)
            session.add(ListingChange(
                location_id=location.id, actor_kind=Actor.SYSTEM, changes={},
                note=f"marked out of date: {count} patients reported "
                     f"“{PROBLEM_LABELS[problem].lower()}”"))
            return


def resolve(session: Session, report: PatientReport, outcome: ReportStatus,
            moderator_id: int | None, moderator: str, message: str) -> Location:
    """Resolve an open report, once (a resolution taken meanwhile, in another tab or by
    another moderator, makes this one refused), keep it in the listing's history, and take
    the out-of-date mark off the listing when no open report is left; return the listing."""
    if outcome not in OUTCOMES:
        raise InvalidInput("A report is resolved as fixed or dismissed.")
    message = message.strip()
    if not message:
        raise InvalidInput("Say what was done: it is kept in the listing's history, and "
                           "sent to the patient when they left an e-mail address.")
    if len(message) > RESOLUTION_LENGTH:
        raise InvalidInput(f"Keep the message to {RESOLUTION_LENGTH:,} characters.")
    if report.status is not ReportStatus.OPEN:
        raise InvalidInput(f"This report was already resolved as {report.status.value}.")
    done = session.execute(
        sa.update(PatientReport)
        .where(PatientReport.id == report.id, PatientReport.status == ReportStatus.OPEN)
        .values(status=outcome, resolved_by=moderator_id, resolved_at=datetime.now(UTC),
                resolution=message)
        .execution_options(synchronize_session=False))
    if done.rowcount != 1:  # type: ignore[attr-defined]
        raise InvalidInput("Another moderator resolved this report a moment ago.")
    session.refresh(report)
    location = session.get(Location, report.location_id)
    assert location is not None  # a report's listing is never deleted
    session.add(ListingChange(
        location_id=location.id, actor_kind=Actor.MODERATOR, actor=moderator, changes={},
        note=f"patient report {report.id} (“{PROBLEM_LABELS[report.problem].lower()}”) "
             f"{outcome.value}: {message}"))
    if location.flagged_at is not None and independent_reports(session, location.id) == 0:
        location.flagged_at = None
    return location


@dataclass(frozen=True)
class QueuedReport:
    """An open report as the moderation queue lists it."""

    report: PatientReport
    listing: str
    reporters: int  # different people with open reports on the same listing
    flagged: bool


def open_reports(session: Session) -> list[QueuedReport]:
    """The open reports, oldest first, each with its listing and how many people agree."""
    reporters = dict(session.execute(
        sa.select(PatientReport.location_id, sa.func.count(sa.distinct(PatientReport.reporter)))
        .where(PatientReport.status == ReportStatus.OPEN)
        .group_by(PatientReport.location_id)).all())
    rows = session.execute(
        sa.select(PatientReport, Location.name, Location.flagged_at)
        .join(Location, Location.id == PatientReport.location_id)
        .where(PatientReport.status == ReportStatus.OPEN)
        .order_by(PatientReport.created_at, PatientReport.id)).all()
    return [QueuedReport(report, name, reporters.get(report.location_id, 0),
                         flagged_at is not None) for report, name, flagged_at in rows]


def reports_of(session: Session, location_id: int) -> list[PatientReport]:
    """Every report on a listing, newest first."""
    return list(session.scalars(sa.select(PatientReport)
                                .where(PatientReport.location_id == location_id)
                                .order_by(PatientReport.created_at.desc(),
                                          PatientReport.id.desc())))


def age(moment: datetime, now: datetime | None = None) -> str:
    """How long ago, in words a moderator reads at a glance: "5 minutes ago", "3 days ago"."""
    seconds = max(0, int(((now or datetime.now(UTC)) - moment).total_seconds()))
    for unit, size in (("day", 86_400), ("hour", 3_600), ("minute", 60)):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'' if count == 1 else 's'} ago"
    return "just now"
