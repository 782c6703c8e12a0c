"""What the directory writes about patients' reports: to the listing's owner when one
arrives, and to the patient when a moderator has resolved it. Each is queued in the outbox,
in the transaction of what it reports."""

from __future__ import annotations

from sqlalchemy.orm import Session

from .. import mail
from ..clinics.messages import SIGNATURE
from .models import Problem, ReportStatus
from .reports import PROBLEM_LABELS


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
