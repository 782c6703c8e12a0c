"""Running as several servers: one PostgreSQL database, rate limits shared in Redis."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from finder import create_app
from finder.db import get_database
from finder.errors import ConfigError
from finder.search import get_backend
from tests.conftest import AUSTIN, TEST_CONFIG, Postgres, load, row
from tests.redis_server import RedisServer


@pytest.fixture(scope="module")
def redis() -> Iterator[RedisServer]:
    server = RedisServer().start()
    yield server
    server.stop()


def _server(data_dir: Path, storage: str, rate: str = "3/minute") -> Flask:
    return create_app({"DATA_DIR": str(data_dir), "RATE_LIMIT": rate,
                       "RATE_LIMIT_STORAGE": storage})


def test_servers_share_one_allowance_through_redis(redis: RedisServer, data_dir: Path) -> None:
    first, second = _server(data_dir, redis.url), _server(data_dir, redis.url)
    clients = [first.test_client(), second.test_client()]
    statuses = [clients[i % 2].get("/healthz").status_code for i in range(4)]
    assert statuses == [200, 200, 200, 429]
    # Per-process memory counters would have allowed all four.
    local = [_server(data_dir, "memory://"), _server(data_dir, "memory://")]
    assert [local[i % 2].test_client().get("/healthz").status_code for i in range(4)] == [200] * 4
    for app in (first, second, *local):
        get_backend(app).close()


def test_searches_go_on_when_redis_is_down(data_dir: Path) -> None:
    server = RedisServer().start()
    app = _server(data_dir, server.url, rate="1/minute")
    client = app.test_client()
    assert client.get("/healthz").status_code == 200
    assert client.get("/healthz").status_code == 429
    server.stop()
    response = client.get("/healthz")
    assert response.status_code == 200 and "X-RateLimit-Remaining" not in response.headers
    get_backend(app).close()


def test_unusable_rate_limit_storage_is_a_clear_error(data_dir: Path) -> None:
    with pytest.raises(ConfigError, match="FINDER_RATE_LIMIT_STORAGE"):
        _server(data_dir, "memcached://127.0.0.1:1")  # its client is not installed


def test_servers_on_one_postgresql_see_each_others_changes(postgres: Postgres,
                                                           tmp_path: Path) -> None:
    # Each server keeps its own index, derived from the shared database's change log.
    url = postgres.fresh_database()
    servers = [create_app({"DATA_DIR": str(tmp_path / name), "DATABASE_URL": url,
                           **TEST_CONFIG}) for name in ("one", "two")]
    load(servers[0], [row("a", "Alpha PT", AUSTIN, services="Dry needling")])
    load(servers[1], [row("b", "Beta PT", AUSTIN, services="Dry needling")])
    deadline = time.monotonic() + 2.0
    for server in servers:
        client = server.test_client()
        while True:
            body = client.get("/api/v1/search?postcode=78701&q=dry+needling").get_json()
            if sorted(hit["name"] for hit in body["results"]) == ["Alpha PT", "Beta PT"]:
                break
            assert time.monotonic() < deadline, f"only {body['results']} within 2 s"
            time.sleep(0.05)
    for server in servers:
        get_backend(server).close()
        get_database(server).engine.dispose()
