"""`finder backup` and `finder restore`: consistent copies of a live database, brought back
elsewhere or in place, with the search index following the restored data by itself."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from flask import Flask

from finder import create_app
from finder.db import get_database, make_engine
from finder.migrate import alembic_config
from finder.search import get_backend
from tests.conftest import AUSTIN, TEST_CONFIG, Runner, Server, load, near, row, search

WRITER_BATCH = 5  # listings each of the writer's transactions adds


def _app(data_dir: Path) -> Flask:
    return create_app({"DATA_DIR": str(data_dir), **TEST_CONFIG})


def _close(app: Flask) -> None:
    get_backend(app).close()
    get_database(app).dispose()


@pytest.fixture
def other_dir(tmp_path: Path) -> Path:
    """A data folder with nothing in it yet, as on a new machine."""
    return tmp_path / "elsewhere"


def _directory(count: int = 12) -> list[dict[str, str]]:
    return [row(f"base-{n}", f"Clinic {n}", near(AUSTIN, 0.5 + n * 0.7, bearing=n * 30.0),
                services="Dry needling; Manual therapy" if n % 2 else "Manual therapy",
                conditions="Back pain" if n % 3 else "Sciatica")
            for n in range(count)]


def _every_result(app: Flask, **params: Any) -> list[dict[str, Any]]:
    """All the results of a search, page after page."""
    results: list[dict[str, Any]] = []
    client = app.test_client()
    while True:
        body = search(client, limit=50, offset=len(results), **params)
        results.extend(body["results"])
        if len(results) >= body["total"] or not body["results"]:
            return results


def _names(app: Flask, **params: Any) -> list[str]:
    return [result["name"] for result in _every_result(app, **params)]


SEARCHES: list[dict[str, Any]] = [
    {"postcode": "78701"},
    {"postcode": "78701", "q": "dry needling"},
    {"postcode": "78701", "q": "sciatica", "sort": "relevance"},
    {"lat": AUSTIN[0], "lon": AUSTIN[1], "radius": 5, "sort": "distance"},
]


def test_restored_copy_answers_every_search_as_the_original(
        app: Flask, runner: Runner, other_dir: Path, tmp_path: Path) -> None:
    load(app, _directory())
    backup = tmp_path / "finder-backup.sqlite3"
    result = runner.invoke("backup", str(backup))
    assert result.exit_code == 0, result.output
    assert "12 listing(s) (12 published)" in result.output
    assert "integrity check ok" in result.output

    result = Runner(other_dir).invoke("restore", str(backup))
    assert result.exit_code == 0, result.output
    assert "indexed 12 published listing(s)" in result.output
    restored = _app(other_dir)
    try:
        original, copy = app.test_client(), restored.test_client()
        for params in SEARCHES:
            answer = search(original, **params)
            assert answer["results"], params  # the comparison means something
            assert search(copy, **params) == answer, params
    finally:
        _close(restored)


class Writer:
    """Adds listings near Austin in a loop, WRITER_BATCH per transaction; ``committed`` holds
    the batch numbers committed so far."""

    def __init__(self) -> None:
        self.committed: list[int] = []
        self.stopping = threading.Event()
        self.failures: list[BaseException] = []
        self.thread: threading.Thread | None = None

    def stop(self) -> None:
        self.stopping.set()
        if self.thread is not None:
            self.thread.join(timeout=60)
        assert not self.failures, self.failures


@pytest.fixture
def writer(data_dir: Path) -> Iterator[Writer]:
    """A Writer running while a test runs."""
    running = Writer()
    committed, stop, failures = running.committed, running.stopping, running.failures

    def write() -> None:
        app = _app(data_dir)
        try:
            batch = 0
            while not stop.is_set():
                load(app, [row(f"w{batch}-{k}", f"Writer {batch}-{k}",
                               near(AUSTIN, 1 + k * 0.3, bearing=batch * 7.0))
                           for k in range(WRITER_BATCH)])
                committed.append(batch)
                batch += 1
        except BaseException as exc:  # reported by the test, not lost in the thread
            failures.append(exc)
        finally:
            _close(app)

    running.thread = threading.Thread(target=write, daemon=True)
    running.thread.start()
    while len(committed) < 3 and not failures:
        time.sleep(0.01)
    yield running
    running.stop()


def test_backup_during_writes_is_one_committed_state(
        app: Flask, data_dir: Path, runner: Runner, writer: Writer, other_dir: Path,
        tmp_path: Path) -> None:
    load(app, _directory())
    backup = tmp_path / "during-writes.sqlite3"
    before = len(writer.committed)
    # One page per step makes the copy take many steps while the writer commits.
    result = runner.invoke("backup", str(backup), "--pages-per-step", "1")
    assert result.exit_code == 0, result.output
    # Paging through a directory while it changes would skip and repeat listings.
    writer.stop()
    assert len(writer.committed) >= before
    get_backend(app).catch_up()

    with sqlite3.connect(backup) as db:
        ids = [external_id for (external_id,) in db.execute(
            "SELECT external_id FROM location WHERE external_id LIKE 'w%'")]
    batches = sorted({int(external_id[1:].split("-")[0]) for external_id in ids})
    # Every transaction is in the copy whole or not at all, and none is skipped.
    assert batches == list(range(len(batches)))
    assert len(ids) == WRITER_BATCH * len(batches)
    assert len(batches) >= before

    assert Runner(other_dir).invoke("restore", str(backup)).exit_code == 0
    restored = _app(other_dir)
    try:
        copy = _every_result(restored, postcode="78701", radius=50, sort="distance")
        assert len(copy) == 12 + len(ids)
        present = {result["id"] for result in copy}
        # The original, filtered to the listings the backup holds, ranks them alike.
        original = [result for result in _every_result(app, postcode="78701", radius=50,
                                                       sort="distance")
                    if result["id"] in present]
        assert [(r["id"], r["name"], r["distance"]) for r in copy] == \
            [(r["id"], r["name"], r["distance"]) for r in original]
    finally:
        _close(restored)


def _restore_by_hand(data_dir: Path, backup: Path) -> None:
    database = data_dir / "finder.sqlite3"
    for side in ("-wal", "-shm"):
        Path(f"{database}{side}").unlink(missing_ok=True)
    shutil.copy(backup, database)


@pytest.mark.parametrize("how", ["finder restore", "cp"])
def test_restore_in_place_forgets_later_changes_without_reindex(
        app: Flask, data_dir: Path, runner: Runner, tmp_path: Path, how: str) -> None:
    load(app, _directory())
    backup = tmp_path / "before.sqlite3"
    assert runner.invoke("backup", str(backup)).exit_code == 0
    load(app, [row("late", "Late Clinic", near(AUSTIN, 0.2))])
    load(app, [row("base-0", "Renamed Clinic", near(AUSTIN, 0.5, bearing=0.0))])
    assert "Late Clinic" in _names(app, postcode="78701")
    assert "Renamed Clinic" in _names(app, postcode="78701")
    _close(app)  # servers are stopped for a restore

    if how == "cp":
        _restore_by_hand(data_dir, backup)
    else:
        result = runner.invoke("restore", str(backup))
        assert result.exit_code == 0, result.output
    restored = _app(data_dir)
    try:
        names = _names(restored, postcode="78701")
        assert "Late Clinic" not in names
        assert "Renamed Clinic" not in names
        assert "Clinic 0" in names
        assert len(names) == 12
    finally:
        _close(restored)


def test_restore_gives_the_database_a_new_identity(
        app: Flask, data_dir: Path, runner: Runner, tmp_path: Path) -> None:
    """So an index built from the database before is rebuilt, whatever happens next."""
    backup = tmp_path / "copy.sqlite3"
    assert runner.invoke("backup", str(backup)).exit_code == 0
    _close(app)
    identity = "SELECT database_id FROM database_identity"
    with sqlite3.connect(backup) as db:
        before = db.execute(identity).fetchone()
    assert runner.invoke("restore", str(backup)).exit_code == 0
    with sqlite3.connect(data_dir / "finder.sqlite3") as db:
        assert db.execute(identity).fetchone() != before


def test_an_older_backup_is_upgraded(runner: Runner, data_dir: Path, tmp_path: Path) -> None:
    old = tmp_path / "old.sqlite3"
    engine = make_engine(f"sqlite:///{old}")
    config = alembic_config(str(engine.url))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0008")
    engine.dispose()
    result = runner.invoke("restore", str(old))
    assert result.exit_code == 0, result.output
    assert "schema upgraded from 0008 to" in result.output


def _not_finder(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE notes (text TEXT)")


def _unknown_revision(path: Path, migrated: Path) -> None:
    shutil.copy(migrated, path)
    with sqlite3.connect(path) as db:
        db.execute("UPDATE alembic_version SET version_num = '9999'")


@pytest.mark.parametrize("case, message", [
    ("missing", "There is no backup file at"),
    ("text", "is not a SQLite database"),
    ("not finder", "is a SQLite database but not a finder database"),
    ("newer", "schema revision '9999', which this release does not know"),
])
def test_restore_refuses_what_is_not_a_finder_backup(
        runner: Runner, data_dir: Path, tmp_path: Path, migrated_database: Path,
        case: str, message: str) -> None:
    path = tmp_path / "given.sqlite3"
    if case == "text":
        path.write_text("external_id,name\n1,Clinic\n")
    elif case == "not finder":
        _not_finder(path)
    elif case == "newer":
        _unknown_revision(path, migrated_database)
    live = (data_dir / "finder.sqlite3").read_bytes()
    result = runner.invoke("restore", str(path))
    assert result.exit_code != 0
    assert message in result.output
    assert (data_dir / "finder.sqlite3").read_bytes() == live
    assert not list(data_dir.glob("*.partial"))


@pytest.mark.parametrize("command_name", ["backup", "restore"])
def test_postgresql_is_pointed_to_its_own_tools(
        runner: Runner, tmp_path: Path, command_name: str) -> None:
    runner.env["FINDER_DATABASE_URL"] = "postgresql+psycopg://finder@db.internal/finder"
    result = runner.invoke(command_name, str(tmp_path / "finder.dump"))
    assert result.exit_code != 0
    assert "this directory uses postgresql" in result.output
    assert "pg_dump -Fc" in result.output and "pg_restore --clean" in result.output


def test_backup_refuses_to_replace_a_file_without_force(runner: Runner, tmp_path: Path) -> None:
    existing = tmp_path / "existing.sqlite3"
    existing.write_text("keep me")
    result = runner.invoke("backup", str(existing))
    assert result.exit_code != 0
    assert "already exists; choose another name, or pass --force" in result.output
    assert existing.read_text() == "keep me"
    result = runner.invoke("backup", str(existing), "--force")
    assert result.exit_code == 0, result.output
    assert existing.read_bytes().startswith(b"SQLite format 3")


def test_backup_into_a_missing_folder_is_refused(runner: Runner, tmp_path: Path) -> None:
    result = runner.invoke("backup", str(tmp_path / "nowhere" / "b.sqlite3"))
    assert result.exit_code != 0
    assert "does not exist; create it first" in result.output


def test_restore_refuses_while_a_server_has_the_database_open(
        app: Flask, data_dir: Path, runner: Runner, server: Server, tmp_path: Path) -> None:
    load(app, _directory(3))
    _close(app)
    backup = tmp_path / "copy.sqlite3"
    assert runner.invoke("backup", str(backup)).exit_code == 0
    result = runner.invoke("restore", str(backup))
    assert result.exit_code != 0
    assert "is in use" in result.output and "stop every `finder serve`" in result.output


def _written(folder: Path) -> bool:
    """Whether any file in ``folder`` has bytes in it yet."""
    for path in folder.iterdir():
        try:
            if path.stat().st_size:
                return True
        except FileNotFoundError:  # a journal that came and went
            pass
    return False


def test_an_interrupted_backup_leaves_no_file(data_dir: Path, tmp_path: Path) -> None:
    with sqlite3.connect(data_dir / "finder.sqlite3") as db:  # about 100 MB to copy
        db.execute("CREATE TABLE padding (bytes BLOB)")
        db.execute("INSERT INTO padding WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL "
                   "SELECT i + 1 FROM n WHERE i < 100) SELECT randomblob(1000000) FROM n")
    target = tmp_path / "backups" / "finder.sqlite3"
    target.parent.mkdir()
    process = subprocess.Popen(
        [sys.executable, "-m", "finder", "backup", str(target), "--pages-per-step", "1"],
        env={**os.environ, "FINDER_DATA_DIR": str(data_dir)},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        # Kill it once the copy has begun to be written.
        while process.poll() is None and not _written(target.parent):
            time.sleep(0.001)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait()
    assert process.returncode == -signal.SIGKILL, "the backup ended before it was killed"
    assert not target.exists()
    with sqlite3.connect(data_dir / "finder.sqlite3") as db:
        assert db.execute("PRAGMA quick_check").fetchone() == ("ok",)
