"""Clinics' pages: add a listing (checked and placed before it is sent), ask for an owner
link, change a listing through it, and claim a listing an import made."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, current_app, redirect, render_template, request, url_for
from sqlalchemy.exc import IntegrityError
from werkzeug.wrappers import Response as BaseResponse

from .. import csv_listing, geo, maps
from ..db import get_session
from ..document import InvalidListing
from ..errors import InvalidInput
from ..geocode import get_geocoder
from ..listings import document_json, get_published
from ..mail import deliver_soon
from ..models import Actor, ListingChange, Location, Status
from ..security import get_rate_limits
from ..trust import confirmations
from ..trust.verification import today
from . import messages, owners, submissions
from .forms import PRACTITIONERS_HINT, ConfirmForm, EmailForm, ListingForm
from .models import Kind, Submission
from .submissions import Placement

bp = Blueprint("clinics", __name__)


@bp.after_request
def _not_stored(response: BaseResponse) -> BaseResponse:
    """Keep the clinics' pages out of caches: an owner's page holds their listing's private
    link and form token."""
    response.headers["Cache-Control"] = "no-store"
    return response


def check_form(form: ListingForm) -> tuple[dict[str, object] | None, Placement | None]:
    """Read the form as a listing document and place it; put every error by its field."""
    data, unreadable = form.document()
    form.show_errors(unreadable)
    placement = None
    try:
        _, placement = submissions.check(data, get_geocoder(),
                                         current_app.config["DEFAULT_COUNTRY"],
                                         rename=csv_listing.column_of)
    except InvalidListing as exc:  # bad fields, or an address that cannot be placed
        form.show_errors(exc.fields)
    if placement is None or unreadable:
        return None, placement
    return data, placement


def _page(template: str, form: ListingForm, placement: Placement | None,
          status: int = 200, **context: object) -> tuple[str, int]:
    """Render a listing form, with the map of where the clinic was placed when it was."""
    placement_map = None
    if placement is not None:
        placement_map = maps.for_placement(
            placement.lat, placement.lon, form.name.data or "",
            current_app.config["MAP_TILE_URL"],
            geo.default_unit(form.country.data or current_app.config["DEFAULT_COUNTRY"]))
    return render_template(template, form=form, placement=placement,
                           placement_map=placement_map, practitioners_hint=PRACTITIONERS_HINT,
                           **context), status


@bp.route("/submit", methods=["GET", "POST"])
def submit() -> str | tuple[str, int] | BaseResponse:
    """Add a listing: check it and show where it was placed, then send it for review."""
    form = ListingForm()
    if not form.is_submitted():
        form.country.data = form.country.data or current_app.config["DEFAULT_COUNTRY"]
        return _page("clinics/submit.html", form, None)
    if not form.validate():  # the CSRF token, lengths
        return _page("clinics/submit.html", form, None, 400)
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
    return _page("clinics/submit.html", form, placement,
                 400 if form.errors or form.form_errors else 200)


@bp.get("/submit/thanks")
def submitted() -> str:
    """Say what happens next."""
    return render_template(
        "clinics/thanks.html", heading="Thank you: your listing is waiting for review",
        lines=["A moderator checks every listing before it is published, usually within two "
               "working days.",
               "We will e-mail you when it is live, with a private link to change it later."])


def link_to_edit(location: Location, email: str, claim: bool = False) -> str:
    """A new private link for the owner (or a claimant) to change this listing."""
    token = owners.make_token(current_app.config["SECRET_KEY"], location.id, email, claim)
    return url_for("clinics.edit", token=token, _external=True)


def _limit(what: str) -> None:
    get_rate_limits().enforce(current_app.config["SUBMIT_RATE_LIMIT"], what,
                              request.remote_addr or "unknown", what=f" {what} requests")


def _email(form: EmailForm) -> str:
    try:
        return submissions.owner_email(form.email.data or "")
    except InvalidInput as exc:
        form.email.errors = [exc.message.removeprefix("owner_email: ")]
        return ""


@bp.route("/manage", methods=["GET", "POST"])
def manage() -> str | tuple[str, int]:
    """Ask for a new owner link by e-mail; the answer is the same whether or not the address
    owns a listing, so the page tells no one who does."""
    form = EmailForm()
    if not form.is_submitted():
        return render_template("clinics/manage.html", form=form)
    email = _email(form) if form.validate() else ""
    if not email:
        return render_template("clinics/manage.html", form=form), 400
    if not form.is_bot():
        _limit("manage")
        session = get_session()
        days = current_app.config["OWNER_LINK_DAYS"]
        for location in session.scalars(sa.select(Location).where(
                sa.func.lower(Location.owner_email) == email.lower(),
                sa.or_(Location.status == Status.PUBLISHED,
                       Location.unpublished_reason == confirmations.UNVERIFIED))):
            messages.owner_link(session, email, location.name, link_to_edit(location, email),
                                days)
        session.commit()
        deliver_soon(current_app._get_current_object())  # type: ignore[attr-defined]
    return render_template(
        "clinics/thanks.html", heading="Check your e-mail",
        lines=[f"If {email} owns a listing here, a private link to change it is on its way.",
               "It can take a few minutes. Nothing came? Check the spam folder, or the "
               "address your listing was sent with."])


@bp.route("/manage/<token>", methods=["GET", "POST"])
def edit(token: str) -> str | tuple[str, int] | BaseResponse:
    """Change a listing through its owner's private link; a moderator checks the change."""
    session = get_session()
    link = owners.read_token(session, current_app.config["SECRET_KEY"], token,
                             current_app.config["OWNER_LINK_DAYS"])
    location = session.get(Location, link.location_id)
    if location is None or not confirmations.editable(location):
        raise owners.InvalidLink("This listing is not published now, so it cannot be "
                                 "changed here. Write to the directory to have it back.")
    claiming = link.claim and not location.owner_email
    if not claiming and location.owner_email.lower() != link.email.lower():
        raise owners.InvalidLink("This link is not valid. Ask for a new one on the Manage "
                                 "page.")
    form = ListingForm()
    listed = document_json(location)
    form.known = {person["name"].casefold(): person for person in listed["practitioners"]}
    history = submissions.history(session, location.id)
    if not form.is_submitted():
        form.fill(listed)
        return _page("clinics/edit.html", form, None, location=location, history=history)
    if not form.validate():
        return _page("clinics/edit.html", form, None, 400, location=location, history=history)
    data, placement = check_form(form)
    if data is not None and form.send.data:
        if claiming:  # the claimant read the link sent to the clinic's own domain
            location.owner_email = link.email
            session.add(ListingChange(location_id=location.id, actor_kind=Actor.OWNER,
                                      changes={}, note="claimed through the clinic's domain"))
        submissions.submit(session, data, link.email, get_geocoder(),
                           current_app.config["DEFAULT_COUNTRY"], location=location,
                           changed=form.changes(listed))
        owners.spend(session, link)
        try:
            session.commit()
        except IntegrityError:  # the same link sent twice at once
            session.rollback()
            raise owners.InvalidLink("This link has been used already. Ask for a new one on "
                                     "the Manage page.", code="used_link") from None
        return redirect(url_for(".changed"), 303)
    return _page("clinics/edit.html", form, placement,
                 400 if form.errors or form.form_errors else 200, location=location,
                 history=history)


