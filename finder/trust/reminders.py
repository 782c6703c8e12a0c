"""`finder verify run`: ask owners to confirm listings as they age, and hide the unconfirmed.

Each listing moves through the stages of ``verification.Policy`` by the day; the run sends
each owner one message per stage per verification (the stage and the verification day it
was about are kept on the listing) and unpublishes listings past the last stage. Each step
is a conditional update of the listing in the transaction that queues its message, so runs
on several machines at once, or again the same day, never send a message twice.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ..models import Actor, ListingChange, Location, Status, record_change
from . import messages
from .confirmations import UNVERIFIED
from .verification import Policy, State, verified_on

BATCH = 500  # listings per transaction
# The stages a message is sent for, in order: a later one is sent even if an earlier one
# never was (the run did not run that week), an earlier one never after a later one.
STAGES = (State.DUE.value, State.STALE.value, State.UNPUBLISHED.value)


@dataclass(frozen=True)
class Links:
    """How to make an owner's links: ``confirm`` and ``edit`` take (location id, e-mail)."""

    confirm: Callable[[int, str], str]
    edit: Callable[[int, str], str]
    edit_days: int


@dataclass
class RunReport:
    asked: int = 0  # "still correct?" messages
    stale: int = 0  # "patients now see a notice" messages
    unpublished: int = 0  # listings hidden


def stage(policy: Policy, verified: date, today: date) -> str:
    """The furthest stage a listing verified on ``verified`` has reached ("": none)."""
    unpublish_before = policy.unpublish_before(today)
    if unpublish_before is not None and verified < unpublish_before:
        return State.UNPUBLISHED.value
    state = policy.state(verified, False, today)
    return "" if state is State.CURRENT else state.value


def _at_least_due(policy: Policy, today: date) -> sa.ColumnElement[bool]:
    """Listings verified (or, never verified, added) long enough ago to be due or later."""
    due_before = policy.due_before(today)
    return sa.or_(Location.last_verified < due_before,
                  sa.and_(Location.last_verified.is_(None),
                          Location.created_at < datetime.combine(due_before, time(), UTC)))


def _candidates(session: Session, policy: Policy, today: date, after_id: int
                ) -> Sequence[Any]:
    """The next published listings, by id, at least due."""
    return session.execute(
        sa.select(Location.id, Location.name, Location.last_verified, Location.created_at,
                  Location.owner_email, Location.verify_notice, Location.verify_notice_for)
        .where(Location.status == Status.PUBLISHED, Location.id > after_id,
               _at_least_due(policy, today))
        .order_by(Location.id).limit(BATCH)).all()


def run(session_factory: Callable[[], Session], policy: Policy, today: date,
        links: Links) -> RunReport:
    """Send the messages due today and unpublish what is past the last stage."""
    report = RunReport()
    after_id = 0
    while True:
        with session_factory() as session:
            rows = _candidates(session, policy, today, after_id)
            if not rows:
                return report
            for row in rows:
                _advance(session, row, policy, today, links, report)
            session.commit()
            after_id = rows[-1].id


def _advance(session: Session, row: sa.Row[Any], policy: Policy, today: date, links: Links,
             report: RunReport) -> None:
    verified = verified_on(row.last_verified, row.created_at)
    reached = stage(policy, verified, today)
    told = row.verify_notice if row.verify_notice_for == verified else ""
    if not reached or (told and STAGES.index(told) >= STAGES.index(reached)):
        return  # not due yet, or this stage of this verification was handled already
    if reached != State.UNPUBLISHED and not row.owner_email:
        return  # nobody to write to: moderators call (see ``to_call``)
    values: dict[str, Any] = {"verify_notice": reached, "verify_notice_for": verified}
    if reached == State.UNPUBLISHED:
        values.update(status=Status.UNPUBLISHED, unpublished_reason=UNVERIFIED)
    else:
        values["updated_at"] = Location.updated_at  # nothing public changes
    # Only if no other run (or a confirmation) changed the listing since it was read.
    taken = session.execute(
        sa.update(Location).where(
            Location.id == row.id, Location.status == Status.PUBLISHED,
            Location.verify_notice == row.verify_notice,
            _same(Location.verify_notice_for, row.verify_notice_for),
            _same(Location.last_verified, row.last_verified))
        .values(**values).execution_options(synchronize_session=False))
    if taken.rowcount != 1:  # type: ignore[attr-defined]
        return
    if reached == State.UNPUBLISHED:
        record_change(session, row.id)  # the update skipped the ORM, which records it
        session.add(ListingChange(
            location_id=row.id, actor_kind=Actor.SYSTEM, actor="finder verify run",
            changes={"status": [Status.PUBLISHED.value, Status.UNPUBLISHED.value]},
            note=f"unpublished: not verified since {verified.isoformat()}"))
        report.unpublished += 1
    if not row.owner_email:
        return
    letter = messages.Reminder(row.owner_email, row.name, verified,
                               links.confirm(row.id, row.owner_email),
                               links.edit(row.id, row.owner_email), links.edit_days)
    if reached == State.DUE:
        messages.still_correct(session, letter, policy.stale_from(verified),
                               policy.hidden_from(verified))
        report.asked += 1
    elif reached == State.STALE:
        messages.now_stale(session, letter, policy.hidden_from(verified))
        report.stale += 1
    else:
        messages.unpublished(session, letter)


def to_call(session: Session, policy: Policy, today: date, limit: int = 500
            ) -> list[Location]:
    """Published listings due or stale whose owner the directory cannot write to (no owner
    e-mail), least recently verified first: for moderators to call."""
    since = sa.func.coalesce(Location.last_verified, sa.func.date(Location.created_at))
    return list(session.scalars(
        sa.select(Location).where(
            Location.status == Status.PUBLISHED, Location.owner_email == "",
            sa.or_(Location.flagged_at.is_not(None), _at_least_due(policy, today)))
        .order_by(since, Location.id).limit(limit)))


def _same(column: Any, value: Any) -> Any:
    return column.is_(None) if value is None else column == value
