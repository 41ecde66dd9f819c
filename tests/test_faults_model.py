"""Model API faults end to end: 429, 500, a timeout and a connection dropped mid-answer are retried to completion;
retries running out end the run failed with the reason on the issue.

The OpenAI emulator answers from a script (errors are script items) and drops connections through its faults
middleware; a real `codexbot worker` runs the job.
"""

import json
import time
from dataclasses import replace

import pytest

from jobs.records.runs import load_run, read_log
from tests import sample_repo

pytestmark = [pytest.mark.faults, pytest.mark.slow]
REPO = sample_repo.REPO
CHAT = r"^/v1/chat/completions$"


def late(item: dict, seconds: float):
    """A script item answered only after the client has given up waiting for it."""
    def answer(body: dict) -> dict:
        time.sleep(seconds)
        return item
    return answer


def run_once(stack, redis_conn) -> tuple[int, str]:
    number = stack.github.open_issue(REPO, "Tests fail", "`test_add` fails.", user="alice")["number"]
    delivery = stack.github.comment_as("alice", REPO, number, "/codex fix the failing test")
    assert delivery.status == 202, delivery.response
    proc = stack.run_worker_burst(timeout=150)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return number, json.loads(delivery.response)["run_id"]


def test_429_500_a_timeout_and_a_dropped_connection_are_retried_to_a_pull_request(stack, redis_conn):
    stack.settings = replace(stack.settings, model_timeout=2)
    first, second = sample_repo.fix_script()[:2]
    rest = sample_repo.fix_script()[2:]
    stack.model.set_script([
        {"status": 429, "headers": {"Retry-After": "1"}, "body": {"error": {"message": "Rate limit reached",
                                                                             "type": "requests", "code": None}}},
        {"status": 500, "body": {"error": {"message": "The server had an error", "type": "server_error"}}},
        first,
        late(second, 4), second,  # the first copy comes after the 2 s timeout, to a client that left
    ] + rest)
    dropped = stack.model.faults.reset("POST", CHAT, contains="1 failed")  # the request after the first tool call
    number, run_id = run_once(stack, redis_conn)

    run, log = load_run(redis_conn, run_id), "\n".join(read_log(redis_conn, run_id))
    assert run.status == "succeeded", log
    assert "model API: HTTP 429 (Rate limit reached); retrying in 1.0 s" in log
    assert "model API: HTTP 500" in log
    assert "model API: no answer in time; retrying in" in log
    assert "model API: connection failed; retrying in" in log
    assert dropped.hits == 1
    assert len(stack.github.list_pulls(REPO)) == 1
    assert stack.model.remaining == 0


def test_retries_running_out_end_the_run_failed_with_the_reason_on_the_issue(stack, redis_conn):
    stack.settings = replace(stack.settings, model_retries=1)
    error = {"status": 503, "body": {"error": {"message": "The engine is currently overloaded", "type": "server_error"}}}
    stack.model.set_script([error, error, error])
    number, run_id = run_once(stack, redis_conn)

    run = load_run(redis_conn, run_id)
    assert run.status == "failed"
    assert "failed (HTTP 503) (tried 2 times): The engine is currently overloaded" in run.error
    assert stack.model.remaining == 1  # one try and one retry, no more
    tracking = [c["body"] for c in stack.github.comments(REPO, number) if f"codexbot:run={run_id}" in c["body"]]
    assert len(tracking) == 1 and "failed" in tracking[0] and "HTTP 503" in tracking[0]
    assert stack.github.list_pulls(REPO) == []
