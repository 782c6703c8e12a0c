"""finder: a self-hostable near-me directory of physical therapists who offer dry needling."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from flask import Flask

from . import db, geocode, public_address, search, settings
from .fastjson import OrjsonProvider
from .resources import resource_dir
from .trust.verification import Policy


def stored_secret_key(data_dir: Path) -> str:
    """Return the key kept in the data folder, making it on first use.

    Every worker and every command on this machine must sign with the same key (a login, an
    owner's link and a form made by one are checked by another), so a key made at random is
    made once and kept, readable only by its owner. Servers that share a database need
    FINDER_SECRET_KEY instead.
    """
    path = data_dir / "secret_key"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        made = data_dir / f".secret_key.{os.getpid()}"
        descriptor = os.open(made, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="ascii") as handle:
            handle.write(secrets.token_hex(32))
        try:
            os.link(made, path)  # whole or not at all; the first process to get here wins
        except FileExistsError:
            pass
        finally:
            made.unlink()
    return path.read_text("ascii").strip()


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Create the app: declared defaults, then the FINDER_* environment, then test_config."""
    app = public_address.Finder(__name__, template_folder=str(resource_dir("templates")))
    app.json = OrjsonProvider(app)
    app.config.update(settings.load())
    if test_config:
        app.config.update(test_config)
    Policy.of(app.config)  # the verification settings must make sense together
    app.config["SECRET_KEY"] = app.config["SECRET_KEY"] or stored_secret_key(
        Path(app.config["DATA_DIR"]))

    from . import (
        api,
        demo,
        forms,
        http_errors,
        metrics,
        moderation,
        partners,
        places,
        request_log,
        security,
        transfer,
        views,
    )
    from .clinics import views as clinic_views
    from .search import filter_values
    from .trust import views as trust_views

    public_address.init_app(app)
    db.init_app(app)
    geocode.init_app(app)
    search.init_app(app)
    filter_values.init_app(app)
    request_log.init_app(app)  # first: a request refused by a rate limit is logged too
    metrics.init_app(app)
    security.init_app(app)
    http_errors.init_app(app)
    transfer.init_app(app)
    demo.init_app(app)
    partners.init_app(app)
    forms.init_app(app)
    moderation.init_app(app)
    app.register_blueprint(views.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(places.bp)
    app.register_blueprint(clinic_views.bp)
    app.register_blueprint(trust_views.bp)
    return app
