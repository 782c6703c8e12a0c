"""Apply listing changes to the search structures in the background, off the request path.

A server's worker runs one applier thread: it applies the changes recorded in ``index_change``
a batch at a time as soon as they are committed, so a search never waits for a backlog (after
a killed import, say) to be indexed. Whoosh allows one writer, so the workers' appliers take
turns and the one holding the lock does the work; the postgis backend serialises them with an
advisory lock. Without an applier (a command, the test client) searches catch up themselves.
"""

from __future__ import annotations

import logging
import threading

from flask import Flask

from ..errors import is_disk_full
from . import SearchBackend

logger = logging.getLogger(__name__)
BATCH = 2000  # changes applied per step: a step is one index commit
INTERVAL = 0.1  # seconds between looks for new changes when there are none
RETRY = 5.0  # seconds before trying again after a failure (a full disk, a lost database)


class Applier:
    """A daemon thread applying a backend's changes until stopped."""

    def __init__(self, backend: SearchBackend) -> None:
        self.backend = backend
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="finder-applier", daemon=True)
        self.last_error = ""  # why the last attempt failed ("" once one succeeds)

    def start(self, app: Flask | None = None) -> None:
        """Start applying; with an app, ``/healthz`` reports this applier's last failure."""
        if app is not None:
            app.extensions["finder.applier"] = self
        self.backend.applies_in_requests = False
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._thread.join(timeout)
        self.backend.applies_in_requests = True

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                # An import's own indexing keeps pace with it (at a lower priority than
                # searches, in its own process): a server's step would take its turns.
                applied = self.backend.catch_up(limit=BATCH, yield_to_imports=True)
            except Exception as exc:  # logged, and tried again: the server keeps answering
                self.last_error = ("the disk is full" if is_disk_full(exc)
                                   else f"{type(exc).__name__}: {exc}")[:300]
                logger.exception("could not apply listing changes to the search index; "
                                 "trying again in %.0f s", RETRY)
                self._stop.wait(RETRY)
                continue
            self.last_error = ""
            self.backend.refresh()  # another worker or an import may have committed
            if not applied:
                self._stop.wait(INTERVAL)
