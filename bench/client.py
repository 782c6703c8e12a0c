"""The one HTTP client used against every engine: sequential requests, timed end to end."""

from __future__ import annotations

import http.client
import json
import time
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

TIMEOUT = 60.0


@dataclass
class Timings:
    """Per-request latencies in milliseconds, and the requests that did not answer 200."""

    latencies_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    truncated: bool = False  # stopped at the time budget before the last query


class Client:
    """A keep-alive-capable client for one server (gunicorn's sync workers close anyway)."""

    def __init__(self, base_url: str, timeout: float = TIMEOUT) -> None:
        parts = urllib.parse.urlsplit(base_url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.timeout = timeout
        self._connection: http.client.HTTPConnection | None = None

    def _connect(self) -> http.client.HTTPConnection:
        if self._connection is None:
            self._connection = http.client.HTTPConnection(self.host, self.port,
                                                          timeout=self.timeout)
        return self._connection

    def get(self, path: str) -> tuple[int, bytes]:
        """GET a path; reconnect once if the server closed an idle connection."""
        for attempt in (1, 2):
            connection = self._connect()
            try:
                connection.request("GET", path)
                response = connection.getresponse()
                body = response.read()
                if response.will_close:
                    self.close()
                return response.status, body
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def get_json(self, path: str) -> dict[str, Any]:
        """GET a path and return its JSON; anything but 200 is an error."""
        status, data = self.fetch(path)
        if status != 200:
            raise RuntimeError(f"GET {path} answered {status}: {str(data)[:300]}")
        return data

    def fetch(self, path: str) -> tuple[int, dict[str, Any]]:
        """GET a path and return the status and the JSON body (or the text as an error)."""
        status, body = self.get(path)
        try:
            data: dict[str, Any] = json.loads(body)
        except ValueError:
            data = {"error": body[:300].decode("utf-8", "replace")}
        return status, data

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def time_requests(client: Client, paths: Sequence[str], warmup: int,
                  budget_s: float) -> Timings:
    """Request each path once in order, after ``warmup`` untimed ones; stop at the budget."""
    for path in paths[:warmup]:
        client.get(path)
    timings = Timings()
    deadline = time.monotonic() + budget_s
    for path in paths:
        if time.monotonic() > deadline:
            timings.truncated = True
            break
        started = time.perf_counter()
        status, body = client.get(path)
        timings.latencies_ms.append((time.perf_counter() - started) * 1000.0)
        if status != 200:
            timings.errors.append(f"{status} {path} {body[:200]!r}")
    return timings
