"""Changes reach search off the request path: a served directory indexes what is committed
without any search asking, and searches never apply a backlog themselves."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

import sqlalchemy as sa
from flask import Flask
from whoosh import index

from finder.db import session_scope
from finder.models import IndexChange, Location
from finder.search import get_backend
from finder.search.applier import Applier
from finder.search.documents import META_ID
from tests.conftest import AUSTIN, Server, load, near, row


def applied_seq(data_dir: Path) -> int:
    """What the index on disk has applied, read without catching anything up."""
    ix = index.open_dir(str(data_dir / "index"))
    try:
        with ix.searcher() as searcher:
            return int((searcher.document(id=META_ID) or {}).get("applied_seq", 0))
    finally:
        ix.close()


def newest_seq(app: Flask) -> int:
    with session_scope(app) as session:
        return session.scalar(sa.select(sa.func.max(IndexChange.seq))) or 0


def rename_all(app: Flask, suffix: str) -> None:
    with session_scope(app) as session:
        for location in session.scalars(sa.select(Location)):
            location.name = f"{location.name.split(' ~')[0]} ~{suffix}"
        session.commit()


def test_a_served_directory_indexes_changes_with_no_search_asking(app: Flask,
                                                                  data_dir: Path) -> None:
    load(app, [row(f"c{n}", f"Clinic {n}", near(AUSTIN, 0.1 * n)) for n in range(300)])
    server = Server(data_dir)
    try:
        rename_all(app, "renamed")  # committed, not applied: no search, no catch_up here
        newest = newest_seq(app)
        assert applied_seq(data_dir) < newest
        deadline = time.monotonic() + 20
        while applied_seq(data_dir) < newest and time.monotonic() < deadline:
            time.sleep(0.1)
        assert applied_seq(data_dir) == newest
        # Each worker opens the new generation within a moment (its applier looks).
        names = []
        while time.monotonic() < deadline + 5:
            with urllib.request.urlopen(f"{server.url}/api/v1/search?postcode=78701&limit=1"
                                        ) as response:
                names.append(json.load(response)["results"][0]["name"])
            if len(names) >= 4 and all(name.endswith("~renamed") for name in names[-4:]):
                break
            time.sleep(0.1)
        assert all(name.endswith("~renamed") for name in names[-4:]), names
    finally:
        server.stop()


def test_searches_leave_a_backlog_to_the_applier(app: Flask, data_dir: Path) -> None:
    load(app, [row(f"c{n}", f"Clinic {n}", near(AUSTIN, 0.1 * n)) for n in range(50)])
    backend = get_backend(app)
    applier = Applier(backend)
    assert backend.applies_in_requests
    backend.applies_in_requests = False  # what starting the applier does
    rename_all(app, "later")
    newest = newest_seq(app)
    client = app.test_client()
    for _ in range(3):  # past the interval after which a search would catch up itself
        assert client.get("/api/v1/search?postcode=78701").status_code == 200
        time.sleep(0.4)
    assert applied_seq(data_dir) < newest
    applier.start()
    try:
        deadline = time.monotonic() + 20
        while applied_seq(data_dir) < newest and time.monotonic() < deadline:
            time.sleep(0.05)
        assert applied_seq(data_dir) == newest
    finally:
        applier.stop()
    assert backend.applies_in_requests  # a stopped applier hands the work back to searches
