"""In-process latency: one engine's WSGI app called through Flask's test client, no HTTP.

Run as a child process (``python -m bench.inprocess ENGINE PATHS OUT``) so each engine gets a
clean interpreter and its memory never mixes with the benchmark's. Engines are configured by
the same environment variables as their served form.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from flask import Flask


def make_app(engine: str) -> Flask:
    """Build the engine's app as its server would."""
    if engine in ("finder", "finder-postgis"):  # the backend is in the environment
        from finder import create_app

        return create_app()  # the untimed warm-up queries open the index
    if engine == "postgis":
        from .peers import postgis_app

        return postgis_app.create_app()
    if engine == "naive-whoosh":
        from .peers import naive_whoosh_app

        return naive_whoosh_app.create_app()
    raise SystemExit(f"unknown engine {engine!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("engine", choices=["finder", "finder-postgis", "postgis",
                                           "naive-whoosh"])
    parser.add_argument("paths", type=Path, help="file with one request path per line")
    parser.add_argument("out", type=Path, help="where to write the JSON timings")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--budget", type=float, default=120.0, help="seconds at most")
    args = parser.parse_args()
    paths = [line for line in args.paths.read_text("utf-8").splitlines() if line]
    client = make_app(args.engine).test_client()
    for path in paths[:args.warmup]:
        client.get(path)
    latencies: list[float] = []
    errors: list[str] = []
    deadline = time.monotonic() + args.budget
    for path in paths:
        if time.monotonic() > deadline:
            break
        started = time.perf_counter()
        response = client.get(path)
        response.get_data()
        latencies.append((time.perf_counter() - started) * 1000.0)
        if response.status_code != 200:
            errors.append(f"{response.status_code} {path}")
    args.out.write_text(json.dumps({"engine": args.engine, "pid": os.getpid(),
                                    "latencies_ms": latencies, "errors": errors,
                                    "truncated": len(latencies) < len(paths)}), "utf-8")


if __name__ == "__main__":
    main()
