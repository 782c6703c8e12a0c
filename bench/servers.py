"""Start and stop the served engines, and measure their memory from /proc."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

HOST = "127.0.0.1"
START_TIMEOUT = 120.0  # a worker loading 100k listings takes a while


def free_port() -> int:
    """Return a free TCP port on the loopback interface."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(parent, []).append(int(entry))
    return tree


def process_tree(pid: int) -> list[int]:
    """Return a process and all its descendants."""
    tree, found, todo = _children(), [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(tree.get(current, []))
    return found


def _status_kb(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _pss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


@dataclass
class Memory:
    """Peak memory of a process tree, in MB: RSS summed, the largest process, PSS summed."""

    rss_sum_mb: float = 0.0
    rss_max_process_mb: float = 0.0
    pss_sum_mb: float = 0.0
    processes: int = 0

    def take(self, pids: Sequence[int]) -> None:
        rss = [_status_kb(pid, "VmRSS") / 1024.0 for pid in pids]
        self.rss_sum_mb = max(self.rss_sum_mb, sum(rss))
        self.rss_max_process_mb = max(self.rss_max_process_mb, max(rss, default=0.0))
        self.pss_sum_mb = max(self.pss_sum_mb, sum(_pss_kb(pid) for pid in pids) / 1024.0)
        self.processes = max(self.processes, len(pids))


class MemorySampler:
    """Sample a process tree's memory in a thread until stopped; keep the peaks."""

    def __init__(self, pid: int, interval: float = 0.2) -> None:
        self.pid = pid
        self.interval = interval
        self.peak = Memory()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak.take(process_tree(self.pid))
            self._stop.wait(self.interval)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join()
        self.peak.take(process_tree(self.pid))


class Server:
    """A server process (gunicorn master and workers) on a loopback port."""

    def __init__(self, name: str, command: Sequence[str], env: Mapping[str, str], port: int,
                 cwd: Path, log: Path) -> None:
        self.name = name
        self.port = port
        self.url = f"http://{HOST}:{port}"
        self.log = log
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "wb") as handle:
            # Own session, so stopping it can reach every worker even if the master dies.
            self.process = subprocess.Popen(list(command), env=dict(env), cwd=cwd,
                                            stdout=subprocess.DEVNULL, stderr=handle,
                                            start_new_session=True)

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait_ready(self, path: str = "/healthz", timeout: float = START_TIMEOUT) -> float:
        """Wait until the server answers 200; return the seconds it took."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited: see {self.log}")
            try:
                with urllib.request.urlopen(self.url + path, timeout=5) as response:
                    if response.status == 200:
                        return time.monotonic() - started
            except (OSError, urllib.error.URLError):
                time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not answer within {timeout:.0f} s: see {self.log}")

    def stop(self) -> None:
        """Stop gracefully (SIGTERM to the master), then kill what is left of its group."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.process.pid, signal.SIGKILL)  # the group this server started
        except ProcessLookupError:
            pass
        if self.process.poll() is None:
            self.process.wait(timeout=10)
