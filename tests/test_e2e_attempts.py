"""`--attempts N`: independent attempts in parallel, the best one in the pull request, a table of all."""

import json
import re

import pytest

from jobs.records.runs import load_run
from tests import sample_repo
from tests.stack import Stack

REPO = sample_repo.REPO
WRONG = sample_repo.FIXED_CALC.replace("a + b", "a * b")
VERBOSE = sample_repo.FIXED_CALC + "\n\ndef twice(a):\n    return add(a, a)\n\n\nTWO = twice(1)\n"


def respond(request):
    """Each attempt answers according to its number: 1 fixes it, 2 breaks it, 3 fixes it with more code."""
    first_user = next(m["content"] for m in request["messages"] if m["role"] == "user")
    attempt = int(re.search(r"attempt (\d) of 3", first_user).group(1))
    step = sum(1 for m in request["messages"] if m["role"] == "assistant")
    content = {1: sample_repo.FIXED_CALC, 2: WRONG, 3: VERBOSE}[attempt]
    if step == 0:
        return {"tool_calls": [{"name": "write_file", "arguments": {"path": "calc.py", "content": content}}]}
    return {"tool_calls": [{"name": "finish", "arguments": {"summary": f"attempt {attempt} is done"}}]}


@pytest.fixture
def stack(redis_server, redis_conn, tmp_path):
    with Stack(redis_server.url, script=[respond] * 12, workdir=tmp_path) as stack:
        yield stack
        assert stack.github.errors == []


def test_three_attempts_yield_one_pull_request_with_the_best_and_a_table(stack, redis_conn):
    number = stack.github.open_issue(REPO, "Tests fail", "", user="alice")["number"]
    delivery = stack.github.comment_as("alice", REPO, number, "/codex fix the failing test --attempts 3")
    run_id = json.loads(delivery.response)["run_id"]
    proc = stack.run_worker_burst()
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = load_run(redis_conn, run_id)
    assert run.status == "succeeded", run.error
    [pull] = stack.github.list_pulls(REPO)
    assert stack.github.read_file_at(REPO, pull["head"]["ref"], "calc.py") == sample_repo.FIXED_CALC
    assert "### Attempts" in pull["body"] and re.search(r"\| 1 \| 1 passed, 0 failed .*\*\*chosen\*\*", pull["body"])
    assert re.search(r"\| 2 \| 0 passed, 1 failed", pull["body"])
    tracking = [c["body"] for c in stack.github.comments(REPO, number) if run_id in c["body"]][0]
    assert "| attempt |" in tracking and "**chosen**" in tracking
    assert len(stack.model.requests) == 6
