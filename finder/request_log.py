"""A request id on every response and, with ``FINDER_LOG_FORMAT=json``, one JSON log line per
request.

The id comes from the proxy in front (``X-Request-Id``) when it sent a well-formed one, so a
request can be followed from the proxy's log into ours; otherwise one is made. A log line
holds the path without its query string (searches carry places and conditions) and with
owners' private links hidden.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from datetime import UTC, datetime

from flask import Flask, Response, g, request

from .access_log import loggable

HEADER = "X-Request-Id"
WELL_FORMED = re.compile(r"[A-Za-z0-9-]{1,64}")
LOGGER = "finder.requests"


def request_id() -> str:
    """Return this request's id."""
    given: str = g.get("request_id", "")
    return given


class JsonLines(logging.Formatter):
    """Each record as one JSON object: its time, and the fields it was logged with."""

    def format(self, record: logging.LogRecord) -> str:
        fields = {"time": datetime.fromtimestamp(record.created, UTC).isoformat(
            timespec="milliseconds")}
        fields.update(getattr(record, "fields", {}))
        return json.dumps(fields, ensure_ascii=False)


def _start() -> None:
    g.request_started = time.perf_counter()
    given = request.headers.get(HEADER, "")
    g.request_id = given if WELL_FORMED.fullmatch(given) else uuid.uuid4().hex


def _mark(response: Response) -> Response:
    response.headers[HEADER] = request_id() or uuid.uuid4().hex
    return response


def _log(response: Response) -> Response:
    started = g.get("request_started", time.perf_counter())
    logging.getLogger(LOGGER).info("request", extra={"fields": {
        "request_id": request_id(),
        "method": request.method,
        "endpoint": request.endpoint,
        "path": loggable(request.path),
        "status": response.status_code,
        "duration_ms": round((time.perf_counter() - started) * 1000, 3),
        "client": request.remote_addr,
    }})
    return response


def _json_logger() -> None:
    """Write request lines to standard error, once per process."""
    logger = logging.getLogger(LOGGER)
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonLines())
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False


def init_app(app: Flask) -> None:
    """Give every request an id (returned as ``X-Request-Id``) and log it as configured."""
    app.before_request(_start)
    if app.config["LOG_FORMAT"] == "json":
        _json_logger()
        app.after_request(_log)
    app.after_request(_mark)
