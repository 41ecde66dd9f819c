"""Who may start a run, end to end: every kind of commenter on GitHub and every GitLab role, through the real stack.

Real Redis, the web app over HTTP, a real `codexbot worker`, the GitHub and GitLab emulators answering the
permission API. Each case either runs to a pull/merge request, is refused with one comment, or starts nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Callable

import pytest

from jobs.records.runs import load_run, read_log
from tests import sample_repo
from tests.stack import Stack

REPO = sample_repo.REPO
FORK = "eve/calc"
pytestmark = pytest.mark.abuse


@pytest.fixture
def stack(redis_server, redis_conn, tmp_path):
    with Stack(redis_server.url, workdir=tmp_path) as stack:
        yield stack
        assert stack.github.errors == [] and stack.gitlab.errors == []


@dataclass(frozen=True)
class Case:
    """`scene` sets up the commenter and returns (login, thread number); `after` runs between comment and worker."""

    login: str
    role: str | None  # collaborator permission on REPO; None: not a collaborator at all
    outcome: str  # "runs", "refused" (one comment saying why) or "ignored" (the webhook starts nothing)
    expect: str = ""  # a phrase of the refusal
    user_type: str = "User"
    on_fork_pull: bool = False
    after: Callable | None = None


def _remove_access(stack, login):
    stack.github.set_permission(REPO, login, "none")


GITHUB_CASES = {
    "owner": Case("octo", None, "runs"),  # the repository's owner is its admin
    "admin": Case("ada", "admin", "runs"),
    "maintainer": Case("max", "maintain", "runs"),
    "writer": Case("alice", "write", "runs"),
    "triager": Case("trish", "triage", "refused", "needs write access to this repository to run codexbot, and has triage"),
    "reader": Case("mallory", "read", "refused", "needs write access to this repository to run codexbot, and has read"),
    "outside contributor": Case("stranger", None, "refused", "needs write access to this repository to run codexbot, and has none"),
    "bot account": Case("helper[bot]", "write", "ignored", user_type="Bot"),
    "the app itself": Case("codexbot[bot]", None, "ignored", user_type="Bot"),
    "fork author on their fork's pull request": Case("eve", None, "refused", "needs write access", on_fork_pull=True),
    "writer on a fork's pull request": Case("alice", "write", "runs", on_fork_pull=True),  # a new pull request here
    "access removed after commenting": Case("wendy", "write", "refused", "and has none", after=_remove_access),
}


def _github_thread(stack, case: Case) -> int:
    if not case.on_fork_pull:
        return stack.github.open_issue(REPO, "Tests fail", "`test_add` fails.", user="octo")["number"]
    stack.github.fork_repo(REPO, FORK)
    stack.github.commit_files(FORK, "patch", {"NOTES.md": "from a fork\n"}, "Add notes", start="main")
    return stack.github.open_pull(REPO, "patch", "Notes from a fork", user="eve", head_repo=FORK)["number"]


@pytest.mark.parametrize("who", list(GITHUB_CASES))
def test_github_commenter_runs_or_is_refused_as_documented(stack, redis_conn, who):
    case = GITHUB_CASES[who]
    stack.github.add_user(case.login, {REPO: case.role} if case.role else None, type=case.user_type)
    number = _github_thread(stack, case)
    delivery = stack.github.comment_as(case.login, REPO, number, "/codex fix the failing test")
    if case.outcome == "ignored":
        assert delivery.status == 200 and "bot" in json.loads(delivery.response)["ignored"]
        assert redis_conn.keys("codexbot:run:*") == [] and redis_conn.keys("rq:job:*") == []
        return
    assert delivery.status == 202, delivery.response
    run_id = json.loads(delivery.response)["run_id"]
    if case.after:
        case.after(stack, case.login)
    proc = stack.run_worker_burst()
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = load_run(redis_conn, run_id)
    pushed = [p for p in stack.github.pushes if p["repo"] == REPO]
    bot_comments = [c for c in stack.github.comments(REPO, number) if c["user"]["type"] == "Bot"]
    if case.outcome == "runs":
        assert run.status == "succeeded", run.error + "\n" + "\n".join(read_log(redis_conn, run_id))
        assert len(stack.github.list_pulls(REPO)) == (2 if case.on_fork_pull else 1) and pushed
        assert all(p["repo"] == REPO for p in stack.github.pushes)  # never the fork
        return
    assert run.status == "failed" and case.expect in run.error, run.error
    assert len(bot_comments) == 1 and case.expect in bot_comments[0]["body"]
    assert stack.model.requests == [] and pushed == []
    assert [p["number"] for p in stack.github.list_pulls(REPO)] == ([number] if case.on_fork_pull else [])


GITLAB_LEVELS = {"guest": (10, "refused"), "reporter": (20, "refused"), "developer": (30, "runs"),
                 "maintainer": (40, "runs"), "owner": (50, "runs")}


@pytest.mark.parametrize("role", list(GITLAB_LEVELS))
def test_gitlab_member_runs_or_is_refused_by_role(stack, redis_conn, role):
    level, outcome = GITLAB_LEVELS[role]
    login = f"{role}-user"
    stack.gitlab.add_user(login, {REPO: level})
    issue = stack.gitlab.open_issue(REPO, "Tests fail", "test_add fails", author="alice")
    delivery = stack.gitlab.note_as(login, REPO, issue["iid"], "/codex fix the failing test")
    assert delivery.status == 202, delivery.response
    run_id = json.loads(delivery.response)["run_id"]
    proc = stack.run_worker_burst()
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = load_run(redis_conn, run_id)
    if outcome == "runs":
        assert run.status == "succeeded", run.error
        assert len(stack.gitlab.merge_requests(REPO)) == 1
        return
    assert run.status == "failed" and f"@{login} needs" in run.error, "\n".join(read_log(redis_conn, run_id))
    notes = [n for n in stack.gitlab.notes(REPO, issue["iid"]) if n["author"]["username"] == stack.gitlab_bot["username"]]
    assert len(notes) == 1 and "nothing was run" in notes[0]["body"]
    assert stack.model.requests == [] and stack.gitlab.merge_requests(REPO) == []


def test_gitlab_notes_by_the_bot_token_user_start_nothing(stack, redis_conn):
    issue = stack.gitlab.open_issue(REPO, "Tests fail", "test_add fails", author="alice")
    delivery = stack.gitlab.note_as(stack.gitlab_bot["username"], REPO, issue["iid"], "/codex fix the failing test")
    assert delivery.status == 200 and "bot" in json.loads(delivery.response)["ignored"]
    assert redis_conn.keys("codexbot:run:*") == []
