"""`make bench`: finder against its peers on the same generated data and the same queries.

For each size: generate the CSV once (cached in bench/data/), import it into finder on SQLite +
Whoosh, finder on PostgreSQL with the postgis backend, a PostGIS table and a naive Whoosh index
(timed), then per engine: serve it with gunicorn, check finder's answers against a brute-force
reference, time the query mix with one sequential HTTP client, load it with wrk while sampling
the servers' memory, check that a change is searchable within 2 s (finder), stop it, and time
the same mix in-process. Then the same for finder's postgis backend alone at the
``--postgis-sizes`` (1M listings). Prints a table and writes bench/results/latest.{json,md,png}.
Exits 1 when finder disagrees with the reference or an engine fails."""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, closing, contextmanager
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finder.generate import VERSION as GENERATOR_VERSION

from . import engines, report
from .client import Client, time_requests
from .engines import ROOT, Settings
from .load import run_wrk, wrk_path
from .queries import Query, build_mix, read_postcodes, write_paths
from .reference import Reference, check
from .servers import MemorySampler, Server

if TYPE_CHECKING:
    from tests.postgres import PostgresServer

BENCH = Path(__file__).resolve().parent
DATA = BENCH / "data"
ENGINES = report.ENGINES
FACETS = "technique,insurance,language,accessibility"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000",
                        help="comma-separated listing counts (default: %(default)s)")
    parser.add_argument("--postgis-sizes", default="1000000",
                        help="further listing counts measured on finder-postgis and the "
                             "PostGIS peer only: the backend meant for them "
                             "(default: %(default)s; empty: none)")
    parser.add_argument("--national-sizes", default="100000",
                        help="listing counts of a national directory (every listing in "
                             "the US, `finder generate --country US`) measured on finder "
                             "and the PostGIS peer (default: %(default)s; empty: none)")
    parser.add_argument("--naive-sizes", default="10000",
                        help="the --sizes at which the naive Whoosh peer is measured too: at "
                             "100k it takes four minutes to build and a third of a second a "
                             "query (default: %(default)s; empty: none)")
    parser.add_argument("--duration", type=int, default=15,
                        help="seconds of wrk load per engine per size (default: %(default)s)")
    parser.add_argument("--connections", type=int, default=8, help="wrk connections")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers per engine")
    parser.add_argument("--queries", type=int, default=300,
                        help="length of the query mix timed sequentially (default: %(default)s)")
    parser.add_argument("--warmup", type=int, default=20, help="untimed queries first")
    parser.add_argument("--budget", type=float, default=60.0,
                        help="seconds at most for each sequential timing (default: %(default)s)")
    parser.add_argument("--check", type=int, default=30,
                        help="queries checked against the brute-force reference, each by "
                             "best and by distance (default: %(default)s)")
    parser.add_argument("--import-timeout", type=float, default=1800.0,
                        help="seconds before finder's import counts as failed "
                             "(default: %(default)s)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the data and the mix")
    parser.add_argument("--engines", default=",".join(ENGINES),
                        help="comma-separated subset of %(default)s")
    parser.add_argument("--skip-peers", action="store_true", help="measure finder only")
    parser.add_argument("--results", type=Path, default=BENCH / "results",
                        help="folder for latest.json/.md/.png (default: bench/results)")
    parser.add_argument("--keep-work", action="store_true",
                        help="keep the temporary data folders and server logs")
    args = parser.parse_args(argv)
    args.size_list = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    args.postgis_size_list = _sizes(args.postgis_sizes)
    args.national_size_list = _sizes(args.national_sizes)
    args.naive_size_list = _sizes(args.naive_sizes)
    chosen = [e.strip() for e in args.engines.split(",") if e.strip()]
    unknown = sorted(set(chosen) - set(ENGINES))
    if unknown:
        parser.error(f"unknown engine(s) {', '.join(unknown)}; choose from {', '.join(ENGINES)}")
    args.engine_list = [e for e in ENGINES if e in chosen and
                        not (args.skip_peers and e != "finder")]
    return args


