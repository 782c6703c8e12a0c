"""Merging small segments beside the index's writers (finder.search.merging)."""

from __future__ import annotations

from pathlib import Path

from whoosh import index, writing

from finder.search import merging
from finder.search.documents import schema
from finder.search.whoosh_writer import GroupedSegmentWriter

SEGMENTS, PER_SEGMENT = merging.MERGE_AT + 2, 5


def _small_segments(path: Path) -> index.FileIndex:
    """An index of SEGMENTS small segments: listings 1..SEGMENTS x PER_SEGMENT."""
    ix = index.create_in(str(path), schema())
    for segment in range(SEGMENTS):
        writer = GroupedSegmentWriter(ix, compound=False)
        for n in range(PER_SEGMENT):
            listing = segment * PER_SEGMENT + n + 1
            writer.add_document(id=str(listing), name=f"Clinic {listing}", listing=listing)
        writer.commit(mergetype=writing.NO_MERGE)
    return ix


def _held(ix: index.FileIndex) -> dict[str, list[str]]:
    """The listings the index holds: by id, the names of each copy (one, unless held twice)."""
    held: dict[str, list[str]] = {}
    with ix.searcher() as searcher:
        physio = set(searcher.document_numbers(name=b"physio"))
        for docnum in searcher.reader().all_doc_ids():
            held.setdefault(searcher.stored_fields(docnum)["id"], []).append(
                "physio" if docnum in physio else "clinic")
    return held


def _aside_files(path: Path) -> list[str]:
    return [file.name for file in path.iterdir() if file.name.startswith(merging.ASIDE)]


def test_a_merge_is_written_without_the_lock_and_keeps_the_changes_made_meanwhile(
        tmp_path: Path) -> None:
    ix = _small_segments(tmp_path)
    writer = GroupedSegmentWriter(ix, compound=False)  # holds the index's lock throughout
    merged = merging.prepare(ix, up_to=1_000)
    assert merged is not None and len(merged.replaces) == SEGMENTS
    assert _aside_files(tmp_path)
    # Meanwhile a commit changes listings held by segments being merged, and deletes one.
    writer.update_document(id="3", name="Physio 3", listing=3)
    writer.update_document(id="17", name="Physio 17", listing=17)
    writer.delete_by_term("id", "40")
    writer.add_document(id="99", name="Clinic 99", listing=99)
    writer.commit(mergetype=writing.NO_MERGE)

    assert merging.swap_in(ix, merged)
    assert not _aside_files(tmp_path)
    segments = ix._segments()
    assert len(segments) == 2  # the merged one, and the commit's own
    held = _held(ix)
    expected = {str(n) for n in range(1, SEGMENTS * PER_SEGMENT + 1)} - {"40"} | {"99"}
    assert set(held) == expected
    assert all(len(names) == 1 for names in held.values())  # never twice
    assert held["3"] == held["17"] == ["physio"] and held["4"] == ["clinic"]
    ix.close()


def test_a_merge_whose_segments_a_commit_merged_meanwhile_is_dropped(tmp_path: Path) -> None:
    ix = _small_segments(tmp_path)
    merged = merging.prepare(ix, up_to=1_000)
    assert merged is not None
    GroupedSegmentWriter(ix, compound=False).commit(mergetype=writing.OPTIMIZE)
    assert not merging.swap_in(ix, merged)
    assert not _aside_files(tmp_path)
    assert len(ix._segments()) == 1 and len(_held(ix)) == SEGMENTS * PER_SEGMENT
    ix.close()


def test_a_merge_waits_for_the_lock_only_so_long(tmp_path: Path) -> None:
    ix = _small_segments(tmp_path)
    merged = merging.prepare(ix, up_to=1_000)
    assert merged is not None
    writer = GroupedSegmentWriter(ix, compound=False)
    assert not merging.swap_in(ix, merged, timeout=0.05)
    writer.cancel()
    assert not _aside_files(tmp_path) and len(ix._segments()) == SEGMENTS
    ix.close()


def test_merging_aside_deletes_what_a_killed_merge_left(tmp_path: Path) -> None:
    ix = _small_segments(tmp_path)
    assert merging.prepare(ix, up_to=1_000) is not None  # its process "dies" here
    left = _aside_files(tmp_path)
    assert left
    assert merging.merge_aside(ix, tmp_path, up_to=1_000)
    assert not set(left) & set(_aside_files(tmp_path)) and not _aside_files(tmp_path)
    assert len(ix._segments()) == 1 and len(_held(ix)) == SEGMENTS * PER_SEGMENT
    ix.close()


def test_only_small_segments_are_merged_and_only_once_enough_gather(tmp_path: Path) -> None:
    ix = _small_segments(tmp_path)
    assert merging.prepare(ix, up_to=PER_SEGMENT) is None  # none is under 5 listings
    merged = merging.prepare(ix, up_to=3 * PER_SEGMENT)
    assert merged is not None and len(merged.replaces) == 3  # up to 15 listings in all
    assert merging.swap_in(ix, merged)
    assert sorted(s.doc_count_all() for s in ix._segments()) == [PER_SEGMENT] * (
        SEGMENTS - 3) + [3 * PER_SEGMENT]
    assert merging.prepare(ix, up_to=3 * PER_SEGMENT) is None  # 7 small ones left
    ix.close()


def test_segments_of_deleted_listings_only_are_merged_into_nothing(tmp_path: Path) -> None:
    ix = _small_segments(tmp_path)
    writer = GroupedSegmentWriter(ix, compound=False)
    for listing in range(1, SEGMENTS * PER_SEGMENT + 1):
        writer.delete_by_term("id", str(listing))
    writer.commit(mergetype=writing.NO_MERGE)
    merged = merging.prepare(ix, up_to=1_000)
    assert merged is not None and merged.segment.doc_count_all() == 0
    assert merging.swap_in(ix, merged)
    assert ix._segments() == [] and not _aside_files(tmp_path)
    ix.close()
