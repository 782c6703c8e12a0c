"""finder: a self-hostable near-me directory of physical therapists who offer dry needling."""

from __future__ import annotations

import secrets
from typing import Any

from flask import Flask

from . import db, geocode, search, settings
from .fastjson import OrjsonProvider
from .resources import resource_dir


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Create the app: declared defaults, then the FINDER_* environment, then test_config."""
    app = Flask(__name__, template_folder=str(resource_dir("templates")))
    app.json = OrjsonProvider(app)
    app.config.update(settings.load())
    if test_config:
        app.config.update(test_config)
    app.config["SECRET_KEY"] = app.config["SECRET_KEY"] or secrets.token_hex(32)

    from . import api, demo, http_errors, partners, places, security, transfer, views
    from .search import filter_values

    db.init_app(app)
    geocode.init_app(app)
    search.init_app(app)
    filter_values.init_app(app)
    security.init_app(app)
    http_errors.init_app(app)
    transfer.init_app(app)
    demo.init_app(app)
    partners.init_app(app)
    app.register_blueprint(views.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(places.bp)
    return app
