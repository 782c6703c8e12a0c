"""The outbox, delivered to a real SMTP server (aiosmtpd) on a local port."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from flask import Flask

from finder import create_app
from finder.db import get_database, session_scope
from finder.errors import InvalidInput
from finder.mail import Delivery, deliver, deliver_soon, queue, retry_delay
from finder.models import OutboxMessage, utcnow
from finder.search import get_backend
from tests.conftest import TEST_CONFIG, Runner
from tests.postgres import free_port

SENDER = "Dry Needling Finder <mail@finder.test>"
# The server accepts one account; it answers a wrong password by quoting it back, as a
# careless server might, so the tests see that the outbox never stores a password.
USER, PASSWORD = "ann", "s3cr@t/pw"
# aiosmtpd reports a successful login through an attribute it has deprecated.
LOGIN_WARNING = "ignore:Session.login_data is deprecated:DeprecationWarning"


class MailServer:
    """An SMTP server on a local port that keeps what it receives; stop and start at will."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.received: list[EmailMessage] = []
        self.logins: list[tuple[str, str]] = []
        self.controller: Controller | None = None

    def url(self, userinfo: str = "") -> str:
        return f"smtp://{userinfo + '@' if userinfo else ''}127.0.0.1:{self.port}"

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, options: list[str]) -> str:
        if address.startswith("gone@"):
            return "550 5.1.1 No such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.content
        raw = content.encode() if isinstance(content, str) else content or b""
        raw = raw.replace(b"\r\n", b"\n")  # as a mail program stores it
        self.received.append(message_from_bytes(raw, policy=policy.default))
        return "250 OK"

    def _authenticate(self, server: SMTP, session: Session, envelope: Envelope,
                      mechanism: str, data: Any) -> AuthResult:
        assert isinstance(data, LoginPassword)
        login, password = data.login.decode(), data.password.decode()
        self.logins.append((login, password))
        if (login, password) == (USER, PASSWORD):
            return AuthResult(success=True, auth_data=data)
        return AuthResult(success=False, handled=False,
                          message=f"535 5.7.8 {password!r} is not the password")

    def start(self) -> MailServer:
        # No TLS, so that smtplib needs no certificate; AUTH is offered all the same.
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port,
                                     authenticator=self._authenticate, auth_require_tls=False)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def subjects(self) -> list[str]:
        return [str(message["Subject"]) for message in self.received]


@pytest.fixture
def mail_server() -> Iterator[MailServer]:
    server = MailServer().start()
    yield server
    server.stop()


def put(app: Flask, *subjects: str, to: str = "ann@example.org") -> list[int]:
    """Queue one message per subject and commit, as a view or command does."""
    with session_scope(app) as session:
        messages = [queue(session, to, subject, f"Body of {subject}.\n", "test")
                    for subject in subjects]
        session.commit()
        return [message.id for message in messages]


def send(app: Flask, url: str, **options: Any) -> Delivery:
    with session_scope(app) as session:
        return deliver(session, url, SENDER, **options)


def outbox(app: Flask) -> list[OutboxMessage]:
    with session_scope(app) as session:
        return list(session.scalars(sa.select(OutboxMessage).order_by(OutboxMessage.id)))


def test_queued_messages_are_delivered_with_their_headers_and_body(
        app: Flask, mail_server: MailServer) -> None:
    put(app, "Your editing link", "Your listing is published")
    put(app, "Another", to="Bob@Example.org")
    assert send(app, mail_server.url()) == Delivery(sent=3, failed=0, waiting=0)
    assert mail_server.subjects() == ["Your editing link", "Your listing is published",
                                      "Another"]
    first = mail_server.received[0]
    assert first["From"] == SENDER
    assert first["To"] == "ann@example.org"
    assert first.get_content() == "Body of Your editing link.\n"
    assert first["Date"] and first["Message-ID"].endswith("@finder.test>")
    assert mail_server.received[2]["To"] == "Bob@example.org"  # the domain normalised
    assert len({message["Message-ID"] for message in mail_server.received}) == 3
    assert all(message.sent_at and not message.last_error and message.attempts == 0
               for message in outbox(app))


def test_a_message_is_queued_in_the_callers_transaction(app: Flask) -> None:
    with session_scope(app) as session:
        queue(session, "ann@example.org", "Approved", "Your listing is published.", "approved")
        session.rollback()
    assert outbox(app) == []


