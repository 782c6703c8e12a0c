"""`finder outbox`: see the e-mails waiting to be sent, and send those that are due."""

from __future__ import annotations

from datetime import datetime

import click
import sqlalchemy as sa
from flask import current_app

from .db import session_scope
from .mail import deliver
from .models import OutboxMessage


def _when(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC"


def _echo(message: OutboxMessage) -> None:
    click.echo(f"{message.id}  {_when(message.created_at)}  {message.to}  {message.subject}")
    if message.sent_at is not None:
        state = f"sent {_when(message.sent_at)}"
    else:
        state = f"waiting, next attempt {_when(message.next_attempt_at)}"
    click.echo(f"    {state}; {message.attempts} failed attempt(s)"
               + (f"; last error: {message.last_error}" if message.last_error else ""))


@click.command("outbox")
@click.option("--send", is_flag=True, help="Deliver the messages that are due now "
                                           "(with FINDER_SMTP_URL), then list what waits.")
@click.option("--all", "everything", is_flag=True, help="List sent messages too.")
def outbox_command(send: bool, everything: bool) -> None:
    """List the e-mails waiting in the outbox; --send delivers those that are due."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if send:
        if not app.config["SMTP_URL"]:
            raise click.ClickException("FINDER_SMTP_URL is not set: nothing can be sent "
                                       "(messages wait in the outbox).")
        with session_scope(app) as session:
            delivery = deliver(session, app.config["SMTP_URL"], app.config["MAIL_FROM"])
        click.echo(f"sent {delivery.sent}, failed {delivery.failed}, "
                   f"{delivery.waiting} waiting")
    with session_scope(app) as session:
        query = sa.select(OutboxMessage).order_by(OutboxMessage.created_at, OutboxMessage.id)
        if not everything:
            query = query.where(OutboxMessage.sent_at.is_(None))
        messages = session.scalars(query).all()
        if not messages and not send:
            click.echo("the outbox is empty" if everything else "no message waiting")
        for message in messages:
            _echo(message)
