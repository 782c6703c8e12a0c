"""The ``finder`` command: set up, import, index, generate and serve the directory."""

from __future__ import annotations

import gc
import io
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from datetime import datetime, time
from pathlib import Path
from typing import Any, TextIO

import click
import sqlalchemy as sa
from flask import Flask, current_app

from . import migrate
from .access_log import ACCESS_LOG_FORMAT
from .backup_cli import backup_command, restore_command
from .bulk import bulk_work
from .csv_input import decode
from .db import get_database, session_scope
from .errors import FinderError, is_disk_full
from .geocode import get_geocoder
from .importer import import_csv, import_documents, import_practitioners, read_rows
from .json_input import read_documents
from .mail_cli import outbox_command
from .models import IndexChange, Location, Source
from .moderation.cli import duplicates_group, users_group
from .partners.cli import partners_group
from .search import MatchQuery, get_backend
from .search.applier import Applier
from .trust.cli import nppes_group, verify_group
from .trust.verification import today

MAX_REPORTED = 50
RECORDS_PER_COMMIT = 100  # records per transaction of an import indexed at its pace...
BULK_RECORDS = 10_000  # ...up to this many; a larger one is a bulk load,
BULK_RECORDS_PER_COMMIT = 1000  # committed in larger transactions...
BULK_COMMIT_EVERY = 30.0  # ...and indexed in commits this many seconds apart
RECORD_BYTES = 1_000  # about the size of a JSON listing document, to estimate their number
SCHEMA_MISSING = "The database schema is missing or older than this release: run `finder init`."


def _create_app() -> Flask:
    from . import create_app

    return create_app()


def _fail(error: FinderError) -> click.ClickException:
    return click.ClickException(error.message)


