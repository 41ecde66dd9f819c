"""`make demo`: the main job end to end on one machine.

Starts a private Redis, an emulated GitHub (or GitLab, with --forge gitlab) holding a small repository
whose test fails, the bot's web server and one worker; then, as a user, comments "/codex fix the failing
test" on an issue, waits, and prints the pull (merge) request, its diff, the tests before and after, and
the run page. With OPENAI_API_KEY set it uses that model (and OPENAI_BASE_URL if set); otherwise a
recorded script of model answers. Exits 0 only when the request exists and the tests pass on its branch.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis

from jobs.records.runs import load_run, read_log
from tests import sample_repo
from tests.services import RedisServer
from tests.stack import Stack

TIMEOUT = 600


class Forge:
    """What the demo does as a person on one forge: open an issue, comment, look at the result."""

    def __init__(self, stack: Stack, name: str):
        self.stack, self.name = stack, name
        self.emu = stack.gitlab if name == "gitlab" else stack.github

    def open_issue(self) -> int:
        if self.name == "gitlab":
            return self.emu.open_issue(sample_repo.REPO, "test_add fails", "add(2, 3) is not 5", author="alice")["iid"]
        return self.emu.open_issue(sample_repo.REPO, "test_add fails", "add(2, 3) is not 5", user="alice")["number"]

    def comment(self, number: int, body: str):
        if self.name == "gitlab":
            return self.emu.note_as("alice", sample_repo.REPO, number, body)
        return self.emu.comment_as("alice", sample_repo.REPO, number, body)

    def change_requests(self) -> list[tuple[str, str]]:
        """(URL, branch) of every pull or merge request."""
        if self.name == "gitlab":
            return [(mr["web_url"], mr["source_branch"]) for mr in self.emu.merge_requests(sample_repo.REPO)]
        return [(p["html_url"], p["head"]["ref"]) for p in self.emu.list_pulls(sample_repo.REPO)]

    def comments(self, number: int) -> list[str]:
        if self.name == "gitlab":
            return [n["body"] for n in self.emu.notes(sample_repo.REPO, number)]
        return [c["body"] for c in self.emu.comments(sample_repo.REPO, number)]

    def bare_repo(self) -> str:
        return os.path.join(self.emu.repos_root, f"{sample_repo.REPO}.git")

    def reader_credentials(self) -> tuple[str, str]:
        if self.name == "gitlab":
            return "oauth2", "glpat-demo-reader-token-0123456789"
        return "x-access-token", self.emu.issue_token(77, [sample_repo.REPO], {"contents": "read"})


def run_tests_at(forge: Forge, ref: str, workdir: Path) -> tuple[int, str]:
    """Clone the emulated repository at ref (as a reader) and run its tests, as a person would."""
    user, token = forge.reader_credentials()
    dest = workdir / f"check-{ref.replace('/', '-')}"
    helper = f"!f() {{ echo username={user}; echo password={token}; }}; f"
    subprocess.run(["git", "-c", f"credential.helper={helper}", "clone", "-q", "--branch", ref,
                    f"{forge.emu.url}/{sample_repo.REPO}.git", str(dest)], check=True, timeout=120)
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
    parser = argparse.ArgumentParser(description="codexbot's main job end to end on one machine")
    parser.add_argument("--forge", choices=("github", "gitlab"), default=os.environ.get("FORGE") or "github")
    args = parser.parse_args()
    real_model = bool(os.environ.get("OPENAI_API_KEY"))
    print("Model: " + ("the real one at " + os.environ.get("OPENAI_BASE_URL", "api.openai.com") if real_model
                       else "a recorded script of model answers (set OPENAI_API_KEY to use a real model)"))
    workdir = Path(tempfile.mkdtemp(prefix="codexbot-demo-"))
    with RedisServer() as server, Stack(server.url, workdir=workdir, real_model=real_model) as stack:
        forge = Forge(stack, args.forge)
        stack.gitlab.add_token("glpat-demo-reader-token-0123456789", sample_repo.REPO, scopes=("read_repository",))
        stack.start_worker(workdir / "worker.log")
        conn = redis.Redis.from_url(server.url)
        print(f"Emulated {args.forge}: {forge.emu.url}   codexbot: {stack.web.url}   Redis: {server.url}\n")
        code, before = run_tests_at(forge, "main", workdir)
        print(f"Tests on main before:  {before}")
        number = forge.open_issue()
        print(f'\nalice comments "/codex fix the failing test" on {sample_repo.REPO}#{number}')
        delivery = forge.comment(number, "/codex fix the failing test")
        print(f"  webhook answered {delivery.status} {delivery.response.strip()}\n  run log:")
        run_id = json.loads(delivery.response)["run_id"]
        status = follow(conn, run_id)
        run = load_run(conn, run_id)
        print(f"\nRun {run_id}: {status}" + (f" ({run.error})" if run.error else ""))
        requests_made = forge.change_requests()
        if status != "succeeded" or not requests_made:
            print(f"No {'merge' if args.forge == 'gitlab' else 'pull'} request. Worker log: {workdir / 'worker.log'}")
            return 1
        url, branch = requests_made[0]
        print(f"{'Merge' if args.forge == 'gitlab' else 'Pull'} request: {url}  ({branch} → main)")
        diff = subprocess.run(["git", "-C", forge.bare_repo(), "diff", "main", branch],
                              capture_output=True, text=True, check=True).stdout
        print("\n" + diff)
        code, after = run_tests_at(forge, branch, workdir)
        print(f"Tests on main before:        {before}\nTests on {branch} after: {after}")
        link = [body for body in forge.comments(number) if run_id in body][0]
        print("Run page: " + link.split("[Run log](", 1)[1].split(")", 1)[0])
        return 0 if code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
