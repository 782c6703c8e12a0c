"""`make freshness`: how a live directory keeps up with its writers, under a search load.

A directory of --size listings (bench/data/) is imported into a fresh data folder and served
by `finder serve --workers 2`, with a constant search load of --rate requests per second
(bench/pacer.py: each request timed from the moment it was due). Then:

1. backlog: --backlog existing listings are changed by a `finder import` while the search
   index's lock is held, as when an import's indexing was killed or the index's disk was full:
   the database has the changes, the index does not. The lock is let go and the servers'
   background appliers work the backlog off. Reported: search latency before, while they do
   (the target: p99 under 100 ms), and how long the catch-up took.
2. concurrent imports: --importers `finder import` processes add --per-importer new listings
   each, at once. Every 0.1 s the number of them the database holds and the number a search
   finds are sampled; a listing's lag is the time from the first sample in which the database
   held it to the first in which the search found it (the target: at most 2 s). Reported: the
   largest lag, its 99th percentile, and search latency meanwhile.

Writes bench/results/freshness.{json,md}; exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shlex
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from whoosh import index as whoosh_index

import finder.search.whoosh_backend  # noqa: F401  (the index's schema classes, to open it)

from . import engines, report
from .engines import Settings
from .pacer import ConstantLoad, Outcome
from .queries import build_mix, read_postcodes, write_paths
from .run import ensure_csv, machine, serving, source_version
from .servers import HOST
from .soak import health

BENCH = Path(__file__).resolve().parent
BACKLOG_P99_MS = 100.0
LAG_TARGET_S = 2.0
MARKER = "quokkafresh"  # one analysed word no generated listing has
ORIGIN_POSTCODE, ORIGIN_LAT, ORIGIN_LON = "78701", 30.2713, -97.7426  # where new ones go
SAMPLE_S = 0.1
BEFORE_S = 15.0  # seconds of load before the backlog is let go...
WARM_S = 5.0  # ...the first of which warm the server up (first searches of each word)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.freshness", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=100_000,
                        help="listings imported and served (default: %(default)s)")
    # 50 a second is over 4 million searches a day, far beyond one directory's traffic; the
    # soak measures capacity, this how fresh the answers are at a realistic load.
    parser.add_argument("--rate", type=float, default=50.0,
                        help="searches per second sent throughout (default: %(default)s)")
    parser.add_argument("--backlog", type=int, default=20_000,
                        help="changes left to the servers to apply (default: %(default)s)")
    parser.add_argument("--importers", type=int, default=4,
                        help="concurrent imports (default: %(default)s)")
    parser.add_argument("--per-importer", type=int, default=2500,
                        help="new listings per import (default: %(default)s)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--queries", type=int, default=1000,
                        help="length of the query mix cycled through (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the data and the mix")
    parser.add_argument("--timeout", type=float, default=300.0,
                        help="seconds each phase may take at most (default: %(default)s)")
    parser.add_argument("--results", type=Path, default=BENCH / "results",
                        help="folder for freshness.json/.md (default: bench/results)")
    parser.add_argument("--keep-work", action="store_true",
                        help="keep the temporary data folder and server log")
    args = parser.parse_args(argv)
    if min(args.size, args.backlog, args.importers, args.per_importer) < 1 or \
            args.backlog > args.size or args.importers * args.per_importer > args.size // 2 \
            or args.rate <= 0:
        parser.error("sizes and the rate must be positive, --backlog at most --size and "
                     "--importers x --per-importer at most half of it")
    return args


def log(message: str) -> None:
    print(f"[freshness {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class Load:
    """A constant search load in the background, its outcomes kept with their times."""

    def __init__(self, url: str, paths: list[str], rate: float, seconds: float) -> None:
        port = int(url.rsplit(":", 1)[1])
        self.load = ConstantLoad(HOST, port, paths, rate, seconds)
        self.outcomes: list[Outcome] = []
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._collect, daemon=True)

    def __enter__(self) -> Load:
        self.load.start()
        self._thread.start()
        while time.monotonic() < self.load.plan.start:
            time.sleep(0.05)
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stopping.set()
        self._thread.join(timeout=10)
        self.load.stop()

    def _collect(self) -> None:
        while not self.load.finished and not self._stopping.is_set():
            self.outcomes.extend(self.load.outcomes(0.2))

    def now(self) -> float:
        """Seconds since the load's first request was due."""
        return time.monotonic() - self.load.plan.start

    def between(self, start: float, end: float) -> dict[str, Any]:
        """Latency percentiles and errors of the requests due in [start, end)."""
        picked = [o for o in list(self.outcomes) if start <= o[0] < end]
        errors = [o for o in picked if o[2]]
        return {**report.percentiles([o[1] for o in picked if not o[2]]),
                "errors": len(errors), "seconds": round(end - start, 1)}


def _rows(csv_path: Path) -> list[dict[str, str]]:
    with open(csv_path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _write(rows: list[dict[str, str]], path: Path) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def _import(env: dict[str, str], path: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "finder", "import", str(path)], env=env,
                            cwd=engines.ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)