@click.command("init")
def init_command() -> None:
    """Create or upgrade the database schema and the search index."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    migrate.upgrade(get_database(app).engine)
    applied = get_backend().catch_up()
    click.echo(f"Database ready at {get_database(app).engine.url.render_as_string()}; "
               f"index caught up ({applied} change(s) applied).")


@click.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--format", "file_format", type=click.Choice(["csv", "json", "ndjson"]),
              help="Format of FILE (default: from its extension; csv otherwise).")
@click.option("--kind", type=click.Choice(["locations", "practitioners"]),
              default="locations", show_default=True,
              help="What FILE lists: listings, or the practitioners of imported listings "
                   "(CSV only; a listing document carries its own practitioners).")
@click.option("--commit-every", type=click.IntRange(1),
              help=f"Records per database transaction (default: {RECORDS_PER_COMMIT}; "
                   f"{BULK_RECORDS_PER_COMMIT} for a bulk load of over {BULK_RECORDS:,} "
                   "records).")
@click.option("--source", type=click.Choice([source.value for source in Source]),
              default=Source.IMPORT.value, hidden=True,
              help="Where new listings come from (`finder demo` loads `demo` listings).")
@bulk_work()
def import_command(file: Path, file_format: str | None, kind: str, commit_every: int | None,
                   source: str) -> None:
    """Import listings (CSV, or listing documents as JSON or NDJSON) or practitioners from
    FILE; records are matched on external_id, so reruns are safe."""
    _check_schema()  # before its indexing process starts and fails on its own
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    file_format = file_format or {".json": "json", ".ndjson": "ndjson", ".jsonl": "ndjson"}.get(
        file.suffix.lower(), "csv")
    if kind == "practitioners" and file_format != "csv":
        raise click.UsageError("--kind practitioners reads CSV; a listing document (JSON) "
                               "lists its practitioners itself.")
    try:
        decoded = decode(file.read_bytes())
    except FinderError as exc:
        raise _fail(exc) from exc
    text = decoded.text
    total = max(text.count("\n") - (file_format == "csv"), 0)
    if file_format == "json":
        total = 0  # records are only counted once the whole file is parsed
    # Committed batches are indexed while the next ones are imported, and the import waits
    # for each to be searchable before it commits the next: the index's single writer goes
    # slower than several importers, and a backlog would keep every change waiting behind
    # it (a clinic's edit too). A bulk load goes at its own pace and is searchable within
    # about half a minute, as fewer, larger index segments cost far less (each commit
    # writes every term anew and merges).
    bulk = (total or len(text) // RECORD_BYTES) > BULK_RECORDS
    commit_every = commit_every or (BULK_RECORDS_PER_COMMIT if bulk else RECORDS_PER_COMMIT)
    with get_backend().indexing_alongside(BULK_COMMIT_EVERY if bulk else None) \
            as alongside, session_scope(app) as session, \
            click.progressbar(length=total, label="Importing", show_pos=True,
                              file=sys.stderr) as bar:

        saved = 0

        def committed(records: int) -> None:
            nonlocal saved
            session.commit()
            saved += records
            bar.update(records)
            if not bulk:
                alongside.wait_for(session.scalar(sa.select(sa.func.max(IndexChange.seq)))
                                   or 0)

        options: dict[str, Any] = {"commit_every": commit_every, "on_batch": committed}
        try:
            if kind == "practitioners":
                report = import_practitioners(session, read_rows(
                    io.StringIO(text, newline=""), decoded.notes, kind), **options)
            elif file_format == "csv":
                report = import_csv(session, get_geocoder(app), read_rows(
                    io.StringIO(text, newline=""), decoded.notes),
                    default_country=app.config["DEFAULT_COUNTRY"], source=Source(source),
                    **options)
            else:
                report = import_documents(session, get_geocoder(app), read_documents(
                    text, ndjson=file_format == "ndjson"),
                    default_country=app.config["DEFAULT_COUNTRY"], **options)
        except FinderError as exc:
            raise _fail(exc) from exc
        except Exception as exc:
            if not is_disk_full(exc):
                raise
            session.rollback()
            raise click.ClickException(
                f"The disk is full: the import stopped after saving {saved} record(s) of "
                f"{file.name}; the {commit_every} or fewer in progress were not saved. Free "
                "some space and run the same command again: records are matched on "
                "external_id, so the saved ones stay as they are and the rest are added."
            ) from exc
    try:
        indexed = alongside.count + get_backend().catch_up()
    except Exception as exc:
        if not is_disk_full(exc):
            raise
        raise click.ClickException(
            "The listings are saved, but the search index could not be updated: the disk is "
            "full. Free some space: a running server's index catches up by itself (or run "
            "`finder reindex`).") from exc
    where = "record" if file_format == "json" else "line"
    click.echo(f"created {report.created}, updated {report.updated}, "
               f"unchanged {report.unchanged}, rejected {len(report.rejected)}")
    for rejected in report.rejected[:MAX_REPORTED]:
        click.echo(f"  {where} {rejected.line} ({rejected.external_id or 'no external_id'}): "
                   f"{rejected.reason}")
    if len(report.rejected) > MAX_REPORTED:
        click.echo(f"  ... and {len(report.rejected) - MAX_REPORTED} more rejected")
    if report.warnings:
        click.echo(f"imported with warnings: {len(report.warnings)}")
        for warning in report.warnings[:MAX_REPORTED]:
            click.echo(f"  {where} {warning.line} ({warning.external_id}): {warning.reason}")
    click.echo(f"indexed {indexed} change(s)")


@click.command("reindex")
@bulk_work()
def reindex_command() -> None:
    """Rebuild the search index from the database (never needed to recover from a crash)."""
    _check_schema()
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    with session_scope(app) as session:
        total = session.scalar(sa.select(sa.func.count()).select_from(Location)) or 0
    with click.progressbar(length=total, label="Indexing", show_pos=True,
                           file=sys.stderr) as bar:
        count = get_backend().rebuild(progress=bar.update)
    click.echo(f"indexed {count} published listing(s)")


@click.command("generate")
@click.option("--count", type=click.IntRange(1, 5_000_000), required=True,
              help="How many listings to make.")
@click.option("--seed", type=int, default=1, show_default=True,
              help="Random seed; the same seed gives the same file.")
@click.option("-o", "--output", type=click.File("w", encoding="utf-8", lazy=True),
              required=True, help="CSV file to write ('-' for standard output).")
@click.option("--practitioners", "practitioners_output",
              type=click.File("w", encoding="utf-8", lazy=True),
              help="Also write the listings' practitioners to this CSV "
                   "(import it with --kind practitioners after the listings).")
@click.option("--verified-by", type=click.DateTime(["%Y-%m-%d"]),
              help="The day the listings' last verifications count back from (0 to 120 "
                   "days before it); default 2026-11-01, so a seed always gives the same "
                   "file.")
@click.option("--country", type=click.Choice(["US", "CA", "GB", "AU", "NZ"],
                                             case_sensitive=False),
              help="Put every listing in this country, as a national directory is "
                   "(default: spread over the five, mostly the US).")
def generate_command(count: int, seed: int, output: TextIO,
                     practitioners_output: TextIO | None,
                     verified_by: datetime | None = None, country: str | None = None) -> None:
    """Write synthetic listings at real postcode centroids as an import CSV."""
    from .generate import REFERENCE_DATE, write_csv, write_practitioners_csv

    in_country = country.upper() if country else None
    written = write_csv(output, count, seed,
                        verified_by.date() if verified_by else REFERENCE_DATE, in_country)
    click.echo(f"wrote {written} listing(s)", err=True)
    if practitioners_output is not None:
        people = write_practitioners_csv(practitioners_output, count, seed, in_country)
        click.echo(f"wrote {people} practitioner(s)", err=True)


def _warm_up(app: Flask) -> None:
    """Load the gazetteer and open the index before the first patient waits for them."""
    from .views import SUGGESTED_KEYWORDS

    with app.app_context():
        get_backend().match(MatchQuery(0.0, 0.0, 1.0))
        get_backend().warm_up(SUGGESTED_KEYWORDS)
        try:
            get_geocoder().postcode("10001", "US")
        except FinderError:
            pass  # a deployment without US data still serves
    # What start-up loaded (index arrays, gazetteer, caches) lives as long as the worker:
    # keep it out of the cyclic collector, whose full passes over it stalled a search now
    # and then for 100 ms.
    gc.freeze()


# What gunicorn refuses before the app sees a request. The longest request line the app
# accepts is a search with every text parameter at its length limit in 4-byte characters,
# percent-encoded: about 7,600 bytes, under gunicorn's ceiling of 8,190. Browsers send 10 to
# 20 headers and proxies add a few; one header (a cookie) stays under 8 kB.
REQUEST_LIMITS = {"limit_request_line": 8190, "limit_request_fields": 50,
                  "limit_request_field_size": 8190}


def _worker_exited(_server: Any, worker: Any) -> None:
    """Let the metrics of a worker that is gone stop counting as a live process's."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


