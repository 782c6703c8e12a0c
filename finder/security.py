"""Security headers on every response and rate limits per client address.

The limits are counted by the ``limits`` library (fixed windows, in the configured storage;
by default ``local://``, shared by this machine's workers: see rate_limit_storage).
One set of limits applies to every request, so it is checked here directly: Flask-Limiter's
per-request resolution of routes, blueprints and exemptions cost a tenth of a millisecond per
search, which is more than its whole text matching.
"""

from __future__ import annotations

import math
import sqlite3
import time

import limits
from flask import Flask, Response, current_app, g, request
from limits.errors import ConfigurationError
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter
from werkzeug.exceptions import TooManyRequests

from . import rate_limit_storage
from .errors import ConfigError

_POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "connect-src": "'self'",
    "form-action": "'self'",
    "base-uri": "'none'",
    "object-src": "'none'",
    "frame-ancestors": "'none'",
}
CONTENT_SECURITY_POLICY = "; ".join(f"{name} {value}" for name, value in _POLICY.items())


def content_security_policy(tile_url: str = "", *, image_origins: tuple[str, ...] = (),
                            frame_ancestors: tuple[str, ...] = ()) -> str:
    """Return the policy, letting images also come from the map tile server (when one is
    set) and ``image_origins``, and letting ``frame_ancestors`` frame the page."""
    policy = dict(_POLICY)
    images = list(image_origins)
    if tile_url:
        scheme, rest = tile_url.split("://", 1)
        images.append(f"{scheme}://{rest.split('/', 1)[0]}")
    if images:
        policy["img-src"] = " ".join([policy["img-src"], *images])
    if frame_ancestors:
        policy["frame-ancestors"] = " ".join(frame_ancestors)
    return "; ".join(f"{name} {value}" for name, value in policy.items())


# A Redis that stops answering must not hold requests up: give up quickly and serve them
# uncounted. (redis-py waits forever by default; timeouts in the URL take precedence.)
REDIS_TIMEOUTS = {"socket_connect_timeout": 0.5, "socket_timeout": 0.5}


# A page's stylesheet and scripts are not searches, and a load balancer's health checks and
# Prometheus's scrapes must never be refused.
UNCOUNTED = frozenset({"static", "api.healthz", "metrics.metrics"})


class RateLimits:
    """Every limit of ``FINDER_RATE_LIMIT`` (e.g. ``120/minute;2000/hour``), per address."""

    def __init__(self, rates: str, storage_uri: str, data_dir: str = ".") -> None:
        self.items = limits.parse_many(rates)
        scheme = storage_uri.split("://", 1)[0]
        options: dict[str, float | str] = {}
        if scheme in ("redis", "rediss", "redis+unix"):
            options.update(REDIS_TIMEOUTS)
        elif scheme == rate_limit_storage.SCHEME:
            options["data_dir"] = data_dir
        try:
            storage = storage_from_string(storage_uri, **options)
        except (ConfigurationError, OSError, sqlite3.Error) as exc:
            # e.g. redis:// without the redis package, a data folder that cannot be written
            raise ConfigError(f"FINDER_RATE_LIMIT_STORAGE cannot be used: {exc}") from exc
        self.counter = FixedWindowRateLimiter(storage)

    def hit(self) -> None:
        """Count this request against every limit; refuse it when one is used up.

        If the counter store (Redis, or the machine's SQLite file) does not answer in time,
        the request is served anyway and the failure logged: patients keep their results
        while the store is down or busy.
        """
        if request.endpoint in UNCOUNTED:
            return
        address = request.remote_addr or "unknown"
        for item in self.items:
            try:
                allowed = self.counter.hit(item, address)
            except Exception as exc:  # the storage's own: redis.ConnectionError, a locked file
                current_app.logger.warning("rate limits not counted: %s", exc)
                return
            if not allowed:
                g.rate_limit = (item, address)
                raise TooManyRequests(description=str(item))
        g.rate_limit = (self.items[0], address)

    def enforce(self, rates: str, *identifiers: str, what: str = "") -> None:
        """Count this request against further ``rates`` kept for ``identifiers`` (a partner,
        a form); refuse it when one is used up. A store that does not answer lets it by."""
        for item in limits.parse_many(rates):
            try:
                allowed = self.counter.hit(item, *identifiers)
            except Exception as exc:  # the storage's own errors, as in ``hit``
                current_app.logger.warning("rate limits not counted: %s", exc)
                return
            if not allowed:
                g.rate_limit = (item, *identifiers)  # what the headers then tell
                raise TooManyRequests(description=f"{item}{what}")

    def add_headers(self, response: Response) -> None:
        """Tell the client how much of its (first exhausted, else first) limit is left."""
        item, *identifiers = g.pop("rate_limit", (None,))
        if item is None:
            return
        try:
            stats = self.counter.get_window_stats(item, *identifiers)
        except Exception:  # counted a moment ago; the store went away since
            return
        response.headers["X-RateLimit-Limit"] = str(item.amount)
        response.headers["X-RateLimit-Remaining"] = str(stats.remaining)
        response.headers["X-RateLimit-Reset"] = str(math.ceil(stats.reset_time))
        if response.status_code == 429:
            response.headers["Retry-After"] = str(max(1, math.ceil(stats.reset_time
                                                                   - time.time())))


def get_rate_limits() -> RateLimits:
    limits_: RateLimits = current_app.extensions["finder.rate_limits"]
    return limits_


def init_app(app: Flask) -> None:
    """Install the rate limits and the response headers."""
    rate_limits = RateLimits(app.config["RATE_LIMIT"], app.config["RATE_LIMIT_STORAGE"],
                             app.config["DATA_DIR"])
    app.extensions["finder.rate_limits"] = rate_limits
    app.before_request(rate_limits.hit)
    policy = content_security_policy(app.config["MAP_TILE_URL"])

    @app.after_request
    def _headers(response: Response) -> Response:
        rate_limits.add_headers(response)
        response.headers.setdefault("Content-Security-Policy", policy)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("Permissions-Policy", "geolocation=(self)")
        return response