def _wait(done: Callable[[], bool], timeout: float, what: str) -> float:
    started = time.monotonic()
    while not done():
        if time.monotonic() - started > timeout:
            raise RuntimeError(f"{what} did not happen within {timeout:.0f} s")
        time.sleep(SAMPLE_S)
    return time.monotonic() - started


def backlog(server_url: str, env: dict[str, str], data_dir: Path, rows: list[dict[str, str]],
            paths: list[str], args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Leave --backlog changes to the servers, then time searches while they apply them."""
    changed = [{**row, "description": f"{row['description']} Hours changed.".strip()}
               for row in rows[:args.backlog]]
    path = _write(changed, work / "backlog.csv")
    ix = whoosh_index.open_dir(str(data_dir / "index"))
    lock = ix.storage.lock(f"{ix.indexname}_WRITELOCK")
    if not lock.acquire(blocking=True):
        raise RuntimeError("could not take the index's lock")
    try:
        log(f"importing {args.backlog:,} changes with the index locked")
        started = time.monotonic()
        process = _import(env, path)
        output = process.communicate(timeout=args.timeout)[0]
        if process.returncode:
            raise RuntimeError(f"the backlog's import failed: {output[-1000:]}")
        import_s = time.monotonic() - started
        behind = health(server_url)[1]
        log(f"imported in {import_s:.1f} s; the index is behind by {behind:,} changes")
    except BaseException:
        lock.release()
        raise
    with Load(server_url, paths, args.rate, BEFORE_S + args.timeout) as load:
        time.sleep(max(0.0, BEFORE_S - load.now()))
        lock.release()
        released = load.now()
        caught_up = _wait(lambda: health(server_url) == ("ok", 0), args.timeout,
                          "the catch-up")
        finished = load.now()
        result: dict[str, Any] = {"changes_behind": behind, "import_s": round(import_s, 1),
                  "caught_up_s": round(caught_up, 1),
                  "before": load.between(WARM_S, released),
                  "during": load.between(released, finished)}
    ix.close()
    log(f"caught up in {caught_up:.1f} s; search p99 {result['before'].get('p99')} ms before, "
        f"{result['during'].get('p99')} ms during")
    return result


def concurrent_imports(server_url: str, env: dict[str, str], data_dir: Path,
                       rows: list[dict[str, str]], paths: list[str],
                       args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Run --importers imports of new listings at once; sample committed and searchable."""
    us = [row for row in rows if row["country"] == "US"]  # their phones are valid there
    files = []
    for importer in range(args.importers):
        new = [{**row, "external_id": f"fresh-{importer}-{n}",
                "name": f"{row['name']} ({importer}-{n})", "postcode": ORIGIN_POSTCODE,
                "country": "US", "city": "Austin", "region": "TX",
                "latitude": f"{ORIGIN_LAT + (n % 50) * 0.004 + importer * 0.001:.5f}",
                "longitude": f"{ORIGIN_LON + (n // 50 % 50) * 0.004:.5f}",
                "description": f"{row['description']} {MARKER}".strip()}
               for n, row in enumerate(us[importer * args.per_importer:
                                          (importer + 1) * args.per_importer])]
        files.append(_write(new, work / f"importer-{importer}.csv"))
    total = args.importers * args.per_importer
    database = data_dir / "finder.sqlite3"
    search = (f"{server_url}/api/v1/search?postcode={ORIGIN_POSTCODE}&radius=50&limit=1"
              f"&q={MARKER}")

    def committed() -> int:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30) as connection:
            count: int = connection.execute(
                "SELECT count(*) FROM location WHERE external_id LIKE 'fresh-%'").fetchone()[0]
            return count

    def searchable() -> int:
        with urllib.request.urlopen(search, timeout=30) as response:
            found: int = json.load(response)["total"]
            return found

    samples: list[tuple[float, int, int]] = []
    with Load(server_url, paths, args.rate, args.timeout) as load:
        started = load.now()
        imports = [_import(env, path) for path in files]
        log(f"{args.importers} imports of {args.per_importer:,} new listings each started")
        while load.now() - started < args.timeout:
            samples.append((load.now(), committed(), searchable()))
            if all(p.poll() is not None for p in imports) and samples[-1][2] >= samples[-1][1]:
                break
            time.sleep(SAMPLE_S)
        finished = load.now()
        latency = load.between(started, finished)
    reports = [process.communicate(timeout=60)[0] for process in imports]
    if samples[-1][1] < total or samples[-1][2] < total:
        raise RuntimeError(f"of {total} new listings {samples[-1][1]} were saved and "
                           f"{samples[-1][2]} searchable: {reports}")
    lags = lag_by_listing(samples)
    stats = report.percentiles([lag * 1000 for lag in lags])
    result = {"listings": total, "seconds": round(finished - started, 1),
              "lag_max_s": round(max(lags), 2), "lag_p99_s": round(stats["p99"] / 1000, 2),
              "lag_p50_s": round(stats["p50"] / 1000, 2), "search": latency,
              "samples": [[round(at - started, 2), saved, found] for at, saved, found in samples]}
    log(f"lag p50 {result['lag_p50_s']} s, p99 {result['lag_p99_s']} s, max "
        f"{result['lag_max_s']} s; search p99 {latency.get('p99')} ms")
    return result


