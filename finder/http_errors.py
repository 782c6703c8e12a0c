"""Turn every error into a clear answer: JSON under /api, /healthz and /metrics, a page
elsewhere."""

from __future__ import annotations

from flask import Flask, Response, jsonify, render_template, request
from flask.globals import request_ctx
from werkzeug.exceptions import HTTPException, SecurityError

from .errors import DiskFull, FinderError, is_disk_full
from .public_address import safe_adapter

# Headers an HTTP error carries besides its body (a 405's Allow, a 401's WWW-Authenticate).
_BODY_HEADERS = {"content-type", "content-length"}

_CODES = {400: "bad_request", 404: "not_found", 405: "method_not_allowed",
          429: "rate_limited", 500: "internal_error"}


def wants_json() -> bool:
    return request.path.startswith(("/api/", "/healthz", "/metrics"))


def error_response(status: int, code: str, message: str,
                   suggestions: list[dict[str, str]] | None = None,
                   fields: list[tuple[str, str]] | None = None
                   ) -> tuple[Response | str, int]:
    """Return the JSON error body of the API, or the HTML error page."""
    if wants_json():
        error: dict[str, object] = {"code": code, "message": message}
        if suggestions:
            error["suggestions"] = suggestions
        if fields:  # every bad field of a listing document, each with what is wrong
            error["fields"] = [{"field": name, "message": says} for name, says in fields]
        return jsonify({"error": error}), status
    return render_template("error.html", status=status, code=code, message=message), status


def init_app(app: Flask) -> None:
    @app.errorhandler(FinderError)
    def _finder_error(exc: FinderError) -> tuple[Response | str, int]:
        return error_response(exc.status, exc.code, exc.message, exc.suggestions,
                              getattr(exc, "fields", None))

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> tuple[Response | str, int, list[tuple[str, str]]]:
        status = exc.code or 500
        code = _CODES.get(status, "http_error")
        message = exc.description or "The request could not be answered."
        if status == 429:
            message = f"Too many requests: the limit is {exc.description}. Try again shortly."
        if isinstance(exc, SecurityError) and request_ctx.url_adapter is None:
            # Flask refused the Host header (FINDER_TRUSTED_HOSTS) before it could route.
            request_ctx.url_adapter = safe_adapter(app)
            code = "untrusted_host"
            named = request.environ.get("HTTP_HOST") or request.environ.get("SERVER_NAME", "")
            message = f"This server does not answer for the host {named[:100]!r}."
        headers = [(name, value) for name, value in exc.get_headers()
                   if name.lower() not in _BODY_HEADERS]
        body, status = error_response(status, code, message)
        return body, status, headers

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> tuple[Response | str, int]:
        if is_disk_full(exc):
            app.logger.error("the disk is full: %s %s answered 503", request.method,
                             request.path)
            return error_response(503, DiskFull.code,
                                  "The server's disk is full, so nothing can be saved right "
                                  "now, and nothing you sent was kept. Please try again later.")
        app.logger.exception("unhandled error")
        return error_response(500, "internal_error", "Something went wrong on our side.")
