"""Partner keys on API requests: which partner asks, from which origin, and how often.

A request with a key (``key=`` or ``X-Finder-Key``) is answered only for an enabled partner
and, when a browser states an ``Origin``, only from one of the partner's origins; then, and
only then, the answer carries CORS headers for that origin. Requests without a key are the
site's own and get no CORS headers. The allowed origins depend on the key, which a fixed CORS
configuration (such as Flask-CORS's) cannot express, so the few headers are set here.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from flask import Flask, Response, current_app, g, request

from ..db import get_session
from ..errors import AccessDenied
from ..security import get_rate_limits
from .keys import by_key
from .models import Partner

KEY_HEADER = "X-Finder-Key"
EXPOSED_HEADERS = "Link, X-Total-Count, X-RateLimit-Limit, X-RateLimit-Remaining, " \
                  "X-RateLimit-Reset, Retry-After"
PREFLIGHT_MAX_AGE = 600
ALLOWED_METHODS = ("GET", "POST")


@dataclass(frozen=True)
class Caller:
    """The partner behind a request, as the rest of the request needs it."""

    id: int
    name: str
    origins: tuple[str, ...]
    defaults: dict[str, str]
    theme: dict[str, object]

    @classmethod
    def of(cls, partner: Partner) -> Caller:
        return cls(partner.id, partner.name, tuple(partner.origins), dict(partner.defaults),
                   dict(partner.theme))


def request_key() -> str:
    return (request.args.get("key") or request.headers.get(KEY_HEADER) or "").strip()


def current_partner() -> Caller | None:
    """The partner whose key this request carries (checked), or None."""
    caller: Caller | None = g.get("partner")
    return caller


def checked(partner: Partner | None, origin: str | None) -> Partner:
    """Return the partner if its key may be used from ``origin``; raise AccessDenied if not."""
    if partner is None or not partner.enabled:
        raise AccessDenied("This partner key is not valid: it may have been disabled or "
                           "replaced. Ask the directory for the current snippet.")
    if origin is not None and origin not in partner.origins and not _own(origin):
        raise AccessDenied(f"This key cannot be used from {origin[:100]}: add that origin "
                           "to the partner.", code="origin_not_allowed")
    return partner


def _own(origin: str) -> bool:
    """Whether a request comes from this site's own pages (the iframe page calls the API).
    Browsers say so in ``Sec-Fetch-Site``, which holds behind a proxy that ends TLS."""
    return (request.headers.get("Sec-Fetch-Site") == "same-origin"
            or origin == f"{request.scheme}://{request.host}")


def _limit(partner: Partner) -> None:
    """Count the request against the partner's own limit (over all its visitors)."""
    get_rate_limits().enforce(partner.rate_limit or current_app.config["PARTNER_RATE_LIMIT"],
                              "partner", str(partner.id), what=" for this partner")


def guard() -> Response | None:
    """Check a keyed API request before it runs; answer CORS preflights."""
    if not request.path.startswith("/api/"):
        return None
    origin = request.headers.get("Origin")
    if request.method == "OPTIONS" and origin is not None:
        return _preflight(origin)
    key = request_key()
    if not key:
        return None
    if origin is None and request.headers.get("Sec-Fetch-Site") in ("cross-site", "same-site"):
        # A browser request that states no origin: an image or a link on some other page.
        # It must not spend the partner's limit or write its counts.
        raise AccessDenied("A partner key works only from the partner's pages.",
                           code="origin_not_allowed")
    partner = checked(by_key(get_session(), key), origin)
    g.partner = Caller.of(partner)
    _limit(partner)  # after the above, so a refusal still reaches the partner's page
    return None


def _preflight(origin: str) -> Response:
    """Allow a partner's origin to send the key header (a key in the URL needs no preflight)."""
    if request.headers.get("Access-Control-Request-Method", "GET") not in ALLOWED_METHODS:
        raise AccessDenied("Partner pages may only read searches and count clicks.",
                           code="origin_not_allowed")
    key = request_key()
    if key:
        checked(by_key(get_session(), key), origin)
    elif not _any_partner_allows(origin):
        raise AccessDenied(f"No partner key can be used from {origin[:100]}.",
                           code="origin_not_allowed")
    response = current_app.response_class(status=204)
    response.headers["Access-Control-Allow-Origin"] = origin
    response.headers["Access-Control-Allow-Methods"] = ", ".join(ALLOWED_METHODS)
    response.headers["Access-Control-Allow-Headers"] = KEY_HEADER
    response.headers["Access-Control-Max-Age"] = str(PREFLIGHT_MAX_AGE)
    response.headers["Vary"] = "Origin"
    return response


def _any_partner_allows(origin: str) -> bool:
    partners = get_session().scalars(sa.select(Partner.origins).where(Partner.enabled))
    return any(origin in allowed for allowed in partners)


def allow_origin(response: Response) -> Response:
    """Let the partner's page read the answer (errors included) from its own origin."""
    caller = current_partner()
    origin = request.headers.get("Origin")
    if caller is None and response.status_code == 429 and origin and request_key():
        # Refused by the visitor's own limit before the key was read: still let the
        # partner's page say why.
        partner = by_key(get_session(), request_key())
        if partner is not None and partner.enabled:
            caller = Caller.of(partner)
    if caller is not None and origin is not None and origin in caller.origins:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
        response.vary.add("Origin")
    return response


def init_app(app: Flask) -> None:
    app.before_request(guard)
    app.after_request(allow_origin)
