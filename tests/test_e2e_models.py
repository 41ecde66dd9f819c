"""`--models a,b`: one attempt per model, compared in a table with the model; `/codex pick N` then makes attempt
N's change the pull request's, as a new commit on top."""

import json
import re

import pytest

from jobs.records.runs import load_run
from tests import sample_repo
from tests.stack import Stack

REPO = sample_repo.REPO
VERBOSE = sample_repo.FIXED_CALC + "\n\ndef twice(a):\n    return add(a, a)\n"


def respond(request):
    """model-a fixes the bug in place; model-b fixes it and adds more code."""
    step = sum(1 for m in request["messages"] if m["role"] == "assistant")
    if step == 0:
        content = sample_repo.FIXED_CALC if request["model"] == "model-a" else VERBOSE
        return {"tool_calls": [{"name": "write_file", "arguments": {"path": "calc.py", "content": content}}]}
    return {"tool_calls": [{"name": "finish", "arguments": {"summary": f"{request['model']} is done"}}]}


@pytest.fixture
def stack(redis_server, redis_conn, tmp_path):
    with Stack(redis_server.url, script=[respond] * 12, workdir=tmp_path) as stack:
        yield stack
        assert stack.github.errors == []


def ask(stack, redis_conn, number, text):
    delivery = stack.github.comment_as("alice", REPO, number, text)
    assert delivery.status == 202, delivery.response
    stack.work()
    return load_run(redis_conn, json.loads(delivery.response)["run_id"])


def test_models_compare_then_pick_puts_the_other_attempt_on_the_branch(stack, redis_conn):
    number = stack.github.open_issue(REPO, "Tests fail", "", user="alice")["number"]
    run = ask(stack, redis_conn, number, "/codex --models model-a,model-b fix the failing test")
    assert run.status == "succeeded", run.error
    assert sorted(r["model"] for r in stack.model.requests) == ["model-a", "model-a", "model-b", "model-b"]
    [pull] = stack.github.list_pulls(REPO)
    branch = pull["head"]["ref"]
    assert re.search(r"\| 1 \| `model-a` \| 1 passed, 0 failed .*\*\*chosen\*\*", pull["body"])
    assert re.search(r"\| 2 \| `model-b` \| 1 passed, 0 failed", pull["body"])
    before = stack.github.branch_head(REPO, branch)
    picked = ask(stack, redis_conn, pull["number"], "/codex pick 2")
    assert picked.status == "succeeded", picked.error
    assert stack.github.read_file_at(REPO, branch, "calc.py") == VERBOSE
    last = stack.github.pushes[-1]
    assert last["branch"] == branch and last["old_sha"] == before  # a new commit on top, not a force-push
    again = ask(stack, redis_conn, pull["number"], "/codex pick 2")
    assert again.status == "succeeded" and stack.github.pushes[-1] == last
    missing = ask(stack, redis_conn, pull["number"], "/codex pick 3")
    assert missing.status == "failed" and "no kept change of attempt 3" in missing.error


def test_models_with_a_bad_list_get_a_help_reply(stack, redis_conn):
    number = stack.github.open_issue(REPO, "Tests fail", "", user="alice")["number"]
    delivery = stack.github.comment_as("alice", REPO, number, "/codex --models gpt-5 fix it")
    assert delivery.status == 202
    stack.run_worker_burst()
    replies = [c["body"] for c in stack.github.comments(REPO, number) if "could not start this run" in c["body"]]
    assert replies and "`--models` takes 2 to 5 model names" in replies[0] and stack.model.requests == []
