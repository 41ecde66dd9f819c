"""Cold against warm environments: comment → the agent's first model request, for three repository shapes on
the same emulated GitHub, one warm worker, a zero-latency scripted model:

- python: `pip install` of 20 packages (a chain of dependencies) into a virtualenv, from a package index on
  127.0.0.1 reached through the network fence;
- npm: `npm install` of 300 packages (a tree) from an npm registry on 127.0.0.1, through the fence;
- none: no setup at all (the floor: checkout, the tests on the base, the tracking comment).

Cold runs say `--fresh` (setup runs); warm runs restore what the first run kept. Interleaved; medians.
Each comment is posted to an idle worker: the previous run's job has ended (its workspace removed) and
the store's background copies are done, so one run's tail is not counted in the next one's start.

    python bench/warm.py [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402
import rq  # noqa: E402

from bench.e2e import timed_script  # noqa: E402
from tests import sample_repo  # noqa: E402
from tests.emulators.npm_registry import NpmRegistry, tree_of  # noqa: E402
from tests.emulators.package_index import PackageIndex, chain_of  # noqa: E402
from tests.services import RedisServer  # noqa: E402
from tests.stack import Stack  # noqa: E402

REPO = sample_repo.REPO
GOAL_SECONDS, GOAL_RATIO = 2.0, 10.0
SHAPES = {
    "python": {".codexbot.toml": '[setup]\ncommands = ["python3 -m venv --system-site-packages .venv", ".venv/bin/pip install -q '
                                 '--disable-pip-version-check --index-url http://pypi.test/simple/ --trusted-host '
                                 'pypi.test -r requirements.txt"]\n',
               "requirements.txt": "pkg01==1.0\n", ".gitignore": ".venv/\n"},
    "npm": {".codexbot.toml": '[setup]\ncommands = ["npm install --registry http://npm.test/ --no-audit --no-fund"]\n'
                              '[test]\ncommand = "python3 -m pytest -q"\n',
            "package.json": json.dumps({"name": "app", "version": "1.0.0", "dependencies": {"dep-000": "1.0.0"}}),
            ".gitignore": "node_modules/\n"},
    "none": {".codexbot.toml": "", "requirements.txt": "", "package.json": "{}", ".gitignore": ""},
}


def first_request(stack: Stack, fresh: bool, timeout: float = 300) -> float:
    marks: dict[str, float] = {}
    stack.model.set_script(timed_script(marks))
    number = stack.github.open_issue(REPO, "test_add fails", "", user="alice")["number"]
    start = time.perf_counter()
    stack.github.comment_as("alice", REPO, number, f"/codex {'--fresh ' if fresh else ''}fix the failing test")
    deadline = time.monotonic() + timeout
    while "first_model_request" not in marks:
        if time.monotonic() > deadline:
            raise SystemExit("no model request within the timeout; see the worker log")
        time.sleep(0.005)
    elapsed = marks["first_model_request"] - start
    wait_idle(stack, deadline)
    return elapsed


def wait_idle(stack: Stack, deadline: float) -> None:
    """Until the worker has no job and no spare environment is still being copied in the background."""
    conn = redis.Redis.from_url(stack.redis_url)
    environments = Path(stack.settings.data_dir) / "environments"
    while time.monotonic() < deadline:
        busy = any(w.get_state() != "idle" for w in rq.Worker.all(connection=conn))
        copying = any(p.name.endswith(".partial") for p in environments.glob("*/spares/*"))
        if not busy and not copying and conn.llen(f"rq:queue:{stack.settings.queue}") == 0:
            return
        time.sleep(0.02)
    raise SystemExit("the worker stayed busy past the timeout; see the worker log")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="codexbot-bench-warm-"))
    with PackageIndex(chain_of(20)) as index, NpmRegistry(tree_of(300)) as npm, RedisServer() as server:
        upstreams = f"pypi.test=127.0.0.1:{index.port},npm.test=127.0.0.1:{npm.port}"
        with Stack(server.url, script=[], workdir=workdir, overrides={"network_test_upstreams": upstreams}) as stack:
            stack.start_worker(workdir / "worker.log")
            results = {}
            for shape, files in SHAPES.items():
                stack.github.commit_files(REPO, "main", files, f"the {shape} shape")
                first_request(stack, fresh=True)  # the first run keeps the environment (--fresh keeps one too)
                cold, warm = [], []
                for _ in range(args.runs):
                    cold.append(first_request(stack, fresh=True))
                    warm.append(first_request(stack, fresh=False))
                results[shape] = (statistics.median(cold), statistics.median(warm))
    print(f"comment → first model request, medians of {args.runs} interleaved runs each, one warm worker")
    print(f"{'repository':<10} {'cold':>9} {'warm':>9} {'cold/warm':>10}")
    for shape, (cold, warm) in results.items():
        print(f"{shape:<10} {cold:8.2f}s {warm:8.2f}s {cold / warm:9.1f}×")
    for shape in ("python", "npm"):
        cold, warm = results[shape]
        verdict = "meets" if warm < GOAL_SECONDS and cold / warm >= GOAL_RATIO else "MISSES"
        print(f"{shape}: warm {warm:.2f} s, {cold / warm:.1f}× faster than cold: {verdict} the goal "
              f"(warm under {GOAL_SECONDS:g} s and at least {GOAL_RATIO:g}× faster)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
