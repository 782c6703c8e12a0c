"""The moderation area's pages: login, logout and the landing page, for operators only."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from functools import wraps
from typing import ParamSpec, TypeVar
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from werkzeug.wrappers import Response

from ..db import get_session
from .accounts import LoginAttempts, authenticate
from .forms import LoginForm, LogoutForm
from .models import Account, Role

bp = Blueprint("moderation", __name__)

P = ParamSpec("P")
R = TypeVar("R")
# What the signed session cookie holds for a login: the account and a value drawn at login.
ACCOUNT_KEY = "account"
LOGIN_KEY = "login"


def current_account() -> Account | None:
    """Return the logged-in account of this request, or None."""
    if "moderation_account" not in g:
        account_id = session.get(ACCOUNT_KEY)
        logged_in = isinstance(account_id, int) and bool(session.get(LOGIN_KEY))
        # Read from the database each time: a removed account is logged out at once.
        g.moderation_account = get_session().get(Account, account_id) if logged_in else None
    account_or_none: Account | None = g.moderation_account
    return account_or_none


def safe_next(target: str | None) -> str | None:
    """Return ``target`` when it is a path on this site, None otherwise (another host, a
    scheme, or a path that browsers would read as another host)."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return None
    # Browsers read "\" as "/" ("/\\evil.example" is another host) and drop tabs and newlines.
    if "\\" in target or any(ord(char) < 32 or ord(char) == 127 for char in target):
        return None
    parts = urlsplit(target)
    return None if parts.scheme or parts.netloc else target


def login_required(
        role: Role | None = None) -> Callable[[Callable[P, R]], Callable[P, R | Response]]:
    """Send anonymous visitors to the login page (and back here after it); answer 403 to an
    account without ``role`` (an admin has every role)."""

    def decorate(view: Callable[P, R]) -> Callable[P, R | Response]:
        @wraps(view)
        def guarded(*args: P.args, **kwargs: P.kwargs) -> R | Response:
            account = current_account()
            if account is None:
                here = request.full_path.rstrip("?")
                return redirect(url_for("moderation.login_page", next=here))
            if role is not None and account.role not in (role, Role.ADMIN):
                abort(403)
            return view(*args, **kwargs)

        return guarded

    return decorate


@bp.after_request
def _not_stored(response: Response) -> Response:
    """Keep the area's pages (an operator's, or a form with its token) out of caches."""
    response.headers["Cache-Control"] = "no-store"
    return response


def _attempts() -> LoginAttempts:
    return LoginAttempts(current_app.extensions["finder.rate_limits"].counter)


@bp.get("/login")
def login_page() -> str | Response:
    """Show the login form (or go on to the moderation area when already logged in)."""
    if current_account() is not None:
        return redirect(safe_next(request.args.get("next")) or url_for("moderation.index"))
    return _login_form(LoginForm(), None)


def _login_form(form: LoginForm, error: str | None) -> str:
    return render_template("moderation/login.html", form=form, error=error,
                           next=safe_next(request.args.get("next")))


@bp.post("/login")
def login() -> tuple[str, int] | Response:
    """Log in: check the form, the number of recent failures, then the password."""
    form = LoginForm()

    def again(error: str | None, status: int = 200) -> tuple[str, int]:
        # The e-mail typed stays in the form; a password field is never filled back in.
        return _login_form(form, error), status

    if not form.validate_on_submit():
        return again(None)
    email, password = form.email.data, form.password.data
    address = request.remote_addr or "unknown"
    attempts = _attempts()
    refusal = attempts.refusal(email, address)
    if refusal is not None:
        # The response's rate-limit headers (Retry-After among them) then tell of this limit.
        g.rate_limit = (refusal.item, *refusal.identifiers)
        unit = "minute" if refusal.minutes == 1 else "minutes"
        return again(f"Too many attempts; try again in {refusal.minutes} {unit}.", 429)
    database = get_session()
    account = authenticate(database, email, password)
    if account is None:
        attempts.failed(email, address)
        return again("The e-mail or the password is wrong.")
    database.commit()
    attempts.succeeded(email)
    # A new session for the login: nothing from before it (a planted cookie, the anonymous
    # form token) carries over.
    session.clear()
    session[ACCOUNT_KEY] = account.id
    session[LOGIN_KEY] = secrets.token_urlsafe(16)
    session.permanent = True
    return redirect(safe_next(request.args.get("next")) or url_for("moderation.index"))


@bp.post("/logout")
def logout() -> Response:
    """Log out and go back to the login page."""
    session.clear()
    flash("You are logged out.")
    return redirect(url_for("moderation.login_page"))


@bp.get("/moderation")
@login_required()
def index() -> str:
    """Show the moderation area's landing page: who is logged in, and with what role."""
    return render_template("moderation/index.html", account=current_account(),
                           logout_form=LogoutForm())

