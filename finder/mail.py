"""The mail outbox: e-mails are written in the transaction that decides them and delivered
after, over SMTP, with retries and back-off, so none is lost while the mail server is away."""

from __future__ import annotations

import email.utils
import smtplib
import ssl
import threading
import urllib.parse
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any, cast

import sqlalchemy as sa
from flask import Flask
from sqlalchemy import orm

from . import validation
from .db import session_scope
from .errors import InvalidInput
from .models import OutboxMessage, utcnow

TIMEOUT = 10.0  # seconds for connecting to the mail server and for each of its answers
FIRST_RETRY = timedelta(minutes=1)  # then 2, 4, 8 ... minutes
LAST_RETRY = timedelta(hours=6)
# A claimed message is not due again for this long: if the process that claimed it dies
# before recording the result, another one sends it then.
CLAIM = timedelta(minutes=10)
SUBJECT_LENGTH = 200
ERROR_LENGTH = 300


@dataclass
class Delivery:
    """What one delivery run did; ``waiting`` counts every message still unsent after it."""

    sent: int = 0
    failed: int = 0
    waiting: int = 0


def queue(session: orm.Session, to: str, subject: str, body: str, kind: str) -> OutboxMessage:
    """Add an e-mail to the outbox, in the caller's transaction."""
    try:
        address = validation.email(to)
    except InvalidInput as exc:
        raise InvalidInput(exc.message.removeprefix("email: "), code="invalid_email") from None
    if not address:
        raise InvalidInput(f"{to!r} is not an e-mail address: it is empty.",
                           code="invalid_email")
    # A line break in a header would end it; subjects may carry names people typed.
    subject = " ".join(subject.split())
    if len(subject) > SUBJECT_LENGTH:
        subject = subject[:SUBJECT_LENGTH - 1] + "…"
    message = OutboxMessage(to=address, subject=subject, body=body, kind=kind)
    session.add(message)
    session.flush()
    return message


def retry_delay(attempts: int) -> timedelta:
    """Return how long a message waits after its ``attempts``-th failed attempt."""
    return min(FIRST_RETRY * (1 << min(max(attempts - 1, 0), 20)), LAST_RETRY)


def deliver(session: orm.Session, smtp_url: str, sender: str, now: datetime | None = None,
            limit: int = 100) -> Delivery:
    """Send the messages due at ``now``, oldest first, over one connection; record each result.

    Unlike the other domain functions this one commits, so give it a session of its own: each
    message is claimed in a committed UPDATE (``WHERE sent_at IS NULL AND next_attempt_at <=
    now``, which on SQLite and PostgreSQL alike matches for one process only) before it leaves,
    and its result is committed as soon as it is known. Two processes delivering at once thus
    never send a message twice, and a crash can at worst send again the one message that was
    on the wire. Nothing is sent when ``smtp_url`` is empty.
    """
    now = now or utcnow()
    delivery = Delivery()
    due = [] if not smtp_url else session.scalars(
        sa.select(OutboxMessage.id)
        .where(OutboxMessage.sent_at.is_(None), OutboxMessage.next_attempt_at <= now)
        .order_by(OutboxMessage.created_at, OutboxMessage.id).limit(limit)).all()
    session.rollback()  # end the read, so claims start from fresh snapshots
    if due:
        password = urllib.parse.unquote(urllib.parse.urlsplit(smtp_url).password or "")
        connection: smtplib.SMTP | None = None
        error = ""
        try:
            connection = _connect(smtp_url)
        except (smtplib.SMTPException, OSError, ValueError) as exc:
            error = _describe(exc, password)
        try:
            for message_id in due:
                message = _claim(session, message_id, now)
                if message is None:
                    continue  # another process has it
                failure = error if connection is None else ""
                if connection is not None:
                    try:
                        connection.send_message(_email(message, sender))
                    except (smtplib.SMTPException, OSError) as exc:
                        failure = _describe(exc, password)
                        if _broken(exc):  # the messages after this one fail the same way
                            connection.close()
                            connection, error = None, failure
                if failure:
                    message.attempts += 1
                    message.last_error = failure
                    message.next_attempt_at = now + retry_delay(message.attempts)
                    delivery.failed += 1
                else:
                    message.sent_at = utcnow()
                    message.last_error = ""
                    delivery.sent += 1
                session.commit()
        finally:
            if connection is not None:
                _close(connection)
    delivery.waiting = session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)
                                      .where(OutboxMessage.sent_at.is_(None))) or 0
    return delivery


