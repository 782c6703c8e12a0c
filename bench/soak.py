"""`make soak`: finder held at 80% of its measured maximum throughput while imports run.

Generates (or reuses) the listings in bench/data/, imports them into a fresh data folder and
serves them with `finder serve --workers 2`. The maximum throughput on the query mix is the
highest constant rate (bench/pacer.py) answered without error at a p99 under 250 ms, ramped up
from half of what wrk reads; then the same load sends 80% of it for the whole duration, timing
each request from the moment it was due. Meanwhile, once per interval, a
`finder import` of a few hundred new and changed listings writes to the same data folder, as
an operator's nightly sync would. Each interval (a minute by default) reports the requests, the
errors, p50/p99 latency, the server processes' memory and the search index's lag; at the end a
table and a verdict go to stdout and bench/results/soak.{md,json}. Exits 1 when a check fails.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import re
import shlex
import shutil
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import engines, report
from .engines import Settings
from .load import run_wrk, wrk_path
from .pacer import ConstantLoad, Outcome
from .queries import build_mix, read_postcodes, write_paths
from .run import ensure_csv, machine, serving, source_version
from .servers import HOST, Memory, process_tree

BENCH = Path(__file__).resolve().parent
# The checks of the verdict (bench/README.md says why these bounds).
P99_DRIFT = 1.5  # last third's median p99 at most this times the first third's...
P99_SLACK_MS = 5.0  # ...or at most this much above it: at a few ms, scheduling noise dominates
RSS_GROWTH = 1.2  # the last interval's peak RSS at most this times the second interval's
CATCH_UP_S = 30.0  # after the load, the index must be up to date within this
# The paced maximum: constant rates from RAMP_START of wrk's reading up, RAMP_FACTOR apart,
# each held RAMP_STEP_S; the highest answered with no error and a p99 under RAMP_P99_MS.
RAMP_START = 0.5
RAMP_FACTOR = 1.1
RAMP_STEPS = 10
RAMP_STEP_S = 15.0
RAMP_P99_MS = 250.0
DRAIN_S = 10.0  # pause after the ramp, for the queue of its last step to drain
SAMPLE_S = 1.0
HEALTH_EVERY_S = 5.0
BEHIND = re.compile(r"behind by (\d+)")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=100_000,
                        help="listings imported and served (default: %(default)s)")
    parser.add_argument("--minutes", type=float, default=10.0,
                        help="length of the constant load (default: %(default)s)")
    parser.add_argument("--interval", type=float, default=60.0,
                        help="seconds per reported row (default: %(default)s)")
    parser.add_argument("--sync-every", type=float, default=60.0,
                        help="seconds between imports of changed listings "
                             "(default: %(default)s)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--probe", type=int, default=15,
                        help="seconds of wrk measuring the maximum throughput "
                             "(default: %(default)s)")
    parser.add_argument("--share", type=float, default=0.8,
                        help="share of the maximum throughput held (default: %(default)s)")
    parser.add_argument("--rate", type=float, default=0.0,
                        help="requests per second to hold, instead of --share of the paced "
                             "maximum")
    parser.add_argument("--connections", type=int, default=8, help="wrk connections (probe)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (probe)")
    parser.add_argument("--clients", type=int, default=2,
                        help="load processes sending the constant rate (default: %(default)s)")
    parser.add_argument("--client-threads", type=int, default=16,
                        help="threads per load process, i.e. requests in flight at most "
                             "(default: %(default)s)")
    parser.add_argument("--timeout", type=float, default=10.0,
                        help="seconds before a request counts as timed out "
                             "(default: %(default)s)")
    parser.add_argument("--changes", type=int, default=300,
                        help="listings per import: a third new, the rest changed "
                             "(default: %(default)s)")
    parser.add_argument("--queries", type=int, default=1000,
                        help="length of the query mix cycled through (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the data and the mix")
    parser.add_argument("--import-timeout", type=float, default=1800.0,
                        help="seconds before the initial import counts as failed")
    parser.add_argument("--results", type=Path, default=BENCH / "results",
                        help="folder for soak.json/.md (default: bench/results)")
    parser.add_argument("--keep-work", action="store_true",
                        help="keep the temporary data folder and server log")
    args = parser.parse_args(argv)
    if args.interval <= 0 or args.minutes * 60 < args.interval:
        parser.error("--minutes must cover at least one --interval")
    return args


def log(message: str) -> None:
    print(f"[soak {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclass
class Interval:
    """What one interval of the load saw."""

    expected: int  # requests due in it
    latencies_ms: list[float] = field(default_factory=list)  # answered 2xx
    errors: dict[str, int] = field(default_factory=dict)
    memory: Memory = field(default_factory=Memory)
    index_lag_max: int = 0
    health: set[str] = field(default_factory=set)
    imports: list[dict[str, Any]] = field(default_factory=list)

    @property
    def received(self) -> int:
        return len(self.latencies_ms) + sum(self.errors.values())

    def add(self, outcome: Outcome) -> None:
        _, latency_ms, error = outcome
        if error:
            self.errors[error] = self.errors.get(error, 0) + 1
        else:
            self.latencies_ms.append(latency_ms)

    def row(self, number: int) -> dict[str, Any]:
        stats = report.percentiles(self.latencies_ms)
        return {"interval": number + 1, "requests": self.received,
                "errors": sum(self.errors.values()), "error_kinds": self.errors,
                "p50_ms": stats.get("p50"), "p99_ms": stats.get("p99"),
                "max_ms": stats.get("max"),
                "rss_sum_mb": round(self.memory.rss_sum_mb, 1),
                "rss_max_process_mb": round(self.memory.rss_max_process_mb, 1),
                "index_lag_max": self.index_lag_max, "health": sorted(self.health),
                "imports": self.imports}


def sync_file(rows: list[dict[str, str]], number: int, changes: int, seed: int,
              path: Path) -> Path:
    """Write a nightly sync's CSV: a third new listings, the rest changed existing ones."""
    rng = random.Random(seed * 100_003 + number)
    picked = rng.sample(rows, min(changes, len(rows)))
    out = []
    for position, row in enumerate(picked):
        row = dict(row)
        if position % 3 == 0:
            row["external_id"] = f"soak-{seed}-{number}-{position}"
            row["name"] = f"{row['name']} (soak {number})"
        row["description"] = f"{row.get('description', '')} Updated in sync {number}.".strip()
        row["phone"] = f"+1 555 {rng.randrange(100, 999)} {rng.randrange(1000, 9999)}"
        out.append(row)
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(out)
    return path