def _serve(host: str, port: int, workers: int, timeout: int) -> None:
    from gunicorn.app.base import BaseApplication

    # With JSON request logs, gunicorn's access log would only say the same thing again.
    json_logs = current_app.config["LOG_FORMAT"] == "json"

    class Server(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            options: dict[str, Any] = {
                "bind": f"{host}:{port}", "workers": workers, "timeout": timeout,
                "accesslog": None if json_logs else "-", "graceful_timeout": 10,
                "logger_class": "finder.access_log.AccessLogger",
                "access_log_format": ACCESS_LOG_FORMAT,
                "child_exit": _worker_exited,
                # Forwarding headers count only through FINDER_PROXY_HOPS (ProxyFix):
                # gunicorn would otherwise believe X-Forwarded-Proto from any local client,
                # and an nginx on this machine passes on what clients send.
                "secure_scheme_headers": {}, "forwarder_headers": "",
                **REQUEST_LIMITS}
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self) -> Callable[..., Any]:
            # Each worker builds its own app, so no database connection or index file
            # handle is shared across a fork.
            app = _create_app()
            _warm_up(app)
            # Changes are indexed by a thread of each worker, never inside a search.
            Applier(get_backend(app)).start(app)
            return app

    Server().run()


def _check_schema() -> None:
    if not migrate.is_current(get_database().engine):
        raise click.ClickException(SCHEMA_MISSING)


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=5000, show_default=True)
@click.option("--workers", type=click.IntRange(1, 64), default=2, show_default=True,
              help="Worker processes.")
@click.option("--timeout", type=click.IntRange(1), default=30, show_default=True,
              help="Seconds before a stuck worker is restarted.")
def serve_command(host: str, port: int, workers: int, timeout: int) -> None:
    """Serve the directory with gunicorn (a production server, not the debug server)."""
    _check_schema()
    try:
        get_backend().catch_up()
    except Exception as exc:
        if not is_disk_full(exc):
            raise
        click.echo("The disk is full: serving the search index as it stands; it catches up "
                   "by itself once space is freed.", err=True)
    _serve(host, port, workers, timeout)


