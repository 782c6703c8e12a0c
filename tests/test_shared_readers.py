"""Segment readers shared between index generations (finder.search.shared_readers)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from whoosh import index, writing

from finder.search import shared_readers
from finder.search.documents import schema
from finder.search.whoosh_writer import GroupedSegmentWriter


def _commit(ix: index.FileIndex, add: Sequence[int] = (), delete: Sequence[int] = ()) -> None:
    writer = GroupedSegmentWriter(ix, compound=False)
    for listing in delete:
        writer.delete_by_term("id", str(listing))
    for listing in add:
        writer.add_document(id=str(listing), name=f"Clinic {listing}", listing=listing)
    writer.commit(mergetype=writing.NO_MERGE)


def _found(searcher: object) -> list[str]:
    reader = searcher.reader()  # type: ignore[attr-defined]
    return sorted(reader.stored_fields(n)["id"] for n in reader.all_doc_ids())


def test_unchanged_segments_keep_their_readers_and_changed_ones_are_read_anew(
        tmp_path: Path) -> None:
    ix = index.create_in(str(tmp_path), schema())
    _commit(ix, add=[1, 2])
    _commit(ix, add=[3, 4])
    opened = shared_readers.open_newest(ix, {})
    first, known = opened.searcher, opened.readers
    assert len(opened.fresh) == 2
    assert _found(first) == ["1", "2", "3", "4"]

    _commit(ix, add=[5], delete=[3])  # the second segment changes, the first does not
    opened = shared_readers.open_newest(ix, known)
    second = opened.searcher
    assert [reader.segment().doc_count_all() for reader in opened.fresh] == [2, 1]
    assert _found(second) == ["1", "2", "4", "5"]  # 3 is gone, though the first still has it
    assert _found(first) == ["1", "2", "3", "4"]
    old, new = [r for r, _ in first.reader().leaf_readers()], [
        r for r, _ in second.reader().leaf_readers()]
    assert new[0] is old[0] and new[1] is not old[1] and len(new) == 3
    assert not first.up_to_date() and second.up_to_date()

    first.close()  # the first segment's reader is still the second generation's
    assert not old[0].is_closed and old[1].is_closed
    assert _found(second) == ["1", "2", "4", "5"]
    second.close()
    assert all(reader.is_closed for reader in new)
    ix.close()


def test_a_generation_that_cannot_be_opened_closes_what_it_opened(tmp_path: Path) -> None:
    ix = index.create_in(str(tmp_path), schema())
    _commit(ix, add=[1])
    _commit(ix, add=[2])
    opened = shared_readers.open_newest(ix, {})
    current, known = opened.searcher, opened.readers
    _commit(ix, add=[3])
    newest = [s for s in ix._segments() if shared_readers.key_of(s) not in known]
    for name in newest[0].list_files(ix.storage):  # as if merged away by another process
        ix.storage.delete_file(name)
    try:
        shared_readers.open_newest(ix, known)
    except FileNotFoundError:
        pass
    else:
        raise AssertionError("opened a generation whose files are gone")
    assert not any(reader.is_closed for reader in known.values())
    assert _found(current) == ["1", "2"]
    current.close()
    assert all(reader.is_closed for reader in known.values())
    ix.close()


def test_a_reader_holds_its_stored_fields_after_a_merge_deletes_the_files(
        tmp_path: Path) -> None:
    ix = index.create_in(str(tmp_path), schema())
    _commit(ix, add=[1, 2])
    _commit(ix, add=[3])
    opened = shared_readers.open_newest(ix, {})
    GroupedSegmentWriter(ix, compound=False).commit(mergetype=writing.OPTIMIZE)
    assert len(ix._segments()) == 1  # the two segments' files are deleted
    assert _found(opened.searcher) == ["1", "2", "3"]  # their generation still reads them
    opened.searcher.close()
    ix.close()
