"""The server's access log, without owners' private links in it."""

from __future__ import annotations

import re
from typing import Any

from gunicorn.glogging import Logger

# An owner's link (/manage/<token>, /verify/<token>) is a key to a listing: a log must not
# hold it, nor the Referer of the requests its page makes.
PRIVATE_LINK = re.compile(r"(/(?:manage|verify)/)(?!thanks\b)[^/?#\s]+")
HIDDEN = r"\1[private]"
# A query string holds what a patient searched for and where they are.
QUERY = re.compile(r"\?[^\s\"#]*")


# gunicorn's usual line, ending with the request id the app answered with.
ACCESS_LOG_FORMAT = ('%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" '
                     'id=%({x-request-id}o)s')


def redact(text: str) -> str:
    """Hide owners' private links in ``text``."""
    return PRIVATE_LINK.sub(HIDDEN, text)


def loggable(text: str) -> str:
    """Hide owners' private links and drop query strings from ``text``."""
    # Most of a request's atoms hold neither: a substring test spares them two regexes.
    if "?" not in text and "/manage/" not in text and "/verify/" not in text:
        return text
    return QUERY.sub("", redact(text))


class AccessLogger(Logger):  # type: ignore[misc]  # gunicorn has no type hints
    """Gunicorn's logger, with private links and query strings taken out of each access log
    line."""

    def atoms(self, resp: Any, req: Any, environ: Any, request_time: Any) -> dict[str, Any]:
        atoms: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        # Every text atom: the request line, the path, headers and environment values
        # ("{referer}i", "{raw_uri}e") alike.
        cleaned = {key: loggable(value) if isinstance(value, str) else value
                   for key, value in atoms.items()}
        for bare_query in ("q", "{query_string}e"):  # the query string without its "?"
            if bare_query in cleaned:
                cleaned[bare_query] = ""
        return cleaned
