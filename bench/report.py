"""Results: the printed table, the Markdown table for the README, the JSON and the plot."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

# finder-postgis: finder itself with FINDER_SEARCH_BACKEND=postgis, on the peer's PostgreSQL.
ENGINES = ("finder", "finder-postgis", "postgis", "naive-whoosh")
FINDERS = ("finder", "finder-postgis")
PEERS = ("postgis", "naive-whoosh")
# The data sets: listings spread over five countries as `finder generate` spreads them, or
# all in one country, as dense as a national directory (`finder generate --country US`).
DATASETS = {"spread": "", "national": ", one country"}
Run = dict[str, Any]
Table = tuple[int, str]  # (size, data set)


def dataset(run: Run) -> str:
    return str(run.get("dataset", "spread"))


def all_tables(result: dict[str, Any]) -> list[Table]:
    """Every (size, data set) measured, smallest first, the spread data set first."""
    found = {(int(r["size"]), dataset(r)) for r in result["runs"]}
    order = list(DATASETS)
    return sorted(found, key=lambda t: (order.index(t[1]), t[0]))


def runs_of(runs: list[Run], table: Table) -> dict[str, Run]:
    return {r["engine"]: r for r in runs if (r["size"], dataset(r)) == table}


def percentiles(latencies_ms: Sequence[float]) -> dict[str, float]:
    """Return p50/p95/p99/mean/max of a latency sample (linear interpolation)."""
    if not latencies_ms:
        return {}
    values = np.asarray(latencies_ms, dtype=float)
    p50, p95, p99 = np.percentile(values, [50, 95, 99])
    return {"count": len(values), "p50": round(float(p50), 3), "p95": round(float(p95), 3),
            "p99": round(float(p99), 3), "mean": round(float(values.mean()), 3),
            "max": round(float(values.max()), 3)}


def metric(run: Run | None, *keys: str) -> float | None:
    value: Any = run
    for key in keys:
        if not isinstance(value, dict) or key not in value or value[key] is None:
            return None
        value = value[key]
    return float(value)


# (label, getter, whether finder/peer is a meaningful ratio)
METRICS: list[tuple[str, Callable[[Run | None], float | None], bool]] = [
    ("load: import+index / COPY+index / build (s)", lambda r: metric(r, "load_s"), True),
    ("in-process p50 (ms)", lambda r: metric(r, "inprocess", "p50"), True),
    ("in-process p95 (ms)", lambda r: metric(r, "inprocess", "p95"), True),
    ("in-process p99 (ms)", lambda r: metric(r, "inprocess", "p99"), True),
    ("in-process p50 with facets (ms)", lambda r: metric(r, "inprocess_facets", "p50"), False),
    ("in-process p99 with facets (ms)", lambda r: metric(r, "inprocess_facets", "p99"), False),
    ("HTTP p50 (ms)", lambda r: metric(r, "http", "p50"), True),
    ("HTTP p95 (ms)", lambda r: metric(r, "http", "p95"), True),
    ("HTTP p99 (ms)", lambda r: metric(r, "http", "p99"), True),
    ("wrk throughput (req/s)", lambda r: metric(r, "wrk", "requests_per_s"), True),
    ("wrk p50 under load (ms)", lambda r: metric(r, "wrk", "p50_ms"), True),
    ("wrk p99 under load (ms)", lambda r: metric(r, "wrk", "p99_ms"), True),
    ("wrk errors (non-2xx, timeouts)", lambda r: _errors(r), False),
    ("peak RSS, server processes summed (MB)", lambda r: metric(r, "memory", "rss_sum_mb"), True),
    ("peak RSS, largest process (MB)", lambda r: metric(r, "memory", "rss_max_process_mb"), True),
    ("peak RSS, PostgreSQL processes (MB)", lambda r: metric(r, "database_memory", "rss_sum_mb"),
     False),
    ("change searchable after import (s)", lambda r: metric(r, "freshness", "worst_s"), False),
]


def _errors(run: Run | None) -> float | None:
    if run is None or not run.get("wrk"):
        return None
    return float(sum(run["wrk"]["errors"].values()))


def _counts(run: Run) -> str:
    return "/".join(str((run.get(kind) or {}).get("count", "-")) for kind in ("http", "inprocess"))


def _format(value: float | None) -> str:
    if value is None:
        return "-"
    if value.is_integer() and abs(value) < 100:
        return str(int(value))
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _ratio(finder: float | None, peer: float | None) -> str:
    if finder is None or peer is None or peer == 0:
        return "-"
    return f"{finder / peer:.3g}x"


def table_rows(runs: list[Run], table: Table) -> tuple[list[str], list[list[str]]]:
    """Return the header and rows of one (size, data set)'s table."""
    by_engine = runs_of(runs, table)
    engines = [e for e in ENGINES if e in by_engine]
    pairs = [(f, p) for f in FINDERS for p in PEERS if f in by_engine and p in by_engine]
    size, data = table
    header = [f"{size:,} listings{DATASETS[data]}", *engines,
              *(f"{f}/{p}" for f, p in pairs)]
    rows = []
    for label, getter, ratio in METRICS:
        values = [getter(by_engine[e]) for e in engines]
        if all(v is None for v in values):
            continue
        row = [label, *(_format(v) for v in values)]
        for finder, peer in pairs:
            row.append(_ratio(getter(by_engine[finder]), getter(by_engine[peer]))
                       if ratio else "")
        rows.append(row)
    rows.append(["queries timed (HTTP / in-process)",
                 *(_counts(by_engine[e]) for e in engines), *([""] * len(pairs))])
    checked = [by_engine[e].get("correctness") for e in engines]
    if any(checked):
        rows.append(["= brute-force reference", *(
            f"{c['compared'] - len(c['mismatches'])}/{c['compared']}" if c else "-"
            for c in checked), *([""] * len(pairs))])
    return header, rows


