"""`finder users`: make and list the accounts of moderators and admins; `finder duplicates`:
find likely duplicate listings, merge them or mark them distinct."""

from __future__ import annotations

import json
import sys

import click
from flask import current_app

from ..db import session_scope
from ..errors import FinderError
from ..search import get_backend
from . import duplicates
from .accounts import create_account, list_accounts, new_email
from .models import Role


def _read_password() -> str:
    """Ask for the password at a terminal (hidden, twice), else read one line of stdin, so it
    never appears in the command line, where other users of the machine can see it."""
    if sys.stdin.isatty():
        password: str = click.prompt("Password", hide_input=True, confirmation_prompt=True)
        return password
    return sys.stdin.readline().rstrip("\r\n")


@click.group("users")
def users_group() -> None:
    """Manage the accounts of moderators and admins."""


@users_group.command("create")
@click.argument("email")
@click.option("--role", type=click.Choice([role.value for role in Role]),
              default=Role.MODERATOR.value, show_default=True,
              help="A moderator reviews submissions; an admin may also manage the site.")
def create_command(email: str, role: str) -> None:
    """Add an account; the password is asked for (or read from stdin when piped)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    with session_scope(app) as session:
        try:
            new_email(session, email)  # before the password is typed for nothing
            account = create_account(session, email, _read_password(), Role(role))
        except FinderError as exc:
            raise click.ClickException(exc.message) from exc
        session.commit()
        click.echo(f"account {account.id}: {account.email}, {account.role.value}")


@users_group.command("list")
def list_command() -> None:
    """List the accounts: number, e-mail, role, when made and last logged in."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    with session_scope(app) as session:
        accounts = list_accounts(session)
        if not accounts:
            click.echo("no accounts yet: add one with `finder users create EMAIL --role admin`")
        for account in accounts:
            last = (f"last login {account.last_login_at:%Y-%m-%d %H:%M} UTC"
                    if account.last_login_at else "never logged in")
            click.echo(f"{account.id}  {account.email}  {account.role.value}  "
                       f"made {account.created_at:%Y-%m-%d}  {last}")


# -- finder duplicates -----------------------------------------------------------------------

# Who the history names for a change made at the command line.
COMMAND_LINE = "command line"
SHARED_SHOWN = 10  # widely shared values noted in the text listing


def _echo_scan(scan: duplicates.Scan) -> None:
    for pair in scan.pairs:
        click.echo(f"{pair.first.id} {pair.first.name} ({_place(pair.first)})  <->  "
                   f"{pair.second.id} {pair.second.name} ({_place(pair.second)})")
        click.echo(f"    {'; '.join(pair.reasons)}")
    if len(scan.pairs) < scan.total:
        click.echo(f"... {scan.total - len(scan.pairs)} more pair(s): raise --limit to see them")
    if not scan.total:
        click.echo("no likely duplicates")
    noted = scan.shared[:SHARED_SHOWN]
    for shared in noted:
        ids = ", ".join(str(number) for number in shared.ids)
        more = ", ..." if shared.count > len(shared.ids) else ""
        click.echo(f"note: {shared.text()} (listings {ids}{more}): not paired")
    if scan.shared_total > len(noted):
        click.echo(f"note: {scan.shared_total - len(noted)} more values are shared by more "
                   f"than {duplicates.GROUP_LIMIT} listings each (see --json)")


def _place(listed: duplicates.Listed) -> str:
    return ", ".join(part for part in (listed.city, listed.region) if part) or "no city"


_json_option = click.option("--json", "as_json", is_flag=True,
                            help="Print JSON: {total, pairs: [{first, second, reasons}], "
                                 "shared_total, shared: [{rule, value, count, ids}]}.")
_limit_option = click.option("--limit", type=click.IntRange(1), default=None,
                             help="Show at most this many pairs (strongest first), and of "
                                  "widely shared values.")


@click.group("duplicates", invoke_without_command=True)
@_json_option
@_limit_option
@click.pass_context
def duplicates_group(ctx: click.Context, as_json: bool, limit: int | None) -> None:
    """List likely duplicate listings (the same NPI, phone or website, or a name alike
    within 0.5 km), merge one into another, or mark two as distinct."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(list_duplicates_command, as_json=as_json, limit=limit)


@duplicates_group.command("list")
@_json_option
@_limit_option
def list_duplicates_command(as_json: bool, limit: int | None) -> None:
    """List likely duplicate pairs with their ids, names and reasons, strongest first."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    with session_scope(app) as session:
        scan = duplicates.find_duplicates(session, limit)
    if as_json:
        click.echo(json.dumps(scan.as_json(), ensure_ascii=False, indent=2))
    else:
        _echo_scan(scan)


@duplicates_group.command("merge")
@click.argument("keep", type=int)
@click.argument("duplicate", type=int)
def merge_command(keep: int, duplicate: int) -> None:
    """Merge listing DUPLICATE into listing KEEP: DUPLICATE is unpublished (never deleted)
    and its profile leads to KEEP, which takes the details it lacks."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    with session_scope(app) as session:
        try:
            kept = duplicates.get_listing(session, keep)
            merged = duplicates.get_listing(session, duplicate)
            taken = duplicates.merge_listings(session, kept, merged, COMMAND_LINE)
        except FinderError as exc:
            raise click.ClickException(exc.message) from exc
        session.commit()
        click.echo(f"merged {merged.id} ({merged.name}) into {kept.id} ({kept.name}); "
                   f"took: {', '.join(taken) or 'nothing new'}")
    click.echo(f"indexed {get_backend().catch_up()} change(s)")


@duplicates_group.command("distinct")
@click.argument("first", type=int)
@click.argument("second", type=int)
def distinct_command(first: int, second: int) -> None:
    """Mark listings FIRST and SECOND as not duplicates: never proposed again."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    with session_scope(app) as session:
        try:
            marked = duplicates.mark_distinct(session, duplicates.get_listing(session, first),
                                              duplicates.get_listing(session, second), None)
        except FinderError as exc:
            raise click.ClickException(exc.message) from exc
        session.commit()
    click.echo(f"{first} and {second} are distinct" + ("" if marked else " (already marked)"))