@click.command("demo")
@click.option("--count", type=click.IntRange(1, 1_000_000), default=3000, show_default=True,
              help="Listings in the demo directory (loaded once).")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(1, 65535), default=5000, show_default=True)
@click.option("--workers", type=click.IntRange(1, 64), default=2, show_default=True)
@click.option("--no-serve", is_flag=True, help="Load the demo directory but do not serve it.")
@click.pass_context
def demo_command(ctx: click.Context, count: int, host: str, port: int, workers: int,
                 no_serve: bool) -> None:
    """Load a demo directory (once) and serve it."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    ctx.invoke(init_command)
    with session_scope(app) as session:
        existing = session.scalar(sa.select(sa.func.count()).select_from(Location)) or 0
    if existing == 0:
        path = Path(app.config["DATA_DIR"]) / "demo-listings.csv"
        people = path.with_name("demo-practitioners.csv")
        with (open(path, "w", encoding="utf-8", newline="") as handle,
              open(people, "w", encoding="utf-8", newline="") as people_handle):
            # Verified recently as of today, as a maintained directory's listings are.
            ctx.invoke(generate_command, count=count, seed=1, output=handle,
                       practitioners_output=people_handle,
                       verified_by=datetime.combine(today(), time()))
        ctx.invoke(import_command, file=path, file_format="csv", commit_every=1000,
                   source=Source.DEMO.value)
        ctx.invoke(import_command, file=people, file_format="csv", kind="practitioners",
                   commit_every=1000)
    else:
        click.echo(f"demo directory already loaded ({existing} listings)")
    if not no_serve:
        click.echo(f"serving on http://{host}:{port}/")
        _serve(host, port, workers, 30)


SERVING = ("serve", "demo")
# Where prometheus_client's multiprocess mode keeps each worker's counts.
MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"


def _metrics_directory(ctx: click.Context) -> None:
    """Give the server's workers an empty directory to share their metrics through.

    prometheus_client chooses how to count when it is first imported, so this runs before
    the app is made. A directory the operator named is emptied (counts of a previous run
    would be added in); otherwise a fresh one is made and removed when the server stops.
    """
    named = os.environ.get(MULTIPROCESS_DIR)
    if named:
        directory = Path(named)
        directory.mkdir(parents=True, exist_ok=True)
        for stale in directory.glob("*.db"):
            stale.unlink()
    else:
        made, owner = tempfile.mkdtemp(prefix="finder-metrics-"), os.getpid()
        os.environ[MULTIPROCESS_DIR] = made

        def remove() -> None:
            # A gunicorn worker ends by unwinding this same command: only the server removes.
            if os.getpid() == owner:
                os.environ.pop(MULTIPROCESS_DIR, None)
                shutil.rmtree(made, ignore_errors=True)

        ctx.call_on_close(remove)


class _Commands(click.Group):
    """The command group: a full disk or a database without its schema ends any command with
    a message, not a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except sa.exc.DatabaseError as exc:
            if ctx.invoked_subcommand != "init" and not migrate.is_current(
                    get_database().engine):
                raise click.ClickException(SCHEMA_MISSING) from exc
            raise
        except Exception as exc:
            if not is_disk_full(exc):
                raise
            raise click.ClickException(
                "The disk is full, so the command stopped. What it committed before is kept, "
                "and the database and the search index are consistent: free some space and "
                "run it again.") from exc


@click.group(name="finder", cls=_Commands)
@click.version_option(package_name="finder")
@click.pass_context
def main(ctx: click.Context) -> None:
    """Run and manage a finder directory. Settings come from FINDER_* variables."""
    if ctx.invoked_subcommand in SERVING:
        _metrics_directory(ctx)
    try:
        app = _create_app()
    except FinderError as exc:
        raise _fail(exc) from exc
    ctx.with_resource(app.app_context())
    ctx.call_on_close(get_database(app).dispose)  # runs last: the backend may still use it
    ctx.call_on_close(get_backend(app).close)


for _command in (init_command, import_command, reindex_command, generate_command,
                 serve_command, demo_command, partners_group, outbox_command,
                 users_group, verify_group, nppes_group, duplicates_group, backup_command,
                 restore_command):
    main.add_command(_command)