@bp.route("/verify/<token>", methods=["GET", "POST"])
def confirm(token: str) -> str:
    """Confirm that a listing is still correct: the link's page shows the listing, and its
    one button confirms (a page first, so that mail scanners opening links confirm nothing)."""
    session = get_session()
    location, link = confirmations.read_token(session, current_app.config["SECRET_KEY"], token,
                                              current_app.config["VERIFY_EVERY_DAYS"])
    form = ConfirmForm()
    if not form.validate_on_submit():
        return render_template("clinics/confirm.html", form=form, location=location,
                               listing=document_json(location),
                               edit=link_to_edit(location, link.email))
    restored = confirmations.confirm(session, location, today(), Actor.OWNER, link.email)
    session.commit()
    lines = [f"Thank you: {location.name} is confirmed as of today. Patients see the date "
             "on its page."]
    if restored:
        lines.append("It is shown in the directory again.")
    lines.append("We will ask again before the next check is due.")
    return render_template("clinics/thanks.html", heading="Listing confirmed", lines=lines)


@bp.get("/manage/thanks")
def changed() -> str:
    """Say what happens to a change."""
    return render_template(
        "clinics/thanks.html", heading="Thank you: your change is waiting for review",
        lines=["A moderator checks it, usually within two working days; until then patients "
               "see the listing as it was.",
               "We will e-mail you when it is live."])


@bp.route("/providers/<int:location_id>/claim", methods=["GET", "POST"])
def claim(location_id: int) -> str | tuple[str, int]:
    """Claim a listing: an address on the clinic's own website domain gets a link at once;
    any other goes to a moderator first."""
    session = get_session()
    listing = get_published(session, location_id)
    form = EmailForm()
    if not form.is_submitted():
        return render_template("clinics/claim.html", form=form, listing=listing)
    email = _email(form) if form.validate() else ""
    if not email:
        return render_template("clinics/claim.html", form=form, listing=listing), 400
    if not form.is_bot():
        _limit("claim")
        location = session.get(Location, location_id)
        assert location is not None  # published a moment ago
        if submissions.same_domain(email, location.website) and not location.owner_email:
            # The owner is set when the link is used: reading it proves the mailbox.
            messages.owner_link(session, email, location.name,
                                link_to_edit(location, email, claim=True),
                                current_app.config["OWNER_LINK_DAYS"])
        else:
            session.add(Submission(kind=Kind.CLAIM, location_id=location.id, document={},
                                   owner_email=email))
            messages.claim_waiting(session, email, location.name)
        session.commit()
        deliver_soon(current_app._get_current_object())  # type: ignore[attr-defined]
    return render_template(
        "clinics/thanks.html", heading="Check your e-mail",
        lines=[f"We have written to {email} about {listing.name}: either your private link "
               "to change the listing, or a note that a moderator checks your claim first."])
