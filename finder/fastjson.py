"""JSON through orjson: for Flask's responses and for the database's JSON columns.

A results page carries ten full listings (about 16 kB of JSON), and indexing decodes five JSON
columns of every listing; the standard library is several times slower at both.
"""

from __future__ import annotations

from typing import Any

import orjson
from flask.json.provider import DefaultJSONProvider

# Keys sorted and dates as HTTP dates, as Flask's own provider writes them.
_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME


def dumps(value: Any) -> str:
    """Serialise a JSON column's value (the engine's ``json_serializer``)."""
    return orjson.dumps(value).decode()


loads = orjson.loads  # the engine's ``json_deserializer``


class OrjsonProvider(DefaultJSONProvider):
    """Flask's JSON provider with orjson doing the encoding and decoding."""

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        # The standard library's keyword arguments (from Jinja's ``tojson`` or the debug-mode
        # response) only choose indentation here; orjson's output is always compact.
        options = _OPTIONS | (orjson.OPT_INDENT_2 if kwargs.get("indent") else 0)
        return orjson.dumps(obj, default=kwargs.get("default", self.default),
                            option=options).decode()

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return orjson.loads(s)
