"""`/codex status`, `cancel` and `retry` through the real stack (GitHub emulator, real workers)."""

import json


from jobs.records.runs import load_run
from tests import sample_repo

REPO = sample_repo.REPO
BAD_KEY = {"status": 401, "body": {"error": {"message": "Incorrect API key", "type": "invalid_request_error"}}}


def comment(stack, number, body, user="alice"):
    delivery = stack.github.comment_as(user, REPO, number, body)
    assert delivery.status == 202, delivery.response
    return json.loads(delivery.response)["run_id"]


def replies(stack, number, run_id):
    return [c["body"] for c in stack.github.comments(REPO, number) if f"codexbot:run={run_id}" in c["body"]]


def test_status_lists_the_runs_asked_for_here(stack, redis_conn):
    number = stack.github.open_issue(REPO, "Tests fail", "", user="alice")["number"]
    task_run = comment(stack, number, "/codex fix the failing test")
    stack.work()
    status_run = comment(stack, number, "/codex status", user="mallory")  # reading status needs no write access
    stack.work()
    [reply] = replies(stack, number, status_run)
    pull = stack.github.list_pulls(REPO)[0]
    assert task_run[:8] in reply and "**succeeded**" in reply and pull["html_url"] in reply and "/runs/" in reply


def test_cancel_stops_a_queued_run_before_it_starts(stack, redis_conn):
    number = stack.github.open_issue(REPO, "Tests fail", "", user="alice")["number"]
    task_run = comment(stack, number, "/codex fix the failing test")
    cancel_run = comment(stack, number, "/codex cancel")
    stack.work()  # the control queue is worked first, so the cancel is answered before the run starts
    assert load_run(redis_conn, task_run).status == "cancelled"
    assert "cancelling" in replies(stack, number, cancel_run)[0]
    assert stack.model.requests == [] and stack.github.list_pulls(REPO) == []


def test_a_reader_cannot_cancel(stack, redis_conn):
    number = stack.github.open_issue(REPO, "Tests fail", "", user="alice")["number"]
    task_run = comment(stack, number, "/codex fix the failing test")
    cancel_run = comment(stack, number, "/codex cancel", user="mallory")
    stack.work()
    assert load_run(redis_conn, cancel_run).status == "failed"
    assert load_run(redis_conn, task_run).status == "succeeded"


def test_retry_runs_the_last_task_again(stack, redis_conn):
    stack.model.set_script([BAD_KEY])
    number = stack.github.open_issue(REPO, "Tests fail", "", user="alice")["number"]
    first = comment(stack, number, "/codex fix the failing test")
    stack.work()
    assert load_run(redis_conn, first).status == "failed"
    stack.model.set_script(sample_repo.fix_script())
    retry = comment(stack, number, "/codex retry")
    stack.work()
    run = load_run(redis_conn, retry)
    assert run.status == "succeeded", run.error
    assert len(stack.github.list_pulls(REPO)) == 1
    assert "fix the failing test" in json.dumps(stack.model.requests[-1]["messages"])


def test_retry_with_nothing_to_retry_says_so(stack, redis_conn):
    number = stack.github.open_issue(REPO, "Tests fail", "", user="alice")["number"]
    retry = comment(stack, number, "/codex retry")
    stack.work()
    assert "no earlier task here to retry" in load_run(redis_conn, retry).error


def test_cancel_stops_a_running_agent_within_seconds(stack, redis_conn):
    import time

    stack.model.set_script([{"tool_calls": [{"name": "shell", "arguments": {"command": "sleep 120"}}]}])
    stack.start_worker(queues=("control",))
    stack.start_worker(queues=("runs",))
    number = stack.github.open_issue(REPO, "Tests fail", "", user="alice")["number"]
    task_run = comment(stack, number, "/codex fix the failing test")
    deadline = time.monotonic() + 60
    while not stack.model.requests and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1.0)  # the sandbox is now running `sleep 120`
    assert load_run(redis_conn, task_run).status == "running"
    asked = time.monotonic()
    comment(stack, number, "/codex cancel")
    while load_run(redis_conn, task_run).status == "running" and time.monotonic() - asked < 30:
        time.sleep(0.1)
    took = time.monotonic() - asked
    run = load_run(redis_conn, task_run)
    assert run.status == "cancelled" and "cancel" in run.error + " ".join(c["body"] for c in stack.github.comments(REPO, number))
    assert took < 5, f"the run stopped {took:.1f} s after the cancel"
    assert stack.github.list_pulls(REPO) == []
