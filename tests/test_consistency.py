"""The index is derived from the database and catches up after any crash or other process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from whoosh.fields import ID, Schema

from finder import create_app
from finder.db import session_scope
from finder.models import Location, Status
from finder.search import MatchQuery, get_backend
from tests.conftest import AUSTIN, load, row


def indexed_ids(app: Flask) -> set[int]:
    matches = get_backend(app).match(MatchQuery(AUSTIN[0], AUSTIN[1], None))
    return {int(listing_id) for listing_id in matches.ids}


def published_ids(app: Flask) -> set[int]:
    with session_scope(app) as session:
        return set(session.scalars(
            sa.select(Location.id).where(Location.status == Status.PUBLISHED)))


def test_change_committed_but_never_indexed_is_caught_up(app: Flask, data_dir: Path) -> None:
    load(app, [row("a", "Alpha PT", AUSTIN)])
    with session_scope(app) as session:  # commit, then "crash" before the index write
        session.scalars(sa.select(Location)).one().name = "Alpha Physio"
        session.add(Location(**{**_minimal(), "external_id": "b", "name": "Beta PT"},
                             organization=session.scalars(sa.select(Location)).one().organization))
        session.commit()
    restarted = create_app({"DATA_DIR": str(data_dir)})
    assert indexed_ids(restarted) == published_ids(app) == {1, 2}
    hits = restarted.test_client().get("/api/v1/search?postcode=78701&q=beta").get_json()
    assert [hit["name"] for hit in hits["results"]] == ["Beta PT"]
    get_backend(restarted).close()


def test_unpublished_listing_leaves_the_index(app: Flask) -> None:
    load(app, [row("a", "Alpha PT", AUSTIN), row("b", "Beta PT", AUSTIN)])
    with session_scope(app) as session:
        session.get_one(Location, 1).status = Status.UNPUBLISHED
        session.commit()
    get_backend(app).catch_up()
    assert indexed_ids(app) == {2}


def test_results_show_each_listing_as_last_changed(app: Flask) -> None:
    load(app, [row("a", "Alpha PT", AUSTIN, phone="512-555-0100"),
               row("b", "Beta PT", AUSTIN, phone="512-555-0101")])
    with session_scope(app) as session:  # a second segment replaces Alpha's first row
        alpha = session.get_one(Location, 1)
        alpha.phone = "512-555-0199"
        alpha.organization.name = "Alpha Group"
        session.commit()
    get_backend(app).catch_up()
    client = app.test_client()
    hits = client.get("/api/v1/search?postcode=78701&sort=distance").get_json()["results"]
    by_name = {hit["name"]: hit for hit in hits}
    assert len(hits) == 2 and set(by_name) == {"Alpha PT", "Beta PT"}
    assert (by_name["Alpha PT"]["phone"], by_name["Alpha PT"]["organization"]) == (
        "512-555-0199", "Alpha Group")
    assert by_name["Beta PT"]["phone"].endswith("512-555-0101")
    page = client.get("/search?postcode=78701").get_data(as_text=True)
    assert "512-555-0199" in page and "512-555-0100" not in page


def test_other_process_sees_a_change_within_two_seconds(app: Flask, data_dir: Path) -> None:
    load(app, [row("a", "Alpha PT", AUSTIN)])
    other = create_app({"DATA_DIR": str(data_dir)})  # a second worker on the same data
    client = other.test_client()
    assert client.get("/api/v1/search?postcode=78701").get_json()["total"] == 1
    load(app, [row("b", "Beta PT", AUSTIN)])
    deadline = time.monotonic() + 2.0
    while client.get("/api/v1/search?postcode=78701").get_json()["total"] != 2:
        assert time.monotonic() < deadline, "the change was not visible within 2 s"
        time.sleep(0.05)
    get_backend(other).close()


def kill_midway(command: list[str], env: dict[str, str], database_url: str, ready: str) -> None:
    """Run a finder command and SIGKILL it once the query ``ready`` counts something."""
    process = subprocess.Popen([sys.executable, "-m", "finder", *command],
                               env={**os.environ, **env},
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    engine = sa.create_engine(database_url)
    try:
        while time.monotonic() < deadline and process.poll() is None:
            with engine.connect() as connection:
                count = connection.scalar(sa.text(ready)) or 0
            if count > 0:
                break
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
        process.wait()
    finally:
        engine.dispose()


def _kill_midway(command: list[str], data_dir: Path, ready: str) -> None:
    kill_midway(command, {"FINDER_DATA_DIR": str(data_dir)},
                f"sqlite:///{data_dir / 'finder.sqlite3'}", ready)


def test_kill_during_import_leaves_database_and_index_in_agreement(
        app: Flask, data_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    subprocess.run([sys.executable, "-m", "finder", "generate", "--count", "3000", "-o",
                    str(path)], check=True, capture_output=True,
                   env={**os.environ, "FINDER_DATA_DIR": str(data_dir)})
    _kill_midway(["import", str(path), "--commit-every", "200"], data_dir,
                 "SELECT count(*) FROM location")
    restarted = create_app({"DATA_DIR": str(data_dir)})
    stored = published_ids(restarted)
    assert 0 < len(stored) < 3000
    assert indexed_ids(restarted) == stored
    get_backend(restarted).close()


def test_kill_during_reindex_keeps_a_complete_index(app: Flask, data_dir: Path) -> None:
    load(app, [row(str(i), f"Clinic {i}", AUSTIN) for i in range(300)])
    _kill_midway(["reindex"], data_dir, "SELECT 1")
    restarted = create_app({"DATA_DIR": str(data_dir)})
    assert indexed_ids(restarted) == published_ids(restarted)
    assert len(indexed_ids(restarted)) == 300
    get_backend(restarted).close()


def _minimal() -> dict[str, object]:
    return {"latitude": AUSTIN[0], "longitude": AUSTIN[1], "geocode_precision": "point",
            "geocode_source": "provided", "timezone": "America/Chicago",
            "services": ["Manual therapy"]}


def test_index_of_an_older_format_is_rebuilt_from_the_database(app: Flask,
                                                               data_dir: Path) -> None:
    from whoosh import index

    from finder.search.documents import FORMAT_VERSION, META_ID

    load(app, [row("a", "Alpha PT", AUSTIN), row("b", "Beta PT", AUSTIN)])
    get_backend(app).close()
    old = index.open_dir(str(data_dir / "index"))
    with old.writer() as writer:  # an index written by an older release, missing a listing
        writer.delete_by_term("id", "2")
        writer.update_document(id=META_ID, applied_seq=10**6, format_version=FORMAT_VERSION - 1)
    old.close()
    upgraded = create_app({"DATA_DIR": str(data_dir)})
    assert indexed_ids(upgraded) == {1, 2}
    get_backend(upgraded).close()


def test_index_built_from_another_database_is_rebuilt(app: Flask, data_dir: Path,
                                                      migrated_database: Path) -> None:
    import shutil

    load(app, [row("a", "Old Clinic", AUSTIN), row("b", "Old Clinic 2", AUSTIN)])
    get_backend(app).close()
    from finder.db import get_database

    get_database(app).dispose()
    for path in data_dir.glob("finder.sqlite3*"):
        path.unlink()
    shutil.copy(migrated_database, data_dir / "finder.sqlite3")
    fresh = create_app({"DATA_DIR": str(data_dir)})
    with session_scope(fresh) as session:  # a new database gets a new identity
        session.execute(sa.text("UPDATE database_identity SET database_id = 'another'"))
        session.commit()
    load(fresh, [row("n", "New Clinic", AUSTIN, services="Massage")])
    assert indexed_ids(fresh) == published_ids(fresh) == {1}
    body = fresh.test_client().get("/api/v1/search?postcode=78701").get_json()
    assert [hit["name"] for hit in body["results"]] == ["New Clinic"]
    get_backend(fresh).close()


def test_a_search_applies_a_backlog_in_bounded_batches(app: Flask, data_dir: Path) -> None:
    from finder.search.whoosh_backend import BATCH

    load(app, [row(str(i), f"Clinic {i}", AUSTIN) for i in range(3)])
    with session_scope(app) as session:
        from finder.models import IndexChange

        session.add_all(IndexChange(location_id=1) for _ in range(BATCH + 5))
        session.commit()
    assert get_backend(app).catch_up(limit=BATCH) == BATCH
    assert get_backend(app).catch_up() == 5


def test_index_with_an_old_schema_is_rebuilt(app: Flask, data_dir: Path) -> None:
    import shutil

    from whoosh import index
    from whoosh.fields import ID, STORED, TEXT, Schema

    load(app, [row("a", "Alpha PT", AUSTIN)])
    get_backend(app).close()
    shutil.rmtree(data_dir / "index")
    (data_dir / "index").mkdir()
    old = index.create_in(str(data_dir / "index"), Schema(
        id=ID(stored=True, unique=True), name=TEXT, applied_seq=STORED))
    with old.writer() as writer:
        writer.add_document(id="__meta__", applied_seq=1)
        writer.add_document(id="1", name="Alpha PT")
    old.close()
    upgraded = create_app({"DATA_DIR": str(data_dir)})
    body = upgraded.test_client().get("/api/v1/search?postcode=78701&q=alpha").get_json()
    assert [hit["name"] for hit in body["results"]] == ["Alpha PT"]
    get_backend(upgraded).close()


class _RetiredField(ID):  # type: ignore[misc]
    """A field type of an older release, gone from this one."""


def test_index_whose_schema_names_retired_classes_is_rebuilt(
        app: Flask, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    from whoosh import index

    load(app, [row("a", "Alpha PT", AUSTIN)])
    get_backend(app).close()
    shutil.rmtree(data_dir / "index")
    (data_dir / "index").mkdir()
    old = index.create_in(str(data_dir / "index"), Schema(id=_RetiredField(stored=True)))
    with old.writer() as writer:
        writer.add_document(id="__meta__")
    old.close()
    monkeypatch.delattr(sys.modules[__name__], "_RetiredField")
    upgraded = create_app({"DATA_DIR": str(data_dir)})
    body = upgraded.test_client().get("/api/v1/search?postcode=78701&q=alpha").get_json()
    assert [hit["name"] for hit in body["results"]] == ["Alpha PT"]
    get_backend(upgraded).close()


def test_catch_up_never_indexes_a_listing_twice(app: Flask, data_dir: Path) -> None:
    from whoosh import index

    other = create_app({"DATA_DIR": str(data_dir)})
    get_backend(other).match(MatchQuery(AUSTIN[0], AUSTIN[1], 1.0))  # its snapshot: empty
    load(app, [row("a", "Alpha PT", AUSTIN)])  # this process indexes listing 1
    with session_scope(app) as session:
        session.get_one(Location, 1).name = "Alpha Physio"
        session.commit()
    get_backend(other).catch_up()  # the other one applies the edit with a stale snapshot
    get_backend(other).close()
    ix = index.open_dir(str(data_dir / "index"))
    with ix.searcher() as searcher:
        assert len(list(searcher.document_numbers(id="1"))) == 1
    ix.close()
