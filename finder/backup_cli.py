"""`finder backup` and `finder restore`: copy the live SQLite database out, and bring it back."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask import current_app

from . import backup as backups
from . import migrate
from .db import database_url, get_database, make_engine
from .errors import FinderError
from .search import get_backend


def _megabytes(size: int) -> str:
    return f"{size / 2**20:.1f} MB"


@click.command("backup")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace FILE if it exists.")
@click.option("--pages-per-step", type=click.IntRange(1), default=backups.PAGES_PER_STEP,
              show_default=True, help="Database pages copied between progress updates.")
def backup_command(file: Path, force: bool, pages_per_step: int) -> None:
    """Copy the live SQLite database to FILE, consistently, while it is in use."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    try:
        source = backups.sqlite_path(database_url(app.config))
        backups.check_target(source, file, force=force)
        with click.progressbar(length=0, label="Backing up", file=sys.stderr) as bar:

            def progress(copied: int, total: int) -> None:
                bar.length = total
                bar.update(copied - bar.pos)

            summary = backups.backup(source, file, force=force, pages_per_step=pages_per_step,
                                     progress=progress)
    except FinderError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"backed up to {summary.path}: {_megabytes(summary.size)}, "
               f"{summary.listings} listing(s) ({summary.published} published), "
               f"schema revision {summary.revision}; integrity check ok")


@click.command("restore")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def restore_command(file: Path) -> None:
    """Replace the SQLite database with the backup FILE (stop the servers first), upgrade it
    if it is older, and rebuild the search index from it."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    try:
        database = backups.sqlite_path(database_url(app.config))
        staged = backups.stage(file, database)
    except FinderError as exc:
        raise click.ClickException(exc.message) from exc
    try:
        before = backups.inspect(staged)
        engine = make_engine(f"sqlite:///{staged}")
        try:
            migrate.upgrade(engine)
        finally:
            engine.dispose()
        backups.renew_identity(staged)
        get_database(app).dispose()  # no connection of ours may hold the old file
        backups.swap(staged, database)
    except FinderError as exc:
        backups.discard(staged)
        raise click.ClickException(exc.message) from exc
    except BaseException:
        backups.discard(staged)
        raise
    after = backups.inspect(database)
    upgraded = (f", schema upgraded from {before.revision} to {after.revision}"
                if before.revision != after.revision else "")
    click.echo(f"restored {file}: {after.listings} listing(s) ({after.published} published)"
               f"{upgraded}")
    # The database has a new identity, so any process would rebuild the index by itself;
    # rebuilding here means the first search after the restore does not wait for it.
    with click.progressbar(length=after.published, label="Indexing", show_pos=True,
                           file=sys.stderr) as bar:
        count = get_backend().rebuild(progress=bar.update)
    click.echo(f"indexed {count} published listing(s)")
