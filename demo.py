"""`make demo`: the main job end to end on one machine.

Starts a private Redis, an emulated GitHub holding a small repository whose test fails, the bot's web
server and one worker; then, as a user, comments "/codex fix the failing test" on an issue, waits, and
prints the pull request, its diff, the tests before and after, and the run page. With OPENAI_API_KEY set
it uses that model (and OPENAI_BASE_URL if set); otherwise a recorded script of model answers.
Exits 0 only when a pull request exists and the tests pass on its branch.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis

from jobs.runs import load_run, read_log
from tests import sample_repo
from tests.services import RedisServer
from tests.stack import Stack

TIMEOUT = 600


def run_tests_at(stack: Stack, ref: str, workdir: Path) -> tuple[int, str]:
    """Clone the emulated repository at ref (as a reader) and run its tests, as a person would."""
    token = stack.github.issue_token(77, [sample_repo.REPO], {"contents": "read"})
    dest = workdir / f"check-{ref.replace('/', '-')}"
    helper = f"!f() {{ echo username=x-access-token; echo password={token}; }}; f"
    subprocess.run(["git", "-c", f"credential.helper={helper}", "clone", "-q", "--branch", ref,
                    f"{stack.github.url}/{sample_repo.REPO}.git", str(dest)], check=True, timeout=120)
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=dest,
                          capture_output=True, text=True, timeout=300)
    return proc.returncode, (proc.stdout.strip().splitlines() or ["(no output)"])[-1]


def follow(conn: redis.Redis, run_id: str) -> str:
    """Print the run's log as it grows until the run ends; the run's final status."""
    seen, deadline = 0, time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        lines = read_log(conn, run_id, seen)
        for line in lines:
            print(f"    {line}")
        seen += len(lines)
        run = load_run(conn, run_id)
        if run is not None and run.is_final:
            return run.status
        time.sleep(0.3)
    return "timed out"


def main() -> int:
    real_model = bool(os.environ.get("OPENAI_API_KEY"))
    print("Model: " + ("the real one at " + os.environ.get("OPENAI_BASE_URL", "api.openai.com") if real_model
                       else "a recorded script of model answers (set OPENAI_API_KEY to use a real model)"))
    workdir = Path(tempfile.mkdtemp(prefix="codexbot-demo-"))
    with RedisServer() as server, Stack(server.url, workdir=workdir, real_model=real_model) as stack:
        stack.start_worker(workdir / "worker.log")
        conn = redis.Redis.from_url(server.url)
        print(f"Emulated GitHub: {stack.github.url}   codexbot: {stack.web.url}   Redis: {server.url}\n")
        code, before = run_tests_at(stack, "main", workdir)
        print(f"Tests on main before:  {before}")
        number = stack.github.open_issue(sample_repo.REPO, "test_add fails", "add(2, 3) is not 5", user="alice")["number"]
        print(f'\nalice comments "/codex fix the failing test" on {sample_repo.REPO}#{number}')
        delivery = stack.github.comment_as("alice", sample_repo.REPO, number, "/codex fix the failing test")
        print(f"  webhook answered {delivery.status} {delivery.response.strip()}\n  run log:")
        run_id = __import__("json").loads(delivery.response)["run_id"]
        status = follow(conn, run_id)
        run = load_run(conn, run_id)
        print(f"\nRun {run_id}: {status}" + (f" ({run.error})" if run.error else ""))
        pulls = stack.github.list_pulls(sample_repo.REPO)
        if status != "succeeded" or not pulls:
            print(f"No pull request. Worker log: {workdir / 'worker.log'}")
            return 1
        pull = pulls[0]
        print(f"Pull request: {pull['html_url']}  ({pull['head']['ref']} → {pull['base']['ref']})")
        diff = subprocess.run(["git", "-C", stack.repo["path"], "diff", "main", pull["head"]["ref"]],
                              capture_output=True, text=True, check=True).stdout
        print("\n" + diff)
        code, after = run_tests_at(stack, pull["head"]["ref"], workdir)
        print(f"Tests on main before:        {before}\nTests on {pull['head']['ref']} after: {after}")
        link = [c["body"] for c in stack.github.comments(sample_repo.REPO, number) if run_id in c["body"]][0]
        print("Run page: " + link.split("[Run log](", 1)[1].split(")", 1)[0])
        return 0 if code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
