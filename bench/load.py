"""Throughput and fairness under load: one busy repository against many quiet ones, zero-latency model.

Submits B tasks on one repository, then one task on each of Q other repositories, all at once, while K
`codexbot worker` processes run them against the GitHub and OpenAI emulators (the web side is a real
`codexbot serve`). Twice, each on a fresh Redis: plain FIFO (CODEXBOT_REPO_CONCURRENCY=0) and codexbot's
scheduling (at most --slots runs of one repository queued or running at once; the rest wait in RQ's
rate-limit registry). Prints throughput (runs per minute), the queue wait of the Q single tasks (p50, p95)
against the median job duration, and the peak memory of the web server and of a worker, with the worker's
growth from the first finished run to the last.

    python bench/load.py [--busy 200] [--others 20] [--workers 5] [--slots 3]

Target: the single tasks' p95 wait is no longer than K job durations with codexbot's scheduling (a job duration:
the median time the single tasks themselves took, since it grows with how many jobs share the cores).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from jobs.records.runs import ALL_RUNS, load_run  # noqa: E402
from tests import sample_repo  # noqa: E402
from tests.services import RedisServer, free_port  # noqa: E402
from tests.stack import Stack  # noqa: E402

QUIET_INSTALLATION = 78


def rss_kb(pid: int, field: str = "VmRSS") -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except FileNotFoundError:
        pass
    return 0


def children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except FileNotFoundError:
        return []


def start_web(stack: Stack, port: int) -> subprocess.Popen:
    """`codexbot serve` with the stack's settings, so the web side's memory is a process of its own."""
    env = stack.env() | {"CODEXBOT_PUBLIC_URL": f"http://127.0.0.1:{port}"}
    proc = subprocess.Popen([sys.executable, "-m", "cli", "serve", "--port", str(port), "--workers", "2"],
                            env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    import urllib.request
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("codexbot serve did not answer /healthz within 30 s")


def wait_for_workers(conn: redis.Redis, count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while conn.scard("rq:workers") < count:
        if time.monotonic() > deadline:
            raise SystemExit(f"only {conn.scard('rq:workers')} of {count} workers started within {timeout} s")
        time.sleep(0.1)


def submit(stack: Stack, busy: int, quiet: list[str]) -> None:
    for _ in range(busy):
        number = stack.github.open_issue(sample_repo.REPO, "test_add fails", user="alice")["number"]
        _post(stack, sample_repo.REPO, number)
    for repo in quiet:
        number = stack.github.open_issue(repo, "test_add fails", user="alice")["number"]
        _post(stack, repo, number)


def _post(stack: Stack, repo: str, number: int) -> None:
    delivery = stack.github.comment_as("alice", repo, number, "/codex fix the failing test")
    if delivery.status != 202:
        raise SystemExit(f"the webhook was answered {delivery.status}: {delivery.response}")


def one_mode(args: argparse.Namespace, slots: int) -> dict:
    server = RedisServer().start()
    stack = Stack(server.url, script=[sample_repo.fix_answer] * (4 * (args.busy + args.others)),
                  overrides={"repo_concurrency": slots})
    web = None
    try:
        stack.start()
        quiet = [f"quiet/calc{i:02d}" for i in range(args.others)]
        for repo in quiet:
            stack.github.create_repo(repo, sample_repo.FILES)
        stack.github.add_installation(QUIET_INSTALLATION, quiet, account="quiet")
        for repo in quiet:
            stack.github.set_permission(repo, "alice", "write")
        port = free_port()
        web = start_web(stack, port)
        stack.github.set_webhook(f"http://127.0.0.1:{port}/webhooks/github", "stack-webhook-secret")
        conn = redis.Redis.from_url(server.url)
        workers = [stack.start_worker() for _ in range(args.workers)]
        wait_for_workers(conn, args.workers)
        return measure(args, stack, conn, web, workers, quiet)
    finally:
        if web is not None:
            web.terminate()
            web.wait(20)
        stack.stop()
        server.stop()


def measure(args, stack: Stack, conn: redis.Redis, web: subprocess.Popen, workers, quiet: list[str]) -> dict:
    total = args.busy + args.others
    submit(stack, args.busy, quiet)
    worker_rss: list[int] = []
    web_peak = 0
    deadline = time.monotonic() + args.timeout
    finished = 0
    while finished < total:
        if time.monotonic() > deadline:
            raise SystemExit(f"only {finished} of {total} runs finished within {args.timeout} s")
        time.sleep(0.5)
        runs = [load_run(conn, rid.decode()) for rid in conn.zrange(ALL_RUNS, 0, -1)]
        finished = sum(1 for run in runs if run is not None and run.is_final)
        if finished:
            worker_rss.append(rss_kb(workers[0].pid))
        web_peak = max([web_peak] + [rss_kb(pid, "VmHWM") for pid in [web.pid, *children(web.pid)]])
    failed = [run for run in runs if run.status != "succeeded"]
    if failed:
        print(f"  note: {len(failed)} runs did not succeed, e.g. {failed[0].run_id}: {failed[0].error[:200]}")
    singles = [run.started_at - run.created_at for run in runs if run.repo in quiet and run.started_at]
    durations = [run.finished_at - run.started_at for run in runs if run.started_at and run.finished_at]
    # a job's duration depends on how many run at once: the yardstick for the single tasks' wait is how
    # long the single tasks themselves took, in the same stretch of time
    single_durations = [run.finished_at - run.started_at for run in runs
                        if run.repo in quiet and run.started_at and run.finished_at]
    span = max(run.finished_at for run in runs) - min(run.created_at for run in runs)
    ordered = sorted(singles)
    return {"throughput": total / span * 60, "single_p50": statistics.median(singles),
            "single_p95": ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))],
            "job_median": statistics.median(durations), "single_job_median": statistics.median(single_durations), "web_peak_mb": web_peak / 1024,
            "worker_peak_mb": max(rss_kb(w.pid, "VmHWM") for w in workers) / 1024,
            "worker_first_mb": worker_rss[0] / 1024, "worker_last_mb": worker_rss[-1] / 1024}


def show(name: str, r: dict, workers: int) -> None:
    unit = r["single_job_median"]
    print(f"{name:<22} {r['throughput']:6.1f} runs/min   single tasks' wait p50 {r['single_p50']:6.1f} s, "
          f"p95 {r['single_p95']:6.1f} s = {r['single_p95'] / unit:4.1f} job durations "
          f"(target <= {workers}: {'met' if r['single_p95'] <= workers * unit else 'missed'})")
    print(f"{'':<22} job duration median: the single tasks {unit:.2f} s, all runs {r['job_median']:.2f} s")
    print(f"{'':<22} memory: web peak {r['web_peak_mb']:.0f} MB, worker peak {r['worker_peak_mb']:.0f} MB, "
          f"worker after the first run {r['worker_first_mb']:.0f} MB and after the last {r['worker_last_mb']:.0f} MB")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--busy", type=int, default=200, help="tasks on the busy repository")
    parser.add_argument("--others", type=int, default=20, help="quiet repositories with one task each")
    parser.add_argument("--workers", type=int, default=5, help="K: worker processes")
    parser.add_argument("--slots", type=int, default=3, help="runs of one repository at once with codexbot's scheduling")
    parser.add_argument("--timeout", type=float, default=3000, help="seconds each mode may take")
    args = parser.parse_args()
    print(f"{args.busy} tasks on one repository, then 1 on each of {args.others} others; {args.workers} workers")
    fifo = one_mode(args, slots=0)
    show("plain FIFO", fifo, args.workers)
    fair = one_mode(args, slots=args.slots)
    show(f"codexbot ({args.slots} slots)", fair, args.workers)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
