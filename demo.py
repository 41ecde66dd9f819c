"""`make demo`: the main job end to end on one machine, then (in a terminal) the services to look at.

Private Redis, emulated GitHub (--forge gitlab: GitLab) with a repository whose test fails, web server, worker; a
user comments "/codex fix the failing test"; it prints the pull request, its diff, tests before and after, the run
page (exit 0 only if that request's tests pass). OPENAI_BASE_URL or OPENAI_API_KEY picks a real model (with every
CODEXBOT_ model and limit setting of the environment), else a recorded script answers.
In a terminal (or --serve) it all keeps running, typed lines become the user's comments (--pr: on the PR), ^C stops.
--scenario review: alice asks `/codex review` on her pull request; --scenario ci: codexbot's pull request fails CI
and is repaired (tests/demo_scenarios.py).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Mapping
from urllib.parse import quote

import redis

from jobs.access.api_tokens import ApiTokens
from jobs.settings import env_name
from tests import demo_scenarios, sample_repo
from tests.demo_scenarios import print_log, show_flow
from tests.emulators import github_oauth, gitlab_oauth
from tests.emulators.github_git import branch_head
from tests.services import RedisServer
from tests.stack import REAL_MODEL_SETTINGS, Stack

SERVE_SECONDS = 12 * 3600  # a demo left open overnight stops by itself
TICK = 0.3
READER = "glpat-demo-reader-token-0123456789"
OAUTH = ("demo-oauth-client", "demo-oauth-secret")


class Forge:
    """What the demo does as a person on one forge: open an issue, comment, look at the result."""

    def __init__(self, stack: Stack, name: str):
        self.stack, self.name = stack, name
        self.emu = stack.gitlab if name == "gitlab" else stack.github
        self.kind = "merge request" if name == "gitlab" else "pull request"

    def open_issue(self) -> int:
        if self.name == "gitlab":
            return self.emu.open_issue(sample_repo.REPO, "test_add fails", "add(2, 3) is not 5", author="alice")["iid"]
        return self.emu.open_issue(sample_repo.REPO, "test_add fails", "add(2, 3) is not 5", user="alice")["number"]

    def comment(self, number: int, body: str, on_request: bool = False):
        if self.name == "gitlab":
            return self.emu.note_as("alice", sample_repo.REPO, number, body, merge_request=on_request)
        return self.emu.comment_as("alice", sample_repo.REPO, number, body)  # a pull request is an issue there

    def change_requests(self) -> list[tuple[str, str, int]]:  # (URL, branch, number) of each pull or merge request
        if self.name == "gitlab":
            return [(mr["web_url"], mr["source_branch"], mr["iid"]) for mr in self.emu.merge_requests(sample_repo.REPO)]
        return [(p["html_url"], p["head"]["ref"], p["number"]) for p in self.emu.list_pulls(sample_repo.REPO)]

    def comments(self, number: int, on_request: bool = False) -> list[tuple[int, str, str]]:  # (id, author, body)
        if self.name == "gitlab":
            notes = self.emu.notes(sample_repo.REPO, number, merge_request=on_request)
            return [(n["id"], n["author"]["username"], n["body"]) for n in notes]
        return [(c["id"], c["user"]["login"], c["body"]) for c in self.emu.comments(sample_repo.REPO, number)]

    def bare_repo(self) -> str:
        return os.path.join(self.emu.repos_root, f"{sample_repo.REPO}.git")

    def reader_credentials(self) -> tuple[str, str]:
        if self.name == "gitlab":
            return "oauth2", READER
        permissions = {"contents": "read", "pull_requests": "read", "issues": "read"}  # clone, look, read replies
        return "x-access-token", self.emu.issue_token(77, [sample_repo.REPO], permissions)

    def api_request(self, number: int) -> tuple[str, str, str]:
        """The request's API URL, the header a reader sends there, and the Accept header of its diff."""
        if self.name == "gitlab":
            url = f"{self.emu.url}/api/v4/projects/{quote(sample_repo.REPO, safe='')}/merge_requests/{number}"
            return url, f"PRIVATE-TOKEN: {READER}", ""
        url = f"{self.emu.url}/repos/{sample_repo.REPO}/pulls/{number}"
        return url, f"Authorization: Bearer {self.reader_credentials()[1]}", "application/vnd.github.diff"