def _sizes(text: str) -> list[int]:
    return [int(s.replace("_", "")) for s in text.split(",") if s.strip()]


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def ensure_csv(size: int, seed: int, country: str | None = None) -> Path:
    """Generate the size's CSV once with `finder generate` (in one country, if given);
    later runs reuse it while the generator makes the same rows (its ``VERSION``)."""
    path = DATA / f"listings-{size}-seed{seed}-g{GENERATOR_VERSION}" \
                  f"{'-' + country if country else ''}.csv"
    if not path.exists():
        DATA.mkdir(parents=True, exist_ok=True)
        log(f"generating {size:,} listings -> {path.relative_to(ROOT)}")
        partial = path.with_suffix(".partial")
        subprocess.run([sys.executable, "-m", "finder", "generate", "--count", str(size),
                        "--seed", str(seed), "-o", str(partial),
                        *(["--country", country] if country else [])], cwd=ROOT, check=True,
                       env={**os.environ, "FINDER_DATA_DIR": tempfile.gettempdir()})
        partial.rename(path)
    return path


def machine() -> dict[str, Any]:
    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor() or "unknown")
    memory_kb = next(int(line.split()[1]) for line in
                     Path("/proc/meminfo").read_text().splitlines()
                     if line.startswith("MemTotal:"))
    return {"nproc": os.cpu_count(), "cpu": cpu, "memory_gb": round(memory_kb / 2**20),
            "python": platform.python_version(), "kernel": f"Linux {platform.release()}",
            "load_average_at_end": [round(x, 2) for x in os.getloadavg()]}


def source_version() -> dict[str, Any]:
    """Return the commit measured and whether finder's files differ from it (read-only git)."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "--no-optional-locks", "-C", str(ROOT), *args],
                              capture_output=True, text=True, timeout=30).stdout.strip()

    try:
        return {"commit": git("rev-parse", "--short", "HEAD"),
                "finder_modified": bool(git("status", "--porcelain", "--", "finder",
                                            "templates", "data"))}
    except (OSError, subprocess.SubprocessError):
        return {}


@contextmanager
def serving(server: Server) -> Iterator[Server]:
    """Yield a ready server and always stop it."""
    try:
        seconds = server.wait_ready()
        log(f"{server.name} ready on {server.url} after {seconds:.1f} s")
        yield server
    finally:
        server.stop()


def inprocess(engine: str, paths_file: Path, env: dict[str, str], args: argparse.Namespace,
              work: Path, variant: str = "") -> dict[str, Any]:
    """Time the mix in a fresh interpreter through the engine's WSGI app."""
    out = work / f"inprocess-{engine}{'-' + variant if variant else ''}.json"
    subprocess.run([sys.executable, "-m", "bench.inprocess", engine, str(paths_file), str(out),
                    "--warmup", str(args.warmup), "--budget", str(args.budget)],
                   env=env, cwd=ROOT, check=True, timeout=args.budget + 900)
    data = json.loads(out.read_text("utf-8"))
    return {**report.percentiles(data["latencies_ms"]), "errors": data["errors"][:10],
            "error_count": len(data["errors"]), "truncated": data["truncated"]}


def measure_served(server: Server, paths: list[str], paths_file: Path,
                   args: argparse.Namespace, run: dict[str, Any],
                   extra_memory: int | None = None) -> None:
    """Sequential HTTP timings, then wrk under load while sampling memory."""
    client = Client(server.url)
    timings = time_requests(client, paths, args.warmup, args.budget)
    run["http"] = {**report.percentiles(timings.latencies_ms), "errors": timings.errors[:10],
                   "error_count": len(timings.errors), "truncated": timings.truncated}
    log(f"{server.name}: HTTP p50 {run['http'].get('p50')} ms, p99 {run['http'].get('p99')} ms"
        f" over {len(timings.latencies_ms)} queries")
    with ExitStack() as stack:
        sampler = stack.enter_context(MemorySampler(server.pid))
        database = stack.enter_context(MemorySampler(extra_memory)) if extra_memory else None
        load = run_wrk(server.url, paths_file, args.duration, args.connections, args.threads)
    run["wrk"] = load.as_dict()
    run["memory"] = vars(sampler.peak)
    if database:
        run["database_memory"] = vars(database.peak)
    log(f"{server.name}: wrk {load.requests_per_s} req/s, p99 {load.p99_ms} ms, "
        f"errors {load.errors}; peak RSS {sampler.peak.rss_sum_mb:.0f} MB")


