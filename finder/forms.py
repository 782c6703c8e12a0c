"""What every form of the site stands on: the session cookie's flags, and CSRF protection on
every request that changes something."""

from __future__ import annotations

from flask import Flask, request
from flask.sessions import SecureCookieSessionInterface
from flask_wtf.csrf import CSRFProtect


class SessionInterface(SecureCookieSessionInterface):
    """Flask's signed cookie, marked Secure when the site is known or seen to use HTTPS."""

    def get_cookie_secure(self, app: Flask) -> bool:
        # Secure when FINDER_BASE_URL is https (SESSION_COOKIE_SECURE, set at start-up: a
        # server behind a TLS proxy sees its requests as plain HTTP), or when the request
        # itself came over HTTPS. Not otherwise: a directory tried out at
        # http://127.0.0.1:5000 must still be able to log in.
        return bool(app.config["SESSION_COOKIE_SECURE"]) or request.is_secure


def init_app(app: Flask) -> None:
    """Set the session cookie's flags and check a CSRF token on every POST, except to the
    JSON API and the partners' widget, which take no cookies."""
    from . import api
    from .partners import views as partner_views

    app.session_interface = SessionInterface()
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    if str(app.config.get("BASE_URL") or "").startswith("https://"):
        app.config["SESSION_COOKIE_SECURE"] = True
    # A token lives as long as the session cookie that holds it (PERMANENT_SESSION_LIFETIME
    # at most), not one hour: a form left open over lunch still submits. What makes a token
    # safe is that another site cannot read it, not its age.
    app.config["WTF_CSRF_TIME_LIMIT"] = None
    csrf = CSRFProtect(app)
    csrf.exempt(api.bp)
    csrf.exempt(partner_views.bp)