def health(url: str) -> tuple[str, int]:
    """Return /healthz's status and the index lag in changes (0 when up to date)."""
    try:
        with urllib.request.urlopen(url + "/healthz", timeout=5) as response:
            body = json.loads(response.read())
    except (OSError, ValueError) as exc:
        return f"unanswered: {type(exc).__name__}", 0
    found = BEHIND.search(str(body.get("checks", {}).get("index", "")))
    return str(body.get("status")), int(found.group(1)) if found else 0


class Syncs(threading.Thread):
    """Run a `finder import` of changed listings every ``--sync-every`` seconds of the load,
    the first a quarter of the way into that period; each goes in the row it started in."""

    def __init__(self, env: dict[str, str], rows: list[dict[str, str]], start: float,
                 intervals: list[Interval], args: argparse.Namespace, work: Path) -> None:
        super().__init__(daemon=True)
        self.env, self.rows, self.start_at, self.intervals = env, rows, start, intervals
        self.args, self.work = args, work
        self.stopping = threading.Event()

    def run(self) -> None:
        every, number = self.args.sync_every, 0
        while (offset := (number + 0.25) * every) < self.args.minutes * 60:
            if self.stopping.wait(max(0.0, self.start_at + offset - time.monotonic())):
                return
            number += 1
            path = sync_file(self.rows, number, self.args.changes, self.args.seed,
                             self.work / f"sync-{number}.csv")
            started = time.monotonic()
            try:
                engines._finder(self.env, "import", str(path), timeout=every * 5)
                outcome: dict[str, Any] = {"ok": True}
            except Exception as exc:  # reported in the table and fails the verdict
                outcome = {"ok": False, "error": str(exc)[-500:]}
            row = min(len(self.intervals) - 1, int(offset // self.args.interval))
            self.intervals[row].imports.append({**outcome, "listings": self.args.changes,
                                                "seconds": round(time.monotonic() - started,
                                                                 2)})


def hold(server_url: str, server_pid: int, rate: float, env: dict[str, str],
         rows: list[dict[str, str]], paths: list[str], args: argparse.Namespace,
         work: Path) -> tuple[list[Interval], float]:
    """Send the constant load while imports run; report and return each interval."""
    port = int(server_url.rsplit(":", 1)[1])
    load = ConstantLoad(HOST, port, paths, rate, args.minutes * 60, args.clients,
                        args.client_threads, args.timeout)
    plan = load.plan
    count = max(1, int(-(-plan.duration_s // args.interval)))
    expected = [0] * count
    for slot in range(plan.slots()):
        expected[min(count - 1, int(plan.due(slot) // args.interval))] += 1
    intervals = [Interval(n) for n in expected]
    syncs = Syncs(env, rows, plan.start, intervals, args, work)
    reported, next_sample, next_health = 0, 0.0, 0.0
    load.start()
    syncs.start()
    try:
        while not load.finished or reported < count:
            for outcome in load.outcomes(0.2):
                intervals[min(count - 1, int(outcome[0] // args.interval))].add(outcome)
            now = time.monotonic()
            current = intervals[min(count - 1, max(0, int((now - plan.start) // args.interval)))]
            if now >= next_sample and now >= plan.start:
                current.memory.take(process_tree(server_pid))
                next_sample = now + SAMPLE_S
            if now >= next_health and now >= plan.start:
                status, lag = health(server_url)
                current.health.add(status)
                current.index_lag_max = max(current.index_lag_max, lag)
                next_health = now + HEALTH_EVERY_S
            # An interval is reported once every request due in it has its outcome.
            while reported < count and intervals[reported].received >= expected[reported] and (
                    now >= plan.start + (reported + 1) * args.interval or load.finished):
                print_row(intervals[reported].row(reported), args.interval)
                reported += 1
            if load.finished and reported < count:
                raise RuntimeError(f"the load ended with interval {reported + 1} incomplete")
    finally:
        syncs.stopping.set()
        load.stop()
    syncs.join(timeout=args.sync_every * 5)
    cpu = load.cpu_s / plan.duration_s
    log(f"the load processes used {cpu:.0%} of a core for {rate:.0f} req/s")
    return intervals, cpu


def paced_maximum(port: int, paths: list[str], start: float,
                  args: argparse.Namespace) -> tuple[float, list[dict[str, Any]]]:
    """Return the highest constant rate the soak's own load gets answered at (no error,
    p99 under RAMP_P99_MS), ramping up from ``start``, and each step's figures.

    wrk's closed loop reads a higher maximum than a constant rate can be held at: its client
    costs the shared cores less, and it slows down with the server instead of queueing. A
    soak at a share of that reading can be beyond what the server sustains at all, so the
    share is taken of what the constant-rate load itself was answered at.
    """
    sustained, rate, steps = 0.0, start, []
    for _ in range(RAMP_STEPS):
        load = ConstantLoad(HOST, port, paths, rate, RAMP_STEP_S, args.clients,
                            args.client_threads, args.timeout).start()
        try:
            outcomes: list[Outcome] = []
            while not load.finished:
                outcomes += load.outcomes(0.5)
        finally:
            load.stop()
        latencies = sorted(ms for _due, ms, _error in outcomes)
        errors = sum(1 for _due, _ms, error in outcomes if error)
        p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] \
            if latencies else float("inf")  # nothing answered
        steps.append({"rate": round(rate, 1), "p99_ms": round(p99, 1), "errors": errors})
        log(f"paced {rate:.0f} req/s: p99 {p99:.1f} ms, {errors} error(s)")
        if errors or p99 > RAMP_P99_MS:
            break
        sustained, rate = rate, rate * RAMP_FACTOR
    time.sleep(DRAIN_S)
    return sustained, steps


def print_row(row: dict[str, Any], seconds: float) -> None:
    imports = ", ".join(f"{i['seconds']} s" if i["ok"] else "FAILED" for i in row["imports"])
    log(f"{'minute' if seconds == 60 else 'interval'} {row['interval']}: "
        f"{row['requests']} requests, {row['errors']} errors"
        f"{' ' + str(row['error_kinds']) if row['errors'] else ''}, "
        f"p50 {row['p50_ms']} ms, p99 {row['p99_ms']} ms, "
        f"RSS {row['rss_sum_mb']:.0f} MB (largest {row['rss_max_process_mb']:.0f} MB), "
        f"index lag <= {row['index_lag_max']}, import {imports or '-'}")


def verdict(rows: list[dict[str, Any]], caught_up_s: float | None) -> list[dict[str, Any]]:
    """Check the soak's promises: no errors, no p99 drift, bounded memory, index caught up."""
    errors = sum(r["errors"] for r in rows)
    failed_imports = sum(1 for r in rows for i in r["imports"] if not i["ok"])
    third = max(1, len(rows) // 3)
    first = statistics.median(r["p99_ms"] or 0.0 for r in rows[:third])
    last = statistics.median(r["p99_ms"] or 0.0 for r in rows[-third:])
    p99_limit = max(first * P99_DRIFT, first + P99_SLACK_MS)
    base = rows[1] if len(rows) > 1 else rows[0]
    rss_limit = base["rss_sum_mb"] * RSS_GROWTH
    return [
        {"check": "no failed requests (non-2xx, timeouts, connection errors)",
         "measured": f"{errors}", "met": errors == 0},
        {"check": "every import succeeded", "measured": f"{failed_imports} failed",
         "met": failed_imports == 0},
        {"check": f"p99 does not drift: last third's median <= max({P99_DRIFT}x, "
                  f"+{P99_SLACK_MS:g} ms) the first third's",
         "measured": f"{last:.1f} ms vs {first:.1f} ms (limit {p99_limit:.1f} ms)",
         "met": last <= p99_limit},
        {"check": f"memory is bounded: last interval's RSS <= {RSS_GROWTH}x the "
                  f"{'second' if len(rows) > 1 else 'first'}'s",
         "measured": f"{rows[-1]['rss_sum_mb']:.0f} MB vs {base['rss_sum_mb']:.0f} MB "
                     f"(limit {rss_limit:.0f} MB)",
         "met": rows[-1]["rss_sum_mb"] <= rss_limit},
        {"check": f"the index is up to date within {CATCH_UP_S:g} s after the load",
         "measured": "not caught up" if caught_up_s is None else f"{caught_up_s:.1f} s",
         "met": caught_up_s is not None},
    ]


def rss_slope(rows: list[dict[str, Any]], seconds: float) -> float | None:
    """Return the least-squares growth of summed RSS in MB per minute, from interval 2 on."""
    points = rows[1:]
    if len(points) < 2:
        return None
    slope = statistics.linear_regression([r["interval"] for r in points],
                                         [r["rss_sum_mb"] for r in points]).slope
    return round(slope * 60 / seconds, 2)


def wait_caught_up(url: str) -> float | None:
    started = time.monotonic()
    while time.monotonic() - started < CATCH_UP_S:
        status, lag = health(url)
        if status == "ok" and lag == 0:
            return time.monotonic() - started
        time.sleep(0.5)
    return None


def render_markdown(result: dict[str, Any]) -> str:
    settings = result["settings"]
    unit = "minute" if settings["interval_s"] == 60 else f"{settings['interval_s']:g} s"
    commit = result["source"]["at_start"].get("commit", "?")
    lines = [
        f"Soak: {settings['size']:,} listings, {settings['workers']} workers, "
        f"{result['rate']:.0f} req/s constant ({settings['share']:.0%} of the "
        f"{result['paced_maximum']:.0f} req/s held at a p99 under {RAMP_P99_MS:.0f} ms; wrk "
        f"read {result['probe']['requests_per_s']:.0f} req/s) for "
        f"{settings['minutes']:g} min, {settings['changes']} listings imported every "
        f"{settings['sync_every_s']:g} s. `{result['command']}` on {result['date']}, "
        f"finder at {commit}; the load processes used "
        f"{result['load_processes_cpu_cores']:.0%} of a core.", "",
        f"| {unit} | requests | errors | p50 (ms) | p99 (ms) | max (ms) | RSS summed (MB) "
        "| RSS largest (MB) | index lag (changes) | import (s) |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for row in result["rows"]:
        imports = ", ".join(f"{i['seconds']}" if i["ok"] else "failed" for i in row["imports"])
        lines.append(
            f"| {row['interval']} | {row['requests']} | {row['errors']} | {row['p50_ms']} | "
            f"{row['p99_ms']} | {row['max_ms']} | {row['rss_sum_mb']:.0f} | "
            f"{row['rss_max_process_mb']:.0f} | {row['index_lag_max']} | {imports or '-'} |")
    lines += ["", "| check | measured | |", "| --- | ---: | ---: |"]
    lines += [f"| {c['check']} | {c['measured']} | {'met' if c['met'] else 'FAILED'} |"
              for c in result["checks"]]
    slope = result["rss_slope_mb_per_min"]
    lines += ["", f"RSS trend from the second {unit} on: "
                  f"{'-' if slope is None else f'{slope:+.2f}'} MB/min (least squares).",
              "", f"Verdict: {'PASS' if result['passed'] else 'FAIL'}"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    command = os.environ.get("SOAK_COMMAND") or shlex.join(
        ["python", "-m", "bench.soak", *(sys.argv[1:] if argv is None else argv)])
    wrk_path()
    source_at_start = source_version()
    csv_path = ensure_csv(args.size, args.seed)
    with open(csv_path, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    work = Path(tempfile.mkdtemp(prefix="finder-soak-"))
    settings = Settings(work, args.workers, work / "logs")
    env = engines.finder_env(work / "finder")
    paths_file = write_paths(build_mix(read_postcodes(csv_path), args.queries, args.seed),
                             work / "paths.txt")
    try:
        log(f"init + import {args.size:,} listings into {work / 'finder'}")
        loaded = engines.import_finder(csv_path, env, args.import_timeout)
        log(f"import+index took {loaded['load_s']} s")
        with serving(engines.serve_finder("finder", env, settings, args.size)) as server:
            paths = paths_file.read_text("utf-8").split()
            probe = run_wrk(server.url, paths_file, args.probe, args.connections, args.threads)
            log(f"wrk: {probe.requests_per_s} req/s at most (errors {probe.errors})")
            maximum, ramp = (args.rate / args.share, []) if args.rate else paced_maximum(
                int(server.url.rsplit(":", 1)[1]), paths, probe.requests_per_s * RAMP_START,
                args)
            if not maximum:
                raise RuntimeError(f"no constant rate was answered well: {ramp}")
            rate = args.rate or maximum * args.share
            log(f"holding {rate:.0f} req/s ({args.share:.0%} of {maximum:.0f}) for "
                f"{args.minutes:g} min, a sync every {args.sync_every:g} s")
            intervals, load_cpu = hold(server.url, server.pid, rate, env, rows, paths, args,
                                       work)
            caught_up = wait_caught_up(server.url)
    finally:
        if args.keep_work:
            log(f"work folder kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    table = [interval.row(number) for number, interval in enumerate(intervals)]
    checks = verdict(table, caught_up)
    result: dict[str, Any] = {
        "command": command, "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(), "source": {"at_start": source_at_start,
                                         "at_end": source_version()},
        "settings": {"size": args.size, "minutes": args.minutes, "interval_s": args.interval,
                     "workers": args.workers, "probe_s": args.probe, "share": args.share,
                     "clients": args.clients, "client_threads": args.client_threads,
                     "timeout_s": args.timeout, "changes": args.changes,
                     "sync_every_s": args.sync_every,
                     "queries": args.queries, "seed": args.seed},
        "load": loaded, "probe": probe.as_dict(), "ramp": ramp,
        "paced_maximum": round(maximum, 1), "rate": round(rate, 1),
        "load_processes_cpu_cores": round(load_cpu, 3), "rows": table,
        "rss_slope_mb_per_min": rss_slope(table, args.interval),
        "index_caught_up_s": None if caught_up is None else round(caught_up, 2),
        "checks": checks, "passed": all(c["met"] for c in checks)}
    args.results.mkdir(parents=True, exist_ok=True)
    report.write_json(result, args.results / "soak.json")
    markdown = render_markdown(result)
    (args.results / "soak.md").write_text(markdown, "utf-8")
    print(markdown)
    print(f"wrote {args.results}/soak.json, soak.md")
    for check in checks:
        if not check["met"]:
            print(f"FAILED: {check['check']}: {check['measured']}")
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
