"""Backups of the SQLite database: a consistent copy of a live database, and bringing one back.

A backup is made with SQLite's online backup API inside one read transaction: in WAL mode
that transaction sees one committed state of the database from start to end while imports and
searches go on writing and reading (a reader never blocks a writer), so the copy never
restarts and never mixes two states. Both directions write a temporary file beside their target
and rename it at the end, so an interrupted run never leaves half a database under the name.
"""

from __future__ import annotations

import os
import sqlite3
import stat
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

from alembic.script import ScriptDirectory
from alembic.util import CommandError

from .errors import FinderError
from .migrate import alembic_config

PAGES_PER_STEP = 1024  # 4 MiB of 4 KiB pages between two progress updates
PARTIAL_SUFFIX = ".partial"
SIDE_FILES = ("-wal", "-shm", "-journal")


class BackupError(FinderError):
    """A backup or restore that cannot be done, with the reason for the operator."""


@dataclass(frozen=True)
class Summary:
    """What a database file holds, as checked after copying it."""

    path: Path
    size: int
    listings: int
    published: int
    revision: str


def sqlite_path(url: str) -> Path:
    """Return the file of a SQLite database URL; refuse any other database."""
    if not url.startswith("sqlite"):
        engine = url.split(":", 1)[0].split("+", 1)[0]
        raise BackupError(
            "`finder backup` and `finder restore` copy SQLite databases; this directory uses "
            f"{engine}. Use PostgreSQL's own tools instead: `pg_dump -Fc` to back up and "
            "`pg_restore --clean` to restore (see \"Backups\" under \"Running in production\" "
            "in the README).")
    return Path(url.split("///", 1)[1])


def _partial(target: Path) -> Path:
    """Return a new, empty temporary file beside ``target`` (same file system: rename works)."""
    handle, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.",
                                    suffix=PARTIAL_SUFFIX)
    os.close(handle)
    return Path(name)


@contextmanager
def _replaced_at_end(target: Path) -> Iterator[Path]:
    """Yield a temporary path that replaces ``target`` if the block ends well, else vanishes."""
    partial = _partial(target)
    try:
        yield partial
        _fsync(partial)
        os.replace(partial, target)
        _fsync_folder(target.parent)
    finally:
        for path in (partial, *(Path(f"{partial}{side}") for side in SIDE_FILES)):
            path.unlink(missing_ok=True)


def check_target(source: Path, target: Path, *, force: bool = False) -> None:
    """Refuse a backup that cannot or should not be made, before starting it."""
    if not source.is_file():
        raise BackupError(f"There is no database at {source} to back up.")
    if not target.parent.is_dir():
        raise BackupError(f"The folder {target.parent} does not exist; create it first.")
    if target.exists() and target.resolve() == source.resolve():
        raise BackupError(f"{target} is the live database itself; back it up elsewhere.")
    if target.exists() and not force:
        raise BackupError(f"{target} already exists; choose another name, or pass --force "
                          "to replace it.")


def backup(source: Path, target: Path, *, force: bool = False,
           pages_per_step: int = PAGES_PER_STEP,
           progress: Callable[[int, int], None] | None = None) -> Summary:
    """Copy the live database ``source`` to ``target`` and check the copy.

    ``progress(copied, total)`` is called with page counts after each step.
    """
    check_target(source, target, force=force)
    with _replaced_at_end(target) as partial:
        with closing(sqlite3.connect(source, timeout=30, isolation_level=None)) as live, \
                closing(sqlite3.connect(partial)) as copy:
            live.execute("PRAGMA busy_timeout=30000")
            # One read transaction for the whole copy: every step reads the same committed
            # state, so writers committing meanwhile neither restart the copy nor wait for it.
            live.execute("BEGIN")
            total = int(live.execute("PRAGMA page_count").fetchone()[0])

            def step(_status: int, remaining: int, pages: int) -> None:
                if progress:
                    progress(pages - remaining, pages)

            try:
                live.backup(copy, pages=pages_per_step, progress=step)
            except sqlite3.Error as exc:
                raise BackupError(f"Could not copy {source}: {exc}.") from exc
            finally:
                live.execute("COMMIT")
            if progress:
                progress(total, total)
            # A backup is one self-contained file, whatever mode the live database runs in.
            copy.execute("PRAGMA journal_mode=DELETE")
        summary = inspect(partial)
    return Summary(target, summary.size, summary.listings, summary.published,
                   summary.revision)


