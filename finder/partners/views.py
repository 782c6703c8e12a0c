"""What partners embed: the widget script, the iframe page and its resizer, and the widget's
own endpoints (its configuration and click counts)."""

from __future__ import annotations

import re
from collections.abc import Callable

from flask import (
    Blueprint,
    Response,
    current_app,
    jsonify,
    render_template,
    request,
    send_from_directory,
)
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from .. import vocabulary
from ..db import get_session
from ..errors import AccessDenied, InvalidInput
from ..security import content_security_policy
from . import counts
from .access import Caller, checked, current_partner
from .keys import by_key

bp = Blueprint("partners", __name__)
SCRIPT_MAX_AGE = 300  # partners' pages pick up a new widget within minutes
ID = re.compile(r"[0-9]{1,9}")


def _script(name: str) -> Response:
    response = send_from_directory(current_app.static_folder or "", name,
                                   mimetype="text/javascript", max_age=SCRIPT_MAX_AGE)
    # Loaded by other sites' pages, including those that isolate themselves (COEP).
    response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
    return response


def commit_count(record: Callable[[Session], None]) -> None:
    """Record a partner count in its own commit. Counting must never cost a visitor their
    answer: a database that cannot take the write now (locked by an import, a primary
    away) loses the count, which is logged."""
    session = get_session()
    try:
        record(session)
        session.commit()
    except SQLAlchemyError as exc:
        session.rollback()
        current_app.logger.warning("partner count not recorded: %s", exc)


def number_arg(value: str) -> int | None:
    """Read an id (a partner's, a listing's) from a query argument: plain digits only."""
    return int(value) if ID.fullmatch(value) else None


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
    partner = checked(by_key(get_session(), key) if key else None, origin=None)
    prefill = {name: request.args.get(name, "")[:100] for name in ("postcode", "q", "radius")}
    response = current_app.make_response(render_template(
        "partners/embed.html", key=key, partner=partner, prefill=prefill))
    # Only the partner's pages may frame it; its logo comes from one of them.
    origins = tuple(partner.origins)
    policy = content_security_policy(
        current_app.config["MAP_TILE_URL"], frame_ancestors=origins,
        image_origins=origins if partner.theme.get("logo") else ())
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
    if number_arg(request.args.get("id", "")) is None:
        raise InvalidInput("'id' must be the clicked listing's id.", code="invalid_id")
    commit_count(lambda session: counts.record_click(session, caller_id))
    return "", 204
