"""Reading listing documents from JSON (a list of documents, or one) and NDJSON (one
document per line), each with its record or line number."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

from .errors import FinderError


class JsonFormatError(FinderError):
    """The file as a whole cannot be read as JSON listing documents."""

    code = "invalid_json"
    status = 400


class Unreadable(str):
    """A line of an NDJSON file that is not JSON: why, to be reported for that line."""

    __slots__ = ()


def read_documents(text: str, ndjson: bool) -> Iterator[tuple[int, Any]]:
    """Yield (number, document): the record's position in a JSON list, or its line number
    in an NDJSON file (where a line that is not JSON comes out as ``Unreadable``)."""
    if ndjson:
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    yield number, orjson.loads(line)
                except orjson.JSONDecodeError as exc:
                    yield number, Unreadable(f"the line is not JSON: {exc.msg} at column "
                                             f"{exc.colno}")
        return
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise JsonFormatError(f"The file is not valid JSON: {exc.msg} at line {exc.lineno}, "
                              f"column {exc.colno}. (One document per line? Use "
                              "--format ndjson.)") from None
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        raise JsonFormatError("A JSON file of listings holds a list of listing documents "
                              f"(or one), not a {type(data).__name__}.")
    yield from enumerate(data, start=1)
