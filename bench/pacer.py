"""A constant-rate HTTP load: requests sent on a fixed schedule, each timed from its slot.

wrk sends the next request when the previous one answers, so a slow answer delays the
requests behind it and they are never timed as late (coordinated omission). Here request
``i`` is due at ``start + i / rate`` whatever happened before, and its latency runs from that
moment: a stall of the server shows as the stall plus the queue it built. The schedule is split
over a few processes (one Python process cannot send hundreds of requests a second on a busy
2-core machine), each with a pool of threads taking the next due slot.
"""

from __future__ import annotations

import itertools
import multiprocessing
import queue as queue_module
import re
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.queues import Queue
from typing import Any

# (seconds from the start the request was due, milliseconds from then to its answer,
#  "" for a 2xx answer or else what went wrong)
Outcome = tuple[float, float, str]
FLUSH_S = 0.5
STATUS = re.compile(rb"HTTP/1\.[01] (\d{3}) ")
LENGTH = re.compile(rb"\r\ncontent-length: *(\d+)", re.IGNORECASE)


@dataclass(frozen=True)
class Plan:
    """What every load process needs: where, what, how fast, and for how long."""

    host: str
    port: int
    paths: tuple[str, ...]
    rate: float  # requests per second, all processes together
    start: float  # time.monotonic() of slot 0 (the clock is shared by the machine's processes)
    duration_s: float
    processes: int
    threads: int
    timeout_s: float

    def slots(self) -> int:
        """Return how many requests the whole load sends."""
        return max(0, int(-(-self.duration_s * self.rate // 1)))  # ceil

    def due(self, slot: int) -> float:
        return slot / self.rate


def _request(plan: Plan, path: str) -> str:
    """Send one GET on a new connection; return "" for a complete 2xx answer, else why not.

    A plain socket rather than http.client: on a 2-core machine the load must leave the CPU to
    the server, and http.client's header parsing doubles the client's cost per request.
    gunicorn's sync workers close every connection after the answer, so asking for that
    (``Connection: close``) loses nothing, and the answer ends where the stream does.
    """
    request = f"GET {path} HTTP/1.1\r\nHost: {plan.host}\r\nConnection: close\r\n\r\n"
    chunks = []
    try:
        with socket.create_connection((plan.host, plan.port), timeout=plan.timeout_s) as sock:
            sock.sendall(request.encode("ascii"))
            while chunk := sock.recv(65536):
                chunks.append(chunk)
    except TimeoutError:
        return "timeout"
    except OSError as exc:
        return f"connection: {type(exc).__name__}"
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    status = STATUS.match(head)
    if status is None:
        return "connection: no HTTP answer"
    length = LENGTH.search(head)
    if length is not None and int(length.group(1)) != len(body):
        return "connection: answer cut short"
    code = int(status.group(1))
    return "" if 200 <= code < 300 else f"status {code}"


def _load_process(index: int, plan: Plan, queue: Queue[Any]) -> None:
    """Send this process's share of the slots (every ``processes``-th) and report outcomes."""
    slots = itertools.count(index, plan.processes)
    total = plan.slots()
    pending: list[Outcome] = []
    lock = threading.Lock()

    def worker() -> None:
        while True:
            with lock:
                slot = next(slots)
            if slot >= total:
                break
            due = plan.start + plan.due(slot)
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            if wait < -plan.timeout_s:
                # Every thread was busy for longer than a request may take: never sent.
                error = "timeout"
            else:
                error = _request(plan, plan.paths[slot % len(plan.paths)])
            elapsed_ms = (time.monotonic() - due) * 1000.0
            with lock:
                pending.append((plan.due(slot), elapsed_ms, error))

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(plan.threads)]
    for thread in threads:
        thread.start()
    while any(thread.is_alive() for thread in threads):
        time.sleep(FLUSH_S)
        with lock:
            batch, pending[:] = pending[:], []
        if batch:
            queue.put(batch)
    with lock:
        if pending:
            queue.put(list(pending))
    queue.put((index, time.process_time()))  # this process is done, and the CPU it used


class ConstantLoad:
    """Run a plan in background processes; ``outcomes()`` yields results as they arrive."""

    def __init__(self, host: str, port: int, paths: Sequence[str], rate: float,
                 duration_s: float, processes: int = 2, threads: int = 16,
                 timeout_s: float = 10.0, start_in_s: float = 3.0) -> None:
        if rate <= 0:
            raise ValueError(f"the request rate must be positive, not {rate}")
        # Spawned rather than forked: the caller runs threads of its own.
        context = multiprocessing.get_context("spawn")
        self.queue: Queue[Any] = context.Queue()
        self.plan = Plan(host, port, tuple(paths), rate, time.monotonic() + start_in_s,
                         duration_s, processes, threads, timeout_s)
        self._processes = [context.Process(target=_load_process, args=(i, self.plan, self.queue),
                                           daemon=True) for i in range(processes)]
        self._running = set(range(processes))
        self.cpu_s = 0.0  # CPU time the finished processes used, to show they kept up

    def start(self) -> ConstantLoad:
        for process in self._processes:
            process.start()
        return self

    @property
    def finished(self) -> bool:
        return not self._running

    def outcomes(self, wait_s: float) -> list[Outcome]:
        """Return the outcomes that arrived within ``wait_s`` seconds (maybe none)."""
        out: list[Outcome] = []
        deadline = time.monotonic() + wait_s
        while self._running:
            try:
                item = self.queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue_module.Empty:
                break
            if isinstance(item, tuple):
                self._running.discard(item[0])
                self.cpu_s += item[1]
            else:
                out.extend(item)
            if time.monotonic() >= deadline:
                break
        for number, process in enumerate(self._processes):
            if number in self._running and process.exitcode not in (None, 0):
                raise RuntimeError(f"load process {number} died (exit code {process.exitcode})")
        return out

    def stop(self) -> None:
        """Stop the processes that are still running (only needed after an error)."""
        for process in self._processes:
            if process.is_alive():
                process.terminate()
            process.join(timeout=10)