def inspect(path: Path) -> Summary:
    """Check that ``path`` is a sound finder database of a known revision; describe it."""
    try:
        with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as db:
            problems = [row[0] for row in db.execute("PRAGMA quick_check")]
            if problems != ["ok"]:
                raise BackupError(f"{path} is damaged: {'; '.join(problems[:5])}.")
            tables = {row[0] for row in db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")}
            if not {"alembic_version", "location"} <= tables:
                raise BackupError(f"{path} is a SQLite database but not a finder database "
                                  "(it has no finder tables).")
            revision = str(db.execute("SELECT version_num FROM alembic_version").fetchone()[0])
            listings = int(db.execute("SELECT count(*) FROM location").fetchone()[0])
            published = int(db.execute(
                "SELECT count(*) FROM location WHERE status = 'published'").fetchone()[0])
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{path} is not a SQLite database ({exc}).") from exc
    scripts = ScriptDirectory.from_config(alembic_config("sqlite://"))
    try:
        known = scripts.get_revision(revision) is not None
    except CommandError:
        known = False
    if not known:
        raise BackupError(f"{path} is a finder database of schema revision {revision!r}, "
                          "which this release does not know: was it made by a newer release? "
                          "Upgrade finder first.")
    return Summary(path, path.stat().st_size, listings, published, revision)


def stage(backup_file: Path, database: Path) -> Path:
    """Copy a backup beside the live database, for checking and upgrading before the swap."""
    if not backup_file.is_file():
        raise BackupError(f"There is no backup file at {backup_file}.")
    if backup_file.resolve() == database.resolve():
        raise BackupError(f"{backup_file} is the live database itself; restore from a copy.")
    database.parent.mkdir(parents=True, exist_ok=True)
    staged = _partial(database)
    try:
        with closing(sqlite3.connect(f"{backup_file.resolve().as_uri()}?mode=ro",
                                     uri=True)) as source, \
                closing(sqlite3.connect(staged)) as copy:
            source.backup(copy)  # also takes in a -wal left beside a copied live database
            copy.execute("PRAGMA journal_mode=DELETE")
        inspect(staged)
    except sqlite3.DatabaseError as exc:
        discard(staged)
        raise BackupError(f"{backup_file} is not a SQLite database ({exc}).") from exc
    except BaseException:
        discard(staged)
        raise
    return staged


def renew_identity(staged: Path) -> None:
    """Give the staged database a new identity, so any index derived before is rebuilt."""
    with closing(sqlite3.connect(staged)) as db, db:
        db.execute("UPDATE database_identity SET database_id = ?", (str(uuid.uuid4()),))


def swap(staged: Path, database: Path) -> None:
    """Put the staged database in place of the live one, in one rename."""
    if database.exists():
        # Closing the last connection checkpoints the WAL into the file and deletes it; if
        # it stays, another process (a server) still has the database open.
        with closing(sqlite3.connect(database, timeout=30)) as db:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        in_use = [f"{database}{side}" for side in SIDE_FILES
                  if Path(f"{database}{side}").exists()]
        if in_use:
            raise BackupError(f"The database {database} is in use ({', '.join(in_use)} "
                              "exist): stop every `finder serve` and import, then restore.")
        # The restored file keeps the owner's chosen permissions (a temporary file is 0600).
        os.chmod(staged, stat.S_IMODE(database.stat().st_mode))
    _fsync(staged)
    os.replace(staged, database)
    _fsync_folder(database.parent)


def discard(staged: Path) -> None:
    """Remove a staged copy that will not be used."""
    for path in (staged, *(Path(f"{staged}{side}") for side in SIDE_FILES)):
        path.unlink(missing_ok=True)


def _fsync(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def _fsync_folder(folder: Path) -> None:
    """Make a rename durable."""
    handle = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)
