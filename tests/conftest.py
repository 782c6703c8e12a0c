"""Canonical fixtures: a fresh database and index per test, and helpers to load listings."""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner, Result
from flask import Flask
from flask.testing import FlaskClient
from geopy.distance import geodesic
from psycopg import sql

from finder import create_app, migrate
from finder.cli import main
from finder.db import get_database, make_engine, session_scope
from finder.geocode import get_geocoder
from finder.importer import ImportReport, import_csv, read_rows
from finder.search import get_backend
from finder.validation import FIELDS
from tests.browser import chromium  # noqa: F401  (one Chromium for the session)
from tests.postgres import PostgresServer, free_port

AUSTIN = (30.2713, -97.7426)  # the centroid of ZIP 78701


def near(origin: tuple[float, float], miles: float, bearing: float = 90.0) -> tuple[float, float]:
    """Return the point ``miles`` from ``origin`` along ``bearing``."""
    point = geodesic(miles=miles).destination(origin, bearing)
    return round(point.latitude, 6), round(point.longitude, 6)


def row(external_id: str, name: str, at: tuple[float, float] | None = None,
        **fields: str) -> dict[str, str]:
    """Return an import row with sensible defaults."""
    values = {field: "" for field in FIELDS}
    values.update(external_id=external_id, name=name, city="Austin", region="TX",
                  postcode="78701", country="US", services="Manual therapy")
    if at is not None:
        values.update(latitude=str(at[0]), longitude=str(at[1]))
    values.update(fields)
    return values


def form_values(page: str) -> dict[str, str]:
    """What a browser would send of a page's inputs (checkboxes only when checked)."""
    values = {}
    for tag in re.findall(r"<input[^>]*>", page):
        name, value = re.search(r'name="([a-z_0-9]+)"', tag), re.search(r'value="([^"]*)"', tag)
        if name and value and ('type="checkbox"' not in tag or "checked" in tag):
            values[name.group(1)] = value.group(1)
    return values


