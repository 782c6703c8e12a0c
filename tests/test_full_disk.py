"""A full disk loses nothing: an import stops with a clear message and a true count of what
it saved, the database stays whole, searches answer from the index they have, /healthz says
why the index is behind, and everything catches up by itself once space returns."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from finder.generate import write_csv
from tests.conftest import Server

DISK_MB = 96
FILLER_MB = 72  # removed afterwards, to give space back


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real file system of a few megabytes (a tmpfs, which only root may mount)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={DISK_MB}m", "tmpfs",
                           str(mount)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"a small disk cannot be mounted here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def get(url: str) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def test_an_import_that_fills_the_disk_loses_nothing(small_disk: Path, tmp_path: Path,
                                                      migrated_database: Path) -> None:
    data_dir = small_disk / "instance"
    data_dir.mkdir()
    shutil.copy(migrated_database, data_dir / "finder.sqlite3")
    filler = small_disk / "filler"
    filler.write_bytes(b"\0" * FILLER_MB * 2**20)
    listings = tmp_path / "listings.csv"
    with open(listings, "w", encoding="utf-8", newline="") as handle:
        write_csv(handle, 20_000, seed=3)
    environ = {"FINDER_DATA_DIR": str(data_dir), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-m", "finder", "import", str(listings),
                           "--commit-every", "500"], capture_output=True, text=True,
                          env=environ, timeout=600)
    said = done.stdout + done.stderr
    assert done.returncode == 1, said
    assert "Traceback" not in said
    assert "The disk is full" in said or "the disk is full" in said

    with sqlite3.connect(data_dir / "finder.sqlite3") as database:
        assert database.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        stored = database.execute("SELECT count(*) FROM location").fetchone()[0]
    saved = re.search(r"stopped after saving (\d+) record", said)
    if saved:  # the database filled: exactly what it said it saved is there
        assert stored == int(saved.group(1))
    assert 0 < stored < 20_000

    server = Server(data_dir, workers=1)
    try:
        status, body = get(f"{server.url}/api/v1/search?postcode=10001&radius=250")
        assert status == 200, body  # answered from the index as it stands
        status, health = get(f"{server.url}/healthz")
        assert status == 200
        if health["checks"]["index"] != "ok":
            assert "the disk is full" in health["checks"]["index"]
            assert health["status"] == "degraded"
        filler.unlink()  # space returns: the index catches up by itself
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            status, health = get(f"{server.url}/healthz")
            if health.get("checks", {}).get("index") == "ok":
                break
            time.sleep(0.2)
        assert health["checks"]["index"] == "ok" and health["status"] == "ok", health
    finally:
        server.stop()
    with sqlite3.connect(data_dir / "finder.sqlite3") as database:
        assert database.execute("PRAGMA integrity_check").fetchone() == ("ok",)
