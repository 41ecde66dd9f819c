"""Peak memory of the worker during a hostile run: the agent reads a 64 MB file with read_file and writes a
300 MB change. Baseline in the same run: the same worker idle (started, nothing queued).

The peak is VmHWM of the worker and its work horse (Python processes of the worker's tree; git and the
sandbox are separate processes with their own limits), sampled every 20 ms.

    python bench/worker_memory.py [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time

import redis
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from jobs.host.process_tree import descendants  # noqa: E402
from jobs.records.runs import load_run  # noqa: E402
from tests import sample_repo  # noqa: E402
from tests.services import RedisServer  # noqa: E402
from tests.stack import Stack  # noqa: E402

MB = 1 << 20


def hostile_script() -> list[dict]:
    def shell(command):
        return {"tool_calls": [{"name": "shell", "arguments": {"command": command}}]}

    return [shell("head -c 67108864 /dev/zero | tr '\\0' 'a' > huge.txt"),
            {"tool_calls": [{"name": "read_file", "arguments": {"path": "huge.txt"}}]},
            shell("rm huge.txt; head -c 314572800 /dev/urandom > change.bin"),
            {"tool_calls": [{"name": "finish", "arguments": {"summary": "a big change"}}]}]


SEEN: set[int] = set()  # Python processes sampled: the worker and each run's work horse


def peak_rss(pid: int) -> int:
    """The highest VmHWM among the Python processes of pid's tree (bytes), 0 when all are gone."""
    peak = 0
    for each in {pid} | descendants(pid):
        try:
            cmdline = Path(f"/proc/{each}/cmdline").read_bytes()
            status = Path(f"/proc/{each}/status").read_text()
        except OSError:
            continue
        if b"python" not in cmdline.split(b"\0")[0]:
            continue
        SEEN.add(each)
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                peak = max(peak, int(line.split()[1]) * 1024)
    return peak


def hostile_run(stack: Stack, worker_pid: int, redis_conn, timeout: float = 300) -> tuple[int, str]:
    stack.model.set_script(hostile_script())
    number = stack.github.open_issue(sample_repo.REPO, "big", "", user="alice")["number"]
    run_id = json.loads(stack.github.comment_as("alice", sample_repo.REPO, number, "/codex do it").response)["run_id"]
    deadline, peak = time.monotonic() + timeout, 0
    while time.monotonic() < deadline:
        peak = max(peak, peak_rss(worker_pid))
        run = load_run(redis_conn, run_id)
        if run is not None and run.is_final:
            return peak, f"{run.status}: {run.error[:100]}"
        time.sleep(0.02)
    raise SystemExit("the run did not finish within the timeout")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="codexbot-bench-memory-"))


    with RedisServer() as server, Stack(server.url, script=[], workdir=workdir) as stack:
        conn = redis.Redis.from_url(server.url)
        worker = stack.start_worker(workdir / "worker.log")
        time.sleep(3)
        idle = peak_rss(worker.pid)
        results = [hostile_run(stack, worker.pid, conn) for _ in range(args.runs)]
    peaks = [peak for peak, _ in results]
    print(f"worker idle (baseline): VmHWM {idle / MB:.0f} MB; {len(SEEN)} Python processes of its tree sampled")
    for peak, outcome in results:
        print(f"hostile run: VmHWM {peak / MB:.0f} MB ({outcome})")
    print(f"\nmedian peak {statistics.median(peaks) / MB:.0f} MB = {statistics.median(peaks) / idle:.2f} × idle "
          f"(target: under 300 MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