def text_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(line[i]) for line in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        first = cells[0].ljust(widths[0])
        return "  ".join([first, *(c.rjust(w) for c, w in zip(cells[1:], widths[1:],
                                                                strict=True))])

    return "\n".join([line(header), "  ".join("-" * w for w in widths), *map(line, rows)])


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(header) + " |",
           "| --- |" + " ---: |" * (len(header) - 1)]
    out += ["| " + " | ".join(cell or " " for cell in row) + " |" for row in rows]
    return "\n".join(out)


def targets_rows(targets: list[dict[str, Any]]) -> list[list[str]]:
    return [[t["target"], t["measured"], "met" if t["met"] else "MISSED"] for t in targets]


def tables(result: dict[str, Any],
           table: Callable[[list[str], list[list[str]]], str]) -> list[str]:
    """Return each (size, data set)'s table, then the targets' table, drawn by ``table``."""
    drawn = [table(*table_rows(result["runs"], key)) for key in all_tables(result)]
    if result["targets"]:
        drawn.append(table(["target (DESIGN.md section 8)", "measured", ""],
                           targets_rows(result["targets"])))
    return drawn


def render_text(result: dict[str, Any]) -> str:
    parts = [*tables(result, text_table), mismatch_text(result)]
    return "\n\n".join(p for p in parts if p)


def mismatch_text(result: dict[str, Any]) -> str:
    lines = []
    for run in result["runs"]:
        if "error" in run:
            lines.append(f"ERROR: {run['engine']} at {run['size']:,}{DATASETS[dataset(run)]} "
                         f"failed: {run['error']}")
        for m in (run.get("correctness") or {}).get("mismatches", []):
            lines.append(f"MISMATCH {run['engine']} at {run['size']:,}{DATASETS[dataset(run)]}: "
                         f"{m['query']}: "
                         f"{m['reason']}\n  reference {m['expected']}\n  finder    {m['actual']}")
    return "\n".join(lines)


def render_markdown(result: dict[str, Any]) -> str:
    machine = result["machine"]
    source = result.get("source", {}).get("at_start", {})
    measured = "finder (commit unknown)"
    if source.get("commit"):
        changed = " with local changes" if source.get("finder_modified") else ""
        measured = f"finder at {source['commit']}{changed}"
    parts = [
        "# finder benchmark: latest results",
        f"Command: `{result['command']}` ({measured})  \n"
        f"Date: {result['date']}  \n"
        f"Machine: {machine['nproc']} cores ({machine['cpu']}), {machine['memory_gb']} GB, "
        f"Python {machine['python']}, {machine['kernel']}  \n"
        f"Run took {result['elapsed_s'] / 60:.1f} min. Ratios are finder / peer (below 1 is "
        f"finder faster or smaller; for throughput above 1 is finder better). HTTP latencies "
        f"come from one sequential client; wrk ran {result['settings']['threads']} threads, "
        f"{result['settings']['connections']} connections, {result['settings']['duration']} s "
        f"per engine.",
    ]
    parts += tables(result, markdown_table)
    mismatches = mismatch_text(result)
    parts.append(f"```\n{mismatches}\n```" if mismatches else
                 "finder's first pages (by best and by distance) matched the brute-force "
                 "reference on every checked query.")
    return "\n\n".join(parts) + "\n"


def write_json(result: dict[str, Any], path: Path) -> None:
    path.write_text(json.dumps(result, indent=2, sort_keys=False) + "\n", "utf-8")


def plot(result: dict[str, Any], path: Path) -> None:
    """Draw latency percentiles per engine per size on a log scale."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = all_tables(result)
    metrics = [("inprocess", "p50"), ("inprocess", "p95"), ("inprocess", "p99"),
               ("http", "p50"), ("http", "p95"), ("http", "p99")]
    figure, axes = plt.subplots(1, len(keys), figsize=(6.5 * len(keys), 4.8), squeeze=False,
                                sharey=True)
    for axis, key in zip(axes[0], keys, strict=True):
        by_engine = runs_of(result["runs"], key)
        engines = [e for e in ENGINES if e in by_engine]
        width = 0.8 / max(1, len(engines))
        for i, engine in enumerate(engines):
            values = [metric(by_engine[engine], kind, p) or np.nan for kind, p in metrics]
            positions = np.arange(len(metrics)) + (i - (len(engines) - 1) / 2) * width
            # One colour per engine in every panel, so the one legend reads for all.
            axis.bar(positions, values, width, label=engine,
                     color=f"C{ENGINES.index(engine)}")
        axis.set_xticks(np.arange(len(metrics)),
                        [f"{'in-proc' if k == 'inprocess' else 'HTTP'}\n{p}" for k, p in metrics])
        axis.set_yscale("log")
        axis.set_title(f"{key[0]:,} listings{DATASETS[key[1]]}")
        axis.grid(axis="y", which="both", alpha=0.3)
    axes[0][0].set_ylabel("search latency (ms, log scale)")
    handles, labels = axes[0][0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="lower center", ncol=len(labels), frameon=False)
    figure.suptitle(f"finder vs peers: search latency, {result['date']}, "
                    f"{result['machine']['nproc']} cores")
    figure.tight_layout(rect=(0, 0.06, 1, 1))
    figure.savefig(path, dpi=110)
    plt.close(figure)
