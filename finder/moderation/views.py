"""The moderation area's pages, for operators only: login and logout, the queue of
submissions, listings, likely duplicates, the outbox and partners."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from functools import wraps
from typing import Any, ParamSpec, TypeVar
from urllib.parse import urlsplit

import sqlalchemy as sa
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

from ..clinics import messages, submissions
from ..clinics.models import Kind, Submission
from ..clinics.views import link_to_edit
from ..db import get_session
from ..errors import FinderError, InvalidInput
from ..geocode import get_geocoder
from ..listings import MAX_ID
from ..mail import deliver_soon
from ..models import Actor, Location, OutboxMessage
from ..partners import counts as partner_counts
from ..partners.models import Partner
from ..partners.views import number_arg
from ..search import get_backend
from ..trust import confirmations, nppes, reminders
from ..trust import reports as patient_reports
from ..trust.models import NppesRecord
from ..trust.verification import Policy, today, verified_on
from . import duplicates
from .accounts import LoginAttempts, authenticate
from .forms import DecisionForm, DuplicateForm, LoginForm, LogoutForm, PairForm, PublishForm
from .models import Account, Role

bp = Blueprint("moderation", __name__)
RECENT = 100  # sent e-mails shown
PAIRS_SHOWN = 50  # likely duplicate pairs on a page, strongest first
STATS_DAYS = 30

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
    """Show the queue: the submissions waiting, oldest first, with likely duplicates, and
    the open reports from patients."""
    session = get_session()
    waiting = submissions.pending(session)
    duplicates = {item.id: submissions.likely_duplicates(
        session, item, get_geocoder(), current_app.config["DEFAULT_COUNTRY"])
        for item in waiting if item.kind is Kind.NEW}
    return render_template("moderation/index.html", account=current_account(),
                           logout_form=LogoutForm(), waiting=waiting, duplicates=duplicates,
                           names=_names(session, waiting),
                           reports=patient_reports.open_reports(session),
                           report_labels=patient_reports.PROBLEM_LABELS)


@bp.app_template_filter("shown")
def _shown(value: Any) -> str:
    return submissions.shown(value)


def _names(session: Any, items: list[Submission]) -> dict[int, str]:
    """Each submission's listing name: the one sent, or the listing's it changes."""
    names = {}
    for item in items:
        name = item.document.get("name")
        if not name and item.location_id is not None:
            location = session.get(Location, item.location_id)
            name = location.name if location is not None else ""
        names[item.id] = str(name or "(no name)")
    return names


def _submission(submission_id: int) -> Submission:
    found = get_session().get(Submission, submission_id) if submission_id < MAX_ID else None
    if found is None:
        abort(404)
    return found


@bp.route("/moderation/submissions/<int:submission_id>", methods=["GET", "POST"])
@login_required()
def submission(submission_id: int) -> str | tuple[str, int] | Response:
    """Show one submission (what it changes, field by field; likely duplicates) and take
    the moderator's decision."""
    session = get_session()
    item = _submission(submission_id)
    form, duplicate_form = DecisionForm(), DuplicateForm()
    problem = ""
    if request.method == "POST":
        deciding = form.approve.data or form.ask.data or form.reject.data
        chosen = form if deciding else duplicate_form
        try:
            if chosen.validate_on_submit():
                return _decide(item, form) if deciding else _duplicate(item, duplicate_form)
            problem = next((message for errors in chosen.errors.values() for message in errors
                            if "CSRF" not in message), "The form expired: please try again.")
        except InvalidInput as exc:
            session.rollback()
            problem = exc.message
    location = session.get(Location, item.location_id) if item.location_id else None
    return render_template(
        "moderation/submission.html", item=item, form=form, duplicate_form=duplicate_form,
        problem=problem, location=location, name=_names(session, [item])[item.id],
        changes=submissions.proposed_changes(session, item) if item.kind is not Kind.CLAIM
        else {},
        duplicates=submissions.likely_duplicates(session, item, get_geocoder(),
                                                 current_app.config["DEFAULT_COUNTRY"])
        if item.kind is Kind.NEW else [],
        history=submissions.history(session, item.location_id) if item.location_id else [],
        domain_matches=item.kind is Kind.CLAIM and location is not None
        and submissions.same_domain(item.owner_email, location.website),
        account=current_account(), logout_form=LogoutForm()), 400 if problem else 200


