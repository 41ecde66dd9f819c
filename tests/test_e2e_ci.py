"""CI repair on GitHub through the real stack: a failing check suite on codexbot's pull request → one follow-up
commit → CI passes → no further runs; attempts run out → one comment saying so; `/codex fix-ci` on demand."""

import json

import pytest
import redis

from jobs.records.runs import load_run
from tests import sample_repo
from tests.stack import Stack

REPO = sample_repo.REPO
LOG = "collecting ...\ntests/test_calc.py::test_sub FAILED\nE   AssertionError: assert sub(5, 3) == 2\n1 failed"
REPAIRED = sample_repo.FIXED_CALC + "\n\ndef sub(a, b):\n    return a - b\n"


def repair_script(summary="Added sub, which the CI's test_sub needs.", content=REPAIRED):
    return [{"tool_calls": [{"name": "write_file", "arguments": {"path": "calc.py", "content": content}}]},
            {"tool_calls": [{"name": "finish", "arguments": {"summary": summary}}]}]


@pytest.fixture
def stack(redis_server, redis_conn, tmp_path):
    with Stack(redis_server.url, workdir=tmp_path) as stack:
        yield stack
        assert stack.github.errors == []


def bot_pull(stack):
    number = stack.github.open_issue(REPO, "Tests fail", "", user="alice")["number"]
    assert stack.github.comment_as("alice", REPO, number, "/codex fix the failing test").status == 202
    stack.work()
    [pull] = stack.github.list_pulls(REPO)
    return pull["number"], pull["head"]["ref"]


def ci(stack, branch, conclusion, log=LOG):
    """GitHub Actions finishes one job on the branch's head and delivers its suite's webhook."""
    sha = stack.github.branch_head(REPO, branch)
    stack.github.ci.job(REPO, sha, "tests", conclusion, log)
    delivery = stack.github.ci.suite_completed(REPO, sha, conclusion, branch)
    assert delivery.status in (200, 202), delivery.response
    stack.work()
    return sha


def comments(stack, number, text):
    return [c for c in stack.github.comments(REPO, number) if text in c["body"]]


def test_a_failing_suite_gets_one_repair_then_passing_ci_ends_it(stack):
    number, branch = bot_pull(stack)
    asked = len(stack.model.requests)
    stack.model.set_script(repair_script())
    failed_sha = ci(stack, branch, "failure")
    head = stack.github.branch_head(REPO, branch)
    assert head != failed_sha and stack.github.read_file_at(REPO, branch, "calc.py") == REPAIRED
    task = json.dumps(stack.model.requests[asked]["messages"])
    assert "Failing job: tests" in task and "assert sub(5, 3) == 2" in task
    [announced] = comments(stack, number, "CI repair 1 of 2")
    assert f"CI fails on {failed_sha[:12]} (`tests`)" in announced["body"] and "[Run log](" in announced["body"]
    asked = len(stack.model.requests)
    ci(stack, branch, "success")
    assert len(comments(stack, number, "✅ CI passes")) == 1 and "after 1 repair" in comments(stack, number, "✅")[0]["body"]
    assert len(stack.model.requests) == asked and stack.github.branch_head(REPO, branch) == head
    ci(stack, branch, "success")  # GitHub sends more suites: nothing more is said
    assert len(comments(stack, number, "✅ CI passes")) == 1


def test_attempts_run_out_with_one_comment(stack):
    number, branch = bot_pull(stack)
    for attempt in (1, 2):
        stack.model.set_script(repair_script(f"Attempt {attempt}.", REPAIRED + f"\n# attempt {attempt}\n"))
        before = stack.github.branch_head(REPO, branch)
        ci(stack, branch, "failure")
        assert stack.github.branch_head(REPO, branch) != before
    asked = len(stack.model.requests)
    ci(stack, branch, "failure")
    ci(stack, branch, "timed_out")
    gave_up = comments(stack, number, "❌ CI still fails")
    assert len(gave_up) == 1 and "after 2 repair attempts" in gave_up[0]["body"] and "`tests`" in gave_up[0]["body"]
    assert len(stack.model.requests) == asked


def test_the_same_head_is_repaired_once(stack):
    number, branch = bot_pull(stack)
    stack.model.set_script(repair_script())
    sha = stack.github.branch_head(REPO, branch)
    stack.github.ci.job(REPO, sha, "tests", "failure", LOG)
    stack.github.ci.job(REPO, sha, "lint", "failure", "ruff: E501")
    for _ in range(2):  # two suites (two workflows) report the same head
        assert stack.github.ci.suite_completed(REPO, sha, "failure", branch).status == 202
    stack.work()
    pushes = [p for p in stack.github.pushes if p["branch"] == branch]
    assert len(pushes) == 2  # the pull request's first commit and one repair
    task = json.dumps(stack.model.requests[-2]["messages"])
    assert "Failing job: tests" in task and "Failing job: lint" in task


def test_ci_on_a_persons_pull_request_is_not_repaired_automatically(stack):
    stack.github.commit_files(REPO, "codex/mine", {"calc.py": REPAIRED}, "Mine", start="main")
    number = stack.github.open_pull(REPO, "codex/mine", "Mine", user="alice")["number"]
    asked = len(stack.model.requests)
    ci(stack, "codex/mine", "failure")
    assert len(stack.model.requests) == asked and stack.github.comments(REPO, number) == []


def test_fix_ci_on_demand_repairs_a_same_repository_pull_request(stack):
    stack.github.commit_files(REPO, "feature", {"calc.py": sample_repo.FIXED_CALC}, "Fix add", start="main")
    number = stack.github.open_pull(REPO, "feature", "Fix add", user="alice")["number"]
    sha = stack.github.branch_head(REPO, "feature")
    stack.github.ci.job(REPO, sha, "tests", "failure", LOG)
    stack.model.set_script(repair_script())
    delivery = stack.github.comment_as("alice", REPO, number, "/codex fix-ci")
    assert delivery.status == 202
    stack.work()
    run = load_run(redis.Redis.from_url(stack.redis_url), json.loads(delivery.response)["run_id"])
    assert run.status == "succeeded", run.error
    assert stack.github.read_file_at(REPO, "feature", "calc.py") == REPAIRED

