"""Each engine's part of a run: load the data, serve it, and the finder-only checks."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from finder.validation import FIELDS

from .client import Client
from .servers import Server, free_port

ROOT = Path(__file__).resolve().parent.parent
# finder's rate limit (120/minute per address by default) would turn the load into 429s.
UNLIMITED = "1000000000/minute"
FRESH_POSTCODE = ("10001", "US")
FRESH_TIMEOUT = 30.0


@dataclass
class Settings:
    work: Path
    workers: int
    log_dir: Path


def finder_env(data_dir: Path, database_url: str = "") -> dict[str, str]:
    """finder's settings: SQLite + Whoosh in ``data_dir``, or PostgreSQL + the postgis
    backend when a database URL is given."""
    env = {**os.environ, "FINDER_DATA_DIR": str(data_dir), "FINDER_RATE_LIMIT": UNLIMITED}
    if database_url:
        env.update(FINDER_DATABASE_URL=database_url, FINDER_SEARCH_BACKEND="postgis")
    return env


def _finder(env: dict[str, str], *args: str, timeout: float = 3600) -> str:
    completed = subprocess.run([sys.executable, "-m", "finder", *args], env=env, cwd=ROOT,
                               capture_output=True, text=True, timeout=timeout)
    if completed.returncode != 0:
        raise RuntimeError(f"finder {' '.join(args)} failed:\n{completed.stderr[-2000:]}")
    return completed.stdout


def import_finder(csv_path: Path, env: dict[str, str], timeout: float) -> dict[str, Any]:
    """Time ``finder init`` + ``finder import FILE`` on a fresh data folder, end to end."""
    started = time.perf_counter()
    _finder(env, "init")
    initialised = time.perf_counter()
    report = _finder(env, "import", str(csv_path), timeout=timeout)
    finished = time.perf_counter()
    return {"load_s": round(finished - started, 2),
            "init_s": round(initialised - started, 2),
            "import_s": round(finished - initialised, 2),
            "report": report.strip().splitlines()[:3]}


def serve_finder(name: str, env: dict[str, str], settings: Settings, size: int) -> Server:
    port = free_port()
    return Server(name, [sys.executable, "-m", "finder", "serve", "--host", "127.0.0.1",
                         "--port", str(port), "--workers", str(settings.workers)],
                  env, port, ROOT, settings.log_dir / f"{name}-{size}.log")


def serve_peer(name: str, module: str, env: dict[str, str], settings: Settings,
               size: int) -> Server:
    """Serve a peer app with gunicorn like finder: same worker count, access log on."""
    port = free_port()
    command = [sys.executable, "-m", "gunicorn", "--workers", str(settings.workers),
               "--bind", f"127.0.0.1:{port}", "--access-logfile", "-", "--timeout", "30",
               f"bench.peers.{module}:create_app()"]
    return Server(name, command, {**os.environ, **env}, port, ROOT,
                  settings.log_dir / f"{name}-{size}.log")


def _fresh_csv(path: Path, external_id: str, name: str, keyword: str) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(FIELDS))
    writer.writeheader()
    writer.writerow({**{f: "" for f in FIELDS}, "external_id": external_id, "name": name,
                     "postcode": FRESH_POSTCODE[0], "country": FRESH_POSTCODE[1],
                     "city": "New York", "region": "NY",
                     "services": f"Dry needling; {keyword} therapy"})
    path.write_text(buffer.getvalue(), "utf-8")


def _visible_after(client: Client, keyword: str, name: str) -> float:
    """Poll the API until the listing is found by its keyword; return the seconds."""
    args = {"postcode": FRESH_POSTCODE[0], "country": FRESH_POSTCODE[1], "q": keyword,
            "radius": "5", "unit": "mi"}
    path = f"/api/v1/search?{urllib.parse.urlencode(args)}"
    started = time.perf_counter()
    while time.perf_counter() - started < FRESH_TIMEOUT:
        body = client.get_json(path)
        if body.get("total", 0) >= 1 and any(h["name"] == name for h in body["results"]):
            return time.perf_counter() - started
        time.sleep(0.02)
    return float("inf")


def freshness(client: Client, env: dict[str, str], work: Path) -> dict[str, Any]:
    """Create, then modify, one listing with `finder import` while the server runs.

    Reports the seconds from the end of each import (its commit) until the HTTP API finds
    the listing by a keyword only that version has.
    """
    stamp = f"{time.time_ns():x}"
    external_id, name = f"bench-fresh-{stamp}", f"Bench Freshness Clinic {stamp}"
    result: dict[str, Any] = {}
    for step, word in (("create", "quokkafresh"), ("modify", "wombatfresh")):
        # Letters only, so the keyword is one analysed word no other listing has.
        keyword = word + "".join(chr(ord("a") + int(digit, 16)) for digit in stamp[-8:])
        path = work / f"fresh-{step}.csv"
        _fresh_csv(path, external_id, name, keyword)
        started = time.perf_counter()
        _finder(env, "import", str(path), timeout=120)
        imported = time.perf_counter()
        visible = _visible_after(client, keyword, name)
        result[step] = {"import_s": round(imported - started, 3),
                        "visible_after_import_s": round(visible, 3), "keyword": keyword}
    result["worst_s"] = max(result["create"]["visible_after_import_s"],
                            result["modify"]["visible_after_import_s"])
    return result
