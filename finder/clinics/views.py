"""Clinics' pages: add a listing (checked and placed before it is sent)."""

from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from .. import csv_listing
from ..db import get_session
from ..document import InvalidListing
from ..errors import InvalidInput
from ..geocode import get_geocoder
from ..security import get_rate_limits
from . import submissions
from .forms import ListingForm
from .submissions import Placement

bp = Blueprint("clinics", __name__)


def check_form(form: ListingForm) -> tuple[dict[str, object] | None, Placement | None]:
    """Read the form as a listing document and place it; put every error by its field."""
    data, unreadable = form.document()
    form.show_errors(unreadable)
    placement = None
    try:
        _, placement = submissions.check(data, get_geocoder(),
                                         current_app.config["DEFAULT_COUNTRY"],
                                         rename=csv_listing.column_of)
    except InvalidListing as exc:
        form.show_errors(exc.fields)
    except InvalidInput as exc:  # the address could not be placed
        form.show_errors([("postcode", exc.message.removeprefix("address: "))])
    if placement is None or unreadable:
        return None, placement
    if not form.latitude.data and placement.precision != "point":
        # Shown, so the clinic can see where the pin is and move it.
        form.latitude.data, form.longitude.data = f"{placement.lat:.6f}", f"{placement.lon:.6f}"
    return data, placement


@bp.route("/submit", methods=["GET", "POST"])
def submit() -> str | tuple[str, int] | BaseResponse:
    """Add a listing: check it and show where it was placed, then send it for review."""
    form = ListingForm()
    if not form.is_submitted():
        form.country.data = form.country.data or current_app.config["DEFAULT_COUNTRY"]
        return render_template("clinics/submit.html", form=form, placement=None)
    if not form.validate():  # the CSRF token, lengths
        return render_template("clinics/submit.html", form=form, placement=None), 400
    if form.is_bot():
        return redirect(url_for(".submitted"), 303)  # told nothing, given nothing
    data, placement = check_form(form)
    email = ""
    if form.send.data:
        try:
            email = submissions.owner_email(form.owner_email.data or "")
        except InvalidInput as exc:
            form.show_errors([("owner_email", exc.message.removeprefix("owner_email: "))])
    if data is not None and email:
        get_rate_limits().enforce(current_app.config["SUBMIT_RATE_LIMIT"], "submit",
                                  request.remote_addr or "unknown", what=" submissions")
        session = get_session()
        submissions.submit(session, data, email, get_geocoder(),
                           current_app.config["DEFAULT_COUNTRY"])
        session.commit()
        return redirect(url_for(".submitted"), 303)
    status = 400 if form.errors or form.form_errors else 200
    return render_template("clinics/submit.html", form=form, placement=placement), status


@bp.get("/submit/thanks")
def submitted() -> str:
    """Say what happens next."""
    return render_template(
        "clinics/thanks.html", heading="Thank you: your listing is waiting for review",
        lines=["A moderator checks every listing before it is published, usually within two "
               "working days.",
               "We will e-mail you when it is live, with a private link to change it later."])
