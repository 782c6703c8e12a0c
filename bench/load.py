"""Throughput under concurrent clients, with wrk cycling through the query mix."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

SCRIPT = Path(__file__).with_name("wrk_mix.lua")
MARKER = "BENCH_WRK "


@dataclass
class LoadResult:
    requests: int
    seconds: float
    requests_per_s: float
    p50_ms: float
    p90_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    errors: dict[str, int]
    command: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def wrk_path() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise RuntimeError("wrk is not installed; `make bench` installs it (apt-get install wrk)")
    return found


def run_wrk(url: str, paths_file: Path, duration_s: int, connections: int, threads: int,
            timeout_s: int = 30) -> LoadResult:
    """Run wrk against ``url`` for ``duration_s`` seconds and return its summary."""
    command = [wrk_path(), f"-t{threads}", f"-c{connections}", f"-d{duration_s}s",
               f"--timeout={timeout_s}s", "-s", str(SCRIPT), url, "--", str(paths_file)]
    # wrk stops by itself after the duration; the margin only guards against a hang.
    completed = subprocess.run(command, capture_output=True, text=True, check=True,
                               timeout=duration_s + timeout_s + 30)
    line = next((ln for ln in completed.stdout.splitlines() if ln.startswith(MARKER)), None)
    if line is None:
        raise RuntimeError(f"wrk printed no summary:\n{completed.stdout}\n{completed.stderr}")
    data = json.loads(line[len(MARKER):])
    seconds = data["duration_us"] / 1e6
    latency = data["latency_us"]
    return LoadResult(
        requests=data["requests"], seconds=round(seconds, 2),
        requests_per_s=round(data["requests"] / seconds, 1) if seconds else 0.0,
        p50_ms=latency["p50"] / 1000, p90_ms=latency["p90"] / 1000,
        p95_ms=latency["p95"] / 1000, p99_ms=latency["p99"] / 1000,
        max_ms=latency["max"] / 1000, errors=data["errors"],
        # Readable and machine-independent: the script by its repository path, the mix by name.
        command=" ".join(["wrk", *command[1:-4], "bench/wrk_mix.lua", url, "--",
                          paths_file.name]),
    )
