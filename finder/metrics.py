"""Prometheus metrics at ``/metrics``: requests, search latency, index lag and the outbox.

``finder serve`` runs several gunicorn workers, each counting its own requests; they write
their counts to files in ``PROMETHEUS_MULTIPROC_DIR`` (which the serve command makes), and a
scrape answered by any worker adds up every worker's files. Without that directory (the
Flask test client, a single process) each app counts in a registry of its own. Index lag and
the outbox are read from the database when scraped, never counted by the workers.
"""

from __future__ import annotations

import hmac
import ipaddress
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import sqlalchemy as sa
from flask import Blueprint, Flask, Response, current_app, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
    values,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from .db import get_session
from .http_errors import error_response
from .models import OutboxMessage
from .search import backlog, get_backend

bp = Blueprint("metrics", __name__)

# A search takes a few milliseconds; the buckets resolve 1-100 ms finely and catch the slow.
SEARCH_BUCKETS = (0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075,
                  0.1, 0.25, 0.5, 1.0, 2.5)
UNMATCHED = "unmatched"  # the endpoint label of a request no route matched


@dataclass
class Metrics:
    """One app's metric objects and the registry a scrape reads."""

    requests: Counter
    search_seconds: Histogram
    rate_limited: Counter
    registry: CollectorRegistry | None  # None: every worker's files, added up per scrape

    @classmethod
    def create(cls) -> Metrics:
        """Count in the shared directory when there is one, else in a registry of our own."""
        # prometheus_client chose when first imported, from PROMETHEUS_MULTIPROC_DIR.
        shared = values.ValueClass is not values.MutexValue
        registry = None if shared else CollectorRegistry(auto_describe=True)
        target = None if shared else registry
        return cls(
            requests=Counter("finder_http_requests", "HTTP requests answered, by Flask "
                             "endpoint and status.", ["endpoint", "status"], registry=target),
            search_seconds=Histogram("finder_search_seconds", "Time to answer a search (API "
                                     "and pages), in seconds.", buckets=SEARCH_BUCKETS,
                                     registry=target),
            rate_limited=Counter("finder_rate_limited_requests", "Requests refused by a rate "
                                 "limit, by Flask endpoint.", ["endpoint"], registry=target),
            registry=registry,
        )

    def exposition(self) -> bytes:
        """Return every metric in the Prometheus text format."""
        registry = self.registry
        if registry is None:
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        registry.register(_backlog := Backlog())
        try:
            return generate_latest(registry)
        finally:
            registry.unregister(_backlog)


class Backlog(Collector):
    """Index lag and outbox size, read from the database at scrape time (two indexed
    queries)."""

    def collect(self) -> Iterator[Metric]:
        session = get_session()
        waiting, age = backlog(session, get_backend())
        yield GaugeMetricFamily("finder_index_lag_changes", "Listing changes recorded in the "
                                "database that the search index has not applied yet.",
                                value=waiting)
        yield GaugeMetricFamily("finder_index_lag_seconds", "Age of the oldest listing change "
                                "the search index has not applied (0 when none waits).",
                                value=age)
        outbox = session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)
                                .where(OutboxMessage.sent_at.is_(None))) or 0
        yield GaugeMetricFamily("finder_outbox_messages", "E-mails waiting in the outbox to "
                                "be sent.", value=outbox)


def get_metrics() -> Metrics:
    metrics: Metrics = current_app.extensions["finder.metrics"]
    return metrics


@contextmanager
def timed_search() -> Iterator[None]:
    """Observe the time of the search in the block, if it answers."""
    started = time.perf_counter()
    yield
    get_metrics().search_seconds.observe(time.perf_counter() - started)


def _refusal() -> tuple[int, str, str] | None:
    """Say why this scrape is refused: metrics need the configured token, or come from this
    machine when none is set."""
    token = current_app.config["METRICS_TOKEN"]
    if token:
        given = request.headers.get("Authorization", "")
        scheme, _, credentials = given.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
                credentials.strip().encode(), token.encode()):
            return (401, "metrics_token_required",
                    "Metrics need the header 'Authorization: Bearer <token>' with the token "
                    "set in FINDER_METRICS_TOKEN.")
        return None
    try:
        local = ipaddress.ip_address(request.remote_addr or "").is_loopback
    except ValueError:
        local = False
    if not local:
        return (403, "metrics_forbidden",
                "Metrics are only shown to this machine; set FINDER_METRICS_TOKEN to scrape "
                "them from elsewhere.")
    return None


@bp.get("/metrics")
def metrics() -> Response | tuple[Response | str, int]:
    """Show every metric in the Prometheus text format."""
    refusal = _refusal()
    if refusal is not None:
        body, status = error_response(*refusal)
        if status == 401 and isinstance(body, Response):
            body.headers["WWW-Authenticate"] = "Bearer"
        return body, status
    return Response(get_metrics().exposition(), mimetype=CONTENT_TYPE_LATEST)


def _count(response: Response) -> Response:
    endpoint = request.endpoint or UNMATCHED
    metrics_ = get_metrics()
    metrics_.requests.labels(endpoint, str(response.status_code)).inc()
    if response.status_code == 429:
        metrics_.rate_limited.labels(endpoint).inc()
    return response


def init_app(app: Flask) -> None:
    """Create the app's metrics and count every response."""
    app.extensions["finder.metrics"] = Metrics.create()
    app.after_request(_count)
    app.register_blueprint(bp)