def bench_finder(engine: str, size: int, csv_path: Path, mix: list[Query], sample: list[Query],
                 paths_file: Path, args: argparse.Namespace, settings: Settings, work: Path,
                 postgres: PostgresServer | None = None) -> dict[str, Any]:
    """Measure finder: on SQLite + Whoosh, or with a PostgreSQL server on the postgis backend."""
    run: dict[str, Any] = {"size": size, "engine": engine}
    data_dir = work / engine
    url = ""
    if postgres is not None:
        database = f"finder_{work.name.replace('-', '_').lower()}"
        postgres.psql("postgres", f"CREATE DATABASE {database}")
        url = postgres.url.replace("@/finder?", f"@/{database}?", 1)
    env = engines.finder_env(data_dir, url)
    log(f"{engine}: init + import {size:,} listings")
    run["load"] = engines.import_finder(csv_path, env, args.import_timeout)
    run["load_s"] = run["load"]["load_s"]
    log(f"{engine}: import+index took {run['load_s']} s")
    with serving(engines.serve_finder(engine, env, settings, size)) as server:
        client = Client(server.url)
        if sample:
            log(f"{engine}: checking {len(sample)} queries x 2 sorts against the reference")
            with closing(Reference.from_data_dir(data_dir, url)) as reference:
                compared, mismatches = check(reference, sample,
                                             lambda q: client.fetch(q.path()))
            run["correctness"] = {"compared": compared,
                                  "mismatches": [m.as_dict() for m in mismatches]}
            log(f"{engine}: {compared - len(mismatches)}/{compared} match the reference")
        measure_served(server, [q.path() for q in mix], paths_file, args, run,
                       postgres.process.pid if postgres and postgres.process else None)
        try:
            run["freshness"] = engines.freshness(client, env, work)
            log(f"{engine}: change searchable after {run['freshness']['worst_s']} s")
        except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
            run["freshness"] = {"error": str(exc)[:500]}
            log(f"{engine}: freshness check failed: {exc}")
    run["inprocess"] = inprocess(engine, paths_file, env, args, work)
    # The same mix asking for the counts a results page shows beside the results.
    faceted = work / f"paths-{engine}-facets.txt"
    faceted.write_text("".join(f"{path}&facets={FACETS}\n" for path in
                               paths_file.read_text("utf-8").splitlines() if path), "utf-8")
    run["inprocess_facets"] = inprocess(engine, faceted, env, args, work, "facets")
    return run


def bench_peer(name: str, size: int, load: Callable[[], float], module: str,
               env: dict[str, str], mix: list[Query], paths_file: Path,
               args: argparse.Namespace, settings: Settings, work: Path,
               database_pid: int | None = None) -> dict[str, Any]:
    run: dict[str, Any] = {"size": size, "engine": name}
    log(f"{name}: loading {size:,} listings")
    run["load_s"] = round(load(), 2)
    log(f"{name}: load took {run['load_s']} s")
    with serving(engines.serve_peer(name, module, env, settings, size)) as server:
        measure_served(server, [q.path() for q in mix], paths_file, args, run, database_pid)
    run["inprocess"] = inprocess(name, paths_file, {**os.environ, **env}, args, work)
    return run


def bench_size(size: int, args: argparse.Namespace, settings: Settings,
               postgres: PostgresServer | None, chosen: list[str],
               country: str | None = None) -> list[dict[str, Any]]:
    """Run the chosen engines on one size of data (all in ``country``, if given)."""
    csv_path = ensure_csv(size, args.seed, country)
    mix = build_mix(read_postcodes(csv_path), args.queries, args.seed)
    work = settings.work / f"{size}{'-' + country if country else ''}"
    work.mkdir(parents=True)
    paths_file = write_paths(mix, work / "paths.txt")
    jobs: dict[str, Callable[[], dict[str, Any]]] = {}
    if "finder" in chosen:
        jobs["finder"] = partial(bench_finder, "finder", size, csv_path, mix, mix[:args.check],
                                 paths_file, args, settings, work)
    if "finder-postgis" in chosen and postgres is not None:
        jobs["finder-postgis"] = partial(bench_finder, "finder-postgis", size, csv_path, mix,
                                         mix[:args.check], paths_file, args, settings, work,
                                         postgres)
    if "postgis" in chosen and postgres is not None:
        from .peers import postgis_app

        dsn = postgis_app.dsn_from_sqlalchemy(postgres.url)
        jobs["postgis"] = partial(
            bench_peer, "postgis", size, partial(postgis_app.load, csv_path, dsn),
            "postgis_app", {"BENCH_PG_DSN": dsn}, mix, paths_file, args, settings, work,
            postgres.process.pid if postgres.process else None)
    if "naive-whoosh" in chosen and size in args.naive_size_list:
        from .peers import naive_whoosh_app

        index_dir = work / "naive-whoosh"
        jobs["naive-whoosh"] = partial(
            bench_peer, "naive-whoosh", size, partial(naive_whoosh_app.load, csv_path, index_dir),
            "naive_whoosh_app", {"BENCH_WHOOSH_DIR": str(index_dir)}, mix, paths_file, args,
            settings, work)
    runs = []
    data = "national" if country else "spread"
    for name, job in jobs.items():
        try:
            runs.append({**job(), "dataset": data})
        except Exception as exc:  # one engine failing must not lose the others' results
            log(f"{name} at {size:,} ({data}) failed: {exc!r}")
            runs.append({"size": size, "engine": name, "dataset": data,
                         "error": repr(exc)[:1000]})
    return runs


