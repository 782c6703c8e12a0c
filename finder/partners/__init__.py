"""Partners: sites that embed finder's search, by a script or an iframe, with a public key
bound to their origins, their own presets, theme and rate limit, and daily counts that name
no one."""

from __future__ import annotations

from flask import Flask

from . import access, views


def init_app(app: Flask) -> None:
    """Check partner keys on API requests and serve the widget, the embed page and their API."""
    access.init_app(app)
    app.register_blueprint(views.bp)
