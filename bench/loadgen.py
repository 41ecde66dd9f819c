"""A small HTTP load generator on the loopback: open-loop at a fixed rate, or closed-loop at full speed."""

from __future__ import annotations

import http.client
import multiprocessing as mp
import statistics
import threading
import time
from dataclasses import dataclass

Request = tuple[bytes, dict[str, str]]


@dataclass
class Result:
    sent: int
    errors: int
    seconds: float
    latencies_ms: list[float]

    @property
    def rps(self) -> float:
        return self.sent / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


def send(port: int, path: str, req: Request, timeout: float = 5.0) -> int:
    body, headers = req
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("POST", path, body=body, headers=headers)
        resp = conn.getresponse()
        resp.read()
        return resp.status
    finally:
        conn.close()


def _drive(port: int, path: str, reqs: list[Request], threads: int, due_at, out) -> None:
    """Send every request from a pool of threads; latency counts from due_at(i) (or the send time)."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    index = iter(range(len(reqs)))  # the shared iterator hands out each request once

    def worker():
        for i in index:
            due = due_at(i)
            pause = due - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            try:
                ok = send(port, path, reqs[i]) < 500
            except OSError:
                ok = False
            with lock:
                latencies.append((time.perf_counter() - due) * 1000)
                errors[0] += not ok

    start = time.perf_counter()
    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    out.put(Result(len(reqs), errors[0], time.perf_counter() - start, latencies))


def _fixed_rate(port: int, path: str, reqs: list[Request], rate: float, threads: int, out) -> None:
    """Request i is due at start + i/rate; latency counts from when it was due, so falling behind shows."""
    start = time.perf_counter() + 0.2
    _drive(port, path, reqs, threads, lambda i: start + i / rate, out)


def _full_speed(port: int, path: str, reqs: list[Request], threads: int, out) -> None:
    """Closed loop: each thread sends its next request as soon as the last one is answered."""
    _drive(port, path, reqs, threads, lambda i: time.perf_counter(), out)


def run_in_processes(target, port: int, path: str, reqs: list[Request], processes: int, *args) -> Result:
    """Split the requests over separate processes (never the server's) and merge what they measured."""
    ctx = mp.get_context("fork")
    out = ctx.Queue()
    chunks = [reqs[i::processes] for i in range(processes)]
    procs = [ctx.Process(target=target, args=(port, path, chunk, *args, out)) for chunk in chunks]
    for p in procs:
        p.start()
    results = [out.get(timeout=600) for _ in procs]
    for p in procs:
        p.join(30)
    return Result(sum(r.sent for r in results), sum(r.errors for r in results),
                  max(r.seconds for r in results), [x for r in results for x in r.latencies_ms])


def fixed_rate(port: int, path: str, reqs: list[Request], rate: float, threads: int = 16) -> Result:
    return run_in_processes(_fixed_rate, port, path, reqs, 1, rate, threads)


def full_speed(port: int, path: str, reqs: list[Request], processes: int = 2, threads: int = 8) -> Result:
    return run_in_processes(_full_speed, port, path, reqs, processes, threads)


def median(values: list[float]) -> float:
    return statistics.median(values)