def targets(runs: list[dict[str, Any]], size: int, postgis_sizes: list[int],
            national_sizes: list[int]) -> list[dict[str, Any]]:
    """Check DESIGN.md section 8 at the largest size measured by every engine (and on the
    national data set), the postgis backend against the PostGIS peer there and at its own
    sizes, and that it answers correctly and without errors at those."""
    out: list[dict[str, Any]] = []

    def add(target: str, value: float | None, limit: float, unit: str,
            at_least: bool = False) -> None:
        if value is not None:
            out.append({"target": target, "value": value, "limit": limit,
                        "measured": f"{value:.2f}{unit}",
                        "met": value >= limit if at_least else value <= limit})

    def by(table_size: int, data: str = "spread") -> dict[str, dict[str, Any]]:
        return {r["engine"]: r for r in runs if r["size"] == table_size
                and r.get("dataset", "spread") == data and "error" not in r}

    def ratio(mine: dict[str, Any] | None, peer: dict[str, Any] | None,
              *keys: str) -> float | None:
        value, peer_value = report.metric(mine, *keys), report.metric(peer, *keys)
        return None if value is None or not peer_value else value / peer_value

    def against_peer(engine: str, table_size: int, data: str, p50: float | None,
                     p99: float, throughput: float | None) -> None:
        runs_here = by(table_size, data)
        mine, peer = runs_here.get(engine), runs_here.get("postgis")
        where = f"{engine} at {table_size:,}{report.DATASETS[data]}"
        if p50 is not None:
            add(f"{where}: HTTP p50 <= {p50:g}x PostGIS peer",
                ratio(mine, peer, "http", "p50"), p50, "x")
        add(f"{where}: HTTP p99 <= {p99:g}x PostGIS peer", ratio(mine, peer, "http", "p99"),
            p99, "x")
        if throughput is not None:
            add(f"{where}: wrk throughput >= {throughput:g}x PostGIS peer",
                ratio(mine, peer, "wrk", "requests_per_s"), throughput, "x", at_least=True)

    finder = by(size).get("finder")
    if finder:
        where = f"finder at {size:,}"
        against_peer("finder", size, "spread", 0.5, 1.0, None)
        http = finder.get("http", {})
        add(f"{where}: HTTP p50 <= 5 ms", http.get("p50"), 5.0, " ms")
        add(f"{where}: HTTP p99 <= 30 ms", http.get("p99"), 30.0, " ms")
        add(f"{where}: import + index <= 30 s", finder.get("load_s"), 30.0, " s")
        add(f"{where}: largest serving process <= 400 MB",
            report.metric(finder, "memory", "rss_max_process_mb"), 400.0, " MB")
        add(f"{where}: change searchable <= 2 s", report.metric(finder, "freshness", "worst_s"),
            2.0, " s")
        plain, faceted = finder.get("inprocess", {}), finder.get("inprocess_facets", {})
        if plain.get("p50") is not None and faceted.get("p50") is not None:
            add(f"{where}: facets add < 1 ms at p50 (in-process)",
                faceted["p50"] - plain["p50"], 1.0, " ms")
    for national in national_sizes:
        against_peer("finder", national, "national", 0.5, 1.0, None)
    against_peer("finder-postgis", size, "spread", 1.0, 1.0, 1.0)
    for large in postgis_sizes:
        run = by(large).get("finder-postgis")
        if run is None:
            continue
        checked = run.get("correctness")
        wrong = len(checked["mismatches"] if checked else []) + (
            run["http"]["error_count"] + _errors_under_load(run))
        claim = "every answer right" if checked else "no failed answer (answers not checked)"
        out.append({"target": f"finder-postgis at {large:,}: {claim}",
                    "value": wrong, "limit": 0, "measured": f"{wrong} wrong or failed",
                    "met": wrong == 0})
        add(f"finder-postgis at {large:,}: HTTP p99 <= 50 ms", report.metric(run, "http", "p99"),
            50.0, " ms")
        against_peer("finder-postgis", large, "spread", None, 1.5, 1.0)
        add(f"finder-postgis at {large:,}: import + search rows <= 180 s", run.get("load_s"),
            180.0, " s")
    return out


