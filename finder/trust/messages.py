"""What the directory writes to clinics and patients about listings' truth: to owners as their
listings age and when a patient reports a problem, and to the patient when a moderator has
resolved it. Each is queued in the outbox, in the transaction of what it reports."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy.orm import Session

from .. import mail
from ..clinics.messages import SIGNATURE
from .models import Problem, ReportStatus
from .reports import PROBLEM_LABELS


@dataclass(frozen=True)
class Reminder:
    to: str
    listing: str
    verified_on: date
    confirm: str  # one click: nothing changed
    edit: str  # the owner's private editing link
    edit_days: int


def _day(day: date) -> str:
    return f"{day:%B} {day.day}, {day:%Y}"


def _choices(letter: Reminder) -> str:
    return (f"If everything is still right, confirm it with one click:\n\n{letter.confirm}\n\n"
            f"If something has changed, correct it here (this link works once, for "
            f"{letter.edit_days} days; ask for a new one on the Manage page at any time):"
            f"\n\n{letter.edit}")


def still_correct(session: Session, letter: Reminder, stale_from: date,
                  hidden_from: date | None) -> None:
    later = (f" If we do not hear from you, patients will see a notice that it may be out of "
             f"date from {_day(stale_from)}")
    later += (f", and it will be hidden from the directory on {_day(hidden_from)}."
              if hidden_from else ".")
    mail.queue(session, letter.to, f"Is {letter.listing} still correct?",
               f"Patients rely on {letter.listing}'s listing for its address, phone, hours "
               f"and services. It was last confirmed on {_day(letter.verified_on)}, and we "
               f"ask every clinic to confirm its details regularly.{later}\n\n"
               + _choices(letter) + SIGNATURE, "verify_due")


def now_stale(session: Session, letter: Reminder, hidden_from: date | None) -> None:
    later = (f" On {_day(hidden_from)} it will be hidden from the directory until you confirm "
             "it." if hidden_from else "")
    mail.queue(session, letter.to, f"{letter.listing} may be out of date",
               f"{letter.listing}'s listing has not been confirmed since "
               f"{_day(letter.verified_on)}, so patients now see a notice that its details "
               f"may be out of date, and it appears lower in searches.{later}\n\n"
               + _choices(letter) + SIGNATURE, "verify_stale")


def unpublished(session: Session, letter: Reminder) -> None:
    mail.queue(session, letter.to, f"{letter.listing} is hidden until you confirm it",
               f"{letter.listing}'s listing has not been confirmed since "
               f"{_day(letter.verified_on)}, so it is no longer shown to patients. Nothing is "
               "deleted: confirming it or correcting it brings it back at once.\n\n"
               + _choices(letter) + SIGNATURE, "verify_unpublished")


def report_to_owner(session: Session, to: str, listing: str, problem: Problem, note: str,
                    link: str, days: int, manage: str) -> None:
    """Tell a listing's owner what a patient found wrong (never who the patient is)."""
    said = f"\n\nThey wrote:\n\n{note}" if note else ""
    mail.queue(session, to, f"A patient reported a problem with {listing}",
               f"A patient told us that the listing of {listing} may be wrong: "
               f"“{PROBLEM_LABELS[problem]}”.{said}\n\n"
               "If it is, please correct it with this private link (it works once, for "
               f"{days} days):\n\n{link}\n\nIf the listing is right, you can ignore this "
               "message: a moderator checks every report. You can ask for a new link at "
               f"any time at {manage}" + SIGNATURE, "report_to_owner")


def report_resolved(session: Session, to: str, listing: str, outcome: ReportStatus,
                    message: str) -> None:
    """Tell a patient what became of their report."""
    done = ("We have corrected the listing" if outcome is ReportStatus.FIXED
            else "We looked into it and left the listing as it is")
    mail.queue(session, to, f"Your report about {listing}",
               f"Thank you for telling us about {listing}. {done}. The moderator's note:"
               f"\n\n{message}" + SIGNATURE, "report_resolved")
