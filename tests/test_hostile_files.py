"""Hostile and broken files: a bad line is reported where it is and never takes good rows
with it, and good text is never garbled by a neighbour's bad bytes."""

from __future__ import annotations

import codecs
import io
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask

from finder.csv_input import CsvFormatError, decode
from finder.db import session_scope
from finder.geocode import get_geocoder
from finder.importer import ImportReport, import_csv, read_rows
from finder.models import Location
from tests.conftest import Runner

HEADER = "external_id,name,postcode,latitude,longitude,description\n"


def good_rows(first: int, count: int) -> str:
    return "".join(f"r{i},Clinic {i},78701,30.27,-97.74,Dry needling for back pain.\n"
                   for i in range(first, first + count))


def imported(app: Flask, data: bytes) -> tuple[ImportReport, dict[str, Location]]:
    decoded = decode(data)
    with session_scope(app) as session:
        report = import_csv(session, get_geocoder(app),
                            read_rows(io.StringIO(decoded.text, newline=""), decoded.notes),
                            default_country="US")
        session.commit()
        stored = {location.external_id or "": location
                  for location in session.scalars(sa.select(Location))}
        session.expunge_all()
    return report, stored


@pytest.mark.parametrize(("broken", "column"), [
    ('bad,Broken Clinic,78701,30.27,-97.74,"starts a quote and never closes it\n', "description"),
    ('bad,"Broken Clinic,78701,30.27,-97.74,Dry needling.\n', "name"),
])
def test_unclosed_quote_rejects_its_row_and_keeps_every_following_one(
        app: Flask, broken: str, column: str) -> None:
    text = HEADER + good_rows(0, 2) + broken + good_rows(2, 22)
    report, stored = imported(app, text.encode())
    assert report.created == 24
    assert len(report.rejected) == 1
    rejected = report.rejected[0]
    assert rejected.line == 4
    assert rejected.reason.startswith(f"{column}: unclosed quote opened at line 4")
    assert set(stored) == {f"r{i}" for i in range(24)}
    assert stored["r2"].description == "Dry needling for back pain."


def test_unclosed_quote_closed_by_a_later_row_still_keeps_that_row(app: Flask) -> None:
    text = (HEADER + 'bad,Broken,78701,30.27,-97.74,"opens here\n'
            + 'r1,Clinic 1,78701,30.27,-97.74,"says ""hi"" and closes"\n' + good_rows(2, 3))
    report, stored = imported(app, text.encode())
    assert [r.line for r in report.rejected] == [2]
    assert set(stored) == {"r1", "r2", "r3", "r4"}
    assert stored["r1"].description == 'says "hi" and closes'


def test_line_breaks_inside_a_quoted_description_are_kept(app: Flask) -> None:
    text = (HEADER + 'a,Alpha,78701,30.27,-97.74,"First line,\nsecond line."\n'
            + good_rows(1, 2))
    report, stored = imported(app, text.encode())
    assert report.rejected == [] and report.created == 3
    assert stored["a"].description == "First line,\nsecond line."


def test_one_windows_1252_line_leaves_the_utf8_lines_exact(app: Flask) -> None:
    data = (HEADER.encode() + "a,Café Ñandú,78701,30.27,-97.74,Über gut.\n".encode()
            + "b,Crème Physio,78701,30.27,-97.74,Fine.\n".encode("cp1252")
            + "c,Zoë's Rehab,78701,30.27,-97.74,Naïve.\n".encode())
    report, stored = imported(app, data)
    assert report.created == 3
    assert stored["a"].name == "Café Ñandú" and stored["a"].description == "Über gut."
    assert stored["c"].name == "Zoë's Rehab"
    assert stored["b"].name == "Crème Physio"
    assert [(w.line, w.external_id) for w in report.warnings] == [(3, "b")]
    assert "not UTF-8 (byte 0xe8)" in report.warnings[0].reason


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be"])
def test_spreadsheet_unicode_text_is_read(app: Flask, encoding: str) -> None:
    text = ("external_id\tname\tpostcode\tdescription\n"
            "a\tCafé Physio\t78701\tDry needling, manual therapy.\n")
    data = text.encode(encoding)
    if encoding == "utf-16-be":
        data = codecs.BOM_UTF16_BE + data
    report, stored = imported(app, data)
    assert report.rejected == [] and report.created == 1
    assert stored["a"].name == "Café Physio"
    assert stored["a"].description == "Dry needling, manual therapy."


def test_nul_byte_is_refused_for_its_row_only(app: Flask) -> None:
    text = HEADER + good_rows(0, 1) + "bad,Nul\x00Clinic,78701,30.27,-97.74,x\n" + good_rows(1, 1)
    report, stored = imported(app, text.encode())
    assert set(stored) == {"r0", "r1"}
    assert report.rejected[0].line == 3
    assert report.rejected[0].reason.startswith("name: contains a NUL character")


def test_duplicated_header_column_is_an_error() -> None:
    with pytest.raises(CsvFormatError, match=r"Column 'name' appears more than once in the "
                                             r"header \(columns 2 and 4\)"):
        list(read_rows(io.StringIO("external_id,name,postcode,name\na,A,78701,B\n")))


def test_oversized_cell_is_reported_with_its_column(app: Flask) -> None:
    text = (HEADER + good_rows(0, 1) + "big,Big,78701,30.27,-97.74," + "x" * 300_000 + "\n"
            + good_rows(1, 1))
    report, stored = imported(app, text.encode())
    assert set(stored) == {"r0", "r1"}
    assert report.rejected[0].reason == "description: longer than 5000 characters"


def test_bytes_that_are_no_text_encoding_are_refused_with_the_line() -> None:
    with pytest.raises(CsvFormatError, match="Line 2 is neither UTF-8 nor Windows-1252"):
        decode(HEADER.encode() + b"a,\x81\x8d\xff,78701\n")


def test_cli_reports_the_line_read_as_windows_1252(runner: Runner, tmp_path: Path) -> None:
    path = tmp_path / "mixed.csv"
    path.write_bytes(HEADER.encode() + "a,Café,78701,30.27,-97.74,x\n".encode()
                     + "b,Crème,78701,30.27,-97.74,x\n".encode("cp1252"))
    result = runner.invoke("import", str(path))
    assert "created 2" in result.output
    assert "line 3 (b): the line is not UTF-8" in result.output
