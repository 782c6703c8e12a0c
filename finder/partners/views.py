"""What partners embed: the widget script, the iframe page and its resizer, and the widget's
own endpoints (its configuration and click counts)."""

from __future__ import annotations

from flask import (
    Blueprint,
    Response,
    current_app,
    jsonify,
    render_template,
    request,
    send_from_directory,
)

from .. import vocabulary
from ..db import get_session
from ..errors import AccessDenied, InvalidInput
from ..security import content_security_policy
from . import counts
from .access import Caller, current_partner
from .keys import by_key

bp = Blueprint("partners", __name__)
SCRIPT_MAX_AGE = 300  # partners' pages pick up a new widget within minutes


def _script(name: str) -> Response:
    response = send_from_directory(current_app.static_folder or "", name,
                                   mimetype="text/javascript", max_age=SCRIPT_MAX_AGE)
    # Loaded by other sites' pages, including those that isolate themselves (COEP).
    response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
    return response


@bp.get("/widget.js")
def widget_script() -> Response:
    """Serve the embeddable search widget."""
    return _script("widget.js")


@bp.get("/embed.js")
def embed_script() -> Response:
    """Serve the helper that fits an embedded search's iframe to its content."""
    return _script("embed.js")


@bp.get("/embed")
def embed() -> Response:
    """Serve the search for a partner's iframe; only the partner's origins may frame it."""
    key = request.args.get("key", "").strip()
    partner = by_key(get_session(), key) if key else None
    if partner is None or not partner.enabled:
        raise AccessDenied("This partner key is not valid: it may have been disabled or "
                           "replaced. Ask the directory for the current snippet.")
    prefill = {name: request.args.get(name, "")[:100] for name in ("postcode", "q", "radius")}
    response = current_app.make_response(render_template(
        "partners/embed.html", key=key, partner=partner, prefill=prefill))
    policy = content_security_policy(current_app.config["MAP_TILE_URL"]).replace(
        "frame-ancestors 'none'", "frame-ancestors " + " ".join(partner.origins))
    logo = partner.theme.get("logo")
    if logo:  # the partner's logo, from the partner's own origin
        policy = policy.replace("img-src 'self'", "img-src 'self' " + " ".join(partner.origins))
    response.headers["Content-Security-Policy"] = policy
    return response


def _caller() -> Caller:
    caller = current_partner()
    if caller is None:
        raise AccessDenied("Give the partner key as 'key'.", code="missing_key")
    return caller


@bp.get("/api/v1/widget/config")
def widget_config() -> Response:
    """Return what the widget shows before a search: the partner's theme and presets."""
    caller = _caller()
    return jsonify({
        "partner": caller.id,
        "name": caller.name,
        "theme": caller.theme,
        "defaults": caller.defaults,
        "techniques": {key: term.label for key, term in vocabulary.techniques().items()},
    })


@bp.post("/api/v1/widget/click")
def widget_click() -> tuple[str, int]:
    """Count a click on a result in the widget."""
    caller_id = _caller().id
    listing = request.args.get("id", "")
    if not listing.isdigit():
        raise InvalidInput("'id' must be the clicked listing's id.", code="invalid_id")
    session = get_session()
    counts.record_click(session, caller_id)
    session.commit()
    return "", 204