def test_a_subject_is_kept_to_one_line_and_its_column(app: Flask,
                                                      mail_server: MailServer) -> None:
    put(app, "Listing\r\nBcc: everyone@example.org", "x" * 300)
    assert send(app, mail_server.url()).sent == 2
    assert mail_server.subjects()[0] == "Listing Bcc: everyone@example.org"
    assert "Bcc" not in mail_server.received[0]
    assert len(mail_server.subjects()[1]) == 200


@pytest.mark.parametrize("address", ["", "not an address", "ann@", "ann@example",
                                     "ann@@example.org", "ann@example.org\nBcc: x@y.org"])
def test_a_bad_address_is_refused_with_a_clear_message(app: Flask, address: str) -> None:
    with session_scope(app) as session, pytest.raises(InvalidInput) as caught:
        queue(session, address, "Hello", "Hello.", "test")
    assert caught.value.message.startswith(f"{address!r} is not an e-mail address: ")
    assert caught.value.code == "invalid_email"
    assert outbox(app) == []


def test_without_a_mail_server_nothing_is_sent_and_nothing_changes(app: Flask) -> None:
    put(app, "One", "Two")
    assert send(app, "") == Delivery(sent=0, failed=0, waiting=2)
    assert [(message.attempts, message.last_error) for message in outbox(app)] == [(0, "")] * 2


def test_messages_wait_while_the_server_is_down_and_go_out_once_when_it_is_back(
        app: Flask) -> None:
    server = MailServer()  # a free port that nothing listens on, yet
    put(app, "One", "Two")
    start = utcnow()
    assert send(app, server.url(), now=start) == Delivery(sent=0, failed=2, waiting=2)
    for message in outbox(app):
        assert message.sent_at is None
        assert message.attempts == 1
        assert "ConnectionRefusedError" in message.last_error
        assert message.next_attempt_at == start + timedelta(minutes=1)
        assert message.next_attempt_at > utcnow()
    server.start()
    try:
        early = start + timedelta(seconds=30)
        assert send(app, server.url(), now=early) == Delivery(sent=0, failed=0, waiting=2)
        assert server.received == []
        later = start + timedelta(minutes=2)
        assert send(app, server.url(), now=later) == Delivery(sent=2, failed=0, waiting=0)
        assert send(app, server.url(), now=later) == Delivery(sent=0, failed=0, waiting=0)
        assert server.subjects() == ["One", "Two"]
    finally:
        server.stop()
    assert all(message.sent_at and not message.last_error for message in outbox(app))


def test_each_failure_doubles_the_wait(app: Flask) -> None:
    url = MailServer().url()
    put(app, "One")
    now = utcnow()
    for expected in (1, 2, 4, 8):
        assert send(app, url, now=now).failed == 1
        [message] = outbox(app)
        assert message.next_attempt_at - now == timedelta(minutes=expected)
        now = message.next_attempt_at
    assert message.attempts == 4


@pytest.mark.parametrize(("attempts", "wait"), [
    (1, timedelta(minutes=1)), (2, timedelta(minutes=2)), (5, timedelta(minutes=16)),
    (9, timedelta(hours=4, minutes=16)), (10, timedelta(hours=6)), (10_000, timedelta(hours=6)),
])
def test_the_wait_grows_to_six_hours(attempts: int, wait: timedelta) -> None:
    assert retry_delay(attempts) == wait


@pytest.mark.filterwarnings(LOGIN_WARNING)
def test_a_user_in_the_url_logs_in_with_the_decoded_password(
        app: Flask, mail_server: MailServer) -> None:
    put(app, "One")
    assert send(app, mail_server.url(f"{USER}:s3cr%40t%2Fpw")).sent == 1
    assert mail_server.logins == [(USER, PASSWORD)]
    assert mail_server.subjects() == ["One"]


def test_a_wrong_password_is_a_failure_recorded_without_the_password(
        app: Flask, mail_server: MailServer) -> None:
    put(app, "One")
    wrong = "Wr0ng-Pass+word"
    assert send(app, mail_server.url(f"{USER}:{wrong}")) == Delivery(sent=0, failed=1,
                                                                     waiting=1)
    assert set(mail_server.logins) == {(USER, wrong)}  # and quoted it back
    assert mail_server.received == []
    [message] = outbox(app)
    assert message.attempts == 1
    assert message.last_error.startswith("SMTPAuthenticationError: 535 5.7.8 ")
    assert "***" in message.last_error
    assert wrong not in message.last_error and "Wr0ng" not in message.last_error