class Session:
    """While serving: each line typed becomes alice's comment; the bot's replies and the runs' logs come back."""

    def __init__(self, forge: Forge, conn: redis.Redis, number: int, on_request: bool):
        self.forge, self.conn, self.number, self.on_request = forge, conn, number, on_request
        self.where = f"{sample_repo.REPO}{'!' if forge.name == 'gitlab' and on_request else '#'}{number}"
        self.seen = {cid for cid, _, _ in forge.comments(number, on_request)}
        self.runs, self.pending = {}, b""  # run id -> log lines printed so far; a line not yet ended

    def serve(self, seconds: float = SERVE_SECONDS) -> None:
        """Until Ctrl-C (KeyboardInterrupt) or the time is up; closed input only ends the typing."""
        fd, reading, deadline = sys.stdin.fileno(), True, time.monotonic() + seconds
        while time.monotonic() < deadline:
            if select.select([fd] if reading else [], [], [], TICK)[0]:
                reading = self.read_input(fd)
            self.show_replies()
            self.show_logs()

    def read_input(self, fd: int) -> bool:
        data = os.read(fd, 4096)
        if not data:
            print("(standard input is closed: nothing more can be typed; Ctrl-C stops)")
            return False
        *lines, self.pending = (self.pending + data).split(b"\n")
        for text in (line.decode("utf-8", "replace").strip() for line in lines):
            if text:
                self.post(text)
        return True

    def post(self, text: str) -> None:
        delivery = self.forge.comment(self.number, text, self.on_request)
        answer = delivery.response.strip()
        print(f'alice comments "{text}" on {self.where}: webhook answered {delivery.status} {answer}')
        if answer.startswith("{") and json.loads(answer).get("run_id"):
            self.runs.setdefault(json.loads(answer)["run_id"], 0)

    def show_replies(self) -> None:
        for cid, author, body in self.forge.comments(self.number, self.on_request):
            if cid not in self.seen and author != "alice":
                lines = body.strip().splitlines()[:40]
                print(f"{author} commented on {self.where}:\n" + "\n".join(f"    | {line}" for line in lines))
            self.seen.add(cid)

    def show_logs(self) -> None:
        for run_id, seen in list(self.runs.items()):
            self.runs[run_id], ended = print_log(self.conn, run_id, seen, f"    [{run_id[:8]}] ")
            if ended is not None:
                why = ended.error or ended.summary
                print(f"  run {run_id}: {ended.status}" + (f" ({why})" if why else ""))
                del self.runs[run_id]


def print_open_now(stack: Stack, forge: Forge, conn: redis.Redis, link: str, request_number: int | None) -> None:
    """The places a person can open while the demo serves: pages, the JSON API and the forge's own API."""
    web, scope = stack.web.url, f"{forge.name}:{sample_repo.REPO}"
    auth = "Authorization: Bearer " + ApiTokens(conn, stack.settings.secret_key).create("alice", [scope], expires_days=1)[1]
    body = json.dumps({"task": "fix the failing test", "forge": forge.name, "repository": sample_repo.REPO,
                       "base_commit": branch_head(forge.bare_repo(), "main"), "request_id": f"demo-{os.urandom(4).hex()}"})
    print(f"\nOpen now (Redis, the web server, the worker and the emulated forge keep running):\n  Run page:   {link}")
    print(f"  All runs:   {web}/signin/{forge.name}?next=/runs  (signs in as alice on the emulated {forge.name})")
    print(f"  JSON API, with alice's demo token (it shows the runs delegated through it):\n"
          f"    delegate: curl -H '{auth}' -H 'Content-Type: application/json' -d '{body}' {web}/api/runs\n"
          f"    list:     curl -H '{auth}' {web}/api/runs   (then {web}/api/runs/<id> and …/<id>/log)")
    if request_number is not None:
        url, header, accept = forge.api_request(request_number)
        print(f"  The {forge.kind} as {forge.name}'s API returns it:  curl -H '{header}' {url}\n  Its diff:  curl -H "
              f"'{header}' " + (f"-H 'Accept: {accept}' {url}" if accept else f"{url}/diffs"))


