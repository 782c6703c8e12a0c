"""A throwaway PostgreSQL+PostGIS server for tests and benchmarks (Debian packages).

It runs ``initdb`` into a temporary folder and starts ``postgres`` on a free port with a
Unix socket in that folder; as root it runs them as the ``postgres`` user, as PostgreSQL
refuses to run as root.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def _bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise RuntimeError(f"PostgreSQL's {name} was not found; install the postgresql package")
    return found[-1]


def free_port() -> int:
    """Return a TCP port on the loopback interface that nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class PostgresServer:
    """Start with ``start()``; ``url`` is a SQLAlchemy URL for psycopg; ``stop()`` removes it."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="finder-pg-"))
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self._as_postgres = os.geteuid() == 0

    def _run(self, *command: str) -> list[str]:
        if self._as_postgres:
            return ["runuser", "-u", "postgres", "--", *command]
        return list(command)

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@/finder?host={self.root}&port={self.port}"

    def start(self) -> PostgresServer:
        data = self._data_dir()
        subprocess.run(self._run(_bin("initdb"), "-D", str(data), "-U", "postgres",
                                 "--auth=trust", "-E", "UTF8", "--no-sync"),
                       check=True, capture_output=True)
        self._launch(data)
        self.psql("postgres", "CREATE DATABASE finder")
        self.psql("finder", "CREATE EXTENSION IF NOT EXISTS postgis")
        return self

    def replica(self) -> PostgresServer:
        """Start a streaming replica of this server (``pg_basebackup -R``), read-only."""
        replica = PostgresServer()
        data = replica._data_dir()
        subprocess.run(replica._run(_bin("pg_basebackup"), "-D", str(data), "-h",
                                    str(self.root), "-p", str(self.port), "-U", "postgres",
                                    "-R", "-X", "stream", "--checkpoint=fast", "--no-sync"),
                       check=True, capture_output=True)
        replica._launch(data)
        return replica

    def _data_dir(self) -> Path:
        if self._as_postgres:
            shutil.chown(self.root, "postgres", "postgres")
        return self.root / "data"

    def _launch(self, data: Path) -> None:
        self.process = subprocess.Popen(
            self._run(_bin("postgres"), "-D", str(data), "-p", str(self.port), "-k",
                      str(self.root), "-c", "listen_addresses=", "-c", "fsync=off",
                      "-c", "synchronous_commit=off", "-c", "full_page_writes=off"),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while subprocess.run(self._run(_bin("pg_isready"), "-h", str(self.root), "-p",
                                       str(self.port)), capture_output=True).returncode != 0:
            if time.monotonic() > deadline or self.process.poll() is not None:
                self.stop()
                raise RuntimeError("PostgreSQL did not start")
            time.sleep(0.1)

    def psql(self, database: str, sql: str) -> str:
        result = subprocess.run(
            self._run("psql", "-h", str(self.root), "-p", str(self.port), "-U", "postgres",
                      "-d", database, "-v", "ON_ERROR_STOP=1", "-qAtc", sql),
            check=True, capture_output=True, text=True,
        )
        return result.stdout

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            # A fast shutdown, which cuts clients off; through pg_ctl, as a signal to runuser
            # would not reach the server.
            subprocess.run(self._run(_bin("pg_ctl"), "-D", str(self.root / "data"), "-m",
                                     "fast", "-w", "stop"), capture_output=True, timeout=30)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.root, ignore_errors=True)
