"""Rate limits counted once per machine: every worker shares the counters in the data folder."""

from __future__ import annotations

import http.client
import json
import logging
import multiprocessing
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from threading import BrokenBarrierError
from typing import Any

import limits
import pytest
from flask import Flask
from limits.strategies import FixedWindowRateLimiter

from finder import create_app
from finder.db import get_database
from finder.errors import ConfigError
from finder.rate_limit_storage import FILE_NAME, LocalStorage
from finder.search import get_backend
from tests.conftest import Server

LIMIT = 20


def _get(server: Server, client_address: str) -> tuple[int, dict[str, str], dict[str, Any]]:
    """Search on a new connection from ``client_address`` (any 127.x address is this
    machine), so the server's own start-up checks never count against it."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30,
                                            source_address=(client_address, 0))
    try:
        connection.request("GET", "/api/v1/search?postcode=78701")
        response = connection.getresponse()
        body = json.loads(response.read())
        return response.status, dict(response.headers), body
    finally:
        connection.close()


def _burst(server: Server, client_address: str, count: int) -> list[tuple[int, dict[str, str]]]:
    """Send ``count`` searches at once, so that both workers answer some of them."""
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda _: _get(server, client_address), range(count)))
    return [(status, headers) for status, headers, _ in answers]


def test_two_workers_admit_exactly_the_announced_limit(data_dir: Path) -> None:
    server = Server(data_dir, workers=2, settings={"FINDER_RATE_LIMIT": f"{LIMIT}/minute"})
    try:
        # Per-worker counters would admit up to twice the limit from a burst both answer.
        answers = _burst(server, "127.0.0.2", 3 * LIMIT)
        admitted = [headers for status, headers in answers if status == 200]
        assert len(admitted) == LIMIT
        assert sorted(status for status, _ in answers) == [200] * LIMIT + [429] * 2 * LIMIT
        assert {headers["X-RateLimit-Limit"] for _, headers in answers} == {str(LIMIT)}
        assert {int(headers["X-RateLimit-Remaining"]) for headers in admitted} <= set(
            range(LIMIT))  # what was left when the answer was sent

        status, headers, body = _get(server, "127.0.0.2")
        now = time.time()
        assert status == 429 and body["error"]["code"] == "rate_limited"
        assert headers["X-RateLimit-Limit"] == str(LIMIT)
        assert headers["X-RateLimit-Remaining"] == "0"
        assert now - 1 <= int(headers["X-RateLimit-Reset"]) <= now + 61
        assert 1 <= int(headers["Retry-After"]) <= 60

        # Another client has its own allowance.
        assert _get(server, "127.0.0.3")[0] == 200
    finally:
        server.stop()


def _hit_together(path: str, hits: int, barrier: Any) -> tuple[int, int]:
    """Hit two shared limits ``hits`` times each as soon as every process is ready; return
    how many hits each allowed."""
    counter = FixedWindowRateLimiter(LocalStorage(f"local://{path}"))
    try:
        barrier.wait(timeout=60)
    except BrokenBarrierError:
        return -1, -1
    return (sum(counter.hit(UNLIMITED, "198.51.100.7") for _ in range(hits)),
            sum(counter.hit(LIMITED, "198.51.100.7") for _ in range(hits)))


UNLIMITED, LIMITED = limits.parse("1000000/minute"), limits.parse("500/minute")


def test_processes_hitting_at_once_never_lose_a_count(tmp_path: Path) -> None:
    path = str(tmp_path / FILE_NAME)
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager:
        barrier = manager.Barrier(4)
        with context.Pool(4) as pool:
            results = pool.starmap(_hit_together, [(path, 300, barrier)] * 4)
    assert [sum(allowed) for allowed in zip(*results, strict=True)] == [1200, 500]
    storage = LocalStorage(f"local://{path}")
    assert storage.get(UNLIMITED.key_for("198.51.100.7")) == 1200
    assert storage.get(LIMITED.key_for("198.51.100.7")) == 1200


def _app(data_dir: Path, rate: str, **config: str) -> Flask:
    return create_app({"DATA_DIR": str(data_dir), "RATE_LIMIT": rate, **config})


def _close(app: Flask) -> None:
    get_backend(app).close()
    get_database(app).dispose()


def test_counters_are_kept_in_the_data_folder_by_default(data_dir: Path) -> None:
    app = _app(data_dir, "2/minute")
    client = app.test_client()
    assert [client.get("/robots.txt").status_code for _ in range(3)] == [200, 200, 429]
    assert (data_dir / FILE_NAME).is_file()
    # A second app on the same folder (another worker) shares the count.
    other = _app(data_dir, "2/minute")
    assert other.test_client().get("/robots.txt").status_code == 429
    _close(app)
    _close(other)


def test_memory_storage_still_counts_per_process(data_dir: Path) -> None:
    apps = [_app(data_dir, "2/minute", RATE_LIMIT_STORAGE="memory://") for _ in range(2)]
    clients = [app.test_client() for app in apps]
    assert [clients[0].get("/robots.txt").status_code for _ in range(3)] == [200, 200, 429]
    assert clients[1].get("/robots.txt").status_code == 200
    assert not (data_dir / FILE_NAME).exists()
    for app in apps:
        _close(app)


def test_a_locked_counter_file_serves_requests_uncounted(
        data_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    app = _app(data_dir, "1/minute")
    client = app.test_client()
    assert [client.get("/robots.txt").status_code for _ in range(2)] == [200, 429]
    holder = sqlite3.connect(data_dir / FILE_NAME, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another process keeps the write lock too long
    try:
        with caplog.at_level(logging.WARNING):
            response = client.get("/robots.txt")
        assert response.status_code == 200
        assert "X-RateLimit-Remaining" not in response.headers
        assert "rate limits not counted: database is locked" in caplog.text
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert client.get("/robots.txt").status_code == 429  # counted again once the lock is gone
    _close(app)


def test_a_counter_file_that_cannot_be_created_is_a_clear_error(data_dir: Path) -> None:
    inside_a_file = f"local://{data_dir / 'finder.sqlite3' / 'counters.sqlite3'}"
    with pytest.raises(ConfigError, match="FINDER_RATE_LIMIT_STORAGE cannot be used"):
        _app(data_dir, "2/minute", RATE_LIMIT_STORAGE=inside_a_file)


def test_expired_windows_start_again(tmp_path: Path) -> None:
    storage = LocalStorage(f"local://{tmp_path / FILE_NAME}")
    assert storage.incr("k", expiry=1) == 1
    assert storage.incr("k", expiry=1) == 2
    assert storage.get("k") == 2 and storage.get_expiry("k") > time.time()
    time.sleep(1.05)
    assert storage.get("k") == 0
    assert storage.incr("k", expiry=1) == 1
    storage.clear("k")
    assert storage.get("k") == 0 and storage.check()
