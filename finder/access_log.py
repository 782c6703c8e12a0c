"""The server's access log, without owners' private links in it."""

from __future__ import annotations

import re
from typing import Any

from gunicorn.glogging import Logger

# An owner's link (/manage/<token>) is a key to a listing: a log must not hold it, nor the
# Referer of the requests its page makes.
PRIVATE_LINK = re.compile(r"(/manage/)(?!thanks\b)[^/?#\s]+")
HIDDEN = r"\1[private]"


def redact(text: str) -> str:
    return PRIVATE_LINK.sub(HIDDEN, text)


class AccessLogger(Logger):  # type: ignore[misc]  # gunicorn has no type hints
    """Gunicorn's logger, with private links taken out of each access log line."""

    def atoms(self, resp: Any, req: Any, environ: Any, request_time: Any) -> dict[str, Any]:
        atoms: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        # Every text atom: the request line, the path, headers and environment values
        # ("{referer}i", "{raw_uri}e") alike.
        return {key: redact(value) if isinstance(value, str) else value
                for key, value in atoms.items()}
