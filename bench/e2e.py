"""End-to-end latency of the pipeline with a zero-latency scripted model, on the sample repository.

For each run: webhook POST → first model request (checkout, setup, tracking comment), and the model's
final answer → pull request open (tests, commit, push, PR). Baseline in the same run: a plain
`git clone` of the same repository from the same server, and a plain subprocess start of the sandbox.

    python bench/e2e.py [--runs 20]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests import sample_repo  # noqa: E402
from tests.services import RedisServer  # noqa: E402
from tests.stack import INSTALLATION_ID, Stack  # noqa: E402


def timed_script(marks: dict[str, float]) -> list:
    """Two model answers, each stamping when the model was asked: write the fix, then finish."""
    def first(_request):
        marks["first_model_request"] = time.perf_counter()
        return sample_repo.fix_script()[2]

    def final(_request):
        marks["final_answer"] = time.perf_counter()
        return sample_repo.fix_script()[4]

    return [first, final]


def one_run(stack: Stack, timeout: float = 120) -> dict[str, float]:
    marks: dict[str, float] = {}
    stack.model.set_script(timed_script(marks))
    pulls_before = len(stack.github.list_pulls(sample_repo.REPO))
    number = stack.github.open_issue(sample_repo.REPO, "test_add fails", "", user="alice")["number"]
    start = time.perf_counter()
    delivery = stack.github.comment_as("alice", sample_repo.REPO, number, "/codex fix the failing test")
    if delivery.status != 202:
        raise SystemExit(f"the webhook was answered {delivery.status}: {delivery.response}")
    deadline = time.monotonic() + timeout
    while len(stack.github.list_pulls(sample_repo.REPO)) == pulls_before:
        if time.monotonic() > deadline:
            raise SystemExit("no pull request within the timeout; see the worker log")
        time.sleep(0.005)
    opened = time.perf_counter()
    return {"to_first_model_request": marks["first_model_request"] - start,
            "final_answer_to_pr": opened - marks["final_answer"], "total": opened - start}


def baseline_clone(stack: Stack, workdir: Path) -> float:
    token = stack.github.issue_token(INSTALLATION_ID, [sample_repo.REPO], {"contents": "read"})
    dest = workdir / f"clone-{time.monotonic_ns()}"
    helper = f"!f() {{ echo username=x-access-token; echo password={token}; }}; f"
    t0 = time.perf_counter()
    subprocess.run(["git", "-c", f"credential.helper={helper}", "clone", "-q", f"{stack.github.url}/{sample_repo.REPO}.git",
                    str(dest)], check=True, timeout=60)
    return time.perf_counter() - t0


def show(name: str, values: list[float]) -> None:
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]
    print(f"{name:<34} median {statistics.median(values) * 1000:8.0f} ms   p90 {p90 * 1000:8.0f} ms")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="codexbot-bench-e2e-"))
    with RedisServer() as server, Stack(server.url, script=[], workdir=workdir) as stack:
        stack.start_worker(workdir / "worker.log")
        one_run(stack)  # warm-up: the worker's first job
        results = [one_run(stack) for _ in range(args.runs)]
        clones = [baseline_clone(stack, workdir) for _ in range(args.runs)]
    print(f"{args.runs} runs on {sample_repo.REPO}, zero-latency scripted model, one warm worker")
    for key in ("to_first_model_request", "final_answer_to_pr", "total"):
        show(key.replace("_", " "), [r[key] for r in results])
    show("baseline: plain git clone", clones)
    ratio = statistics.median(r["to_first_model_request"] for r in results) / statistics.median(clones)
    print(f"\nwebhook → first model request = {ratio:.1f} × a plain git clone (target: under 1 s in absolute terms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
