"""/metrics adds up every worker, is shown only to whom it should be, and request logs keep
searches, places and owner links out."""

from __future__ import annotations

import json
import os
import signal
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from finder import create_app
from finder.db import get_database, session_scope
from finder.mail import queue
from finder.models import IndexChange
from finder.search import get_backend
from tests.conftest import AUSTIN, TEST_CONFIG, Server, load, near, row

TOKEN = "eyJsIjo3LCJlIjoib3duZXJAY2xpbmljLmV4YW1wbGUifQ.aw7.sig"
ELSEWHERE = {"REMOTE_ADDR": "203.0.113.9"}  # a documentation address, not this machine
# A point no other text in the server's output holds: it must not reach the log.
LAT, LON = "30.27131", "-97.74262"

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def samples(text: str) -> Samples:
    """Every sample of a scrape, by name and labels."""
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def requests_of(found: Samples, endpoint: str, status: int) -> float:
    return found.get(("finder_http_requests_total",
                      (("endpoint", endpoint), ("status", str(status)))), 0.0)


def fetch(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read().decode()


def queue_mail(app: Flask, count: int) -> None:
    with session_scope(app) as session:
        for number in range(count):
            queue(session, f"owner{number}@clinic.example", "Your listing", "Hello", "test")
        session.commit()


@pytest.fixture
def make_app(data_dir: Path) -> Iterator[Callable[..., Flask]]:
    """Make apps on the test's data folder with more settings; close them after."""
    made: list[Flask] = []

    def make(**config: object) -> Flask:
        made.append(create_app({"DATA_DIR": str(data_dir), **TEST_CONFIG, **config}))
        return made[-1]

    yield make
    for app in made:
        get_backend(app).close()
        get_database(app).dispose()


@pytest.fixture
def served(app: Flask, data_dir: Path, tmp_path: Path) -> Iterator[tuple[Server, Path]]:
    """Two workers logging JSON, counting in a directory the test can look into."""
    load(app, [row("a", "Eastside Physio", near(AUSTIN, 1), services="Dry needling")])
    queue_mail(app, 3)
    get_backend(app).close()
    get_database(app).dispose()
    shared = tmp_path / "metrics"
    shared.mkdir()
    (shared / "counter_999999.db").write_bytes(b"left by a previous run")
    server = Server(data_dir, workers=2, settings={
        "FINDER_LOG_FORMAT": "json", "PROMETHEUS_MULTIPROC_DIR": str(shared),
        "FINDER_RATE_LIMIT": "100000/minute"})
    deadline = time.monotonic() + 30
    with ThreadPoolExecutor(4) as pool:  # until both workers have started and answered
        while len(counting_processes(shared)) < 2 and time.monotonic() < deadline:
            list(pool.map(lambda _: fetch(f"{server.url}/healthz"), range(8)))
    yield server, shared
    server.stop()


def counting_processes(shared: Path) -> set[str]:
    """The processes whose counters are in the shared directory."""
    return {path.stem.rsplit("_", 1)[1] for path in shared.glob("counter_*.db")}


def test_one_scrape_counts_every_worker_s_requests(served: tuple[Server, Path]) -> None:
    server, shared = served
    searches = [f"/api/v1/search?postcode=78701&q=dry+needling&n={n}" for n in range(14)]
    searches += [f"/api/v1/search?lat={LAT}&lon={LON}"] * 2
    unknown = [f"/api/v1/search?postcode=0000{n}" for n in range(3)]  # 400
    missing = ["/api/v1/listings/999999"] * 4  # 404 of a route
    nowhere = [f"/no/such/page-{n}" for n in range(5)]  # 404 of no route
    owners = [f"/manage/{TOKEN}?lat={LAT}", f"/verify/{TOKEN}"]
    with ThreadPoolExecutor(4) as pool:  # both workers busy at once
        answers = list(pool.map(lambda path: fetch(server.url + path),
                                searches + unknown + missing + nowhere + owners))
    statuses = [status for status, _, _ in answers]
    assert statuses[:16] == [200] * 16
    assert statuses[16:19] == [400] * 3 and statuses[19:28] == [404] * 9

    status, headers, text = fetch(f"{server.url}/metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    found = samples(text)
    assert requests_of(found, "api.search_listings", 200) == 16
    assert requests_of(found, "api.search_listings", 400) == 3
    assert requests_of(found, "api.get_listing", 404) == 4
    assert requests_of(found, "unmatched", 404) == 5
    assert found[("finder_search_seconds_count", ())] == 16
    assert found[("finder_search_seconds_bucket", (("le", "+Inf"),))] == 16
    assert found[("finder_outbox_messages", ())] == 3
    assert ("finder_index_lag_changes", ()) in found
    assert ("finder_index_lag_seconds", ()) in found
    # No id, token or searched text became a label.
    assert TOKEN not in text and "page-" not in text and "999999" not in text
    # Both workers counted (each in a file of its own); the stale file was cleared.
    pids = counting_processes(shared)
    assert len(pids) == 2 and "999999" not in pids


def test_request_logs_are_json_without_queries_places_or_owner_links(
        served: tuple[Server, Path]) -> None:
    server, _ = served
    status, headers, _ = fetch(f"{server.url}/api/v1/search?lat={LAT}&lon={LON}&q=sciatica",
                               {"X-Request-Id": "proxy-42-abc"})
    assert status == 200 and headers["X-Request-Id"] == "proxy-42-abc"
    fetch(f"{server.url}/manage/{TOKEN}?postcode=78701")
    fetch(f"{server.url}/verify/{TOKEN}")
    server.process.terminate()
    _, errors = server.process.communicate(timeout=15)
    output = errors.decode()
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    search = next(line for line in lines if line["request_id"] == "proxy-42-abc")
    assert search["path"] == "/api/v1/search" and search["endpoint"] == "api.search_listings"
    assert search["method"] == "GET" and search["status"] == 200
    assert search["client"] == "127.0.0.1" and search["duration_ms"] >= 0
    assert datetime.fromisoformat(search["time"]).tzinfo is not None
    paths = {line["path"] for line in lines}
    assert {"/manage/[private]", "/verify/[private]"} <= paths
    for secret in (TOKEN, LAT, LON, "sciatica", "78701", "?"):
        assert secret not in output


def test_index_lag_and_outbox_are_read_when_scraped(any_database_app: Flask) -> None:
    app, client = any_database_app, any_database_app.test_client()
    load(app, [row("a", "Eastside Physio", near(AUSTIN, 1))])
    found = samples(client.get("/metrics").get_data(as_text=True))
    assert found[("finder_index_lag_changes", ())] == 0
    assert found[("finder_index_lag_seconds", ())] == 0
    with session_scope(app) as session:  # committed, not yet applied to the index
        import io

        from finder.geocode import get_geocoder
        from finder.importer import import_csv, read_rows
        from tests.conftest import csv_text

        import_csv(session, get_geocoder(app), read_rows(io.StringIO(csv_text(
            [row("b", "Westside Physio", near(AUSTIN, 2)),
             row("c", "Northside Physio", near(AUSTIN, 3))]))), default_country="US")
        session.execute(sa.update(IndexChange).values(
            created_at=datetime.now(UTC) - timedelta(minutes=5)))
        session.commit()
    queue_mail(app, 2)
    found = samples(client.get("/metrics").get_data(as_text=True))
    assert found[("finder_index_lag_changes", ())] == 2
    assert 300 <= found[("finder_index_lag_seconds", ())] < 3600
    assert found[("finder_outbox_messages", ())] == 2
    get_backend(app).catch_up()
    found = samples(client.get("/metrics").get_data(as_text=True))
    assert found[("finder_index_lag_changes", ())] == 0


def test_metrics_are_refused_to_other_machines_without_a_token(client: FlaskClient) -> None:
    response = client.get("/metrics", environ_base=ELSEWHERE)
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "metrics_forbidden"
    assert client.get("/metrics").status_code == 200  # from this machine


@pytest.mark.parametrize("authorization", [None, "Bearer wrong-token", "s3cret-token",
                                           "Basic czNjcmV0LXRva2Vu"])
def test_a_set_token_is_required_from_everywhere(make_app: Callable[..., Flask],
                                                 authorization: str | None) -> None:
    client = make_app(METRICS_TOKEN="s3cret-token").test_client()
    headers = {"Authorization": authorization} if authorization else {}
    response = client.get("/metrics", headers=headers)  # even from this machine
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    error = response.get_json()["error"]
    assert error["code"] == "metrics_token_required" and "FINDER_METRICS_TOKEN" in error["message"]
    allowed = client.get("/metrics", environ_base=ELSEWHERE,
                         headers={"Authorization": "Bearer s3cret-token"})
    assert allowed.status_code == 200 and b"finder_http_requests" in allowed.data


def test_metrics_are_not_rate_limited_and_count_refusals(
        make_app: Callable[..., Flask]) -> None:
    client = make_app(RATE_LIMIT="2/minute").test_client()
    answers = [client.get("/api/v1/search?postcode=78701").status_code for _ in range(4)]
    assert answers == [200, 200, 429, 429]
    scrapes = [client.get("/metrics") for _ in range(4)]
    assert [scrape.status_code for scrape in scrapes] == [200] * 4
    found = samples(scrapes[-1].get_data(as_text=True))
    assert found[("finder_rate_limited_requests_total",
                  (("endpoint", "api.search_listings"),))] == 2
    assert requests_of(found, "api.search_listings", 429) == 2
    assert requests_of(found, "metrics.metrics", 200) == 3


def test_a_well_formed_request_id_is_echoed(client: FlaskClient) -> None:
    given = "0f8e-" + "a" * 59
    response = client.get("/healthz", headers={"X-Request-Id": given})
    assert response.headers["X-Request-Id"] == given


@pytest.mark.parametrize("given", ["", "a" * 65, "id with spaces", "id\"<script>", "ид-1",
                                   "a/b", "x;y"])
def test_a_bad_request_id_is_replaced(client: FlaskClient, given: str) -> None:
    response = client.get("/", headers={"X-Request-Id": given})
    made = response.headers["X-Request-Id"]
    assert made != given and 1 <= len(made) <= 64
    assert made.replace("-", "").isalnum() and made.isascii()
    other = client.get("/").headers["X-Request-Id"]
    assert other != made  # a fresh one each time


def test_counts_outlive_a_restarted_worker(app: Flask, data_dir: Path) -> None:
    get_backend(app).close()
    get_database(app).dispose()
    server = Server(data_dir, workers=2, settings={"FINDER_RATE_LIMIT": "100000/minute"})
    try:
        for _ in range(6):
            assert fetch(f"{server.url}/api/v1/search?postcode=78701")[0] == 200
        pid = server.process.pid
        workers = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        os.kill(int(workers[0]), signal.SIGTERM)  # gunicorn starts another in its place
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            now = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
            if len(now) == 2 and workers[0] not in now:
                break
            time.sleep(0.2)
        for _ in range(4):
            assert fetch(f"{server.url}/api/v1/search?postcode=78701")[0] == 200
        status, _, text = fetch(f"{server.url}/metrics")
        assert status == 200
        assert requests_of(samples(text), "api.search_listings", 200) == 10
    finally:
        server.stop()