def _stop_once(signum, frame) -> None:
    """Ctrl-C or SIGTERM: stop; a second one while the services shut down is ignored, so none is left behind."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise KeyboardInterrupt


def main() -> int:
    parser = argparse.ArgumentParser(description="codexbot's main job end to end on one machine")
    parser.add_argument("--forge", choices=("github", "gitlab"), default=os.environ.get("FORGE") or "github")
    parser.add_argument("--serve", action=argparse.BooleanOptionalAction, default=None,
                        help="keep everything running after the flow (default: when standard output is a terminal)")
    parser.add_argument("--pr", action="store_true", help="post the typed comments on the pull (merge) request")
    parser.add_argument("--scenario", choices=("task", "review", "ci"), default=os.environ.get("SCENARIO") or "task",
                        help="task: /codex fix on an issue; review: /codex review on a pull request; ci: a CI repair")
    args = parser.parse_args()
    serve = sys.stdout.isatty() if args.serve is None else args.serve
    sys.stdout.reconfigure(line_buffering=True)
    signal.signal(signal.SIGINT, _stop_once)
    signal.signal(signal.SIGTERM, _stop_once)
    try:
        return demo(args, serve)
    except KeyboardInterrupt:
        print("\nStopped: Redis, the web server, the worker and the emulators are down.")
        return 130


def model_choice(environ: Mapping[str, str]) -> tuple[bool, dict[str, str]]:
    """A real model when OPENAI_API_KEY or OPENAI_BASE_URL is set, with every model and limit setting of the
    environment (CODEXBOT_MODEL, _MODEL_API, _MODEL_MAX_TOKENS, _CONTEXT_TOKENS, _AGENT_SECONDS, …: the Stack
    reads them); a local server without a key gets a placeholder, as `codexbot run` gives it. Else the emulator."""
    key, base_url = environ.get("OPENAI_API_KEY", ""), environ.get("OPENAI_BASE_URL", "")
    if not (key or base_url):
        print("Model: a recorded script of model answers (set OPENAI_BASE_URL or OPENAI_API_KEY for a real one)")
        return False, {}
    chosen = {f"{env_name(name)}={environ[env_name(name)]}" for name in REAL_MODEL_SETTINGS
              if not name.startswith("openai_") and environ.get(env_name(name))}
    print(f"Model: the real one at {base_url or 'api.openai.com'} ({', '.join(sorted(chosen)) or 'defaults'})")
    return True, {} if key else {"openai_api_key": "local"}


def demo(args, serve: bool) -> int:
    real_model, model_settings = model_choice(os.environ)
    workdir = Path(tempfile.mkdtemp(prefix="codexbot-demo-"))
    overrides = {f"{name}_client_{part}": value for name in ("github", "gitlab")
                 for part, value in zip(("id", "secret"), OAUTH)}
    overrides.update(model_settings)  # over the model settings the Stack takes from the environment
    # SIGINT blocked (exec keeps it): Redis outlives a terminal's Ctrl-C, so the worker stops while it is up
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    server = RedisServer().start()
    try:  # a Ctrl-C pending since the line above arrives when unblocked, and Redis is stopped all the same
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        with Stack(server.url, workdir=workdir, real_model=real_model, overrides=overrides) as stack:
            forge = Forge(stack, args.forge)
            stack.gitlab.add_token(READER, sample_repo.REPO, scopes=("read_api", "read_repository"))
            stack.start_worker(workdir / "worker.log")
            conn = redis.Redis.from_url(server.url)
            print(f"Emulated {args.forge}: {forge.emu.url}   codexbot: {stack.web.url}   Redis: {server.url}\n")
            try:
                if args.scenario == "task":
                    code, number, link = show_flow(forge, conn, workdir)
                else:
                    show = demo_scenarios.show_review if args.scenario == "review" else demo_scenarios.show_ci
                    code, number, link = show(forge, conn, workdir, not real_model)
                if serve:
                    serve_until_stopped(stack, forge, conn, link, number, args.pr)
                return code
            finally:
                stop_workers(stack)
    finally:
        server.stop()


def serve_until_stopped(stack: Stack, forge: Forge, conn: redis.Redis, link: str, number: int, pr: bool) -> None:
    for emu, module in ((stack.github, github_oauth), (stack.gitlab, gitlab_oauth)):
        module.register_client(emu, *OAUTH)
        module.sign_in_as(emu, "alice")
    stack.model.push(*[sample_repo.fix_answer] * 300)  # recorded model turns for the runs typed while serving
    request = forge.change_requests()[0][2] if forge.change_requests() else None
    print_open_now(stack, forge, conn, link, request)
    session = Session(forge, conn, request if pr and request else number, bool(pr and request))
    print(f"\nType a comment (say /codex status, /codex retry or /codex --attempts 2 fix the failing test) and "
          f"Enter: alice posts it on {session.where}.\nPress Ctrl-C to stop.")
    try:
        session.serve()
    except KeyboardInterrupt:  # _stop_once now ignores further signals until everything is stopped
        print("\nStopping Redis, the web server, the worker and the emulated forges…")


def stop_workers(stack: Stack) -> None:
    """Before Redis: RQ's warm stop, then its cold one (a signal >1 s later: it kills the job's process group and
    waits for it), then a kill for a worker that then hangs in RQ's teardown (its pub/sub thread reads for 60 s)."""
    for signum, seconds in ((signal.SIGTERM, 2), (signal.SIGINT, 5), (signal.SIGKILL, 5)):
        for proc in stack.workers:
            if proc.poll() is None:
                proc.send_signal(signum)
        for proc in stack.workers:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(seconds)


if __name__ == "__main__":
    sys.exit(main())