def test_a_refused_recipient_waits_and_the_others_go_out(app: Flask,
                                                         mail_server: MailServer) -> None:
    put(app, "One")
    put(app, "Two", to="gone@example.org")
    put(app, "Three")
    assert send(app, mail_server.url()) == Delivery(sent=2, failed=1, waiting=1)
    assert mail_server.subjects() == ["One", "Three"]
    refused = outbox(app)[1]
    assert (refused.sent_at, refused.attempts) == (None, 1)
    assert refused.last_error == ("SMTPRecipientsRefused: gone@example.org: "
                                  "550 5.1.1 No such mailbox")


def test_deliveries_in_a_row_never_send_a_message_twice(app: Flask,
                                                         mail_server: MailServer) -> None:
    put(app, "One", "Two", "Three")
    assert send(app, mail_server.url(), limit=2) == Delivery(sent=2, failed=0, waiting=1)
    assert send(app, mail_server.url()) == Delivery(sent=1, failed=0, waiting=0)
    assert send(app, mail_server.url()) == Delivery(sent=0, failed=0, waiting=0)
    assert mail_server.subjects() == ["One", "Two", "Three"]


@pytest.fixture(params=["sqlite", "postgresql"])
def any_database(request: pytest.FixtureRequest, data_dir: Path) -> Iterator[Flask]:
    config: dict[str, Any] = {"DATA_DIR": str(data_dir), **TEST_CONFIG}
    if request.param == "postgresql":
        config["DATABASE_URL"] = request.getfixturevalue("postgres").fresh_database()
    app = create_app(config)
    yield app
    get_backend(app).close()
    get_database(app).dispose()


def test_two_deliveries_at_once_send_each_message_once(any_database: Flask,
                                                       mail_server: MailServer) -> None:
    subjects = [f"Message {number}" for number in range(40)]
    put(any_database, *subjects)
    results: list[Delivery] = []
    ready = threading.Barrier(2)

    def run() -> None:
        ready.wait()
        results.append(send(any_database, mail_server.url()))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sum(result.sent for result in results) == 40
    assert sorted(mail_server.subjects()) == sorted(subjects)


def test_deliver_soon_sends_in_the_background(app: Flask, mail_server: MailServer) -> None:
    put(app, "One")
    assert deliver_soon(app) is None  # no mail server set: messages wait
    app.config["SMTP_URL"] = mail_server.url()
    app.config["MAIL_FROM"] = SENDER
    thread = deliver_soon(app)
    assert thread is not None
    thread.join(30)
    assert mail_server.subjects() == ["One"]
    assert outbox(app)[0].sent_at is not None


def test_the_outbox_command_lists_and_sends(app: Flask, runner: Runner,
                                            mail_server: MailServer) -> None:
    assert runner.invoke("outbox").output == "no message waiting\n"
    put(app, "Your editing link", "Approved")
    listed = runner.invoke("outbox")
    assert listed.exit_code == 0
    assert "ann@example.org  Your editing link" in listed.output
    assert "waiting, next attempt" in listed.output
    runner.env.update(FINDER_SMTP_URL=mail_server.url(), FINDER_MAIL_FROM=SENDER)
    sent = runner.invoke("outbox", "--send")
    assert sent.output == "sent 2, failed 0, 0 waiting\n"
    assert mail_server.subjects() == ["Your editing link", "Approved"]
    assert runner.invoke("outbox").output == "no message waiting\n"
    everything = runner.invoke("outbox", "--all").output
    assert everything.count("  sent ") == 2 and "Approved" in everything


def test_the_outbox_command_shows_why_a_message_waits(app: Flask, runner: Runner) -> None:
    put(app, "One")
    refused = runner.invoke("outbox", "--send")
    assert refused.exit_code == 1
    assert "FINDER_SMTP_URL is not set" in refused.output
    runner.env["FINDER_SMTP_URL"] = MailServer().url()  # nothing listens there
    failed = runner.invoke("outbox", "--send")
    assert failed.exit_code == 0
    assert failed.output.startswith("sent 0, failed 1, 1 waiting\n")
    assert "1 failed attempt(s); last error: ConnectionRefusedError" in failed.output
