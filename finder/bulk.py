"""How bulk commands run: below the server's CPU priority, with few garbage collections."""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress

from flask import current_app


@contextmanager
def bulk_work() -> Iterator[None]:
    """Run bulk work at the CPU priority FINDER_BULK_NICENESS, collecting garbage seldom.

    A lower priority lets a server on the same machine answer searches first. The cyclic
    collector's full passes are put off: importing and indexing allocate millions of
    short-lived objects but make almost no garbage cycles, yet at the default thresholds a
    full pass ran every few thousand listings and took a third of the time of indexing 100k
    listings. The indexing process an import forks inherits both.
    """
    priority = os.getpriority(os.PRIO_PROCESS, 0)
    with suppress(OSError):  # a priority is a courtesy: never a reason to stop
        os.setpriority(os.PRIO_PROCESS, 0, priority + current_app.config["BULK_NICENESS"])
    previous = gc.get_threshold()
    gc.set_threshold(10_000, 50, 50)
    try:
        yield
    finally:
        gc.set_threshold(*previous)
        with suppress(OSError):  # only a privileged process may raise it again (`finder demo`)
            os.setpriority(os.PRIO_PROCESS, 0, priority)