def csv_text(rows: list[dict[str, str]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(FIELDS))
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


@pytest.fixture(scope="session")
def migrated_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Migrate one SQLite file per run; each test starts from a copy of it."""
    path = tmp_path_factory.mktemp("template") / "finder.sqlite3"
    engine = make_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture
def data_dir(tmp_path: Path, migrated_database: Path) -> Path:
    directory = tmp_path / "instance"
    directory.mkdir()
    shutil.copy(migrated_database, directory / "finder.sqlite3")
    return directory


TEST_CONFIG = {"TESTING": True, "RATE_LIMIT": "100000/minute", "SERVER_NAME": "finder.test",
               "BULK_NICENESS": 0}  # in-process commands would lower the test run's priority


@pytest.fixture
def app(data_dir: Path) -> Iterator[Flask]:
    app = create_app({"DATA_DIR": str(data_dir), **TEST_CONFIG})
    yield app
    get_backend(app).close()
    get_database(app).dispose()


class Postgres:
    """A throwaway PostgreSQL+PostGIS server with one migrated template database."""

    TEMPLATE = "finder_migrated"

    def __init__(self) -> None:
        self.server = PostgresServer().start()
        self.server.psql("postgres", f"CREATE DATABASE {self.TEMPLATE} TEMPLATE finder")
        engine = make_engine(self.url(self.TEMPLATE))
        migrate.upgrade(engine)
        engine.dispose()
        self.created = 0
        # One connection for the run's many CREATE DATABASE, rather than a psql each.
        self.admin = psycopg.connect(host=str(self.server.root), port=self.server.port,
                                     user="postgres", dbname="postgres", autocommit=True)

    def url(self, database: str) -> str:
        return self.server.url.replace("@/finder?", f"@/{database}?", 1)

    def fresh_database(self) -> str:
        """Return the URL of a new database copied from the migrated template."""
        self.created += 1
        name = f"finder_test_{self.created}"
        # A file copy of the small template is quicker than WAL-logging each of its blocks.
        self.admin.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {} STRATEGY FILE_COPY").format(
            sql.Identifier(name), sql.Identifier(self.TEMPLATE)))
        return self.url(name)

    def stop(self) -> None:
        self.admin.close()
        self.server.stop()


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    server = Postgres()
    yield server
    server.stop()


# The deployments the contract suite runs on: database engine + search backend.
DEPLOYMENTS = {"sqlite": ("sqlite", "whoosh"), "postgresql": ("postgresql", "whoosh"),
               "postgis": ("postgresql", "postgis")}


@pytest.fixture(params=list(DEPLOYMENTS))
def any_database_app(request: pytest.FixtureRequest, data_dir: Path) -> Iterator[Flask]:
    """The app on each database engine and search backend: contract tests run on each."""
    database, backend = DEPLOYMENTS[request.param]
    config: dict[str, Any] = {"DATA_DIR": str(data_dir), "SEARCH_BACKEND": backend,
                              **TEST_CONFIG}
    if database == "postgresql":
        config["DATABASE_URL"] = request.getfixturevalue("postgres").fresh_database()
    app = create_app(config)
    yield app
    get_backend(app).close()
    get_database(app).dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


class Runner:
    """Invoke the ``finder`` command against a data folder, as a user would."""

    def __init__(self, data_dir: Path) -> None:
        self.env = {"FINDER_DATA_DIR": str(data_dir)}

    def invoke(self, *args: str, input: str | None = None) -> Result:
        return CliRunner().invoke(main, list(args), env=self.env, input=input,
                                  catch_exceptions=False)


@pytest.fixture
def runner(data_dir: Path) -> Runner:
    return Runner(data_dir)


def load(app: Flask, rows: list[dict[str, str]]) -> ImportReport:
    """Import rows, commit and bring the index up to date, as `finder import` does."""
    with session_scope(app) as session:
        report = import_csv(session, get_geocoder(app), read_rows(io.StringIO(csv_text(rows))),
                            default_country="US")
        session.commit()
    get_backend(app).catch_up()
    return report


def search(client: FlaskClient, **params: Any) -> dict[str, Any]:
    """Call the search API and return its JSON, failing on any non-200 answer."""
    response = client.get("/api/v1/search", query_string=params)
    assert response.status_code == 200, response.get_json()
    body: dict[str, Any] = response.get_json()
    return body


class Server:
    """A real `finder serve` process on a free port."""

    def __init__(self, data_dir: Path, workers: int = 2,
                 settings: dict[str, str] | None = None, access_log: Path | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "FINDER_DATA_DIR": str(data_dir), **(settings or {})}
        with access_log.open("ab") if access_log else open(os.devnull, "wb") as stdout:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "finder", "serve", "--port", str(self.port),
                 "--workers", str(workers)],
                env=env, stdout=stdout, stderr=subprocess.PIPE,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(self.process.stderr.read().decode() if self.process.stderr
                                   else "finder serve exited")
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=1) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("finder serve did not answer within 30 s")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stderr:
            self.process.stderr.close()


def serve_directory(tmp_path_factory: pytest.TempPathFactory, migrated_database: Path,
                    name: str, fill: Callable[[Flask], None]) -> Iterator[Server]:
    """Fill a fresh directory with ``fill(app)``, index it, and serve it with a real process
    for a module of browser tests (which only read)."""
    data_dir = tmp_path_factory.mktemp(name) / "instance"
    data_dir.mkdir()
    shutil.copy(migrated_database, data_dir / "finder.sqlite3")
    app = create_app({"DATA_DIR": str(data_dir), **TEST_CONFIG})
    fill(app)
    get_backend(app).catch_up()
    get_backend(app).close()
    get_database(app).dispose()
    server = Server(data_dir, settings={"FINDER_RATE_LIMIT": "100000/minute"})
    yield server
    server.stop()


@pytest.fixture
def server(app: Flask, data_dir: Path) -> Iterator[Server]:
    """Serve the test's data folder with a real gunicorn process."""
    process = Server(data_dir)
    yield process
    process.stop()
