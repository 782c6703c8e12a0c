"""Moderation: operators' accounts and login, the queue of submissions, diffs and duplicates."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask

from . import views

LOGIN_LIFETIME = timedelta(hours=12)


def init_app(app: Flask) -> None:
    """Keep a login for 12 hours and serve the moderation pages."""
    app.config["PERMANENT_SESSION_LIFETIME"] = LOGIN_LIFETIME
    # A login's cookie is written when it is made (and when its form token is first made),
    # not again on every request: a login lasts 12 hours however busy the operator is, and
    # pages and static files do not each carry a fresh cookie.
    app.config["SESSION_REFRESH_EACH_REQUEST"] = False
    app.register_blueprint(views.bp)