def _decide(item: Submission, form: DecisionForm) -> Response:
    session, account = get_session(), current_account()
    assert account is not None  # login_required
    message = (form.message.data or "").strip()
    country = current_app.config["DEFAULT_COUNTRY"]
    name = _names(session, [item])[item.id]
    if form.approve.data:
        location = submissions.approve(session, item, account.id, account.email,
                                       get_geocoder(), country)
        link = link_to_edit(location, item.owner_email)
        days = current_app.config["OWNER_LINK_DAYS"]
        if item.kind is Kind.CLAIM:
            messages.owner_link(session, item.owner_email, location.name, link, days)
        else:
            messages.approved(session, item.owner_email, location.name, link, days)
        done = f"Approved: {location.name} is live."
    elif form.ask.data:
        submissions.request_changes(session, item, account.id, message)
        listed = session.get(Location, item.location_id) if item.location_id else None
        private = listed is not None and listed.owner_email == item.owner_email
        link = (link_to_edit(listed, item.owner_email) if private and listed is not None
                else url_for("clinics.submit", _external=True))
        messages.changes_requested(session, item.owner_email, name, message, link, private)
        done = f"Asked {item.owner_email} for changes to {name}."
    else:
        submissions.reject(session, item, account.id, message)
        if item.kind is Kind.CLAIM:
            messages.claim_rejected(session, item.owner_email, name, message)
        else:
            messages.rejected(session, item.owner_email, name, message)
        done = f"Rejected: {name}."
    session.commit()
    get_backend().catch_up()  # searchable now, not at the next search's check
    deliver_soon(current_app._get_current_object())  # type: ignore[attr-defined]
    flash(done)
    return redirect(url_for("moderation.index"))


def _duplicate(item: Submission, form: DuplicateForm) -> Response:
    session, account = get_session(), current_account()
    assert account is not None  # login_required
    target = number_arg(str(form.location_id.data or "")) or 0
    if session.get(Location, target) is None:
        raise InvalidInput("That listing no longer exists.")
    if form.merge.data:
        location = submissions.merge(session, item, target, account.id, account.email,
                                     get_geocoder(), current_app.config["DEFAULT_COUNTRY"])
        messages.approved(session, item.owner_email, location.name,
                          link_to_edit(location, item.owner_email),
                          current_app.config["OWNER_LINK_DAYS"])
        done = f"Merged into {location.name}."
        session.commit()
        get_backend().catch_up()
        deliver_soon(current_app._get_current_object())  # type: ignore[attr-defined]
        flash(done)
        return redirect(url_for("moderation.index"))
    submissions.not_a_duplicate(item, target)
    session.commit()
    return redirect(url_for("moderation.submission", submission_id=item.id))


@bp.route("/moderation/duplicates", methods=["GET", "POST"])
@login_required()
def duplicate_pairs() -> str | tuple[str, int] | Response:
    """Show the likely duplicate pairs of the directory side by side, with why; merge one
    into the other, or mark them as not duplicates."""
    session, account = get_session(), current_account()
    assert account is not None  # login_required
    form, problem = PairForm(), ""
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                done = _decide_pair(session, account, form)
            except FinderError as exc:
                session.rollback()
                problem = exc.message
            else:
                session.commit()
                get_backend().catch_up()  # the duplicate leaves search at once
                flash(done)
                return redirect(url_for("moderation.duplicate_pairs"))
        else:
            problem = "The form expired: please try again."
    scan = duplicates.find_duplicates(session, PAIRS_SHOWN)
    return render_template("moderation/duplicates.html", scan=scan, form=form,
                           problem=problem, group_limit=duplicates.GROUP_LIMIT, account=account,
                           logout_form=LogoutForm()), 400 if problem else 200


def _decide_pair(session: Any, account: Account, form: PairForm) -> str:
    """Merge or mark the pair the form names; return what was done, for the moderator."""
    ids = [number_arg(str(value or "")) for value in (form.first.data, form.second.data)]
    if None in ids:
        raise InvalidInput("Choose two listings.")
    first, second = (duplicates.get_listing(session, number or 0) for number in ids)
    if form.distinct.data:
        duplicates.mark_distinct(session, first, second, account.id)
        return f"{first.name} ({first.id}) and {second.name} ({second.id}) are not " \
               "duplicates: they will not be proposed again."
    kept_id = number_arg(str(form.keep.data or ""))
    if kept_id not in (first.id, second.id):
        raise InvalidInput("Choose which of the two listings to keep.")
    keep, duplicate = (first, second) if kept_id == first.id else (second, first)
    duplicates.merge_listings(session, keep, duplicate, account.email)
    return f"Merged {duplicate.name} ({duplicate.id}) into {keep.name} ({keep.id})."



