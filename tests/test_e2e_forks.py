"""A task on a pull request from a fork: the fork's head plus the change go to a new branch of the base
repository and a new pull request that links the original; the commenter's permission counts, never the fork
author's; nothing is pushed to the fork, and the fork's changes to protected paths are never pushed."""

import json

import pytest
import redis

from jobs.records.runs import load_run
from tests import sample_repo
from tests.stack import Stack

REPO, FORK = sample_repo.REPO, "eve/calc"
NOTE = "# eve's notes\n"


@pytest.fixture
def stack(redis_server, redis_conn, tmp_path):
    with Stack(redis_server.url, workdir=tmp_path) as stack:
        stack.github.fork_repo(REPO, FORK)
        stack.github.add_user("eve", {REPO: "read"})
        yield stack
        assert stack.github.errors == []


def fork_pull(stack, files):
    stack.github.commit_files(FORK, "feature", files, "eve's change", start="main")
    return stack.github.open_pull(REPO, "feature", "eve's feature", body="From my fork.", user="eve",
                                  head_repo=FORK)["number"]


def ask(stack, number, text, login="alice"):
    delivery = stack.github.comment_as(login, REPO, number, text)
    assert delivery.status == 202, delivery.response
    stack.work()
    return load_run(redis.Redis.from_url(stack.redis_url), json.loads(delivery.response)["run_id"])


def test_a_task_on_a_fork_opens_a_new_pull_request_with_the_forks_commits(stack):
    number = fork_pull(stack, {"NOTES.md": NOTE})
    fork_head = stack.github.branch_head(FORK, "feature")
    run = ask(stack, number, "/codex fix the failing test")
    assert run.status == "succeeded", run.error
    pulls = {p["number"]: p for p in stack.github.list_pulls(REPO)}
    [new] = [p for n, p in pulls.items() if n != number]
    branch = new["head"]["ref"]
    assert branch.startswith(f"codex/pr-{number}-") and new["head"]["repo"]["full_name"] == REPO
    assert new["base"]["ref"] == "main" and f"Based on #{number}" in new["body"] and "Fixes #" not in new["body"]
    assert stack.github.read_file_at(REPO, branch, "NOTES.md") == NOTE  # the fork's commit is in it
    assert stack.github.read_file_at(REPO, branch, "calc.py") == sample_repo.FIXED_CALC
    assert {p["repo"] for p in stack.github.pushes} == {REPO}
    assert stack.github.branch_head(FORK, "feature") == fork_head
    assert new["html_url"] in run.summary or new["html_url"] in (run.pr_url or "")


def test_the_forks_changes_to_protected_paths_are_never_pushed(stack):
    stack.github.commit_files(REPO, "main", {".codexbot.toml": '[agent]\nprotected_paths = [".github/**"]\n'})
    number = fork_pull(stack, {".github/workflows/steal.yml": "on: push\n"})
    run = ask(stack, number, "/codex fix the failing test")
    assert run.status == "failed" and "protected paths (.github/workflows/steal.yml)" in run.error
    assert stack.github.pushes == [] and stack.model.requests == []


def test_the_fork_author_without_write_access_cannot_ask(stack):
    number = fork_pull(stack, {"NOTES.md": NOTE})
    run = ask(stack, number, "/codex fix the failing test", login="eve")
    assert run.status == "failed" and "@eve needs write access" in run.error
    assert stack.github.pushes == [] and stack.model.requests == []


def test_a_task_on_a_gitlab_forks_merge_request_opens_a_new_one(stack):
    gl = stack.gitlab
    gl.fork_project(REPO, FORK)
    gl.commit_files(FORK, "feature", {"NOTES.md": NOTE}, "eve's change", start="main")
    iid = gl.open_merge_request(REPO, "feature", "eve's feature", description="From my fork.", author="eve",
                                source_project=FORK)["iid"]
    fork_head = gl.branch_head(FORK, "feature")
    delivery = gl.note_as("alice", REPO, iid, "/codex fix the failing test", merge_request=True)
    assert delivery.status == 202, delivery.response
    stack.work()
    run = load_run(redis.Redis.from_url(stack.redis_url), json.loads(delivery.response)["run_id"])
    assert run.status == "succeeded", run.error
    [new] = [mr for mr in gl.merge_requests(REPO) if mr["iid"] != iid]
    branch = new["source_branch"]
    assert branch.startswith(f"codex/pr-{iid}-") and f"Based on !{iid}" in new["description"]
    assert gl.read_file_at(REPO, branch, "NOTES.md") == NOTE
    assert gl.read_file_at(REPO, branch, "calc.py") == sample_repo.FIXED_CALC
    assert gl.branch_head(FORK, "feature") == fork_head  # nothing pushed to the fork
