"""Rate-limit counters shared by the worker processes of one machine, kept in the data folder.

``memory://`` counts in each process, so with two gunicorn workers "120/minute" lets about
240 through; Redis fixes that but is one more service to run. This storage keeps the
counters in a small SQLite database beside the directory's own (``rate-limits.sqlite3`` in
FINDER_DATA_DIR), which every worker of the machine opens.

It is a ``limits`` storage (scheme ``local://``), so ``FixedWindowRateLimiter`` and
everything built on it work unchanged, and Redis stays one setting away. (pyrate-limiter
has a SQLite bucket, but it would replace ``limits`` and its window statistics everywhere.)

Why it is exact and fast:
- one hit is one ``INSERT ... ON CONFLICT DO UPDATE ... RETURNING`` statement, which SQLite
  runs as its own write transaction: two processes never read the same count and both
  write count + 1;
- WAL and ``synchronous=OFF``: a hit writes to the log without waiting for the disk. An
  operating-system crash may forget the last counts, which only resets some windows early;
- a busy timeout makes a worker wait its turn for the lock; one that waits longer than
  that gets ``sqlite3.OperationalError``, which the callers log and serve the request
  uncounted, as they do when Redis is down;
- expired windows are deleted by the process that notices, at most once a minute.
"""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import threading
import time
import urllib.parse
from contextlib import closing
from pathlib import Path

from limits.storage import Storage

from .errors import is_disk_full

logger = logging.getLogger(__name__)

SCHEME = "local"
FILE_NAME = "rate-limits.sqlite3"
BUSY_TIMEOUT_S = 0.5  # as long as a Redis that stops answering may hold a request
PURGE_EVERY_S = 60.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS counter (
    key TEXT PRIMARY KEY,
    hits INTEGER NOT NULL,
    expires REAL NOT NULL
) WITHOUT ROWID
"""

# A window starts with its first hit and lasts ``expiry`` seconds, as in limits' Redis and
# memory storages; a hit on an expired row starts a new window.
_HIT = """
INSERT INTO counter (key, hits, expires) VALUES (:key, :amount, :now + :expiry)
ON CONFLICT (key) DO UPDATE SET
    hits = CASE WHEN expires <= :now THEN :amount ELSE hits + :amount END,
    expires = CASE WHEN expires <= :now THEN :now + :expiry ELSE expires END
RETURNING hits
"""


def database_path(uri: str, data_dir: str | os.PathLike[str]) -> Path:
    """Return the database file of a ``local://`` URI: the path it names, or the data
    folder's ``rate-limits.sqlite3`` when it names none."""
    path = urllib.parse.urlsplit(uri).path
    return Path(path) if path not in ("", "/") else Path(data_dir) / FILE_NAME


class LocalStorage(Storage):
    """Fixed-window counters in one SQLite file shared by this machine's processes."""

    STORAGE_SCHEME = [SCHEME]

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False,
                 **options: float | str | bool) -> None:
        data_dir = options.pop("data_dir", ".")
        self.path = database_path(uri or f"{SCHEME}://", str(data_dir))
        self._local = threading.local()
        self._purged = 0.0
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        # Fail now if the file cannot be made, and keep no connection open: the process
        # that builds this may fork workers, and a connection must not cross a fork.
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            # Workers start together; waiting for each other here holds no request up.
            with closing(sqlite3.connect(self.path, timeout=10.0)) as connection:
                connection.execute("PRAGMA journal_mode=WAL")
                connection.execute(_SCHEMA)
        except sqlite3.Error as exc:
            # (SQLite may say "disk I/O error" when it cannot make its journal files.)
            if not (is_disk_full(exc) or shutil.disk_usage(self.path.parent).free < 2**20):
                raise
            # The server still starts: requests are served uncounted (and logged) until
            # there is space for the counters again.
            logger.warning("rate limits cannot be counted yet: the disk is full")

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        return sqlite3.Error

    def _connection(self) -> sqlite3.Connection:
        # One connection per thread and process, opened on first use.
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None or self._local.pid != os.getpid():
            connection = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S,
                                         isolation_level=None)  # autocommit: one statement
            connection.execute("PRAGMA synchronous=OFF")
            connection.execute(_SCHEMA)  # in case the disk was full when the server started
            self._local.connection, self._local.pid = connection, os.getpid()
        return connection

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        """Add ``amount`` to the key's window (starting a new one if it expired); return
        the window's count."""
        now = time.time()
        connection = self._connection()
        row = connection.execute(_HIT, {"key": key, "amount": amount, "now": now,
                                        "expiry": expiry}).fetchone()
        if now - self._purged > PURGE_EVERY_S:
            self._purged = now
            connection.execute("DELETE FROM counter WHERE expires <= ?", (now,))
        return int(row[0])

    def get(self, key: str) -> int:
        """Return the count of the key's current window (0 when it has none)."""
        row = self._connection().execute(
            "SELECT hits FROM counter WHERE key = ? AND expires > ?", (key, time.time())
        ).fetchone()
        return int(row[0]) if row else 0

    def get_expiry(self, key: str) -> float:
        """Return when the key's current window ends, in Unix seconds (now if it has none)."""
        now = time.time()
        row = self._connection().execute(
            "SELECT expires FROM counter WHERE key = ? AND expires > ?", (key, now)
        ).fetchone()
        return float(row[0]) if row else now

    def check(self) -> bool:
        """Return whether the database answers."""
        try:
            self._connection().execute("SELECT 1 FROM counter LIMIT 1").fetchall()
        except sqlite3.Error:
            return False
        return True

    def reset(self) -> int | None:
        """Forget every counter; return how many there were."""
        return self._connection().execute("DELETE FROM counter").rowcount

    def clear(self, key: str) -> None:
        """Forget the key's counter."""
        self._connection().execute("DELETE FROM counter WHERE key = ?", (key,))