@bp.get("/moderation/outbox")
@login_required(Role.ADMIN)
def outbox() -> str:
    """Show the e-mails waiting and the latest ones sent (admins)."""
    session = get_session()
    waiting = session.scalars(sa.select(OutboxMessage).where(OutboxMessage.sent_at.is_(None))
                              .order_by(OutboxMessage.id)).all()
    sent = session.scalars(sa.select(OutboxMessage).where(OutboxMessage.sent_at.is_not(None))
                           .order_by(OutboxMessage.sent_at.desc()).limit(RECENT)).all()
    return render_template("moderation/outbox.html", waiting=waiting, sent=sent,
                           account=current_account(), logout_form=LogoutForm())


@bp.get("/moderation/partners")
@login_required(Role.ADMIN)
def partners() -> str:
    """Show the partners and their counts over the last 30 days (admins)."""
    session = get_session()
    rows = [(partner, partner_counts.stats(session, partner.id, STATS_DAYS))
            for partner in session.scalars(sa.select(Partner).order_by(Partner.id))]
    return render_template("moderation/partners.html", rows=rows, days=STATS_DAYS,
                           account=current_account(), logout_form=LogoutForm())


@bp.get("/moderation/listings")
@login_required()
def listings() -> str:
    """Find a listing by name or id, published or not; or list those whose NPI the registry
    did not confirm (``npi=problems``), or that were made from it (``npi=registry``)."""
    text, which = request.args.get("q", "")[:200], request.args.get("npi", "")
    if which == "problems":
        found = nppes.problems(get_session())[0]
    elif which == "registry":
        found = nppes.waiting_for_review(get_session())
    else:
        which = ""
        found = submissions.find_listings(get_session(), text) if text.strip() else []
    return render_template("moderation/listings.html", text=text, found=found, which=which,
                           account=current_account(), logout_form=LogoutForm())


@bp.route("/moderation/listings/<int:location_id>", methods=["GET", "POST"])
@login_required()
def listing(location_id: int) -> str | tuple[str, int] | Response:
    """Show a listing's status, owner and history; unpublish it or publish it again."""
    session, account = get_session(), current_account()
    assert account is not None  # login_required
    location = session.get(Location, location_id) if location_id < MAX_ID else None
    if location is None:
        abort(404)
    form, problem = PublishForm(), ""
    if form.validate_on_submit() and form.verified.data:
        confirmations.confirm(session, location, today(), Actor.MODERATOR, account.email,
                              (form.reason.data or "").strip() or "verified by a moderator")
        session.commit()
        get_backend().catch_up()  # its freshness (or its return) searchable at once
        flash(f"{location.name} is verified as of today.")
        return redirect(url_for("moderation.listing", location_id=location.id))
    if form.validate_on_submit() and (form.unpublish.data or form.publish.data):
        try:
            submissions.set_published(session, location, bool(form.publish.data),
                                      account.email, form.reason.data or "")
        except InvalidInput as exc:
            problem = exc.message
        else:
            session.commit()
            get_backend().catch_up()  # out of (or back in) search at once
            flash(f"{location.name} is {location.status.value} now.")
            return redirect(url_for("moderation.listing", location_id=location.id))
    elif request.method == "POST":
        problem = "The form expired: please try again."
    policy, day = Policy.of(current_app.config), today()
    since = verified_on(location.last_verified, location.created_at)
    registry = session.get(NppesRecord, location.npi) if location.npi else None
    return render_template("moderation/listing.html", location=location, form=form,
                           problem=problem, history=submissions.history(session, location.id),
                           verified_on=since, stale_from=policy.stale_from(since),
                           state=policy.state_of(location, day),
                           registry=registry,
                           account=account, logout_form=LogoutForm()), 400 if problem else 200


@bp.get("/moderation/verification")
@login_required()
def verification() -> str:
    """The listings due or stale that have no owner e-mail to ask: for moderators to call."""
    policy, day = Policy.of(current_app.config), today()
    rows = [(location, policy.state_of(location, day),
             verified_on(location.last_verified, location.created_at))
            for location in reminders.to_call(get_session(), policy, day)]
    return render_template("moderation/verification.html", rows=rows,
                           account=current_account(), logout_form=LogoutForm())
