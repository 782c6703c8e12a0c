"""Writing the index: the grouped segment writer, and indexing alongside a bulk import."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from flask import Flask
from whoosh import index, writing
from whoosh.writing import SegmentWriter

from finder.db import session_scope
from finder.generate import write_csv, write_practitioners_csv
from finder.models import Location
from finder.search import MatchQuery, get_backend, merging, whoosh_backend
from finder.search.documents import document, indexed, schema
from finder.search.segments import numeric_column
from finder.search.whoosh_writer import GroupedSegmentWriter
from tests.conftest import AUSTIN, Runner, load, row


def _files(directory: Path, newest: bool = False) -> dict[str, bytes]:
    """The segment files of an index (of its newest segment only, if asked), by kind
    (segment names are random)."""
    paths = [path for path in directory.iterdir() if path.suffix in (".pst", ".trm", ".col")]
    if newest:
        latest = max(paths, key=lambda path: path.stat().st_mtime_ns).name.split(".", 1)[0]
        paths = [path for path in paths if path.name.startswith(latest + ".")]
    return {path.name.split(".", 1)[1]: path.read_bytes() for path in paths}


def test_grouped_writer_writes_the_files_whoosh_writes(app: Flask, tmp_path: Path) -> None:
    load(app, [row(f"r{n}", f"Clinic {n}", AUSTIN, services="Dry needling; Cupping",
                   conditions="Back pain; Neck pain", insurance="Aetna; Cigna",
                   languages="English; Spanish", techniques="trigger_point",
                   description=f"Patient number {n} treated for low back pain.")
               for n in range(300)])
    with session_scope(app) as session:
        documents = [document(location) for location in indexed(session, list(range(1, 301)))]
    written = {}
    for name, writer_class in (("whoosh", SegmentWriter), ("grouped", GroupedSegmentWriter)):
        folder = tmp_path / name
        folder.mkdir()
        writer = writer_class(index.create_in(str(folder), schema()), compound=False)
        for fields in documents:
            writer.add_document(**fields)
        writer.commit()
        written[name] = _files(folder)
    assert len(written["whoosh"]) > 5
    assert written["grouped"] == written["whoosh"]


def test_merging_segments_writes_the_files_whoosh_writes(app: Flask, tmp_path: Path) -> None:
    load(app, [row(f"r{n}", f"Clinic {n}", AUSTIN, services="Dry needling; Cupping",
                   conditions="Back pain" if n % 2 else "Neck pain", languages="English",
                   description=f"Patient number {n} treated for sciatica.")
               for n in range(240)])
    with session_scope(app) as session:
        documents = [document(location) for location in indexed(session, list(range(1, 241)))]
    source = tmp_path / "source"
    source.mkdir()
    ix = index.create_in(str(source), schema())
    for start in range(0, 240, 80):  # three segments, then changes that delete from them
        writer = GroupedSegmentWriter(ix, compound=False)
        for fields in documents[start:start + 80]:
            writer.add_document(**fields)
        writer.commit(mergetype=writing.NO_MERGE)
    writer = GroupedSegmentWriter(ix, compound=False)
    for fields in documents[10:30] + documents[150:155]:
        writer.update_document(**fields)
    writer.delete_by_term("id", documents[200]["id"])
    writer.commit(mergetype=writing.NO_MERGE)
    ix.close()
    merged = {}
    for name, writer_class in (("whoosh", SegmentWriter), ("grouped", GroupedSegmentWriter)):
        folder = tmp_path / name
        shutil.copytree(source, folder)
        copy = index.open_dir(str(folder))
        writer_class(copy, compound=False).commit(mergetype=writing.OPTIMIZE)
        assert len(copy._segments()) == 1 and copy.doc_count() == 239
        copy.close()
        merged[name] = _files(folder, newest=True)
    assert len(merged["whoosh"]) > 5
    assert merged["grouped"] == merged["whoosh"]


def test_catching_up_merges_small_segments_and_leaves_large_ones(
        app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(whoosh_backend, "SERVING_MERGE_DOCS", 40)
    load(app, [row(f"big{n}", f"Clinic {n}", AUSTIN) for n in range(60)])  # one segment
    backend = get_backend(app)
    assert isinstance(backend, whoosh_backend.WhooshBackend)
    for commit in range(12):
        load(app, [row(f"s{commit}-{n}", f"Small {commit} {n}", AUSTIN) for n in range(3)])
        assert len(backend._ix._segments()) <= 1 + merging.MERGE_AT  # the large one
    sizes = sorted(segment.doc_count_all() for segment in backend._ix._segments())
    assert sizes[-1] == 61  # the 60 and the first meta document, never merged again
    assert sum(sizes) < 61 + 12 * 4  # merged segments dropped their deleted meta documents
    assert len(backend.match(MatchQuery(AUSTIN[0], AUSTIN[1], None)).ids) == 60 + 12 * 3


def test_a_document_added_twice_by_one_writer_is_held_once(tmp_path: Path) -> None:
    ix = index.create_in(str(tmp_path), schema())
    writer = GroupedSegmentWriter(ix, compound=False)
    writer.add_document(id="1", name="Alpha PT", listing=1)
    writer.add_document(id="2", name="Beta PT", listing=2)
    writer.add_document(id="1", name="Alpha Physio", listing=1)
    writer.add_document(id="3", name="Gamma PT", listing=3)
    writer.delete_by_term("id", "3")
    writer.commit()
    with ix.searcher() as searcher:
        assert [searcher.stored_fields(n)["id"] for n in searcher.document_numbers()] == [
            "2", "1"]
        assert searcher.doc_count() == 2
        assert list(searcher.document_numbers(name=b"physio")) == list(
            searcher.document_numbers(id="1"))
    ix.close()


@pytest.fixture
def directory_files(tmp_path: Path) -> tuple[Path, Path]:
    locations, people = tmp_path / "listings.csv", tmp_path / "practitioners.csv"
    with open(locations, "w", newline="") as handle:
        write_csv(handle, 120, seed=5)
    with open(people, "w", newline="") as handle:
        write_practitioners_csv(handle, 120, seed=5)
    return locations, people


def test_import_is_indexed_alongside_and_each_listing_once(
        runner: Runner, app: Flask, directory_files: tuple[Path, Path]) -> None:
    locations, people = directory_files
    # An index that has caught up once (as a server's has): a new index is rebuilt first,
    # and that rebuild may meet some of the import's listings again.
    get_backend(app).catch_up()
    first = runner.invoke("import", str(locations), "--commit-every", "7")
    assert "created 120" in first.output and "indexed 120 change(s)" in first.output
    # One row per transaction: a listing's practitioners come in several, so the indexer
    # meets listings it has already added before its single commit.
    second = runner.invoke("import", str(people), "--kind", "practitioners",
                           "--commit-every", "1")
    assert "rejected 0" in second.output
    backend = get_backend(app)
    backend.catch_up()
    matches = backend.match(MatchQuery(AUSTIN[0], AUSTIN[1], None))
    assert len(matches.ids) == len(set(matches.ids)) == 120
    listed = backend.listings([int(listing_id) for listing_id in matches.ids])
    with session_scope(app) as session:
        stored = {location.id: sorted(p.name for p in location.practitioners)
                  for location in session.scalars(sa.select(Location))}
    assert {listing_id: sorted(p["name"] for p in body["practitioners"])
            for listing_id, body in listed.items()} == stored
    assert sum(map(len, stored.values())) > 120


def test_numeric_columns_read_whole_hold_what_whoosh_reads(tmp_path: Path) -> None:
    ix = index.create_in(str(tmp_path), schema())
    with ix.writer() as writer:
        for n in range(40):
            values: dict[str, object] = {"id": str(n), "listing": n * 1_000_003,
                                         "lat": 30.0 + n / 7, "lon": -97.0 - n / 9,
                                         "flags": n % 16, "verified_on": 739_000 + n}
            if n % 3 == 0:  # the others keep the default, which Whoosh does not store
                values["price_min"] = 40.0 + n
            if n < 25:  # the last documents' default is not stored at all
                values["certified_until"] = 740_000 + n
            writer.add_document(**values)
    with ix.writer() as writer:
        writer.delete_by_term("id", "7")
    with ix.searcher() as searcher:
        (reader, _offset), = searcher.reader().leaf_readers()
        for field, dtype in (("listing", np.int64), ("lat", np.float64), ("lon", np.float64),
                             ("flags", np.uint8), ("price_min", np.float64),
                             ("certified_until", np.int32), ("verified_on", np.int32)):
            whole = numeric_column(reader, field, dtype)
            one_by_one = np.array(list(reader.column_reader(field)), dtype=dtype)
            assert whole.dtype == one_by_one.dtype and whole.tolist() == one_by_one.tolist()
        assert numeric_column(reader, "price_min", np.float64)[1] == np.inf
