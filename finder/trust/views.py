"""Patients' reports: the form behind every profile's "Report incorrect information" link,
and the moderators' page that resolves a report. The JSON twin of the form is
``POST /api/v1/listings/<id>/reports`` (in ``api``, whose blueprint takes no cookies)."""

from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from werkzeug.exceptions import TooManyRequests
from werkzeug.wrappers import Response

from ..clinics.views import link_to_edit
from ..db import get_session
from ..errors import InvalidInput
from ..listings import MAX_ID, get_published
from ..mail import deliver_soon
from ..models import Location
from ..moderation.forms import LogoutForm
from ..moderation.views import current_account, login_required
from ..search import get_backend
from ..security import get_rate_limits
from . import messages, reports
from .forms import ReportForm, ResolveForm
from .models import PatientReport, ReportStatus

bp = Blueprint("trust", __name__)


@bp.after_request
def _not_stored(response: Response) -> Response:
    """Keep the pages (a form with its token, a moderator's view of a report) out of caches."""
    response.headers["Cache-Control"] = "no-store"
    return response


def receive(location_id: int, problem: object, note: object, email: object) -> PatientReport:
    """Take a report on a published listing from this request's client (form or API): check
    it, count it against the client's limit, store it, and tell the listing's owner."""
    session = get_session()
    get_published(session, location_id)  # a listing patients cannot see cannot be reported
    checked = reports.check(problem, note, email)
    address = request.remote_addr or "unknown"
    get_rate_limits().enforce(current_app.config["REPORT_RATE_LIMIT"], "report", address,
                              what=" reports")
    location = session.get(Location, location_id)
    assert location is not None  # published a moment ago
    was_flagged = location.flagged_at is not None
    report, first = reports.take(session, location, checked, reports.reporter_digest(
        current_app.config["SECRET_KEY"], address))
    if first and location.owner_email:
        messages.report_to_owner(
            session, location.owner_email, location.name, report.problem, report.note,
            link_to_edit(location, location.owner_email), current_app.config["OWNER_LINK_DAYS"],
            url_for("clinics.manage", _external=True))
    session.commit()
    if (location.flagged_at is not None) != was_flagged:
        get_backend().catch_up()  # ranked as out of date at once
    deliver_soon(current_app._get_current_object())  # type: ignore[attr-defined]
    return report


def limit_text(description: str) -> str:
    """The limit a client reached, in words: "5 reports an hour"."""
    item = g.get("rate_limit", (None,))[0]
    if item is None:
        return description
    period = item.GRANULARITY.name
    per = f"an {period}" if period == "hour" else f"a {period}"
    if item.multiples != 1:
        per = f"every {item.multiples} {period}s"
    return f"{item.amount} reports {per}"


@bp.route("/providers/<int:location_id>/report", methods=["GET", "POST"])
def report(location_id: int) -> str | tuple[str, int] | Response:
    """Show the form to report wrong information on a listing, and take it."""
    listing = get_published(get_session(), location_id)
    form = ReportForm()
    if not form.is_submitted():
        return _form_page(form, listing)
    problem, status = "", 400
    if not form.validate():  # the CSRF token
        problem = "This form has expired. Please choose what is wrong and send it again."
    elif form.is_bot():
        return redirect(url_for(".reported", location_id=location_id), 303)
    else:
        try:
            receive(location_id, form.problem.data, form.note.data, form.email.data)
        except reports.InvalidReport as exc:
            form.show_errors(exc.fields)
        except TooManyRequests as exc:
            problem = (f"Thank you, but this connection has sent as many reports as we take "
                       f"for now ({limit_text(exc.description or '')}). Please try again "
                       "later.")
            status = 429
        else:
            return redirect(url_for(".reported", location_id=location_id), 303)
    return _form_page(form, listing, problem), status


def _form_page(form: ReportForm, listing: object, problem: str = "") -> str:
    return render_template("trust/report.html", form=form, listing=listing, problem=problem,
                           note_length=reports.NOTE_LENGTH)


@bp.get("/providers/<int:location_id>/report/thanks")
def reported(location_id: int) -> str:
    """Say what happens to a report."""
    listing = get_published(get_session(), location_id)
    return render_template("trust/thanks.html", listing=listing)


@bp.app_template_filter("age")
def _age(moment: object) -> str:
    return reports.age(moment)  # type: ignore[arg-type]


@bp.route("/moderation/reports/<int:report_id>", methods=["GET", "POST"])
@login_required()
def resolve(report_id: int) -> str | tuple[str, int] | Response:
    """Show a patient's report with the listing's others, and resolve it: fixed or
    dismissed, with a message for the history and the patient."""
    session, account = get_session(), current_account()
    assert account is not None  # login_required
    item = session.get(PatientReport, report_id) if report_id < MAX_ID else None
    if item is None:
        abort(404)
    location = session.get(Location, item.location_id)
    assert location is not None  # a report's listing is never deleted
    form, problem = ResolveForm(), ""
    if request.method == "POST":
        outcome = ReportStatus.FIXED if form.fixed.data else ReportStatus.DISMISSED
        if not form.validate_on_submit():
            problem = "The form expired: please try again."
        elif not (form.fixed.data or form.dismissed.data):
            problem = "Choose Fixed or Dismiss."
        else:
            was_flagged = location.flagged_at is not None
            try:
                reports.resolve(session, item, outcome, account.id, account.email,
                                form.message.data or "")
            except InvalidInput as exc:
                session.rollback()
                problem = exc.message
            else:
                if item.email:
                    messages.report_resolved(session, item.email, location.name, outcome,
                                             item.resolution)
                session.commit()
                if (location.flagged_at is not None) != was_flagged:
                    get_backend().catch_up()  # no longer ranked as out of date
                deliver_soon(current_app._get_current_object())  # type: ignore[attr-defined]
                told = " and told the patient" if item.email else ""
                flash(f"Report on {location.name} {outcome.value}{told}.")
                return redirect(url_for("moderation.index"))
    return render_template(
        "trust/resolve.html", item=item, location=location, form=form, problem=problem,
        labels=reports.PROBLEM_LABELS, others=[other for other in reports.reports_of(
            session, location.id) if other.id != item.id],
        reporters=reports.independent_reports(session, location.id),
        account=account, logout_form=LogoutForm()), 400 if problem else 200
