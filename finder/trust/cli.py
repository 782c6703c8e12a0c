"""`finder verify`: the re-verification run (for cron) and the listings moderators should call."""

from __future__ import annotations

import json
from datetime import date

import click
from flask import Flask, current_app, url_for

from ..clinics import owners
from ..db import get_database, session_scope
from ..errors import FinderError
from ..mail import deliver
from . import confirmations, reminders
from .verification import Policy, today, verified_on

DEFAULT_BASE_URL = "http://127.0.0.1:5000"


def _policy(app: Flask) -> Policy:
    try:
        return Policy.of(app.config)
    except FinderError as exc:
        raise click.ClickException(exc.message) from exc


def owner_links(app: Flask) -> reminders.Links:
    """Owners' links, absolute under FINDER_BASE_URL (a run has no request to take it from)."""
    secret = app.config["SECRET_KEY"]

    def external(endpoint: str, token: str) -> str:
        with app.test_request_context(base_url=app.config["BASE_URL"] or DEFAULT_BASE_URL):
            return url_for(endpoint, token=token, _external=True)

    return reminders.Links(
        confirm=lambda location_id, email: external(
            "clinics.confirm", confirmations.make_token(secret, location_id, email)),
        edit=lambda location_id, email: external(
            "clinics.edit", owners.make_token(secret, location_id, email)),
        edit_days=app.config["OWNER_LINK_DAYS"])


@click.group("verify")
def verify_group() -> None:
    """Keep listings verified: ask owners to confirm them, hide the unconfirmed."""


@verify_group.command("run")
def run_command() -> None:
    """Send the confirmation requests due today and unpublish listings past
    FINDER_UNPUBLISH_AFTER_DAYS. Safe to run often, and from several machines at once."""
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    policy = _policy(app)
    report = reminders.run(get_database(app).sessionmaker, policy, today(), owner_links(app))
    click.echo(f"asked to confirm {report.asked}, told stale {report.stale}, "
               f"unpublished {report.unpublished}")
    if app.config["SMTP_URL"]:
        with session_scope(app) as session:
            delivery = deliver(session, app.config["SMTP_URL"], app.config["MAIL_FROM"])
        click.echo(f"e-mail: sent {delivery.sent}, failed {delivery.failed}, "
                   f"{delivery.waiting} waiting")
    with session_scope(app) as session:
        waiting = len(reminders.to_call(session, policy, today()))
    if waiting:
        click.echo(f"{waiting} listing(s) due or stale have no owner to write to: "
                   "`finder verify list` shows them, to call")


@verify_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON lines instead of text.")
def list_command(as_json: bool) -> None:
    """List the listings due or stale that have no owner e-mail: moderators call them."""
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    policy, day = _policy(app), today()
    with session_scope(app) as session:
        for location in reminders.to_call(session, policy, day):
            since: date = verified_on(location.last_verified, location.created_at)
            state = policy.state(since, location.flagged_at is not None, day).value
            if as_json:
                click.echo(json.dumps({"id": location.id, "name": location.name,
                                       "phone": location.phone, "state": state,
                                       "verified_on": since.isoformat()}))
            else:
                click.echo(f"{location.id}  {location.name}  {location.phone or 'no phone'}  "
                           f"{state} (verified {since.isoformat()})")