def _claim(session: orm.Session, message_id: int, now: datetime) -> OutboxMessage | None:
    """Take a due message for this process (committed), or return None if another has it."""
    result = session.execute(
        sa.update(OutboxMessage)
        .where(OutboxMessage.id == message_id, OutboxMessage.sent_at.is_(None),
               OutboxMessage.next_attempt_at <= now)
        .values(next_attempt_at=now + CLAIM)
        .execution_options(synchronize_session=False))
    claimed = cast(sa.CursorResult[Any], result).rowcount == 1
    session.commit()
    if not claimed:
        return None
    return session.get(OutboxMessage, message_id, populate_existing=True)


def _connect(smtp_url: str) -> smtplib.SMTP:
    """Open a connection to the mail server, encrypted when it can be, and log in."""
    parts = urllib.parse.urlsplit(smtp_url)
    host, port = parts.hostname or "", parts.port or 0  # 0: smtplib's default, 25 or 465
    context = ssl.create_default_context()
    connection: smtplib.SMTP
    if parts.scheme == "smtps":
        connection = smtplib.SMTP_SSL(host, port, timeout=TIMEOUT, context=context)
    else:
        connection = smtplib.SMTP(host, port, timeout=TIMEOUT)
    try:
        connection.ehlo()
        if parts.scheme == "smtp" and connection.has_extn("starttls"):
            connection.starttls(context=context)
            connection.ehlo()
        if parts.username:
            connection.login(urllib.parse.unquote(parts.username),
                             urllib.parse.unquote(parts.password or ""))
    except BaseException:
        connection.close()
        raise
    return connection


def _broken(exc: OSError) -> bool:
    """Whether a failure leaves the connection unusable (rather than refusing one message)."""
    return (isinstance(exc, smtplib.SMTPServerDisconnected)
            or not isinstance(exc, smtplib.SMTPException))


def _close(connection: smtplib.SMTP) -> None:
    try:
        connection.quit()
    except (smtplib.SMTPException, OSError):
        connection.close()


def _email(message: OutboxMessage, sender: str) -> EmailMessage:
    domain = email.utils.parseaddr(sender)[1].rpartition("@")[2] or "localhost"
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = message.to
    mail["Subject"] = message.subject
    mail["Date"] = email.utils.format_datetime(message.created_at)
    # Derived from the message, so a copy sent again after a crash can be recognised.
    mail["Message-ID"] = f"<{message.id}.{message.created_at:%Y%m%d%H%M%S%f}.outbox@{domain}>"
    mail.set_content(message.body)
    return mail


def _describe(exc: BaseException, password: str) -> str:
    """A short account of a failure, for ``last_error``, with the password blanked out."""
    if isinstance(exc, smtplib.SMTPResponseException):
        detail = f"{exc.smtp_code} {_text(exc.smtp_error)}"
    elif isinstance(exc, smtplib.SMTPRecipientsRefused):
        detail = "; ".join(f"{address}: {code} {_text(reply)}"
                           for address, (code, reply) in exc.recipients.items())
    else:
        detail = str(exc)
    text = " ".join(f"{type(exc).__name__}: {detail}".split())
    for secret in {password, urllib.parse.quote(password, safe="")} - {""}:
        text = text.replace(secret, "***")
    return text[:ERROR_LENGTH]


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply


class _Courier:
    """Runs one delivery thread at a time in a process, and once more if asked meanwhile."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running = False
        self._again = False

    def start(self, app: Flask) -> threading.Thread | None:
        with self._lock:
            if self._running:
                self._again = True  # the running thread may have read the outbox already
                return None
            self._running = True
        thread = threading.Thread(target=self._run, args=(app,), name="finder-mail",
                                  daemon=True)
        thread.start()
        return thread

    def _run(self, app: Flask) -> None:
        while True:
            try:
                with session_scope(app) as session:
                    deliver(session, app.config["SMTP_URL"], app.config["MAIL_FROM"])
            except Exception:
                app.logger.exception("mail delivery failed; the outbox keeps the messages")
            with self._lock:
                if not self._again:
                    self._running = False
                    return
                self._again = False


def deliver_soon(app: Flask) -> threading.Thread | None:
    """Deliver due mail in a background thread (when SMTP_URL is set); call after a commit.

    Returns the thread it started, or None when delivery is off or a thread is already at
    work (it then runs once more). ``finder outbox --send`` from cron covers the rest.
    """
    if not app.config["SMTP_URL"]:
        return None
    courier: _Courier = app.extensions.setdefault("finder.mail", _Courier())
    return courier.start(app)
