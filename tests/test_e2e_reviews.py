"""Reviews of the bot's pull requests start follow-up runs on the same branch, through the real stack."""

import json
import threading
import time

import pytest

from jobs.run.locks import pull_request_lock
from jobs.records.runs import load_run
from tests import sample_repo
from tests.stack import Stack

REPO = sample_repo.REPO
REVIEWED_CALC = sample_repo.FIXED_CALC.replace('"""Return the sum of a and b."""', '"""Return a + b."""')
FOLLOW_UP = [
    {"tool_calls": [{"name": "write_file", "arguments": {"path": "calc.py", "content": REVIEWED_CALC}}]},
    {"tool_calls": [{"name": "finish", "arguments": {"summary": "Shortened the docstring of add as asked."}}]},
]


@pytest.fixture
def stack(redis_server, redis_conn, tmp_path):
    with Stack(redis_server.url, workdir=tmp_path) as stack:
        stack.github.add_user("bob", {REPO: "write"})  # a reviewer with write access
        yield stack
        assert stack.github.errors == []


def bot_pull(stack):
    """Let codexbot open its pull request for the failing test, as a user would ask for it."""
    number = stack.github.open_issue(REPO, "Tests fail", "", user="alice")["number"]
    assert stack.github.comment_as("alice", REPO, number, "/codex fix the failing test").status == 202
    stack.work()
    [pull] = stack.github.list_pulls(REPO)
    return pull


def test_changes_requested_review_yields_one_follow_up_and_replies_on_each_thread(stack, redis_conn):
    pull = bot_pull(stack)
    stack.model.set_script(FOLLOW_UP)
    comments = [{"path": "calc.py", "line": 2, "body": "This docstring is too long."},
                {"path": "calc.py", "line": 3, "body": "Keep the fix as it is."}]
    delivery = stack.github.review_as("bob", REPO, pull["number"], "changes_requested", "Please tidy up.", comments)
    assert delivery.status == 202, delivery.response
    run_id = json.loads(delivery.response)["run_id"]
    stack.work()
    run = load_run(redis_conn, run_id)
    assert run.status == "succeeded", run.error
    branch = pull["head"]["ref"]
    assert stack.github.read_file_at(REPO, branch, "calc.py") == REVIEWED_CALC
    assert len(stack.github.list_pulls(REPO)) == 1
    sent = json.dumps(stack.model.requests[-2]["messages"])
    assert "This docstring is too long." in sent and "calc.py:2" in sent and "Please tidy up." in sent
    for comment in stack.github.reviews.comments.values():
        if comment["in_reply_to_id"] is None:
            replies = stack.github.review_replies(comment["id"])
            assert len(replies) == 1 and replies[0]["body"].startswith("Addressed in ")
    body = stack.github.list_pulls(REPO)[0]["body"]
    assert "### Follow-ups" in body and run_id[:8] in body and "Fixes #" in body


def test_line_comments_without_a_command_start_nothing(stack, redis_conn):
    pull = bot_pull(stack)
    before = len(stack.model.requests)
    for line in (1, 2, 3):
        delivery = stack.github.review_comment_as("bob", REPO, pull["number"], "calc.py", line, f"nit {line}")
        assert delivery.status == 200 and "wait for the review" in delivery.response
    approved = stack.github.review_as("bob", REPO, pull["number"], "approved", "LGTM")
    assert approved.status == 200
    stack.work()
    assert len(stack.model.requests) == before


def test_a_command_on_a_line_starts_a_follow_up_and_answers_that_thread(stack, redis_conn):
    pull = bot_pull(stack)
    stack.model.set_script(FOLLOW_UP)
    delivery = stack.github.review_comment_as("alice", REPO, pull["number"], "calc.py", 2, "/codex shorten this docstring")
    assert delivery.status == 202
    stack.work()
    [comment] = [c for c in stack.github.reviews.comments.values() if c["in_reply_to_id"] is None]
    assert stack.github.review_replies(comment["id"])[0]["body"].startswith("Addressed in ")
    assert "shorten this docstring" in json.dumps(stack.model.requests[-2]["messages"])


def test_two_runs_on_one_pull_request_never_hold_the_branch_at_once(redis_conn):
    held, overlaps, waits = [], [], []

    def run(run_id):
        with pull_request_lock(redis_conn, "codexbot:lock:github:o/r#1", run_id, 60, waits.append, lambda: None):
            if held:
                overlaps.append(run_id)
            held.append(run_id)
            time.sleep(0.3)
            held.remove(run_id)

    threads = [threading.Thread(target=run, args=(f"run-{i}",)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert overlaps == [] and len(waits) == 2 and not redis_conn.exists("codexbot:lock:github:o/r#1")


def test_a_pull_request_from_a_fork_gets_a_new_pull_request_and_nothing_is_pushed_to_the_fork(stack, redis_conn):
    stack.github.fork_repo(REPO, "mallory/calc")
    stack.github.commit_files("mallory/calc", "patch-1", {"NOTES.md": "hi\n"}, "Add notes", start="main")
    pull = stack.github.open_pull(REPO, "patch-1", "Add notes", user="mallory", head_repo="mallory/calc")
    assert pull["head"]["repo"]["full_name"] == "mallory/calc"
    delivery = stack.github.comment_as("alice", REPO, pull["number"], "/codex fix the failing test")
    run_id = json.loads(delivery.response)["run_id"]
    stack.work()
    run = load_run(redis_conn, run_id)
    assert run.status == "succeeded", run.error
    assert stack.github.pushes and all(p["repo"] == REPO and p["branch"].startswith(f"codex/pr-{pull['number']}-")
                                       for p in stack.github.pushes)