def _errors_under_load(run: dict[str, Any]) -> int:
    return int(sum((run.get("wrk") or {}).get("errors", {}).values()))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    command = shlex.join(["python", "-m", "bench.run", *(sys.argv[1:] if argv is None
                                                          else argv)])
    if os.environ.get("BENCH_COMMAND"):
        command = os.environ["BENCH_COMMAND"]  # `make bench` says how it was called
    wrk_path()
    load_at_start = [round(x, 2) for x in os.getloadavg()]
    source_at_start = source_version()
    settings_dict = {"sizes": args.size_list, "postgis_sizes": args.postgis_size_list,
                     "national_sizes": args.national_size_list,
                     "naive_sizes": args.naive_size_list,
                     "duration": args.duration,
                     "connections": args.connections, "threads": args.threads,
                     "workers": args.workers, "queries": args.queries, "warmup": args.warmup,
                     "budget_s": args.budget, "check": args.check, "seed": args.seed,
                     "import_timeout_s": args.import_timeout,
                     "engines": args.engine_list}
    work_root = Path(tempfile.mkdtemp(prefix="finder-bench-"))
    settings = Settings(work_root, args.workers, work_root / "logs")
    runs: list[dict[str, Any]] = []
    postgres = None
    try:
        if {"postgis", "finder-postgis"} & set(args.engine_list):
            sys.path.insert(0, str(ROOT))
            from tests.postgres import PostgresServer

            postgres = PostgresServer().start()
            log(f"PostgreSQL+PostGIS started in {postgres.root}")
        for size in args.size_list:
            runs += bench_size(size, args, settings, postgres, args.engine_list)
        for size in args.national_size_list:
            runs += bench_size(size, args, settings, postgres,
                               [e for e in args.engine_list if e in ("finder", "postgis")],
                               country="US")
        if "finder-postgis" in args.engine_list:
            for size in args.postgis_size_list:
                runs += bench_size(size, args, settings, postgres,
                                   [e for e in args.engine_list
                                    if e in ("finder-postgis", "postgis")])
    finally:
        if postgres is not None:
            postgres.stop()
        if args.keep_work:
            log(f"work folders kept in {work_root}")
        else:
            shutil.rmtree(work_root, ignore_errors=True)

    result: dict[str, Any] = {
        "command": command, "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": {**machine(), "load_average_at_start": load_at_start},
        "source": {"at_start": source_at_start, "at_end": source_version()},
        "settings": settings_dict, "runs": runs,
        "targets": targets(runs, max(args.size_list, default=0), args.postgis_size_list,
                           args.national_size_list),
        "elapsed_s": round(time.monotonic() - started, 1)}
    args.results.mkdir(parents=True, exist_ok=True)
    report.write_json(result, args.results / "latest.json")
    (args.results / "latest.md").write_text(report.render_markdown(result), "utf-8")
    report.plot(result, args.results / "latest.png")
    print(report.render_text(result))
    print(f"\nwrote {args.results}/latest.json, latest.md, latest.png "
          f"in {result['elapsed_s'] / 60:.1f} min")
    mismatches = sum(len((r.get("correctness") or {}).get("mismatches", [])) for r in runs)
    failed = [f"{r['engine']} at {r['size']:,}: {r['error']}" for r in runs if "error" in r]
    for failure in failed:
        print(f"FAILED: {failure}")
    if mismatches:
        print(f"FAILED: {mismatches} answer(s) of finder differ from the brute-force reference")
    return 1 if mismatches or failed else 0


if __name__ == "__main__":
    sys.exit(main())
