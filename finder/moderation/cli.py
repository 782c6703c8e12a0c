"""`finder users`: make and list the accounts of moderators and admins."""

from __future__ import annotations

import sys

import click
from flask import current_app

from ..db import session_scope
from ..errors import FinderError
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
