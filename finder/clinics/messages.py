"""What the directory writes to clinics: each message queued in the outbox, in the
transaction of the decision it reports."""

from __future__ import annotations

from sqlalchemy.orm import Session

from .. import mail

SIGNATURE = "\n\n-- \nfinder, the dry needling directory"


def owner_link(session: Session, to: str, listing: str, link: str, days: int) -> None:
    mail.queue(session, to, f"Your link to change {listing}",
               f"Here is your private link to change the listing of {listing}:\n\n{link}\n\n"
               f"It works once, for {days} days. Changes are checked by a moderator before "
               "they go live; the listing stays as it is meanwhile. If you did not ask for "
               "this link, you can ignore this message." + SIGNATURE, "owner_link")


def approved(session: Session, to: str, listing: str, link: str, days: int) -> None:
    mail.queue(session, to, f"{listing} is live",
               f"A moderator approved {listing}: patients can find it now.\n\nTo change it "
               f"later, use this private link (it works once, for {days} days):\n\n{link}\n\n"
               "You can ask for a new link on the Manage page at any time." + SIGNATURE,
               "approved")


def rejected(session: Session, to: str, listing: str, reason: str) -> None:
    mail.queue(session, to, f"{listing} was not published",
               f"A moderator did not publish {listing}, for this reason:\n\n{reason}\n\n"
               "You are welcome to send it again." + SIGNATURE, "rejected")


def changes_requested(session: Session, to: str, listing: str, message: str,
                      link: str, private: bool) -> None:
    how = ("Make it with this private link (it works once):" if private
           else "Send the listing again, changed, with the form:")
    mail.queue(session, to, f"Please change {listing} before it is published",
               f"A moderator asks for a change to {listing}:\n\n{message}\n\n"
               f"{how}\n\n{link}" + SIGNATURE, "changes_requested")


def claim_rejected(session: Session, to: str, listing: str, reason: str) -> None:
    mail.queue(session, to, f"Your claim of {listing} was not accepted",
               f"A moderator did not accept your claim of {listing}, for this reason:\n\n"
               f"{reason}\n\nIf the clinic is yours, reply from an address on its website's "
               "domain, or ask the clinic to write to us." + SIGNATURE, "claim_rejected")


def claim_waiting(session: Session, to: str, listing: str) -> None:
    mail.queue(session, to, f"Your claim of {listing} is being checked",
               f"We received your claim of {listing}. Your e-mail address is not on the "
               "clinic's website domain, so a moderator checks the claim first; we will "
               "write again when it is decided." + SIGNATURE, "claim_waiting")
