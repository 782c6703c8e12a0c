"""The directory's public address: the proxies in front of it, the host names it answers to,
and the base of every absolute URL it writes.

A client chooses its ``Host`` header, so a link built from it (a result's ``url``, a ``next``
page, a sitemap, an owner's private link in an e-mail) could point anywhere. With
``FINDER_BASE_URL`` set, every URL is built on that address instead; ``FINDER_TRUSTED_HOSTS``
refuses requests for any other host; ``FINDER_PROXY_HOPS`` says how many proxies' forwarding
headers (client address, scheme, host) to believe.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, Request
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import MapAdapter


class Finder(Flask):
    """Flask, with absolute URLs on ``FINDER_BASE_URL`` whatever host a request names."""

    def create_url_adapter(self, request: Request | None) -> MapAdapter | None:
        adapter = super().create_url_adapter(request)
        base = self.config.get("BASE_URL")
        if adapter is not None and request is not None and base:
            rebase(adapter, base)
        return adapter


def rebase(adapter: MapAdapter, base_url: str) -> None:
    """Make ``adapter`` build URLs (and redirects) under ``base_url``."""
    parts = urlsplit(base_url)
    adapter.url_scheme = parts.scheme
    adapter.server_name = parts.netloc.lower()
    adapter.script_name = parts.path.rstrip("/") + "/"


def safe_adapter(app: Flask) -> MapAdapter:
    """An adapter for pages answering a request whose host was refused: its links go to the
    directory's own address, never to the host the request named."""
    config = app.config
    trusted = [name for name in config.get("TRUSTED_HOSTS") or () if not name.startswith(".")]
    adapter = app.url_map.bind(trusted[0] if trusted else "localhost",
                               url_scheme=config["PREFERRED_URL_SCHEME"])
    if config.get("BASE_URL"):
        rebase(adapter, config["BASE_URL"])
    return adapter


def init_app(app: Flask) -> None:
    """Believe the configured number of proxies. (FINDER_TRUSTED_HOSTS is Flask's own
    TRUSTED_HOSTS, which it checks on every request.)"""
    if app.config["BASE_URL"]:
        app.config["PREFERRED_URL_SCHEME"] = urlsplit(app.config["BASE_URL"]).scheme
    hops = app.config["PROXY_HOPS"]
    if hops:
        # X-Forwarded-Port and -Prefix are left alone: proxies rarely set them, so a client
        # could; a directory served under a path says so in FINDER_BASE_URL.
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=0, x_prefix=0)
