"""`finder verify` (the re-verification run, for cron, and the listings moderators should call)
and `finder nppes` (import the NPI registry's file and check the directory's NPIs against it)."""

from __future__ import annotations

import io
import json
import sys
from datetime import date
from pathlib import Path

import click
from flask import Flask, current_app, url_for
from sqlalchemy.orm import Session

from ..bulk import bulk_work
from ..clinics import owners
from ..db import get_database, session_scope
from ..errors import FinderError
from ..geocode.gazetteer import Gazetteer
from ..listings import VERIFIED
from ..mail import deliver
from ..search import get_backend
from . import confirmations, nppes, reminders
from .nppes_file import read_registry
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
            state = policy.state_of(location, day).value
            if as_json:
                click.echo(json.dumps({"id": location.id, "name": location.name,
                                       "phone": location.phone, "state": state,
                                       "verified_on": since.isoformat()}))
            else:
                click.echo(f"{location.id}  {location.name}  {location.phone or 'no phone'}  "
                           f"{state} (verified {since.isoformat()})")


@click.group("nppes")
def nppes_group() -> None:
    """Import the NPI registry (NPPES) and verify the directory's NPIs."""


@nppes_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--create-listings", is_flag=True,
              help="Also make an unpublished listing of every registry PT clinic that no "
                   "listing holds the NPI of, for moderators to review.")
@click.option("--batch-size", type=click.IntRange(1), default=nppes.BATCH_SIZE,
              show_default=True, help="Registry rows per database transaction.")
@bulk_work()
def import_command(file: Path, create_listings: bool, batch_size: int) -> None:
    """Import the NPPES dissemination CSV (npidata_pfile), keeping its physical therapists
    and PT clinics, then verify the directory's NPIs; reruns change nothing."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    with open(file, "rb") as raw, \
            io.TextIOWrapper(raw, encoding="utf-8", errors="replace", newline="") as text, \
            session_scope(app) as session:
        try:
            rows = read_registry(text, file.name)
        except FinderError as exc:
            raise click.ClickException(exc.message) from exc
        with click.progressbar(length=file.stat().st_size, label="Reading the NPI registry",
                               file=sys.stderr) as bar:
            done = 0

            def committed() -> None:
                nonlocal done
                session.commit()
                position = raw.tell()  # bytes read so far, a buffer ahead of the parser
                bar.update(position - done)
                done = position

            report = nppes.import_registry(session, rows, batch_size=batch_size,
                                           on_batch=committed)
        click.echo(f"read {report.read} row(s): kept {report.kept} (new {report.created}, "
                   f"changed {report.updated}, unchanged {report.unchanged}), "
                   f"deactivated {report.deactivated}, rejected {report.rejected}")
        for bad in report.bad_rows:
            click.echo(f"  line {bad.line}: {bad.reason}")
        if report.rejected > len(report.bad_rows):
            click.echo(f"  ... and {report.rejected - len(report.bad_rows)} more rejected")
        _verify(session)
        if create_listings:
            made = nppes.create_listings(session, Gazetteer(), date.today(),
                                         on_batch=session.commit)
            click.echo(f"listings made from the registry: {made.created} (unpublished, for "
                       f"moderators to review); not placed: {made.not_placed}")
            for reason in made.reasons:
                click.echo(f"  {reason}")
    click.echo(f"indexed {get_backend().catch_up()} change(s)")


@nppes_group.command("verify")
@click.option("--problems", is_flag=True,
              help="Then list the listings and practitioners whose NPI is deactivated, "
                   "disagrees with the registry or is not in it.")
def verify_command(problems: bool) -> None:
    """Check the directory's NPIs against the registry records imported last."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    with session_scope(app) as session:
        _verify(session)
        if problems:
            _list_problems(session)
    click.echo(f"indexed {get_backend().catch_up()} change(s)")


def _verify(session: Session) -> None:
    report = nppes.verify_directory(session, date.today(), on_batch=session.commit)
    for kind, counts in (("locations", report.locations),
                         ("practitioners", report.practitioners)):
        shown = ", ".join(f"{status} {counts[status]}"
                          for status in (VERIFIED, *nppes.PROBLEMS))
        click.echo(f"NPIs of {kind}: {shown}")


def _list_problems(session: Session) -> None:
    locations, people = nppes.problems(session)
    if not locations and not people:
        click.echo("Every NPI checked agrees with the registry.")
        return
    for location in locations:
        click.echo(f"listing {location.id} {location.name!r} NPI {location.npi}: "
                   f"{location.npi_status} — {location.npi_detail}")
    for person in people:
        click.echo(f"practitioner {person.id} {person.name!r} NPI {person.npi}: "
                   f"{person.npi_status}")
