"""Reading listing files: bytes to text, and CSV text to rows with their line numbers.

A file is read line by line where it matters, so one bad line (a byte that is not UTF-8, a
quote that never closes, a NUL) is reported with its line number and never garbles or
swallows the good rows around it.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO

from .errors import FinderError

# Cells are limited by the validation, which names the column; the csv module's own limit
# (128 KiB) would only say that "a field" is too large.
csv.field_size_limit(2**31 - 1)


class CsvFormatError(FinderError):
    """The file as a whole cannot be read (wrong header, not CSV, not text)."""

    code = "invalid_csv"
    status = 400


@dataclass
class DecodedText:
    text: str
    # Line number -> why the line was read differently from the rest of the file.
    notes: dict[int, str] = field(default_factory=dict)


def decode(data: bytes) -> DecodedText:
    """Return a file's text: UTF-8 (with or without BOM), or UTF-16 with a BOM.

    A line that is not UTF-8 in an otherwise UTF-8 file is read as Windows-1252 (what Excel
    writes) with a note naming it; the other lines stay exactly as written.
    """
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return DecodedText(data.decode("utf-16"))
        except UnicodeDecodeError as exc:
            raise CsvFormatError("The file starts like UTF-16 text but is not; save it as "
                                 "'CSV UTF-8'.") from exc
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8):]
    try:
        return DecodedText(data.decode("utf-8"))
    except UnicodeDecodeError:
        pass
    lines, notes = [], {}
    for number, raw in enumerate(data.split(b"\n"), start=1):
        try:
            lines.append(raw.decode("utf-8"))
            continue
        except UnicodeDecodeError as exc:
            byte = raw[exc.start]
        try:
            lines.append(raw.decode("cp1252"))
        except UnicodeDecodeError as exc:
            raise CsvFormatError(
                f"Line {number} is neither UTF-8 nor Windows-1252 text (byte {byte:#04x}); "
                "is this a spreadsheet or a text file? Save it as 'CSV UTF-8'.") from exc
        notes[number] = (f"the line is not UTF-8 (byte {byte:#04x}); it was read as "
                         "Windows-1252: check its accents")
    return DecodedText("\n".join(lines), notes)


class _Lines:
    """A file's lines handed to the csv module one at a time, so each record's lines are
    known and reading can start again after a broken record."""

    def __init__(self, lines: Sequence[str], start: int) -> None:
        self.lines = lines
        self.next = start

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        if self.next >= len(self.lines):
            raise StopIteration
        self.next += 1
        return self.lines[self.next - 1]


def read_rows(handle: IO[str], notes: Mapping[int, str] | None = None,
              allowed: Sequence[str] = (), required: Sequence[str] = (),
              ) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield (line number, row) after checking the header; raise CsvFormatError if unusable.

    A row that cannot be used comes out as ``{"__error__": reason}`` and a row read with a
    caveat carries ``"__note__"``, so the importer reports them and goes on.
    """
    lines = list(handle)  # split on \\n, \\r\\n or \\r only (a StringIO opened with newline="")
    header, delimiter, start = _header(lines, allowed, required)
    width = len(header)
    notes = notes or {}
    for first, last, cells in _records(lines, start, delimiter, header):
        line = first + 1
        if isinstance(cells, str):
            yield line, {"__error__": cells}
            continue
        row = dict(zip(header, cells, strict=False))
        row.pop("", None)  # cells under an empty header, e.g. a trailing comma
        extra = cells[width:]
        if any(cell.strip() for cell in extra):
            row["__extra__"] = ",".join(extra)
        if "\x00" in lines[first] or last - first > 1:
            nul = next((name for name, value in row.items() if "\x00" in value), None)
            if nul is not None:
                row["__error__"] = (f"{nul}: contains a NUL character (\\0), which cannot be "
                                    "stored; remove it")
        if notes:
            noted = [notes[number] for number in range(first + 1, last + 1) if number in notes]
            if noted:
                row["__note__"] = noted[0]
        yield line, row


def _header(lines: Sequence[str], allowed: Sequence[str], required: Sequence[str]
            ) -> tuple[list[str], str, int]:
    """Return the header's column names, the delimiter and the index of the first row."""
    start = next((i for i, line in enumerate(lines) if line.strip()), None)
    if start is None:
        raise CsvFormatError("The file is empty; expected a header row naming the columns.")
    first = lines[start]
    # Spreadsheets' "Unicode text" export is tab-separated.
    delimiter = "\t" if "\t" in first and "," not in first else ","
    try:
        header = [name.strip() for name in next(csv.reader([first], delimiter=delimiter))]
    except csv.Error as exc:
        raise CsvFormatError(f"The header row cannot be read as CSV: {exc}.") from exc
    if len(header) == 1 and ";" in header[0]:
        raise CsvFormatError("The header has no commas but has semicolons: save the file as "
                             "comma-separated CSV (cells may still hold ';' lists).")
    unknown = [name for name in header if name and name not in allowed]
    if unknown:
        raise CsvFormatError(
            f"Unknown column(s): {', '.join(unknown)}. Allowed columns: {', '.join(allowed)}.")
    for name in dict.fromkeys(header):
        places = [str(i + 1) for i, other in enumerate(header) if other == name]
        if name and len(places) > 1:
            raise CsvFormatError(f"Column {name!r} appears more than once in the header "
                                 f"(columns {' and '.join(places)}); keep one.")
    missing = [name for name in required if name not in header]
    if missing:
        raise CsvFormatError(f"Missing required column(s): {', '.join(missing)}.")
    return header, delimiter, start + 1


def _records(lines: Sequence[str], start: int, delimiter: str, header: list[str]
             ) -> Iterator[tuple[int, int, list[str] | str]]:
    """Yield (index of the first line, index after the last, cells or why the record is
    unusable) for each non-blank record."""
    feed = _Lines(lines, start)
    reader = csv.reader(feed, delimiter=delimiter)
    while True:
        first = feed.next
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield first, feed.next, f"the line cannot be read as CSV: {exc}"
            continue
        if (feed.next - first > 1
                and _broken(lines, first, feed.next, delimiter, len(header), cells)):
            yield first, first + 1, _unclosed(lines[first], delimiter, first + 1, header)
            feed = _Lines(lines, first + 1)  # read on from the next line
            reader = csv.reader(feed, delimiter=delimiter)
            continue
        if cells:
            yield first, feed.next, cells


def _broken(lines: Sequence[str], first: int, end: int, delimiter: str, width: int,
            cells: list[str]) -> bool:
    """Tell whether a record spanning several lines is a quote that never closed: a cell
    with a line break is legitimate, but not one that swallowed whole rows."""
    if len(cells) != width:
        return True
    for line in lines[first + 1:end]:
        try:
            alone = next(csv.reader([line], delimiter=delimiter))
        except (csv.Error, StopIteration):
            continue
        if len(alone) >= width:
            return True
    return False


def _unclosed(line: str, delimiter: str, number: int, header: list[str]) -> str:
    """Say where a quote opened and never closed."""
    try:
        cells = next(csv.reader(io.StringIO(line, newline=""), delimiter=delimiter))
    except (csv.Error, StopIteration):
        cells = []
    column = header[len(cells) - 1] if 0 < len(cells) <= len(header) else "a cell"
    return (f"{column}: unclosed quote opened at line {number}; the row is skipped and "
            "reading goes on at the next line")