def lag_by_listing(samples: list[tuple[float, int, int]]) -> list[float]:
    """For the n-th listing committed, the seconds from the first sample whose database
    held n listings to the first whose search found n."""
    lags = []
    committed_at: dict[int, float] = {}
    for at, committed, _found in samples:
        for n in range(len(committed_at) + 1, committed + 1):
            committed_at[n] = at
    for n, at in committed_at.items():
        found_at = next(when for when, _c, found in samples if found >= n)
        lags.append(max(0.0, found_at - at))
    return lags


def render_markdown(result: dict[str, Any]) -> str:
    settings, back, imports = result["settings"], result["backlog"], result["imports"]
    commit = result["source"]["at_start"].get("commit", "?")

    def latency(stats: dict[str, Any]) -> str:
        return (f"{stats.get('p50', '-')} / {stats.get('p99', '-')} / {stats.get('max', '-')}"
                f" ({stats.get('count', 0)} searches, {stats['errors']} errors)")

    lines = [
        f"Freshness: {settings['size']:,} listings, {settings['workers']} workers, "
        f"{settings['rate']:g} searches/s throughout. `{result['command']}` on "
        f"{result['date']}, finder at {commit}.", "",
        "| phase | search p50 / p99 / max (ms) | outcome |", "| --- | --- | --- |",
        f"| before the backlog | {latency(back['before'])} | |",
        f"| applying a backlog of {back['changes_behind']:,} changes | "
        f"{latency(back['during'])} | caught up in {back['caught_up_s']} s |",
        f"| {settings['importers']} concurrent imports of {settings['per_importer']:,} new "
        f"listings | {latency(imports['search'])} | searchable after p50 "
        f"{imports['lag_p50_s']} s, p99 {imports['lag_p99_s']} s, at most "
        f"{imports['lag_max_s']} s |", "",
        "| target | measured | |", "| --- | ---: | ---: |"]
    lines += [f"| {c['check']} | {c['measured']} | {'met' if c['met'] else 'MISSED'} |"
              for c in result["checks"]]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    command = os.environ.get("FRESHNESS_COMMAND") or shlex.join(
        ["python", "-m", "bench.freshness", *(sys.argv[1:] if argv is None else argv)])
    source_at_start = source_version()
    csv_path = ensure_csv(args.size, args.seed)
    rows = _rows(csv_path)
    work = Path(tempfile.mkdtemp(prefix="finder-freshness-"))
    data_dir = work / "finder"
    settings = Settings(work, args.workers, work / "logs")
    env = engines.finder_env(data_dir)
    paths = write_paths(build_mix(read_postcodes(csv_path), args.queries, args.seed),
                        work / "paths.txt").read_text("utf-8").split()
    try:
        log(f"init + import {args.size:,} listings into {data_dir}")
        loaded = engines.import_finder(csv_path, env, args.timeout * 10)
        log(f"import+index took {loaded['load_s']} s")
        with serving(engines.serve_finder("finder", env, settings, args.size)) as server:
            back = backlog(server.url, env, data_dir, rows, paths, args, work)
            imports = concurrent_imports(server.url, env, data_dir, rows, paths, args, work)
    finally:
        if args.keep_work:
            log(f"work folder kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    checks = [
        {"check": f"search p99 while a backlog of {back['changes_behind']:,} is applied",
         "measured": f"{back['during'].get('p99')} ms (<= {BACKLOG_P99_MS:g})",
         "met": (back["during"].get("p99") or 0) <= BACKLOG_P99_MS
         and not back["during"]["errors"]},
        {"check": f"every change searchable within {LAG_TARGET_S:g} s, {args.importers} "
                  "importers at once",
         "measured": f"{imports['lag_max_s']} s at most", "met": imports["lag_max_s"] <=
         LAG_TARGET_S},
    ]
    result: dict[str, Any] = {
        "command": command, "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(), "source": {"at_start": source_at_start,
                                         "at_end": source_version()},
        "settings": {"size": args.size, "rate": args.rate, "backlog": args.backlog,
                     "importers": args.importers, "per_importer": args.per_importer,
                     "workers": args.workers, "queries": args.queries, "seed": args.seed},
        "load": loaded, "backlog": back, "imports": imports, "checks": checks,
        "passed": all(check["met"] for check in checks)}
    args.results.mkdir(parents=True, exist_ok=True)
    report.write_json(result, args.results / "freshness.json")
    markdown = render_markdown(result)
    (args.results / "freshness.md").write_text(markdown, "utf-8")
    print(markdown)
    print(f"wrote {args.results}/freshness.json, freshness.md")
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
