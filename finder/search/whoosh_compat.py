"""A fix to whoosh-reloaded 2.7.5, whose upstream is no longer maintained.

While writing a segment Whoosh looks up every posting's field length, and for a field without
lengths (``scorable=False``, as all of ours are: finder scores with its own function) it checks
the file system once per posting because a missing column is never remembered. Remembering it
makes indexing markedly faster; behaviour is otherwise unchanged.
"""

from __future__ import annotations

from typing import Any

from whoosh.codec.whoosh3 import W3PerDocReader


def _cached_reader(self: Any, fieldname: str, column: Any) -> Any:
    try:
        return self._readers[fieldname]
    except KeyError:
        reader = self.column_reader(fieldname, column) if self.has_column(fieldname) else None
        self._readers[fieldname] = reader  # segments are immutable: a miss stays a miss
        return reader


W3PerDocReader._cached_reader = _cached_reader
